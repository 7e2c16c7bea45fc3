package workosfake

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"
)

// User is a directory user as the fake holds it.
type User struct {
	ID, DirectoryID, OrganizationID string
	// IdpID is the identity provider's id of the user.
	IdpID                            string
	Email, FirstName, LastName, Name string
	Username                         string // deprecated field; sent when set
	State                            string // active or inactive
	CustomAttributes                 map[string]any
	CreatedAt, UpdatedAt             time.Time
}

// UserInput is a new user. IdpID is made up when empty.
type UserInput struct {
	IdpID, Email, FirstName, LastName, Name, Username string
	Inactive                                          bool
	CustomAttributes                                  map[string]any
}

// Group is a directory group as the fake holds it.
type Group struct {
	ID, DirectoryID, OrganizationID, IdpID, Name string
	CreatedAt, UpdatedAt                         time.Time
}

// Directory is one directory of the fake: its methods change it as the
// identity provider behind it would, recording WorkOS's events.
type Directory struct {
	s                  *Server
	ID, OrganizationID string
	createdAt          time.Time
	deleted            bool
}

// Event types.
const (
	UserCreated      = "dsync.user.created"
	UserUpdated      = "dsync.user.updated"
	UserDeleted      = "dsync.user.deleted"
	GroupCreated     = "dsync.group.created"
	GroupUpdated     = "dsync.group.updated"
	GroupDeleted     = "dsync.group.deleted"
	GroupUserAdded   = "dsync.group.user_added"
	GroupUserRemoved = "dsync.group.user_removed"
	DirActivated     = "dsync.activated"
	DirDeactivated   = "dsync.deactivated" // in the spec, not in the notes
	DirDeleted       = "dsync.deleted"
)

// CreateUser adds a user and records dsync.user.created.
func (d *Directory) CreateUser(in UserInput) User {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now, seq := s.tick()
	u := &User{
		ID: prefixUser + ulid(now, seq), DirectoryID: d.ID, OrganizationID: d.OrganizationID,
		IdpID: in.IdpID, Email: in.Email, FirstName: in.FirstName, LastName: in.LastName,
		Name: in.Name, Username: in.Username, State: "active",
		CustomAttributes: maps.Clone(in.CustomAttributes), CreatedAt: now, UpdatedAt: now,
	}
	if u.IdpID == "" {
		u.IdpID = fmt.Sprintf("idp-%d", seq)
	}
	if in.Inactive {
		u.State = "inactive"
	}
	s.users[u.ID] = u
	s.record(UserCreated, d.OrganizationID, u.wire())
	return *u
}

// UpdateUser changes a user through fn (on a copy, whose
// CustomAttributes it may change in place) and records dsync.user.updated
// with previous_attributes, the old values of what changed (a shallow
// diff; an attribute that was absent is null). A change that changes
// nothing records nothing.
func (d *Directory) UpdateUser(id string, fn func(*User)) (User, error) {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok || u.DirectoryID != d.ID {
		return User{}, fmt.Errorf("workosfake: no user %s", id)
	}
	next := *u
	next.CustomAttributes = maps.Clone(u.CustomAttributes)
	if next.CustomAttributes == nil {
		next.CustomAttributes = map[string]any{} // fn may set one
	}
	fn(&next)
	next.ID, next.DirectoryID, next.OrganizationID, next.CreatedAt = u.ID, u.DirectoryID, u.OrganizationID, u.CreatedAt
	prev := previous(u.wire(), next.wire())
	if len(prev) == 0 {
		return *u, nil
	}
	now, _ := s.tick()
	next.UpdatedAt = now
	*u = next
	data := u.wire()
	data["previous_attributes"] = prev
	s.record(UserUpdated, d.OrganizationID, data)
	return *u, nil
}

// previous is the shallow diff WorkOS puts in previous_attributes: each
// top-level field that changed, with its old value; inside
// custom_attributes, the keys that changed [U: the docs show top-level
// fields only].
func previous(old, cur map[string]any) map[string]any {
	prev := map[string]any{}
	for k, v := range cur {
		if k == "updated_at" {
			continue
		}
		if k == "custom_attributes" {
			oc, nc := old[k].(map[string]any), v.(map[string]any)
			diff := map[string]any{}
			for ck := range nc {
				if !reflect.DeepEqual(oc[ck], nc[ck]) {
					diff[ck] = oc[ck]
				}
			}
			for ck, ov := range oc {
				if _, ok := nc[ck]; !ok {
					diff[ck] = ov
				}
			}
			if len(diff) > 0 {
				prev[k] = diff
			}
			continue
		}
		if !reflect.DeepEqual(old[k], v) {
			prev[k] = old[k]
		}
	}
	return prev
}

// SetActive sets a user's state: false is WorkOS's soft delete, a
// dsync.user.updated with state inactive.
func (d *Directory) SetActive(id string, active bool) (User, error) {
	return d.UpdateUser(id, func(u *User) {
		u.State = "inactive"
		if active {
			u.State = "active"
		}
	})
}

// DeleteUser removes a user and records dsync.user.deleted. Its
// memberships go with it, without dsync.group.user_removed events [U: the
// docs say only that a deleted group sends none].
func (d *Directory) DeleteUser(id string) error {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok || u.DirectoryID != d.ID {
		return fmt.Errorf("workosfake: no user %s", id)
	}
	s.tick()
	delete(s.users, id)
	for _, m := range s.members {
		delete(m, id)
	}
	s.record(UserDeleted, d.OrganizationID, u.wire())
	return nil
}

