package reconcile

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strings"

	"github.com/idsync/idsync/connectors"
)

// Ownership: several rules, and other tools, may share one target. Each
// object a rule manages carries the rule's name with the source's id in the
// place the connector keeps the ExternalID (SCIM externalId, the LDAP
// marker attribute, …), as "<rule>/<source id>". Rule names cannot hold a
// "/", so the split is unambiguous; every connector keeps the ExternalID
// as it was written, so no connector needs to know about owners.
//
// A rule sees a target object as one of four kinds:
//   - its own (owner is the rule): updated, deprovisioned, counted by the guard;
//   - legacy (an ExternalID without an owner, written before ownership):
//     claimed by the first rule whose source has that id, and otherwise
//     left alone, since it may be another rule's;
//   - foreign (another rule's): never written; a source object that
//     collides with it is a reported conflict;
//   - unmanaged (no ExternalID): adopted by the ranked match attributes.
//
// With no Owner in the options (a Syncer used on its own), every object
// with an ExternalID is the Syncer's, as before ownership existed.

// ownerSep separates the owning rule from the source id.
const ownerSep = "/"

// ownerRE is the form of a rule name (workflows.nameRE).
var ownerRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// OwnedExternalID is the ExternalID a target object managed by owner for
// the source id ext carries.
func OwnedExternalID(owner, ext string) string {
	if owner == "" {
		return ext
	}
	return owner + ownerSep + ext
}

// SplitExternalID splits what a target holds into the owning rule ("" for
// an object written before ownership) and the source id.
func SplitExternalID(v string) (owner, ext string) {
	if i := strings.Index(v, ownerSep); i > 0 && ownerRE.MatchString(v[:i]) && i+1 < len(v) {
		return v[:i], v[i+1:]
	}
	return "", v
}

// relation is how a rule stands to a target object.
type relation int

const (
	unmanaged relation = iota
	own
	legacy
	foreign
)

// relationTo says how the Syncer's rule stands to an object of the target
// with that ExternalID (already split) and owner.
func (s *Syncer) relationTo(ext, owner string) relation {
	switch {
	case ext == "":
		return unmanaged
	case s.Opts.Owner == "" || owner == s.Opts.Owner:
		return own
	case owner == "":
		return legacy
	}
	return foreign
}

func (s *Syncer) userRelation(tu connectors.TargetUser) relation {
	return s.relationTo(tu.ExternalID, tu.Owner)
}

func (s *Syncer) groupRelation(tg connectors.TargetGroup) relation {
	return s.relationTo(tg.ExternalID, tg.Owner)
}

// conflictf is the error of a source object that collides with an object
// of the target that another rule (or another source id) manages.
func conflictf(format string, args ...any) error {
	return &ConflictError{msg: fmt.Sprintf(format, args...)}
}

// ConflictError says a source object collides with a target object that
// the rule may not take over. It is counted as a conflict, not retried.
type ConflictError struct{ msg string }

func (e *ConflictError) Error() string   { return e.msg }
func (e *ConflictError) Permanent() bool { return true }

// ownedTarget is the target as one rule sees it: ExternalIDs are written
// with the rule's name and read back split, with the owner in Owner.
type ownedTarget struct {
	connectors.Target
	owner string
	// ownOnly: look up by ExternalID in the owner's form only (see
	// Options.LegacyClaimed).
	ownOnly bool
}

// owned returns a copy of s whose Target writes and reads owned
// ExternalIDs; s itself when it has no owner.
func (s *Syncer) owned() *Syncer {
	if s.Opts.Owner == "" {
		return s
	}
	if _, ok := s.Target.(*ownedTarget); ok {
		return s
	}
	c := *s
	c.Target = &ownedTarget{Target: s.Target, owner: s.Opts.Owner, ownOnly: s.Opts.LegacyClaimed}
	return &c
}

// attrManager is the attribute that names a user's manager by ExternalID:
// it is owned too.
const attrManager = "manager"

