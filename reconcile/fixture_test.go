package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/memory"
	"github.com/idsync/idsync/internal/reconciletest"
	"github.com/idsync/idsync/reconcile"
)

// These tests run the Syncer between two in-memory stores
// (connectors/memory), opened through the registry as the worker opens
// connections: one store is the source, the other the target. The memory
// target answers as reconciliation expects of real ones (externalId
// exactly, userName unique without regard to case, ErrNotFound for a
// write to a missing id), and its knobs make it slow or failing where a
// test needs an imperfect peer. Where a test needs the target to change
// at an awkward moment, a thin wrapper over the connector does it
// (racingTarget). Tests of real peers (slapd, scimmy, the vendor fakes)
// are in reconcile/peertest.

var registry = connectors.Registry{"memory": memory.Type}

// Page sizes: several pages even for small stores, on both sides, as the
// LDAP source (7) and scimmy (20) page in reconcile/peertest.
const (
	sourcePageSize = 7
	targetPageSize = 20
)

// env is one test's source and target: two memory stores of the test's
// own, a source connection to one and a target connection to the other.
type env struct {
	source, target *memory.Store
	src            fullSource
	tgt            fullTarget
	// log reads the target store's change log, which has an entry for
	// every object written (see mark).
	log connectors.Incremental
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{source: memory.ForTest(t), target: memory.ForTest(t)}
	e.src = openSource(t, e.source, nil)
	e.tgt = e.openTarget(t, nil)
	e.log = openSource(t, e.target, nil)
	return e
}