// CreateGroup adds a group and records dsync.group.created.
func (d *Directory) CreateGroup(name string) Group {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now, seq := s.tick()
	g := &Group{ID: prefixGroup + ulid(now, seq), DirectoryID: d.ID, OrganizationID: d.OrganizationID,
		IdpID: fmt.Sprintf("idp-g%d", seq), Name: name, CreatedAt: now, UpdatedAt: now}
	s.groups[g.ID] = g
	s.members[g.ID] = map[string]struct{}{}
	s.record(GroupCreated, d.OrganizationID, g.wire())
	return *g
}

// RenameGroup renames a group and records dsync.group.updated.
func (d *Directory) RenameGroup(id, name string) (Group, error) {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[id]
	if !ok || g.DirectoryID != d.ID {
		return Group{}, fmt.Errorf("workosfake: no group %s", id)
	}
	if g.Name == name {
		return *g, nil
	}
	now, _ := s.tick()
	old := g.Name
	g.Name, g.UpdatedAt = name, now
	data := g.wire()
	data["previous_attributes"] = map[string]any{"name": old}
	s.record(GroupUpdated, d.OrganizationID, data)
	return *g, nil
}

// DeleteGroup removes a group and records dsync.group.deleted, and no
// dsync.group.user_removed for its members (section B3).
func (d *Directory) DeleteGroup(id string) error {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[id]
	if !ok || g.DirectoryID != d.ID {
		return fmt.Errorf("workosfake: no group %s", id)
	}
	s.tick()
	delete(s.groups, id)
	delete(s.members, id)
	s.record(GroupDeleted, d.OrganizationID, g.wire())
	return nil
}

// AddMember adds a user to a group and records dsync.group.user_added;
// neither object's updated_at changes (section B3). Adding a member
// again records nothing.
func (d *Directory) AddMember(groupID, userID string) error {
	return d.membership(groupID, userID, true)
}

// RemoveMember removes a user from a group and records
// dsync.group.user_removed.
func (d *Directory) RemoveMember(groupID, userID string) error {
	return d.membership(groupID, userID, false)
}

func (d *Directory) membership(groupID, userID string, add bool) error {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[groupID]
	u, uok := s.users[userID]
	if !ok || !uok || g.DirectoryID != d.ID || u.DirectoryID != d.ID {
		return fmt.Errorf("workosfake: no group %s or user %s", groupID, userID)
	}
	m := s.members[groupID]
	if _, in := m[userID]; in == add {
		return nil
	}
	s.tick()
	typ := GroupUserAdded
	if add {
		m[userID] = struct{}{}
	} else {
		delete(m, userID)
		typ = GroupUserRemoved
	}
	s.record(typ, d.OrganizationID, map[string]any{"directory_id": d.ID, "user": u.wire(), "group": g.wire()})
	return nil
}

// SetMembers makes a group's members exactly userIDs, recording an
// event per user added or removed.
func (d *Directory) SetMembers(groupID string, userIDs []string) error {
	for _, id := range d.Members(groupID) {
		if !slices.Contains(userIDs, id) {
			if err := d.RemoveMember(groupID, id); err != nil {
				return err
			}
		}
	}
	for _, id := range userIDs {
		if err := d.AddMember(groupID, id); err != nil {
			return err
		}
	}
	return nil
}

// Populate creates n users (user<i>@example.org) and the named groups,
// user i a member of group i mod len(groups), in WorkOS's usual order:
// users, groups, then memberships.
func (d *Directory) Populate(n int, groups ...string) ([]User, []Group) {
	users := make([]User, n)
	for i := range n {
		users[i] = d.CreateUser(UserInput{Email: fmt.Sprintf("user%d@example.org", i),
			FirstName: "User", LastName: fmt.Sprint(i), Name: fmt.Sprintf("User %d", i)})
	}
	gs := make([]Group, len(groups))
	for i, name := range groups {
		gs[i] = d.CreateGroup(name)
	}
	for i, u := range users {
		if len(gs) > 0 {
			if err := d.AddMember(gs[i%len(gs)].ID, u.ID); err != nil {
				panic(err) // both were just made
			}
		}
	}
	return users, gs
}

// Activate records dsync.activated, as a directory that is (re)linked.
func (d *Directory) Activate() {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick()
	s.record(DirActivated, d.OrganizationID, d.wire("active"))
}

// Deactivate records dsync.deactivated, as a directory whose link is
// broken or turned off; its users and groups stay [U].
func (d *Directory) Deactivate() {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick()
	s.record(DirDeactivated, d.OrganizationID, d.wire("inactive"))
}

// Delete deletes the directory: its users and groups go with only a
// dsync.deleted event (section B3), which carries the state before.
func (d *Directory) Delete() {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick()
	for id, u := range s.users {
		if u.DirectoryID == d.ID {
			delete(s.users, id)
		}
	}
	for id, g := range s.groups {
		if g.DirectoryID == d.ID {
			delete(s.groups, id)
			delete(s.members, id)
		}
	}
	d.deleted = true
	s.record(DirDeleted, d.OrganizationID, d.wire("active"))
}

// User returns a user by id.
func (d *Directory) User(id string) (User, bool) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	u, ok := d.s.users[id]
	if !ok || u.DirectoryID != d.ID {
		return User{}, false
	}
	return *u, true
}

// Users returns the directory's users in creation order.
func (d *Directory) Users() []User {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return d.s.usersOf(d.ID)
}

// Groups returns the directory's groups in creation order.
func (d *Directory) Groups() []Group {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return d.s.groupsOf(d.ID)
}

// Members returns the user ids of a group, sorted.
func (d *Directory) Members(groupID string) []string {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return slices.Sorted(maps.Keys(d.s.members[groupID]))
}
