package reconcile_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/memory"
	"github.com/idsync/idsync/reconcile"
)

// TestApplyChangeSet applies what the source's Changes reports after
// adds, modifies and deletes. The target then is what a full resync
// makes it: a full resync right after finds nothing to do.
func TestApplyChangeSet(t *testing.T) {
	e := newEnv(t)
	ada := e.addUser(t, "ada")
	bob := e.addUser(t, "bob")
	carol := e.addUser(t, "carol")
	dan := e.addUser(t, "dan")
	eng := e.addGroup(t, "eng", ada, bob)
	ops := e.addGroup(t, "ops", carol, dan)
	s := e.syncer(reconcile.Options{})
	fullSync(t, s)
	ctx := context.Background()
	cursor, err := e.src.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	changes := func(t *testing.T) connectors.ChangeSet {
		t.Helper()
		cs, err := e.src.Changes(ctx, cursor)
		if err != nil || cs.ResyncRequired {
			t.Fatalf("Changes: %+v, %v", cs, err)
		}
		cursor = cs.Cursor
		return cs
	}

	// Add erin to eng, change bob, delete dan. Deleting dan takes him out
	// of ops. The memory store reports ops as changed for it; LDAP's
	// refint does not change ops, and its change set holds dan's id alone.
	// Dropping ops keeps that case: dan must leave ops in the target all
	// the same.
	erin := e.addUser(t, "erin", "email: erin@example.org")
	e.addMembers(t, eng, erin)
	e.modifyUser(t, bob, "title: Lead")
	e.delete(t, dan)
	cs := changes(t)
	if !slices.Contains(cs.DeletedIDs, dan.ID) {
		t.Fatalf("Changes: DeletedIDs %q lack dan %s", cs.DeletedIDs, dan.ID)
	}
	cs.Groups = slices.DeleteFunc(cs.Groups, func(g connectors.Group) bool { return g.ExternalID == ops.ID })
	// An id the target never had (a deleted entry out of scope) is ignored.
	cs.DeletedIDs = append(cs.DeletedIDs, "00000000-0000-4000-8000-00000000dead")

	res, err := s.ApplyChangeSet(ctx, cs)
	if err != nil {
		t.Fatalf("ApplyChangeSet: %v", err)
	}
	checkCounts(t, "users", res.Users, reconcile.Counts{Created: 1, Updated: 1, Deprovisioned: 1})
	checkCounts(t, "groups", res.Groups, reconcile.Counts{Updated: 2})
	checkNoFailures(t, "change set", res)
	if tu := e.targetUser(t, erin.ID); !tu.Active || tu.Email != "erin@example.org" {
		t.Errorf("erin = %+v", tu.User)
	}
	if tu := e.targetUser(t, bob.ID); tu.Attributes["title"] != "Lead" {
		t.Errorf("bob's title = %q, want Lead", tu.Attributes["title"])
	}
	if tu := e.targetUser(t, dan.ID); tu.Active {
		t.Error("dan is still active")
	}
	if got, want := sorted(e.targetGroup(t, eng.ID).MemberIDs), e.members(t, ada.ID, bob.ID, erin.ID); !slices.Equal(got, want) {
		t.Errorf("eng members = %v, want %v", got, want)
	}
	if got, want := sorted(e.targetGroup(t, ops.ID).MemberIDs), e.members(t, carol.ID); !slices.Equal(got, want) {
		t.Errorf("ops members = %v, want %v", got, want)
	}
	if n := len(e.targetUsers(t)); n != 5 {
		t.Errorf("target has %d users, want 5", n)
	}

	// Converged: a full resync and the next change set change nothing.
	users, groups := fullSync(t, s)
	checkCounts(t, "full resync after: users", users.Users, reconcile.Counts{Unchanged: 4})
	checkCounts(t, "full resync after: groups", groups.Groups, reconcile.Counts{Unchanged: 2})
	res, err = s.ApplyChangeSet(ctx, changes(t))
	if err != nil || res.Users.Changed()+res.Groups.Changed() != 0 {
		t.Errorf("an empty change set: %+v, %v", res, err)
	}

	// A group deleted at the source: its id comes alone, kind unknown.
	e.delete(t, ops)
	res, err = s.ApplyChangeSet(ctx, changes(t))
	if err != nil {
		t.Fatalf("ApplyChangeSet: %v", err)
	}
	checkCounts(t, "ops deleted: users", res.Users, reconcile.Counts{})
	checkCounts(t, "ops deleted: groups", res.Groups, reconcile.Counts{Deprovisioned: 1})
	if n := len(e.targetGroups(t)); n != 1 {
		t.Errorf("target has %d groups, want 1", n)
	}
}

