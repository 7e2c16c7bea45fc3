package reconcile_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// TestFullResync syncs a source into an empty target: users (more than
// a page on both sides), groups and memberships are created as the source
// has them. A second full resync changes nothing, and sends no write.
func TestFullResync(t *testing.T) {
	e := newEnv(t)
	ada := e.addUser(t, "ada", "givenName: Ada", "displayName: Ada Lovelace", "email: ada@example.org",
		"title: Analyst", "department: Engines", "employeeNumber: 1815", "phoneNumber: +44 20 7946 0000")
	bob := e.addUser(t, "bob", "email: Bob@Example.org")
	carol := e.addUser(t, "carol")
	many := e.addUsers(t, "u", 22) // 25 users: two target pages, four source pages
	everyone := append([]entry{ada, bob, carol}, many...)
	groups := []struct {
		name    string
		members []entry
	}{
		{"eng", []entry{ada, bob}},
		{"ops", append([]entry{carol}, many[:5]...)},
		{"empty", nil},
		{"everyone", everyone},
	}
	groupIDs := map[string]string{}
	for _, g := range groups {
		groupIDs[g.name] = e.addGroup(t, g.name, g.members...).ID
	}

	s := e.syncer(reconcile.Options{})
	users, grs := fullSync(t, s)
	checkCounts(t, "users", users.Users, reconcile.Counts{Created: 25})
	checkCounts(t, "groups", grs.Groups, reconcile.Counts{Created: 4})
	checkNoFailures(t, "users", users)
	checkNoFailures(t, "groups", grs)
	if users.ManagedUsers != 25 || grs.ManagedGroups != 4 {
		t.Errorf("managed = %d users, %d groups; want 25, 4", users.ManagedUsers, grs.ManagedGroups)
	}

	// Every source user is in the target, equal to what the source says.
	target := map[string]connectors.TargetUser{}
	for _, tu := range e.targetUsers(t) {
		target[tu.ExternalID] = tu
	}
	if len(target) != 25 {
		t.Errorf("target has %d users, want 25", len(target))
	}
	err := e.src.ListUsers(context.Background(), func(u connectors.User) error {
		if tu, ok := target[u.ExternalID]; !ok || !reconcile.UsersEqual(tu.User, u) {
			t.Errorf("user %s: target has %+v, source %+v", u.UserName, tu.User, u)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantAda := connectors.User{ExternalID: ada.ID, UserName: "ada", GivenName: "Ada", FamilyName: "Test",
		DisplayName: "Ada Lovelace", Email: "ada@example.org", Active: true, Attributes: map[string]string{
			"title": "Analyst", "department": "Engines", "employeeNumber": "1815", "phoneNumber": "+44 20 7946 0000"}}
	if got := target[ada.ID].User; !reflect.DeepEqual(got, wantAda) {
		t.Errorf("ada in the target\n got %+v\nwant %+v", got, wantAda)
	}

	for _, g := range groups {
		tg := e.targetGroup(t, groupIDs[g.name])
		exts := make([]string, len(g.members))
		for i, m := range g.members {
			exts[i] = m.ID
		}
		if tg.DisplayName != g.name || !reflect.DeepEqual(sorted(tg.MemberIDs), sorted(e.members(t, exts...))) {
			t.Errorf("group %s: target has %q with %d members, want %d", g.name, tg.DisplayName, len(tg.MemberIDs), len(exts))
		}
	}
	if n := len(e.targetGroups(t)); n != 4 {
		t.Errorf("target has %d groups, want 4", n)
	}

	// Idempotency: the second run finds nothing to do and writes nothing.
	e.resetStats(t)
	users, grs = fullSync(t, s)
	checkCounts(t, "second run: users", users.Users, reconcile.Counts{Unchanged: 25})
	checkCounts(t, "second run: groups", grs.Groups, reconcile.Counts{Unchanged: 4})
	if w := e.writes(t); len(w) > 0 {
		t.Errorf("second run wrote to the target: %v", w)
	}
}

// TestLetterCaseChange: when the source changes the letter case of
// userNames, the same target users are updated (they are matched by
// ExternalID); nothing is deleted and recreated, by a full resync or by an
// incremental change set. Twelve users change, more than the guard's
// minimum, so a delete+create would show as a guard error too.
func TestLetterCaseChange(t *testing.T) {
	for _, mode := range []string{"full", "incremental"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			users := e.addUsers(t, "u", 12)
			group := e.addGroup(t, "all", users...)
			s := e.syncer(reconcile.Options{})
			fullSync(t, s)
			before := map[string]string{} // ExternalID → target id
			for _, tu := range e.targetUsers(t) {
				before[tu.ExternalID] = tu.ID
			}
			cursor, err := e.src.Cursor(context.Background())
			if err != nil {
				t.Fatal(err)
			}

			for i, u := range users {
				e.modifyUser(t, u, fmt.Sprintf("userName: U%02d", i))
			}
			var res reconcile.Result
			if mode == "full" {
				var grs reconcile.Result
				res, grs = fullSync(t, s)
				checkCounts(t, "groups", grs.Groups, reconcile.Counts{Unchanged: 1})
			} else {
				cs, err := e.src.Changes(context.Background(), cursor)
				if err != nil || cs.ResyncRequired {
					t.Fatalf("Changes: %+v, %v", cs, err)
				}
				if res, err = s.ApplyChangeSet(context.Background(), cs); err != nil {
					t.Fatalf("ApplyChangeSet: %v", err)
				}
			}
			checkCounts(t, "users", res.Users, reconcile.Counts{Updated: 12})
			checkNoFailures(t, "users", res)

			after := e.targetUsers(t)
			if len(after) != 12 {
				t.Errorf("target has %d users, want 12", len(after))
			}
			for _, tu := range after {
				if before[tu.ExternalID] != tu.ID || !tu.Active || !strings.HasPrefix(tu.UserName, "U") {
					t.Errorf("user %s (%s): want the same target id %s, active, upper case", tu.UserName, tu.ID, before[tu.ExternalID])
				}
			}
			exts := make([]string, len(users))
			for i, u := range users {
				exts[i] = u.ID
			}
			if tg := e.targetGroup(t, group.ID); !reflect.DeepEqual(sorted(tg.MemberIDs), e.members(t, exts...)) {
				t.Errorf("group members changed: %v", tg.MemberIDs)
			}
		})
	}
}

// TestDryRun computes every kind of change without writing any: the
// target is the same afterwards, it received no write call, and the
// counts are those a real run then reports.
func TestDryRun(t *testing.T) {
	e := newEnv(t)
	ada := e.addUser(t, "ada")
	bob := e.addUser(t, "bob")
	carol := e.addUser(t, "carol")
	dan := e.addUser(t, "dan")
	eng := e.addGroup(t, "eng", ada, bob)
	e.addGroup(t, "ops", carol)
	old := e.addGroup(t, "old", dan)
	fullSync(t, e.syncer(reconcile.Options{}))

	// Pending: update bob, deprovision carol (and drop her from ops),
	// create erin, adopt frank, rename eng, delete old, create new.
	e.modifyUser(t, bob, "title: Lead")
	e.delete(t, carol, old)
	e.addUser(t, "erin")
	e.addUser(t, "frank")
	frankID := e.createTargetUser(t, connectors.User{UserName: "FRANK", Active: true})
	e.renameGroup(t, eng, "engineering")
	e.addGroup(t, "new", ada)

	wantUsers := reconcile.Counts{Created: 1, Updated: 1, Adopted: 1, Deprovisioned: 1, Unchanged: 2}
	wantGroups := reconcile.Counts{Created: 1, Updated: 2, Deprovisioned: 1}
	usersBefore, groupsBefore := e.targetUsers(t), e.targetGroups(t)
	e.resetStats(t)
	users, grs := fullSync(t, e.syncer(reconcile.Options{DryRun: true}))
	checkCounts(t, "dry run: users", users.Users, wantUsers)
	checkCounts(t, "dry run: groups", grs.Groups, wantGroups)
	if w := e.writes(t); len(w) > 0 {
		t.Errorf("dry run wrote to the target: %v", w)
	}
	if !reflect.DeepEqual(e.targetUsers(t), usersBefore) || !reflect.DeepEqual(e.targetGroups(t), groupsBefore) {
		t.Error("the target changed during a dry run")
	}

	// Incremental changes in a dry run write nothing either.
	res, err := e.syncer(reconcile.Options{DryRun: true}).ApplyEvents(context.Background(), []reconcile.Event{
		{Kind: reconcile.KindUser, Op: reconcile.OpDelete, ID: ada.ID},
		{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: "hr-1", User: &connectors.User{UserName: "hr1", Active: true}},
		{Kind: reconcile.KindMembership, Op: reconcile.OpDelete, GroupID: eng.ID, UserID: bob.ID},
		{Kind: reconcile.KindGroup, Op: reconcile.OpDelete, ID: eng.ID},
	})
	if err != nil {
		t.Fatalf("ApplyEvents: %v", err)
	}
	checkCounts(t, "dry run events: users", res.Users, reconcile.Counts{Created: 1, Deprovisioned: 1})
	// eng: bob's membership and ada, who leaves her groups with her delete.
	checkCounts(t, "dry run events: groups", res.Groups, reconcile.Counts{Updated: 2, Deprovisioned: 1})
	if w := e.writes(t); len(w) > 0 {
		t.Errorf("dry run events wrote to the target: %v", w)
	}

	// The real run does what the dry run counted.
	users, grs = fullSync(t, e.syncer(reconcile.Options{}))
	checkCounts(t, "real run: users", users.Users, wantUsers)
	checkCounts(t, "real run: groups", grs.Groups, wantGroups)
	if tu := e.targetUserByID(t, frankID); tu.ExternalID == "" {
		t.Error("frank was not adopted by the real run")
	}
}
