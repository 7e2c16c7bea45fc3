// Package connectors defines what idsync needs from an identity store: the
// canonical user and group, the small capability interfaces a connector may
// implement (Source, Target, Tester), and the registry that turns a stored
// connection config into an open connector.
//
// A connector package (connectors/ldap, connectors/scim, …) exports a Config
// that validates itself and opens the connector; the registry maps the
// connection type to a fresh Config, in the manner of Dex's connector map.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// User is the canonical user that flows from a source to a target.
//
// ExternalID is the source's immutable id (LDAP entryUUID, Workday WID, …). It
// is stored on the target object (SCIM externalId) and is what marks a target
// object as managed by idsync.
type User struct {
	ExternalID  string `json:"externalId"`
	UserName    string `json:"userName"`
	GivenName   string `json:"givenName,omitempty"`
	FamilyName  string `json:"familyName,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Email       string `json:"email,omitempty"`
	Active      bool   `json:"active"`
	// Attributes holds the optional profile attributes by their SCIM names:
	// title, department, employeeNumber, phoneNumber, manager (the manager's
	// ExternalID).
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Field returns a field of u by its name: the User fields by their JSON
// names (externalId, userName, givenName, familyName, displayName,
// email), anything else from Attributes.
func (u User) Field(name string) string {
	switch name {
	case MatchExternalID:
		return u.ExternalID
	case MatchUserName:
		return u.UserName
	case "givenName":
		return u.GivenName
	case "familyName":
		return u.FamilyName
	case "displayName":
		return u.DisplayName
	case MatchEmail:
		return u.Email
	}
	return u.Attributes[name]
}

// SetField sets a field of u by its name, as Field reads it; an empty
// attribute is removed. It writes to u.Attributes in place: clone the map
// first when it is shared.
func (u *User) SetField(name, v string) {
	switch name {
	case MatchExternalID:
		u.ExternalID = v
	case MatchUserName:
		u.UserName = v
	case "givenName":
		u.GivenName = v
	case "familyName":
		u.FamilyName = v
	case "displayName":
		u.DisplayName = v
	case MatchEmail:
		u.Email = v
	default:
		if v == "" {
			delete(u.Attributes, name)
			return
		}
		if u.Attributes == nil {
			u.Attributes = make(map[string]string)
		}
		u.Attributes[name] = v
	}
}

// Group is the canonical group. Members are the ExternalIDs of member users.
type Group struct {
	ExternalID  string   `json:"externalId"`
	DisplayName string   `json:"displayName"`
	Members     []string `json:"members,omitempty"`
}

// TargetUser is a user as the target holds it. User.ExternalID is empty for
// an object idsync does not manage.
type TargetUser struct {
	ID string `json:"id"`
	User
	// Owner is the rule that manages the object, as reconcile reads it
	// from the ExternalID the target holds; connectors leave it empty.
	Owner string `json:"owner,omitempty"`
}

// TargetGroup is a group as the target holds it, with members by target id.
type TargetGroup struct {
	ID          string   `json:"id"`
	ExternalID  string   `json:"externalId,omitempty"`
	DisplayName string   `json:"displayName"`
	MemberIDs   []string `json:"memberIds,omitempty"`
	// Owner: see TargetUser.Owner.
	Owner string `json:"owner,omitempty"`
}

// ChangeSet is what changed at a source since a cursor.
type ChangeSet struct {
	Users  []User  `json:"users,omitempty"`
	Groups []Group `json:"groups,omitempty"`
	// DeletedIDs are ExternalIDs of users or groups that left the source or
	// its scope. Some sources (LDAP syncrepl) cannot say which kind an id was.
	DeletedIDs []string `json:"deletedIds,omitempty"`
	// Cursor is where the next call to Changes continues.
	Cursor string `json:"cursor"`
	// ResyncRequired is set when the source cannot tell what was deleted
	// since the cursor (an expired cookie, a lost session log): the caller
	// must run a full resync, which finds deletions by comparison.
	ResyncRequired bool `json:"resyncRequired,omitempty"`
	// More says the source has more changes after Cursor than one
	// ChangeSet carries (a source bounds a ChangeSet, so that a backlog
	// is applied in pieces of a size a run can finish): the rule polls
	// again at once instead of after its interval.
	More bool `json:"more,omitempty"`
}

// Connector is an open connection to an identity store. What it can do is
// found by type assertion to the small interfaces below, the way Dex finds
// a connector's abilities: Source (with GroupSource and Incremental), Target
// (with GroupTarget and the optional lookups), Tester, Describer, Watcher.
// A connector that is both a source and a target through two values (LDAP)
// implements TargetRole; AsSource and AsTarget take either form.
type Connector interface {
	Close() error
}

// Source is an identity store that idsync reads users from. A source
// without GroupSource has no groups: no group work is done for it. A
// source without Incremental is listed in full on each poll (see
// Incrementally).
type Source interface {
	Connector
	// ListUsers calls fn for every in-scope user, page by page; it stops at
	// fn's first error and returns it.
	ListUsers(ctx context.Context, fn func(User) error) error
	// GetUser reads one user by ExternalID; found is false when it does
	// not exist or is out of scope.
	GetUser(ctx context.Context, externalID string) (u User, found bool, err error)
}

// GroupSource is a Source that has groups.
type GroupSource interface {
	// ListGroups calls fn for every in-scope group.
	ListGroups(ctx context.Context, fn func(Group) error) error
	// GetGroup reads one group by ExternalID, as GetUser.
	GetGroup(ctx context.Context, externalID string) (g Group, found bool, err error)
}

// Incremental is a Source that can say what changed since a point in its
// history, so that a poll reads only the changes.
type Incremental interface {
	// Cursor returns the source's current position, so that a later
	// Changes(cursor) returns everything that changes after this call.
	Cursor(ctx context.Context) (string, error)
	// Changes returns what changed since cursor.
	Changes(ctx context.Context, cursor string) (ChangeSet, error)
}

// Match attributes a Target can look users up by.
const (
	MatchExternalID = "externalId"
	MatchUserName   = "userName"
	MatchEmail      = "email"
)

// Target is an identity store that idsync writes users to. A target
// without GroupTarget has no groups (Salesforce Leads and Contacts): no
// group work is done for it.
type Target interface {
	Connector
	// ListUsers streams every user of the target, managed or not, page by
	// page.
	ListUsers(ctx context.Context, fn func(TargetUser) error) error
	// LookupUsers finds users whose attr (one of the Match constants) equals
	// value; userName and email compare case-insensitively.
	LookupUsers(ctx context.Context, attr, value string) ([]TargetUser, error)
	CreateUser(ctx context.Context, u User) (id string, err error)
	UpdateUser(ctx context.Context, id string, u User) error
	// DeprovisionUser disables or deletes a user, as the connection is
	// configured to.
	DeprovisionUser(ctx context.Context, id string) error
}

// GroupTarget is a Target that has groups and memberships.
type GroupTarget interface {
	// ListGroups streams every group of the target, managed or not.
	ListGroups(ctx context.Context, fn func(TargetGroup) error) error
	// LookupGroups finds groups by externalId ("externalId") or by
	// displayName ("displayName").
	LookupGroups(ctx context.Context, attr, value string) ([]TargetGroup, error)
	// CreateGroup creates a group without members; UpdateGroup changes its
	// name and externalId.
	CreateGroup(ctx context.Context, g Group) (id string, err error)
	UpdateGroup(ctx context.Context, id string, g Group) error
	DeleteGroup(ctx context.Context, id string) error
	AddMembers(ctx context.Context, groupID string, userIDs []string) error
	RemoveMembers(ctx context.Context, groupID string, userIDs []string) error
}

// TargetRole is a Connector that is also a target through a second value,
// because one Go value cannot be both: Source.ListUsers and
// Target.ListUsers differ (LDAP: one directory, read and written). The
// target shares the connector's connections and is closed with it.
type TargetRole interface {
	AsTarget() (Target, error)
}

// AsSource is c as a Source, or an error that says the connection type
// cannot be read from.
func AsSource(c Connector) (Source, error) {
	if s, ok := c.(Source); ok {
		return s, nil
	}
	return nil, errors.New("this connection type cannot be a source")
}

// AsTarget is c as a Target (directly, or through TargetRole), or an
// error that says why it cannot be written to.
func AsTarget(c Connector) (Target, error) {
	if t, ok := c.(Target); ok {
		return t, nil
	}
	if r, ok := c.(TargetRole); ok {
		return r.AsTarget()
	}
	return nil, errors.New("this connection type cannot be a target")
}

// CanTarget says whether c can be a target, without building the role.
func CanTarget(c Connector) bool {
	switch c.(type) {
	case Target, TargetRole:
		return true
	}
	return false
}

// KnownUsers is a Target that remembers the target ids of the managed
// users it has listed, created or found, so that group members are
// resolved without a lookup each. A remembered id can be stale (the user
// was deleted behind idsync's back): a write naming it fails, and is
// reported, until the connector is opened again or a full resync mends it.
type KnownUsers interface {
	KnownUserID(externalID string) (id string, ok bool)
}

// AttributeKeeper is a Target that holds only some of User.Attributes
// (SCIM's schemas have a place for title and department, none for a
// Workday hireDate): reconciliation compares a source user with the
// target's copy on these alone, so that an attribute the target cannot
// hold does not make every user differ, and be written, on every run. A
// Target without it is compared on all of them. The conformance suite
// checks the list against what the target reads back.
type AttributeKeeper interface {
	// KeptAttributes are the User.Attributes keys the target writes and
	// reads back, as the connection is configured.
	KeptAttributes() []string
}

// UserReader is a Target that reads one user by its target id, so that an
// incremental run learns whether a group member is managed without
// listing the target.
type UserReader interface {
	// GetUserByID returns the user with that target id; found is false
	// when there is none.
	GetUserByID(ctx context.Context, id string) (u TargetUser, found bool, err error)
}

// MemberOf is a Target that finds the groups a user is a direct member of,
// so that a deprovisioned user leaves its groups without a listing of
// every group.
type MemberOf interface {
	GroupsOfUser(ctx context.Context, userID string) ([]TargetGroup, error)
}

// UpdateOnly is a Target whose records belong to another system of
// record (Workday taking back the work email, phone and username that
// other systems assign): idsync never creates, deprovisions or deletes one
// of its records and owns none. A rule into it finds each source user's
// record by the rule's match attributes (exactly one record, or none) and,
// when they differ, updates only the fields UpdatedFields names (as
// User.Field names them); a source user without a record is counted
// Unmatched, never created, and a user who leaves the source is left as
// it is. Such a target's CreateUser and DeprovisionUser return errors, so
// that nothing reaches them by mistake.
type UpdateOnly interface {
	UpdatedFields() []string
}

// Deprovision modes a rule may ask of a target.
const (
	DeprovisionDisable = "disable"
	DeprovisionDelete  = "delete"
)

// ModeDeprovisioner is a Target whose deprovisioning mode a rule can
// choose, overriding the connection's.
type ModeDeprovisioner interface {
	DeprovisionUserAs(ctx context.Context, id, mode string) error
}

// Watcher is a Source that can tell, as it happens, that something
// changed, so that rules poll at once instead of on their interval. Watch
// blocks until ctx ends or the stream drops (then it returns the error; the
// caller reconnects, and polling goes on meanwhile). It returns
// ErrWatchOff at once when the connection does not ask for real-time mode.
type Watcher interface {
	Watch(ctx context.Context, changed func()) error
}

// ErrWatchOff is returned by Watch for a connection without real-time mode.
var ErrWatchOff = errors.New("real-time mode is off for this connection")

// Tester checks that a connection works: the network path, TLS,
// credentials and permissions. Its error should be a *TestError.
type Tester interface {
	Test(ctx context.Context) error
}

// Describer says what a connection found out about the store and will use
// (for SCIM: PATCH or PUT, filters, ETags, bulk, the page limit, the kind
// of authentication), one human-readable line each, for `connection
// test`. It never returns a secret.
type Describer interface {
	Describe(ctx context.Context) ([]string, error)
}

// Test stages, in the order a connection goes through them.
const (
	StageConfig      = "config"
	StageDNS         = "dns"
	StageTCP         = "tcp"
	StageTLS         = "tls"
	StageAuth        = "auth"
	StagePermissions = "permissions"
)

// TestError says at which stage a connection test failed.
type TestError struct {
	Stage string
	Err   error
}

func (e *TestError) Error() string { return fmt.Sprintf("%s: %v", e.Stage, e.Err) }
func (e *TestError) Unwrap() error { return e.Err }

// ErrNotFound is returned (wrapped) when an object does not exist.
var ErrNotFound = errors.New("not found")

// ErrAlreadyExists is returned (wrapped) when a create conflicts with an
// existing object (SCIM 409 uniqueness, LDAP entryAlreadyExists).
var ErrAlreadyExists = errors.New("already exists")

// ErrRejected is returned (wrapped) when the store refused the request
// itself (a 4xx other than auth, not-found, conflict and rate limits):
// the same request will fail again, so the object is counted as failed.
var ErrRejected = errors.New("rejected by the store")

// ErrLookupUnsupported is returned (wrapped) by LookupUsers and
// LookupGroups when the target can look nothing up by that attribute: it
// refused every filter form the connector knows and the connector would
// not list the whole store to find it. Reconciliation then matches by the
// next ranked attribute instead of failing the object.
var ErrLookupUnsupported = errors.New("the target cannot look up by this attribute")

// ErrUnauthorized is returned (wrapped) when the store refused the
// credentials or the permissions: retrying will not help.
var ErrUnauthorized = errors.New("credentials refused")

// RateLimitError is returned when the store asked us to slow down; the
// activity layer turns RetryAfter into the next retry delay.
type RateLimitError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited (retry after %s): %v", e.RetryAfter, e.Err)
}
func (e *RateLimitError) Unwrap() error { return e.Err }
