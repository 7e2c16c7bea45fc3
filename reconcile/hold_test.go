package reconcile_test

import (
	"context"
	"slices"
	"testing"

	"github.com/idsync/idsync/reconcile"
)

// TestHoldRefused: a full resync the guard refuses goes on (creates and
// updates applied, the groups phase run) and holds the deprovisions back,
// reporting them by name with a fingerprint; an approval of that
// fingerprint deprovisions them, a rejection keeps them.
func TestHoldRefused(t *testing.T) {
	for _, decision := range []string{"approve", "reject"} {
		t.Run(decision, func(t *testing.T) {
			e := newEnv(t)
			users := e.addUsers(t, "h", 15)
			s := e.syncer(reconcile.Options{Owner: "hr", Decisions: reconcile.Decisions{HoldRefused: true}})
			fullSync(t, s)
			e.delete(t, users[:12]...)
			late := e.addUser(t, "late")
			team := e.addGroup(t, "team", late)

			res, groups := fullSync(t, s)
			checkCounts(t, "held", res.Users, reconcile.Counts{Created: 1, Unchanged: 3})
			checkCounts(t, "groups go on", groups.Groups, reconcile.Counts{Created: 1})
			if len(res.Held) != 1 || res.Held[0].Would != 12 || res.Held[0].Kind != "users" || !slices.Contains(res.Held[0].Sample, "h00") {
				t.Fatalf("held = %+v, want the 12 users, by name", res.Held)
			}
			for _, u := range users[:12] {
				if !e.targetUser(t, reconcile.OwnedExternalID("hr", u.ID)).Active {
					t.Fatalf("%s was deprovisioned while held", u.ID)
				}
			}
			e.targetGroup(t, reconcile.OwnedExternalID("hr", team.ID))

			fp := res.Held[0].Fingerprint
			want := reconcile.Counts{Deprovisioned: 12, Unchanged: 4}
			o := reconcile.Options{Owner: "hr", Decisions: reconcile.Decisions{HoldRefused: true, ApprovedHolds: []string{fp}}}
			if decision == "reject" {
				want = reconcile.Counts{Kept: 12, Unchanged: 4}
				o = reconcile.Options{Owner: "hr", Decisions: reconcile.Decisions{HoldRefused: true, RejectedHolds: []string{fp}}}
			}
			res, _ = fullSync(t, e.syncer(o))
			checkCounts(t, decision, res.Users, want)
			if len(res.Held) != 0 {
				t.Errorf("held again: %+v", res.Held)
			}
		})
	}
}

// TestDeprovisionBudget: an incremental run deprovisions up to its budget
// and holds the rest back, by name, untouched.
func TestDeprovisionBudget(t *testing.T) {
	e := newEnv(t)
	users := e.addUsers(t, "b", 5)
	fullSync(t, e.syncer(reconcile.Options{Owner: "hr"}))
	two := 2
	s := e.syncer(reconcile.Options{Owner: "hr", Decisions: reconcile.Decisions{DeprovisionBudget: &two}})
	var events []reconcile.Event
	for _, u := range users {
		events = append(events, reconcile.Event{Kind: reconcile.KindUser, Op: reconcile.OpDelete, ID: u.ID})
	}
	res, err := s.ApplyEvents(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "budget", res.Users, reconcile.Counts{Deprovisioned: 2})
	if len(res.HeldChanges) != 3 || res.HeldChanges[0].Name == "" {
		t.Fatalf("held changes = %+v, want 3 with names", res.HeldChanges)
	}
	active := 0
	for _, tu := range e.targetUsers(t) {
		if tu.Active {
			active++
		}
	}
	if active != 3 {
		t.Errorf("%d users active, want the 3 held back", active)
	}
}