// TestDeletedUserLeavesGroups: a user deleted at the source leaves the
// rule's target groups although no group change says so (see
// TestApplyChangeSet), and a group idsync does not manage keeps it. The
// groups are found by asking the target for the user's groups, which costs
// what the users who left cost; a target that cannot say is listed.
func TestDeletedUserLeavesGroups(t *testing.T) {
	tests := []struct {
		name  string
		knobs memory.Knobs
		// listed: the target's groups are listed to find them.
		listed bool
	}{
		{name: "the target says a user's groups"},
		{name: "the target refuses members lookups", knobs: memory.Knobs{RefuseLookup: []string{"group:members"}}, listed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			ada := e.addUser(t, "ada")
			dan := e.addUser(t, "dan")
			ops := e.addGroup(t, "ops", ada, dan)
			eng := e.addGroup(t, "eng", dan)
			s := e.syncer(reconcile.Options{})
			fullSync(t, s)
			danID := e.targetUser(t, dan.ID).ID
			hand, err := e.tgt.CreateGroup(ctx, connectors.Group{DisplayName: "Hand-made"})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.tgt.AddMembers(ctx, hand, []string{danID}); err != nil {
				t.Fatal(err)
			}
			cursor, err := e.src.Cursor(ctx)
			if err != nil {
				t.Fatal(err)
			}
			e.delete(t, dan)
			cs, err := e.src.Changes(ctx, cursor)
			if err != nil || cs.ResyncRequired {
				t.Fatalf("Changes: %+v, %v", cs, err)
			}
			cs.Groups = nil // as LDAP's refint: dan's id alone

			e.target.SetKnobs(tt.knobs)
			e.resetStats(t)
			res, err := s.ApplyChangeSet(ctx, cs)
			if err != nil {
				t.Fatal(err)
			}
			checkCounts(t, "users", res.Users, reconcile.Counts{Deprovisioned: 1})
			checkCounts(t, "groups", res.Groups, reconcile.Counts{Updated: 2})
			checkNoFailures(t, "change set", res)
			if got, want := sorted(e.targetGroup(t, ops.ID).MemberIDs), e.members(t, ada.ID); !slices.Equal(got, want) {
				t.Errorf("ops members = %v, want %v", got, want)
			}
			if got := e.targetGroup(t, eng.ID).MemberIDs; len(got) != 0 {
				t.Errorf("eng members = %v, want none", got)
			}
			for _, tg := range e.targetGroups(t) {
				if tg.ID == hand && !slices.Equal(tg.MemberIDs, []string{danID}) {
					t.Errorf("the hand-made group's members = %v, want dan kept", tg.MemberIDs)
				}
			}
			if listed := e.target.Calls()["ListGroups"] > 0; listed != tt.listed {
				t.Errorf("target groups listed: %v, want %v", listed, tt.listed)
			}
		})
	}
}