func (t *ownedTarget) user(tu connectors.TargetUser) connectors.TargetUser {
	if tu.ExternalID != "" {
		tu.Owner, tu.ExternalID = SplitExternalID(tu.ExternalID)
	}
	if m := tu.Attributes[attrManager]; m != "" {
		if owner, ext := SplitExternalID(m); owner == t.owner {
			tu.Attributes = maps.Clone(tu.Attributes)
			tu.Attributes[attrManager] = ext
		}
	}
	return tu
}

// write is u as the target keeps it for the rule.
func (t *ownedTarget) write(u connectors.User) connectors.User {
	u.ExternalID = OwnedExternalID(t.owner, u.ExternalID)
	if m := u.Attributes[attrManager]; m != "" {
		u.Attributes = maps.Clone(u.Attributes)
		u.Attributes[attrManager] = OwnedExternalID(t.owner, m)
	}
	return u
}

func (t *ownedTarget) group(tg connectors.TargetGroup) connectors.TargetGroup {
	if tg.ExternalID != "" {
		tg.Owner, tg.ExternalID = SplitExternalID(tg.ExternalID)
	}
	return tg
}

func (t *ownedTarget) ListUsers(ctx context.Context, fn func(connectors.TargetUser) error) error {
	return t.Target.ListUsers(ctx, func(tu connectors.TargetUser) error { return fn(t.user(tu)) })
}

// grouped is the connector's group capability: ownedTarget is used as a
// GroupTarget only when its connector is one (see Syncer.groups).
func (t *ownedTarget) grouped() connectors.GroupTarget { return t.Target.(connectors.GroupTarget) }

func (t *ownedTarget) ListGroups(ctx context.Context, fn func(connectors.TargetGroup) error) error {
	return t.grouped().ListGroups(ctx, func(tg connectors.TargetGroup) error { return fn(t.group(tg)) })
}

// LookupUsers by externalId finds the rule's own object and, failing that,
// one written before ownership, which the rule may claim.
func (t *ownedTarget) LookupUsers(ctx context.Context, attr, value string) ([]connectors.TargetUser, error) {
	return lookupOwned(ctx, t.owner, t.ownOnly, attr, value, t.Target.LookupUsers, func(tu connectors.TargetUser) (connectors.TargetUser, string, string) {
		tu = t.user(tu)
		return tu, tu.ExternalID, tu.Owner
	})
}

func (t *ownedTarget) LookupGroups(ctx context.Context, attr, value string) ([]connectors.TargetGroup, error) {
	return lookupOwned(ctx, t.owner, t.ownOnly, attr, value, t.grouped().LookupGroups, func(tg connectors.TargetGroup) (connectors.TargetGroup, string, string) {
		tg = t.group(tg)
		return tg, tg.ExternalID, tg.Owner
	})
}

// lookupOwned looks up through find and splits what it finds. By
// externalId it asks for the owner's form, then (unless ownOnly) for the
// form written before ownership, and keeps only those two.
func lookupOwned[T any](ctx context.Context, owner string, ownOnly bool, attr, value string,
	find func(ctx context.Context, attr, value string) ([]T, error),
	split func(T) (obj T, ext, owner string)) ([]T, error) {
	values := []string{value}
	switch {
	case attr == connectors.MatchExternalID && ownOnly:
		values = []string{OwnedExternalID(owner, value)}
	case attr == connectors.MatchExternalID:
		values = []string{OwnedExternalID(owner, value), value}
	}
	for _, v := range values {
		found, err := find(ctx, attr, v)
		if err != nil {
			return nil, err
		}
		out := make([]T, 0, len(found))
		for _, f := range found {
			obj, ext, o := split(f)
			if attr == connectors.MatchExternalID && (ext != value || (o != "" && o != owner)) {
				continue
			}
			out = append(out, obj)
		}
		if len(out) > 0 || attr != connectors.MatchExternalID {
			return out, nil
		}
	}
	return nil, nil
}

