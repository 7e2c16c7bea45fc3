package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/idsync/idsync/connectors"
)

// The target role: users always; groups, memberships and MemberOf unless
// the settings say "groups": false. It answers as reconciliation expects
// of real targets: userName and email compare case-insensitively,
// externalId exactly; a userName is unique (case-insensitively), so a
// create or rename onto a taken one is ErrAlreadyExists; a write to an id
// that does not exist is ErrNotFound.
type (
	target       struct{ b *conn }
	targetGroups struct{ b *conn }

	targetWithGroups struct {
		target
		targetGroups
	}
)

var (
	_ connectors.Target            = target{}
	_ connectors.UserReader        = target{}
	_ connectors.ModeDeprovisioner = target{}
	_ connectors.Tester            = target{}
	_ connectors.GroupTarget       = targetWithGroups{}
	_ connectors.MemberOf          = targetWithGroups{}
)

func newTarget(b *conn) connectors.Target {
	if on(b.cfg.Groups) {
		return targetWithGroups{target{b}, targetGroups{b}}
	}
	return target{b}
}

// Close implements connectors.Connector; the store outlives it.
func (t target) Close() error { return nil }

// Test implements connectors.Tester.
func (t target) Test(ctx context.Context) error { return t.b.Test(ctx) }

// ListUsers implements connectors.Target.
func (t target) ListUsers(ctx context.Context, fn func(connectors.TargetUser) error) error {
	t.b.store.mu.Lock()
	users := t.b.store.sortedUsers()
	t.b.store.mu.Unlock()
	return pages(ctx, t.b, "ListUsers", users, fn)
}

// LookupUsers implements connectors.Target: externalId exactly, any
// other field (userName, email, givenName, an attribute) without regard
// to case.
func (t target) LookupUsers(ctx context.Context, attr, value string) ([]connectors.TargetUser, error) {
	if err := t.b.call(ctx, "LookupUsers", false); err != nil {
		return nil, err
	}
	if t.b.knobs.refuses(attr) || t.b.storeRefuses(attr) {
		return nil, fmt.Errorf("memory: look up users by %s: %w", attr, connectors.ErrLookupUnsupported)
	}
	if value == "" {
		return nil, nil
	}
	st := t.b.store
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []connectors.TargetUser
	for _, tu := range st.sortedUsers() {
		v := tu.Field(attr)
		if v == value || (attr != connectors.MatchExternalID && strings.EqualFold(v, value)) {
			out = append(out, tu)
		}
	}
	return out, nil
}

// storeRefuses says whether the store's knobs refuse lookups by attr.
func (b *conn) storeRefuses(attr string) bool {
	b.store.mu.Lock()
	defer b.store.mu.Unlock()
	return b.store.knobs.refuses(attr)
}

// GetUserByID implements connectors.UserReader.
func (t target) GetUserByID(ctx context.Context, id string) (connectors.TargetUser, bool, error) {
	if err := t.b.call(ctx, "GetUserByID", false); err != nil {
		return connectors.TargetUser{}, false, err
	}
	st := t.b.store
	st.mu.Lock()
	defer st.mu.Unlock()
	tu, ok := st.users[id]
	if !ok {
		return connectors.TargetUser{}, false, nil
	}
	tu.User = cloneUser(tu.User)
	return tu, true, nil
}

// CreateUser implements connectors.Target.
func (t target) CreateUser(ctx context.Context, u connectors.User) (string, error) {
	if err := t.b.call(ctx, "CreateUser", true); err != nil {
		return "", err
	}
	if u.UserName == "" {
		return "", fmt.Errorf("memory: create user: no userName: %w", connectors.ErrRejected)
	}
	st := t.b.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if other, taken := st.userNameTaken(u.UserName, ""); taken {
		return "", fmt.Errorf("memory: create user %q: user %s has that userName: %w", u.UserName, other, connectors.ErrAlreadyExists)
	}
	id := st.newID("u")
	st.users[id] = connectors.TargetUser{ID: id, User: cloneUser(u)}
	st.logChange(false, id)
	return id, nil
}