// TestApplyEvents applies change events one batch at a time, as a change
// webhook delivers them; each row builds on the target the rows before it
// left.
func TestApplyEvents(t *testing.T) {
	e := newEnv(t)
	ada := e.addUser(t, "ada")
	bob := e.addUser(t, "bob")
	carol := e.addUser(t, "carol")
	eng := e.addGroup(t, "eng", ada, carol)
	ops := e.addGroup(t, "ops", carol)
	s := e.syncer(reconcile.Options{})
	fullSync(t, s)
	dan := e.addUser(t, "dan", "email: dan@example.org") // in the source, not yet in the target
	handID := e.createTargetUser(t, connectors.User{UserName: "hand", Active: true})
	ctx := context.Background()

	upsertUser := func(id string, u *connectors.User) reconcile.Event {
		return reconcile.Event{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: id, User: u}
	}
	upsertGroup := func(id string, g *connectors.Group, setMembers bool) reconcile.Event {
		return reconcile.Event{Kind: reconcile.KindGroup, Op: reconcile.OpUpsert, ID: id, Group: g, SetMembers: setMembers}
	}
	membership := func(op, group, user string) reconcile.Event {
		return reconcile.Event{Kind: reconcile.KindMembership, Op: op, GroupID: group, UserID: user}
	}
	eve := &connectors.User{UserName: "eve", GivenName: "Eve", Email: "eve@example.org", Active: true,
		Attributes: map[string]string{"title": "Auditor"}}
	checkGroup := func(t *testing.T, ext, name string, members ...string) {
		t.Helper()
		tg := e.targetGroup(t, ext)
		if want := sorted(members); tg.DisplayName != name || !slices.Equal(sorted(tg.MemberIDs), want) {
			t.Errorf("group %s = %q with %v, want %q with %v", ext, tg.DisplayName, sorted(tg.MemberIDs), name, want)
		}
	}

	rows := []struct {
		name   string
		before func(t *testing.T) // changes the source first
		events []reconcile.Event
		users  reconcile.Counts
		groups reconcile.Counts
		check  func(t *testing.T)
	}{
		{
			name:   "user upsert with attributes",
			events: []reconcile.Event{upsertUser("hr-eve", eve)},
			users:  reconcile.Counts{Created: 1},
			check: func(t *testing.T) {
				want := *eve
				want.ExternalID = "hr-eve"
				if tu := e.targetUser(t, "hr-eve"); !reconcile.UsersEqual(tu.User, want) {
					t.Errorf("eve = %+v, want %+v", tu.User, want)
				}
			},
		},
		{
			name:   "the same upsert again",
			events: []reconcile.Event{upsertUser("hr-eve", eve)},
			users:  reconcile.Counts{Unchanged: 1},
		},
		{
			name:   "user upsert without attributes reads the source",
			events: []reconcile.Event{upsertUser(dan.ID, nil)},
			users:  reconcile.Counts{Created: 1},
			check: func(t *testing.T) {
				u, _, err := e.src.GetUser(ctx, dan.ID)
				if tu := e.targetUser(t, dan.ID); err != nil || !reconcile.UsersEqual(tu.User, u) || u.Email != "dan@example.org" {
					t.Errorf("dan = %+v, source has %+v (%v)", tu.User, u, err)
				}
			},
		},
		{
			name:   "user upsert of a user the source no longer has",
			before: func(t *testing.T) { e.delete(t, bob) },
			events: []reconcile.Event{upsertUser(bob.ID, nil)},
			users:  reconcile.Counts{Deprovisioned: 1},
			check: func(t *testing.T) {
				if e.targetUser(t, bob.ID).Active {
					t.Error("bob is still active")
				}
			},
		},
		{
			name:   "user delete: disabled, and out of its groups",
			before: func(t *testing.T) { e.delete(t, ada) },
			events: []reconcile.Event{{Kind: reconcile.KindUser, Op: reconcile.OpDelete, ID: ada.ID}},
			users:  reconcile.Counts{Deprovisioned: 1},
			groups: reconcile.Counts{Updated: 1},
			check: func(t *testing.T) {
				if e.targetUser(t, ada.ID).Active {
					t.Error("ada is still active")
				}
				checkGroup(t, eng.ID, "eng", e.members(t, carol.ID)...)
			},
		},
		{
			name: "group upsert with SetMembers",
			events: []reconcile.Event{upsertGroup("hr-team",
				&connectors.Group{DisplayName: "Team", Members: []string{"hr-eve", dan.ID, "not-in-the-target"}}, true)},
			groups: reconcile.Counts{Created: 1},
			check:  func(t *testing.T) { checkGroup(t, "hr-team", "Team", e.members(t, "hr-eve", dan.ID)...) },
		},
		{
			name: "group upsert with SetMembers keeps members idsync does not manage",
			before: func(t *testing.T) {
				if err := e.tgt.AddMembers(ctx, e.targetGroup(t, "hr-team").ID, []string{handID}); err != nil {
					t.Fatal(err)
				}
			},
			events: []reconcile.Event{upsertGroup("hr-team", &connectors.Group{DisplayName: "Team", Members: []string{dan.ID}}, true)},
			groups: reconcile.Counts{Updated: 1},
			check:  func(t *testing.T) { checkGroup(t, "hr-team", "Team", append(e.members(t, dan.ID), handID)...) },
		},
		{
			name:   "group upsert without SetMembers renames and keeps the members",
			events: []reconcile.Event{upsertGroup("hr-team", &connectors.Group{DisplayName: "Team B"}, false)},
			groups: reconcile.Counts{Updated: 1},
			check:  func(t *testing.T) { checkGroup(t, "hr-team", "Team B", append(e.members(t, dan.ID), handID)...) },
		},
		{
			name:   "group upsert without attributes reads the source",
			before: func(t *testing.T) { e.addMembers(t, eng, dan) },
			events: []reconcile.Event{upsertGroup(eng.ID, nil, false)},
			groups: reconcile.Counts{Updated: 1},
			check:  func(t *testing.T) { checkGroup(t, eng.ID, "eng", e.members(t, carol.ID, dan.ID)...) },
		},
		{
			name:   "membership upsert",
			events: []reconcile.Event{membership(reconcile.OpUpsert, ops.ID, dan.ID)},
			groups: reconcile.Counts{Updated: 1},
			check:  func(t *testing.T) { checkGroup(t, ops.ID, "ops", e.members(t, carol.ID, dan.ID)...) },
		},
		{
			name:   "membership delete",
			events: []reconcile.Event{membership(reconcile.OpDelete, ops.ID, carol.ID)},
			groups: reconcile.Counts{Updated: 1},
			check:  func(t *testing.T) { checkGroup(t, ops.ID, "ops", e.members(t, dan.ID)...) },
		},
		{
			name:   "a membership of a group the target lacks fails",
			events: []reconcile.Event{membership(reconcile.OpUpsert, "no-such-group", dan.ID)},
			groups: reconcile.Counts{Failed: 1},
		},
		{
			name:   "group delete",
			events: []reconcile.Event{{Kind: reconcile.KindGroup, Op: reconcile.OpDelete, ID: "hr-team"}},
			groups: reconcile.Counts{Deprovisioned: 1},
			check: func(t *testing.T) {
				for _, tg := range e.targetGroups(t) {
					if tg.ExternalID == "hr-team" {
						t.Errorf("hr-team is still in the target: %+v", tg)
					}
				}
			},
		},
		{
			name: "invalid events fail while the others apply",
			events: []reconcile.Event{
				upsertUser("hr-fay", &connectors.User{UserName: "fay", Active: true}),
				{Kind: "device", Op: reconcile.OpUpsert, ID: "d-1"},
				{Kind: reconcile.KindMembership, Op: reconcile.OpUpsert, GroupID: ops.ID},
				{Kind: reconcile.KindUser, Op: "merge", ID: "hr-fay"},
				membership(reconcile.OpUpsert, ops.ID, "hr-fay"),
			},
			users:  reconcile.Counts{Created: 1, Failed: 3},
			groups: reconcile.Counts{Updated: 1},
			check:  func(t *testing.T) { checkGroup(t, ops.ID, "ops", e.members(t, dan.ID, "hr-fay")...) },
		},
	}
	for _, row := range rows {
		ok := t.Run(row.name, func(t *testing.T) {
			if row.before != nil {
				row.before(t)
			}
			res, err := s.ApplyEvents(ctx, row.events)
			if err != nil {
				t.Fatalf("ApplyEvents: %v", err)
			}
			checkCounts(t, "users", res.Users, row.users)
			checkCounts(t, "groups", res.Groups, row.groups)
			if n := row.users.Failed + row.groups.Failed; len(res.Failures) != n {
				t.Errorf("failures = %q, want %d", res.Failures, n)
			}
			if row.check != nil {
				row.check(t)
			}
		})
		if !ok {
			return
		}
	}

	// The target's own user was never made managed nor disabled.
	if tu := e.targetUserByID(t, handID); tu.ExternalID != "" || !tu.Active || !strings.EqualFold(tu.UserName, "hand") {
		t.Errorf("hand = %+v", tu.User)
	}
}

