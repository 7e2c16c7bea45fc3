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

// TestRulesShareTarget: two rules from two directories into one target.
// Each writes its objects as its own ("<rule>/<source id>" in externalId,
// which the target keeps and looks up by), counts and deprovisions only
// its own, never takes over the other's, and reports a collision as a
// conflict once, without writing.
func TestRulesShareTarget(t *testing.T) {
	a := newEnv(t)
	b := newEnv(t)
	b.target, b.tgt, b.log = a.target, a.tgt, a.log // one target
	ctx := context.Background()

	aUsers := a.addUsers(t, "ann", 12)
	a.addGroup(t, "a-team", aUsers[:3]...)
	bUsers := b.addUsers(t, "bob", 12)
	bTeam := b.addGroup(t, "b-team", bUsers[:3]...)
	ruleA := a.syncer(reconcile.Options{Owner: "rule-a"})
	ruleB := b.syncer(reconcile.Options{Owner: "rule-b"})

	users, _ := fullSync(t, ruleA)
	checkCounts(t, "A first", users.Users, reconcile.Counts{Created: 12})
	// B sees A's users as foreign: nothing to deprovision, no guard refusal.
	users, groups := fullSync(t, ruleB)
	checkCounts(t, "B first", users.Users, reconcile.Counts{Created: 12, Foreign: 12})
	checkCounts(t, "B first: groups", groups.Groups, reconcile.Counts{Created: 1, Foreign: 1})
	if users.ManagedUsers != 12 {
		t.Errorf("B manages %d users, want 12", users.ManagedUsers)
	}
	// The owner is kept by the target, in externalId.
	want := reconcile.OwnedExternalID("rule-b", bUsers[0].ID)
	a.targetUser(t, want)

	// A again: B's users are left alone, all of them.
	users, _ = fullSync(t, ruleA)
	checkCounts(t, "A again", users.Users, reconcile.Counts{Unchanged: 12, Foreign: 12})
	for _, tu := range a.targetUsers(t) {
		if !tu.Active {
			t.Errorf("user %s (%s) was disabled", tu.UserName, tu.ExternalID)
		}
	}

	// A user leaves B's directory: A does nothing, B disables it and takes
	// it out of its group.
	b.delete(t, bUsers[0])
	users, _ = fullSync(t, ruleA)
	checkCounts(t, "A after B's deletion", users.Users, reconcile.Counts{Unchanged: 12, Foreign: 12})
	users, groups = fullSync(t, ruleB)
	checkCounts(t, "B after its deletion", users.Users, reconcile.Counts{Deprovisioned: 1, Unchanged: 11, Foreign: 12})
	checkCounts(t, "B after its deletion: groups", groups.Groups, reconcile.Counts{Updated: 1, Foreign: 1})
	if tu := a.targetUser(t, want); tu.Active {
		t.Error("B's deleted user is still active")
	}
	if n := len(a.targetGroup(t, reconcile.OwnedExternalID("rule-b", bTeam.ID)).MemberIDs); n != 2 {
		t.Errorf("b-team has %d members, want 2", n)
	}

	// Real-time deletions name source ids: a delete event of rule B for a
	// user of rule A changes nothing.
	res, err := ruleB.ApplyEvents(ctx, []reconcile.Event{{Kind: reconcile.KindUser, Op: reconcile.OpDelete, ID: aUsers[1].ID}})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "B deletes A's user", res.Users, reconcile.Counts{})
	if tu := a.targetUser(t, reconcile.OwnedExternalID("rule-a", aUsers[1].ID)); !tu.Active {
		t.Error("rule B disabled a user of rule A")
	}

	// A collision: B gets a user whose userName A's user has. It is a
	// conflict, reported with the userName, and no write is tried again.
	b.addUser(t, "ann03")
	a.resetStats(t)
	for i := range 2 {
		users, _ = fullSync(t, ruleB)
		checkCounts(t, "B with a colliding user", users.Users, reconcile.Counts{Unchanged: 11, Conflicts: 1, Foreign: 12})
		if len(users.Failures) != 1 || !strings.Contains(users.Failures[0], "ann03") || !strings.Contains(users.Failures[0], "rule-a") {
			t.Errorf("pass %d: failures = %q, want one naming ann03 and rule-a", i+1, users.Failures)
		}
	}
	if w := a.writes(t); len(w) != 0 {
		t.Errorf("writes for a known conflict: %v", w)
	}
}