// UpdateUser implements connectors.Target: the user becomes u, its
// ExternalID (the managed mark) included.
func (t target) UpdateUser(ctx context.Context, id string, u connectors.User) error {
	if err := t.b.call(ctx, "UpdateUser", true); err != nil {
		return err
	}
	if u.UserName == "" {
		return fmt.Errorf("memory: update user %s: no userName: %w", id, connectors.ErrRejected)
	}
	st := t.b.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.users[id]; !ok {
		return fmt.Errorf("memory: update user %s: %w", id, connectors.ErrNotFound)
	}
	if other, taken := st.userNameTaken(u.UserName, id); taken {
		return fmt.Errorf("memory: update user %s: user %s has the userName %q: %w", id, other, u.UserName, connectors.ErrAlreadyExists)
	}
	st.users[id] = connectors.TargetUser{ID: id, User: cloneUser(u)}
	st.logChange(false, id)
	return nil
}

// DeprovisionUser implements connectors.Target, in the connection's mode.
func (t target) DeprovisionUser(ctx context.Context, id string) error {
	return t.DeprovisionUserAs(ctx, id, t.b.cfg.Deprovision)
}

// DeprovisionUserAs implements connectors.ModeDeprovisioner: disable
// sets Active false; delete removes the user and its memberships.
func (t target) DeprovisionUserAs(ctx context.Context, id, mode string) error {
	if err := t.b.call(ctx, "DeprovisionUser", true); err != nil {
		return err
	}
	st := t.b.store
	st.mu.Lock()
	defer st.mu.Unlock()
	tu, ok := st.users[id]
	if !ok {
		return fmt.Errorf("memory: %s user %s: %w", mode, id, connectors.ErrNotFound)
	}
	switch mode {
	case connectors.DeprovisionDisable:
		if tu.Active {
			tu.Active = false
			st.users[id] = tu
			st.logChange(false, id)
		}
	case connectors.DeprovisionDelete:
		st.deleteUser(id)
	default:
		return fmt.Errorf("memory: deprovision user %s: mode %q is not disable or delete: %w", id, mode, connectors.ErrRejected)
	}
	return nil
}

// ListGroups implements connectors.GroupTarget.
func (t targetGroups) ListGroups(ctx context.Context, fn func(connectors.TargetGroup) error) error {
	t.b.store.mu.Lock()
	groups := t.b.store.sortedGroups()
	t.b.store.mu.Unlock()
	return pages(ctx, t.b, "ListGroups", groups, fn)
}

// LookupGroups implements connectors.GroupTarget: externalId exactly,
// displayName without regard to case.
func (t targetGroups) LookupGroups(ctx context.Context, attr, value string) ([]connectors.TargetGroup, error) {
	if err := t.b.call(ctx, "LookupGroups", false); err != nil {
		return nil, err
	}
	if attr != connectors.MatchExternalID && attr != "displayName" {
		return nil, fmt.Errorf("memory: look up groups by %q: want externalId or displayName: %w", attr, connectors.ErrRejected)
	}
	if t.b.knobs.refuses("group:"+attr) || t.b.storeRefuses("group:"+attr) {
		return nil, fmt.Errorf("memory: look up groups by %s: %w", attr, connectors.ErrLookupUnsupported)
	}
	if value == "" {
		return nil, nil
	}
	st := t.b.store
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []connectors.TargetGroup
	for _, tg := range st.sortedGroups() {
		if (attr == connectors.MatchExternalID && tg.ExternalID == value) ||
			(attr == "displayName" && strings.EqualFold(tg.DisplayName, value)) {
			out = append(out, tg)
		}
	}
	return out, nil
}

// GroupsOfUser implements connectors.MemberOf.
func (t targetGroups) GroupsOfUser(ctx context.Context, userID string) ([]connectors.TargetGroup, error) {
	if err := t.b.call(ctx, "GroupsOfUser", false); err != nil {
		return nil, err
	}
	if t.b.knobs.refuses("group:members") || t.b.storeRefuses("group:members") {
		return nil, fmt.Errorf("memory: groups of user %s: %w", userID, connectors.ErrLookupUnsupported)
	}
	st := t.b.store
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []connectors.TargetGroup
	for _, tg := range st.sortedGroups() {
		if slices.Contains(tg.MemberIDs, userID) {
			out = append(out, tg)
		}
	}
	return out, nil
}