// knowingTarget is the target with the id cache the SCIM connector keeps
// (connectors.KnownUsers): it remembers the target ids of the managed
// users it listed, created or found.
type knowingTarget struct {
	fullTarget
	mu  sync.Mutex
	ids map[string]string // ExternalID → target id
}

func (k *knowingTarget) know(ext, id string) {
	if ext == "" || id == "" {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ids == nil {
		k.ids = map[string]string{}
	}
	k.ids[ext] = id
}

func (k *knowingTarget) KnownUserID(ext string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	id, ok := k.ids[ext]
	return id, ok
}

func (k *knowingTarget) ListUsers(ctx context.Context, fn func(connectors.TargetUser) error) error {
	return k.fullTarget.ListUsers(ctx, func(tu connectors.TargetUser) error {
		k.know(tu.ExternalID, tu.ID)
		return fn(tu)
	})
}

func (k *knowingTarget) LookupUsers(ctx context.Context, attr, value string) ([]connectors.TargetUser, error) {
	found, err := k.fullTarget.LookupUsers(ctx, attr, value)
	for _, tu := range found {
		k.know(tu.ExternalID, tu.ID)
	}
	return found, err
}

func (k *knowingTarget) CreateUser(ctx context.Context, u connectors.User) (string, error) {
	id, err := k.fullTarget.CreateUser(ctx, u)
	if err == nil {
		k.know(u.ExternalID, id)
	}
	return id, err
}

// TestGroupMembersFromKnownIDs: a group change names its members by source
// id; a connector that created or listed those users knows their target
// ids (connectors.KnownUsers), so the change costs no lookup per member.
// A connector without such a cache looks them up. (The SCIM connector's
// own cache is tested in reconcile/peertest.)
func TestGroupMembersFromKnownIDs(t *testing.T) {
	e := newEnv(t)
	users := e.addUsers(t, "m", 12)
	eng := e.addGroup(t, "eng", users[:6]...)
	s := &reconcile.Syncer{Source: e.src, Target: &knowingTarget{fullTarget: e.tgt}}
	fullSync(t, s)
	ctx := context.Background()
	cursor, err := e.src.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.addMembers(t, eng, users[6:]...)
	cs, err := e.src.Changes(ctx, cursor)
	if err != nil || cs.ResyncRequired || len(cs.Groups) != 1 {
		t.Fatalf("Changes: %+v, %v", cs, err)
	}
	lookups := func() int {
		c := e.target.Calls()
		return c["LookupUsers"] + c["GetUserByID"] + c["ListUsers"]
	}
	for _, tt := range []struct {
		name    string
		syncer  *reconcile.Syncer
		atLeast int // user lookups
		atMost  int
	}{
		{name: "connector that knows the ids", syncer: s, atMost: 0},
		{name: "connector without a cache", syncer: e.syncer(reconcile.Options{}), atLeast: len(users) / 2, atMost: 1 << 30},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.resetStats(t)
			res, err := tt.syncer.ApplyChangeSet(ctx, cs)
			if err != nil {
				t.Fatal(err)
			}
			checkNoFailures(t, "groups", res)
			if n := lookups(); n < tt.atLeast || n > tt.atMost {
				t.Errorf("%d user lookups, want %d to %d", n, tt.atLeast, tt.atMost)
			}
			if got, want := sorted(e.targetGroup(t, eng.ID).MemberIDs), e.members(t, ids(users)...); !slices.Equal(got, want) {
				t.Errorf("members %v, want %v", got, want)
			}
		})
	}
}