// TestClaimLegacy: objects written before ownership (externalId without a
// rule) are claimed by the first rule whose source has them — updated in
// place, never duplicated — and the others are left alone, neither counted
// by the guard nor deprovisioned.
func TestClaimLegacy(t *testing.T) {
	e := newEnv(t)
	users := e.addUsers(t, "leg", 4)
	team := e.addGroup(t, "legacy-team", users[:2]...)

	// The state an idsync before ownership left.
	fullSync(t, e.syncer(reconcile.Options{}))
	orphan := e.createTargetUser(t, connectors.User{ExternalID: "gone-from-some-source", UserName: "orphan", Active: true})
	before := len(e.targetUsers(t))

	s := e.syncer(reconcile.Options{Owner: "hr"})
	res, groups := fullSync(t, s)
	checkCounts(t, "claim", res.Users, reconcile.Counts{Adopted: 4, Foreign: 1})
	checkCounts(t, "claim: groups", groups.Groups, reconcile.Counts{Adopted: 1})
	if n := len(e.targetUsers(t)); n != before {
		t.Errorf("target has %d users after the claim, had %d: duplicates", n, before)
	}
	for _, u := range users {
		e.targetUser(t, reconcile.OwnedExternalID("hr", u.ID))
	}
	if got := e.targetGroup(t, reconcile.OwnedExternalID("hr", team.ID)); len(got.MemberIDs) != 2 {
		t.Errorf("legacy-team members = %v, want 2", got.MemberIDs)
	}
	if tu := e.targetUserByID(t, orphan); !tu.Active || tu.ExternalID != "gone-from-some-source" {
		t.Errorf("the unclaimed legacy user was written: %+v", tu)
	}

	// Claimed once: the next run writes nothing.
	e.resetStats(t)
	res, groups = fullSync(t, s)
	checkCounts(t, "after the claim", res.Users, reconcile.Counts{Unchanged: 4, Foreign: 1})
	checkCounts(t, "after the claim: groups", groups.Groups, reconcile.Counts{Unchanged: 1})
	if w := e.writes(t); len(w) != 0 {
		t.Errorf("writes after the claim: %v", w)
	}

	// The incremental path claims too: a legacy user found by its source id.
	late := e.addUser(t, "late2")
	legacyID := e.createTargetUser(t, connectors.User{ExternalID: late.ID, UserName: "late2", Active: true})
	r, err := s.ApplyEvents(context.Background(), []reconcile.Event{{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: late.ID}})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "incremental claim", r.Users, reconcile.Counts{Adopted: 1})
	if tu := e.targetUser(t, reconcile.OwnedExternalID("hr", late.ID)); tu.ID != legacyID {
		t.Errorf("claimed user id %s, want %s", tu.ID, legacyID)
	}
	if got := slices.Collect(func(yield func(string) bool) {
		for _, tu := range e.targetUsers(t) {
			if strings.Contains(tu.ExternalID, late.ID) && !yield(tu.ID) {
				return
			}
		}
	}); len(got) != 1 {
		t.Errorf("users for %s: %v, want 1", late.ID, got)
	}
}

// TestOwnedManager: a manager is named by ExternalID, which is owned like
// the user's own: written as the rule's, read back equal, so that the next
// run writes nothing.
func TestOwnedManager(t *testing.T) {
	e := newEnv(t)
	s := e.syncer(reconcile.Options{Owner: "hr"})
	boss := e.addUser(t, "boss")
	fullSync(t, s)
	report := reconcile.Event{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: "report-1", User: &connectors.User{
		UserName: "report", Active: true, Attributes: map[string]string{"manager": boss.ID},
	}}
	for i, want := range []reconcile.Counts{{Created: 1}, {Unchanged: 1}} {
		res, err := s.ApplyEvents(context.Background(), []reconcile.Event{report})
		if err != nil {
			t.Fatal(err)
		}
		checkCounts(t, fmt.Sprintf("pass %d", i+1), res.Users, want)
	}
	if got := e.targetUser(t, reconcile.OwnedExternalID("hr", "report-1")).Attributes["manager"]; got != reconcile.OwnedExternalID("hr", boss.ID) {
		t.Errorf("manager in the target = %q, want the boss's owned id", got)
	}
}

// TestLegacyClaimedLooksUpOnce: once a complete resync has claimed what
// was written before ownership, a lookup by source id asks the target
// once (the rule's form) instead of twice.
func TestLegacyClaimedLooksUpOnce(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, "once")
	fullSync(t, e.syncer(reconcile.Options{Owner: "hr"}))
	gone := []reconcile.Event{{Kind: reconcile.KindUser, Op: reconcile.OpDelete, ID: "never-in-the-target"}}
	for _, tt := range []struct {
		claimed bool
		want    int
	}{{false, 2}, {true, 1}} {
		e.resetStats(t)
		s := e.syncer(reconcile.Options{Owner: "hr", Decisions: reconcile.Decisions{LegacyClaimed: tt.claimed}})
		if _, err := s.ApplyEvents(context.Background(), gone); err != nil {
			t.Fatal(err)
		}
		if got := e.target.Calls()["LookupUsers"]; got != tt.want {
			t.Errorf("legacy claimed %v: %d lookups, want %d", tt.claimed, got, tt.want)
		}
	}
	// The rule's own objects are still found.
	res, err := e.syncer(reconcile.Options{Owner: "hr", Decisions: reconcile.Decisions{LegacyClaimed: true}}).ApplyEvents(context.Background(),
		[]reconcile.Event{{Kind: reconcile.KindUser, Op: reconcile.OpDelete, ID: u.ID}})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "own user deleted", res.Users, reconcile.Counts{Deprovisioned: 1})
}