// CreateGroup implements connectors.GroupTarget: a group without
// members, whatever g.Members holds.
func (t targetGroups) CreateGroup(ctx context.Context, g connectors.Group) (string, error) {
	if err := t.b.call(ctx, "CreateGroup", true); err != nil {
		return "", err
	}
	if g.DisplayName == "" {
		return "", fmt.Errorf("memory: create group: no displayName: %w", connectors.ErrRejected)
	}
	st := t.b.store
	st.mu.Lock()
	defer st.mu.Unlock()
	id := st.newID("g")
	st.groups[id] = connectors.TargetGroup{ID: id, ExternalID: g.ExternalID, DisplayName: g.DisplayName}
	st.logChange(true, id)
	return id, nil
}

// UpdateGroup implements connectors.GroupTarget: name and ExternalID.
func (t targetGroups) UpdateGroup(ctx context.Context, id string, g connectors.Group) error {
	if err := t.b.call(ctx, "UpdateGroup", true); err != nil {
		return err
	}
	if g.DisplayName == "" {
		return fmt.Errorf("memory: update group %s: no displayName: %w", id, connectors.ErrRejected)
	}
	return t.edit(id, "update group", func(tg *connectors.TargetGroup) error {
		tg.DisplayName, tg.ExternalID = g.DisplayName, g.ExternalID
		return nil
	})
}

// DeleteGroup implements connectors.GroupTarget.
func (t targetGroups) DeleteGroup(ctx context.Context, id string) error {
	if err := t.b.call(ctx, "DeleteGroup", true); err != nil {
		return err
	}
	if !t.b.store.DeleteGroup(id) {
		return fmt.Errorf("memory: delete group %s: %w", id, connectors.ErrNotFound)
	}
	return nil
}

// AddMembers implements connectors.GroupTarget. A member that is not a
// user fails the whole call with ErrNotFound, changing nothing, as a
// target refuses a stale member id.
func (t targetGroups) AddMembers(ctx context.Context, groupID string, userIDs []string) error {
	if err := t.b.call(ctx, "AddMembers", true); err != nil {
		return err
	}
	what := fmt.Sprintf("add %d members to group", len(userIDs))
	return t.edit(groupID, what, func(tg *connectors.TargetGroup) error {
		for _, id := range userIDs {
			if _, ok := t.b.store.users[id]; !ok {
				return fmt.Errorf("member %s: %w", id, connectors.ErrNotFound)
			}
		}
		tg.MemberIDs = dedupe(append(tg.MemberIDs, userIDs...))
		return nil
	})
}

// RemoveMembers implements connectors.GroupTarget; an id that is not a
// member is no error.
func (t targetGroups) RemoveMembers(ctx context.Context, groupID string, userIDs []string) error {
	if err := t.b.call(ctx, "RemoveMembers", true); err != nil {
		return err
	}
	what := fmt.Sprintf("remove %d members from group", len(userIDs))
	return t.edit(groupID, what, func(tg *connectors.TargetGroup) error {
		tg.MemberIDs = slices.DeleteFunc(tg.MemberIDs, func(id string) bool { return slices.Contains(userIDs, id) })
		return nil
	})
}

// edit changes the group id with fn, under the store's lock, and logs the
// change; a missing group is ErrNotFound.
func (t targetGroups) edit(id, what string, fn func(*connectors.TargetGroup) error) error {
	st := t.b.store
	st.mu.Lock()
	defer st.mu.Unlock()
	tg, ok := st.groups[id]
	if !ok {
		return fmt.Errorf("memory: %s %s: %w", what, id, connectors.ErrNotFound)
	}
	tg = cloneGroup(tg)
	if err := fn(&tg); err != nil {
		return fmt.Errorf("memory: %s %s: %w", what, id, err)
	}
	st.groups[id] = tg
	st.logChange(true, id)
	return nil
}