// TestConcurrentAdoption: two user events in one batch match the same
// unmanaged target account by email. They are applied at once, yet only
// one adopts it; the other gets an account of its own.
func TestConcurrentAdoption(t *testing.T) {
	e := newEnv(t)
	// Each call takes a while, as over a network, so that the two events
	// are in flight together.
	e.target.SetKnobs(memory.Knobs{Latency: memory.Duration(time.Millisecond), LatencyMax: memory.Duration(5 * time.Millisecond)})
	ctx := context.Background()
	for i := range 5 {
		mail := fmt.Sprintf("shared%d@example.org", i)
		e.createTargetUser(t, connectors.User{UserName: fmt.Sprintf("legacy%d", i), Email: mail, Active: true})
		a, b := fmt.Sprintf("src-a%d", i), fmt.Sprintf("src-b%d", i)
		events := []reconcile.Event{
			{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: a, User: &connectors.User{UserName: a, Email: mail, Active: true}},
			{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: b, User: &connectors.User{UserName: b, Email: mail, Active: true}},
		}
		res, err := e.syncer(reconcile.Options{Policy: reconcile.Policy{Concurrency: 4}}).ApplyEvents(ctx, events)
		if err != nil {
			t.Fatal(err)
		}
		if c := res.Users; c.Adopted != 1 || c.Created != 1 {
			t.Errorf("round %d: %+v, want one adopted and one created", i, c)
		}
		if e.targetUser(t, a).ID == e.targetUser(t, b).ID {
			t.Errorf("round %d: %s and %s share one target account", i, a, b)
		}
	}
}