// open opens a memory connection to store with settings on top of its
// name, through the registry.
func open(t *testing.T, store *memory.Store, settings map[string]any) connectors.Connector {
	t.Helper()
	s := map[string]any{"store": store.Name()}
	maps.Copy(s, settings)
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := registry.Open(context.Background(), "mem", "memory", raw, testLogger(t))
	if err != nil {
		t.Fatalf("open memory connection: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// openSource opens a source connection to store.
func openSource(t *testing.T, store *memory.Store, settings map[string]any) fullSource {
	t.Helper()
	s := map[string]any{"pageSize": sourcePageSize}
	maps.Copy(s, settings)
	return open(t, store, s).(fullSource)
}

// openTarget opens another target connection to the env's target store,
// with settings (the deprovisioning mode, …).
func (e *env) openTarget(t *testing.T, settings map[string]any) fullTarget {
	t.Helper()
	s := map[string]any{"pageSize": targetPageSize}
	maps.Copy(s, settings)
	tgt, err := connectors.AsTarget(open(t, e.target, s))
	if err != nil {
		t.Fatal(err)
	}
	return tgt.(fullTarget)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (e *env) syncer(opts reconcile.Options) *reconcile.Syncer {
	return &reconcile.Syncer{Source: e.src, Target: e.tgt, Opts: opts}
}

// --- the source ---

// entry is a source object a test made; its ID is the ExternalID idsync
// gives it.
type entry struct{ ID string }

var idSeq atomic.Int64

// newID is a source id no other object of the test binary has, as an
// entryUUID is: two envs' objects never share one.
func newID(name string) string { return fmt.Sprintf("%s-%04d", name, idSeq.Add(1)) }

// addUser adds an active user <uid> (familyName Test, displayName
// "<uid> Test") with the given "field: value" lines (see setFields).
func (e *env) addUser(t *testing.T, uid string, fields ...string) entry {
	t.Helper()
	u := connectors.User{ExternalID: newID(uid), UserName: uid, FamilyName: "Test", DisplayName: uid + " Test", Active: true}
	setFields(t, &u, fields)
	e.source.PutUser(u)
	return entry{u.ExternalID}
}

// addUsers adds n users <prefix>00, <prefix>01, … with an email each.
func (e *env) addUsers(t *testing.T, prefix string, n int) []entry {
	t.Helper()
	out := make([]entry, n)
	for i := range n {
		uid := fmt.Sprintf("%s%02d", prefix, i)
		out[i] = e.addUser(t, uid, "email: "+uid+"@example.org")
	}
	return out
}

// modifyUser changes fields of a source user ("field: value" lines; an
// empty value removes an attribute).
func (e *env) modifyUser(t *testing.T, u entry, fields ...string) {
	t.Helper()
	for _, tu := range e.source.Users() {
		if tu.ID == u.ID {
			su := tu.User
			su.ExternalID = u.ID
			setFields(t, &su, fields)
			e.source.PutUser(su)
			return
		}
	}
	t.Fatalf("no source user %s", u.ID)
}

// setFields sets a user's fields from "field: value" lines: the User
// fields by their JSON names (userName, givenName, familyName,
// displayName, email), anything else an attribute by its SCIM name
// (title, department, employeeNumber, phoneNumber, manager, …).
func setFields(t *testing.T, u *connectors.User, fields []string) {
	t.Helper()
	for _, f := range fields {
		k, v, ok := strings.Cut(f, ":")
		if !ok {
			t.Fatalf("field %q: want \"name: value\"", f)
		}
		u.Attributes = maps.Clone(u.Attributes) // u may share it with the store's copy
		u.SetField(k, strings.TrimSpace(v))
	}
}

// addGroup adds a group named name with the members.
func (e *env) addGroup(t *testing.T, name string, members ...entry) entry {
	t.Helper()
	g := connectors.Group{ExternalID: newID(name), DisplayName: name, Members: ids(members)}
	e.source.PutGroup(g)
	return entry{g.ExternalID}
}

// editGroup changes a source group with edit.
func (e *env) editGroup(t *testing.T, g entry, edit func(*connectors.Group)) {
	t.Helper()
	for _, sg := range e.source.Groups() {
		if sg.ID == g.ID {
			group := connectors.Group{ExternalID: sg.ID, DisplayName: sg.DisplayName, Members: sg.MemberIDs}
			edit(&group)
			e.source.PutGroup(group)
			return
		}
	}
	t.Fatalf("no source group %s", g.ID)
}

// addMembers and removeMembers change a source group's members.
func (e *env) addMembers(t *testing.T, g entry, members ...entry) {
	t.Helper()
	e.editGroup(t, g, func(sg *connectors.Group) { sg.Members = append(sg.Members, ids(members)...) })
}

func (e *env) removeMembers(t *testing.T, g entry, members ...entry) {
	t.Helper()
	gone := ids(members)
	e.editGroup(t, g, func(sg *connectors.Group) {
		sg.Members = slices.DeleteFunc(sg.Members, func(id string) bool { return slices.Contains(gone, id) })
	})
}

// renameGroup renames a source group; its id stays, as an entryUUID does
// through a modrdn.
func (e *env) renameGroup(t *testing.T, g entry, name string) {
	t.Helper()
	e.editGroup(t, g, func(sg *connectors.Group) { sg.DisplayName = name })
}

// delete deletes source users and groups; a deleted user leaves its
// groups, as with a directory's referential integrity.
func (e *env) delete(t *testing.T, es ...entry) {
	t.Helper()
	for _, x := range es {
		if !e.source.DeleteUser(x.ID) && !e.source.DeleteGroup(x.ID) {
			t.Fatalf("no source object %s to delete", x.ID)
		}
	}
}

func ids(es []entry) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

// --- the target ---

// createTargetUser creates a user directly in the target, as an admin of
// the target would; without ExternalID, idsync does not manage it.
func (e *env) createTargetUser(t *testing.T, u connectors.User) string {
	t.Helper()
	id, err := e.tgt.CreateUser(context.Background(), u)
	if err != nil {
		t.Fatalf("create target user %q: %v", u.UserName, err)
	}
	return id
}

// targetUsers returns every user of the target, read from the store
// itself: no connector call, no knob.
func (e *env) targetUsers(t *testing.T) []connectors.TargetUser {
	t.Helper()
	return e.target.Users()
}

// targetUser returns the one target user whose ExternalID is ext.
func (e *env) targetUser(t *testing.T, ext string) connectors.TargetUser {
	t.Helper()
	var hits []connectors.TargetUser
	for _, tu := range e.targetUsers(t) {
		if tu.ExternalID == ext {
			hits = append(hits, tu)
		}
	}
	if len(hits) != 1 {
		t.Fatalf("target users with externalId %q: %d, want 1: %+v", ext, len(hits), hits)
	}
	return hits[0]
}

// targetUserByID returns the target user with target id id.
func (e *env) targetUserByID(t *testing.T, id string) connectors.TargetUser {
	t.Helper()
	for _, tu := range e.targetUsers(t) {
		if tu.ID == id {
			return tu
		}
	}
	t.Fatalf("no target user with id %s", id)
	return connectors.TargetUser{}
}

// targetGroups returns every group of the target.
func (e *env) targetGroups(t *testing.T) []connectors.TargetGroup {
	t.Helper()
	return e.target.Groups()
}

// targetGroup returns the one target group whose ExternalID is ext.
func (e *env) targetGroup(t *testing.T, ext string) connectors.TargetGroup {
	t.Helper()
	var hits []connectors.TargetGroup
	for _, tg := range e.targetGroups(t) {
		if tg.ExternalID == ext {
			hits = append(hits, tg)
		}
	}
	if len(hits) != 1 {
		t.Fatalf("target groups with externalId %q: %d, want 1: %+v", ext, len(hits), hits)
	}
	return hits[0]
}

// members returns the target ids of the users with the given
// ExternalIDs, sorted, to compare with a group's MemberIDs.
func (e *env) members(t *testing.T, exts ...string) []string {
	t.Helper()
	return reconciletest.MemberIDs(t, e.targetUsers(t), exts...)
}

// mark returns the target's position in its change log; written then
// says which objects were written since, as a SCIM server's meta.version
// would. (A disable of a user already disabled changes nothing and is not
// logged; writes counts such calls.)
func (e *env) mark(t *testing.T) string {
	t.Helper()
	c, err := e.log.Cursor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// written returns the target ids of the users and groups written since
// mark (created, updated, disabled, deleted, members changed).
func (e *env) written(t *testing.T, mark string) map[string]bool {
	t.Helper()
	cs, err := e.log.Changes(context.Background(), mark)
	if err != nil || cs.ResyncRequired {
		t.Fatalf("target change log: %+v, %v", cs, err)
	}
	out := map[string]bool{}
	for _, u := range cs.Users {
		out[u.ExternalID] = true
	}
	for _, g := range cs.Groups {
		out[g.ExternalID] = true
	}
	for _, id := range cs.DeletedIDs {
		out[id] = true
	}
	return out
}

// resetStats zeroes the target store's call counts.
func (e *env) resetStats(t *testing.T) {
	t.Helper()
	e.target.ResetCalls()
}

// writeCalls are the target methods that write.
var writeCalls = []string{"CreateUser", "UpdateUser", "DeprovisionUser",
	"CreateGroup", "UpdateGroup", "DeleteGroup", "AddMembers", "RemoveMembers"}

// writes returns the write calls the target received since the last
// resetStats, by method.
func (e *env) writes(t *testing.T) map[string]int {
	t.Helper()
	w := map[string]int{}
	for op, n := range e.target.Calls() {
		if n > 0 && slices.Contains(writeCalls, op) {
			w[op] = n
		}
	}
	return w
}

// --- running the Syncer ---

// scopedSource is a source whose scope (an LDAP filter, a base) leaves
// out the users in rejects: they are neither listed nor read, and a
// change that takes one out of scope reports its id as deleted, as a
// directory reports an entry that left the filter.
type scopedSource struct {
	fullSource
	in func(connectors.User) bool
}

func (s *scopedSource) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	return s.fullSource.ListUsers(ctx, func(u connectors.User) error {
		if !s.in(u) {
			return nil
		}
		return fn(u)
	})
}

func (s *scopedSource) GetUser(ctx context.Context, ext string) (connectors.User, bool, error) {
	u, found, err := s.fullSource.GetUser(ctx, ext)
	if err != nil || !found || !s.in(u) {
		return connectors.User{}, false, err
	}
	return u, true, nil
}

func (s *scopedSource) Changes(ctx context.Context, cursor string) (connectors.ChangeSet, error) {
	cs, err := s.fullSource.Changes(ctx, cursor)
	if err != nil {
		return cs, err
	}
	in := cs.Users[:0:0]
	for _, u := range cs.Users {
		if s.in(u) {
			in = append(in, u)
		} else {
			cs.DeletedIDs = append(cs.DeletedIDs, u.ExternalID)
		}
	}
	cs.Users = in
	return cs, nil
}

// Shared with the other test package of reconcile (internal/reconciletest).
var (
	fullSync        = reconciletest.FullSync
	checkCounts     = reconciletest.CheckCounts
	checkNoFailures = reconciletest.CheckNoFailures
	sorted          = reconciletest.Sorted
)

// A wrapper that embeds fullTarget shows only its methods: the target's
// optional lookups (UserReader, MemberOf) are then out of sight, as for a
// connector without them.
type (
	fullTarget = reconciletest.FullTarget
	fullSource = reconciletest.FullSource
)
