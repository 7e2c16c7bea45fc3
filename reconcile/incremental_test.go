package reconcile_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// TestApplyChangeSet applies what the LDAP connector's Changes reports
// after adds, modifies and deletes. The target then is what a full resync
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
	// of ops through refint without changing ops: the change set holds his
	// id alone, and he must leave ops in the target all the same.
	erin := e.addUser(t, "erin", "mail: erin@example.org")
	e.modify(t, "dn: "+eng.DN+"\nchangetype: modify\nadd: member\nmember: "+erin.DN+"\n")
	e.modify(t, "dn: "+bob.DN+"\nchangetype: modify\nreplace: title\ntitle: Lead\n")
	e.delete(t, dan.DN)
	cs := changes(t)
	if !slices.Contains(cs.DeletedIDs, dan.ID) {
		t.Fatalf("Changes: DeletedIDs %q lack dan %s", cs.DeletedIDs, dan.ID)
	}
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
	e.delete(t, ops.DN)
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
	dan := e.addUser(t, "dan", "mail: dan@example.org") // in the source, not yet in the target
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
			before: func(t *testing.T) { e.delete(t, bob.DN) },
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
			before: func(t *testing.T) { e.delete(t, ada.DN) },
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
			name: "group upsert without attributes reads the source",
			before: func(t *testing.T) {
				e.modify(t, "dn: "+eng.DN+"\nchangetype: modify\nadd: member\nmember: "+dan.DN+"\n")
			},
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

// TestConcurrentAdoption: two user events in one batch match the same
// unmanaged target account by email. They are applied at once, yet only
// one adopts it; the other gets an account of its own.
func TestConcurrentAdoption(t *testing.T) {
	e := newEnv(t)
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