func (t *ownedTarget) CreateUser(ctx context.Context, u connectors.User) (string, error) {
	return t.Target.CreateUser(ctx, t.write(u))
}

func (t *ownedTarget) UpdateUser(ctx context.Context, id string, u connectors.User) error {
	return t.Target.UpdateUser(ctx, id, t.write(u))
}

func (t *ownedTarget) CreateGroup(ctx context.Context, g connectors.Group) (string, error) {
	g.ExternalID = OwnedExternalID(t.owner, g.ExternalID)
	return t.grouped().CreateGroup(ctx, g)
}

func (t *ownedTarget) UpdateGroup(ctx context.Context, id string, g connectors.Group) error {
	g.ExternalID = OwnedExternalID(t.owner, g.ExternalID)
	return t.grouped().UpdateGroup(ctx, id, g)
}

func (t *ownedTarget) DeleteGroup(ctx context.Context, id string) error {
	return t.grouped().DeleteGroup(ctx, id)
}

func (t *ownedTarget) AddMembers(ctx context.Context, groupID string, userIDs []string) error {
	return t.grouped().AddMembers(ctx, groupID, userIDs)
}

func (t *ownedTarget) RemoveMembers(ctx context.Context, groupID string, userIDs []string) error {
	return t.grouped().RemoveMembers(ctx, groupID, userIDs)
}

// KnownUserID answers for the rule's own users only.
func (t *ownedTarget) KnownUserID(ext string) (string, bool) {
	if k, ok := t.Target.(connectors.KnownUsers); ok {
		return k.KnownUserID(OwnedExternalID(t.owner, ext))
	}
	return "", false
}

func (t *ownedTarget) DeprovisionUserAs(ctx context.Context, id, mode string) error {
	m, ok := t.Target.(connectors.ModeDeprovisioner)
	if !ok {
		return permanentf("the rule asks to %s users, but this target type has no choice of mode", mode)
	}
	return m.DeprovisionUserAs(ctx, id, mode)
}

func (t *ownedTarget) GetUserByID(ctx context.Context, id string) (connectors.TargetUser, bool, error) {
	tu, found, err := t.Target.(connectors.UserReader).GetUserByID(ctx, id)
	return t.user(tu), found, err
}

func (t *ownedTarget) GroupsOfUser(ctx context.Context, userID string) ([]connectors.TargetGroup, error) {
	groups, err := t.Target.(connectors.MemberOf).GroupsOfUser(ctx, userID)
	for i := range groups {
		groups[i] = t.group(groups[i])
	}
	return groups, err
}

// groups is the target's group capability, nil unless the source and the
// target both have groups: a store without groups never sees group work.
func (s *Syncer) groups() connectors.GroupTarget {
	if _, ok := s.updateOnly(); ok || s.groupSource() == nil {
		return nil
	}
	g, _ := capability[connectors.GroupTarget](s.Target)
	return g
}

// groupSource is the source's group capability, nil when it has none.
func (s *Syncer) groupSource() connectors.GroupSource {
	g, _ := s.Source.(connectors.GroupSource)
	return g
}

// userReader is the target as a UserReader, when the connector is one.
func (s *Syncer) userReader() (connectors.UserReader, bool) {
	return capability[connectors.UserReader](s.Target)
}

// memberOf is the target as a MemberOf, when the connector is one.
func (s *Syncer) memberOf() (connectors.MemberOf, bool) {
	return capability[connectors.MemberOf](s.Target)
}

// capability is t as the optional interface C when its connector has it:
// ownedTarget implements every one, and answers for its connector.
func capability[C any](t connectors.Target) (C, bool) {
	if ot, ok := t.(*ownedTarget); ok {
		if _, ok := ot.Target.(C); !ok {
			var none C
			return none, false
		}
	}
	c, ok := t.(C)
	return c, ok
}
