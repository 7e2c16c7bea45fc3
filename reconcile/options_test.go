package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// TestDeprovisionNone: a rule that deprovisions nothing keeps managed users
// that left the source, active, and says so in Kept, on the full and the
// incremental path alike.
func TestDeprovisionNone(t *testing.T) {
	e := newEnv(t)
	ada := e.addUser(t, "ada")
	bob := e.addUser(t, "bob")
	carol := e.addUser(t, "carol")
	s := e.syncer(reconcile.Options{Policy: reconcile.Policy{Deprovision: reconcile.DeprovisionNone}})
	users, _ := fullSync(t, s)
	checkCounts(t, "first sync", users.Users, reconcile.Counts{Created: 3})

	e.delete(t, bob)
	users, _ = fullSync(t, s)
	checkCounts(t, "bob gone (full)", users.Users, reconcile.Counts{Unchanged: 2, Kept: 1})
	if !e.targetUser(t, bob.ID).Active {
		t.Error("bob was deprovisioned although the rule deprovisions nothing")
	}

	res, err := s.ApplyEvents(context.Background(), []reconcile.Event{{Kind: reconcile.KindUser, Op: reconcile.OpDelete, ID: carol.ID}})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "carol deleted (event)", res.Users, reconcile.Counts{Kept: 1})
	if !e.targetUser(t, carol.ID).Active {
		t.Error("carol was deprovisioned although the rule deprovisions nothing")
	}
	if !e.targetUser(t, ada.ID).Active {
		t.Error("ada touched")
	}
}

// vanishingTarget deletes a user in the target right before idsync updates
// it, as an administrator of the target would, behind the connector.
type vanishingTarget struct {
	fullTarget
	e      *env
	vanish string // target id
}

func (v *vanishingTarget) UpdateUser(ctx context.Context, id string, u connectors.User) error {
	if id == v.vanish {
		v.vanish = ""
		if !v.e.target.DeleteUser(id) {
			return fmt.Errorf("vanish: no target user %s", id)
		}
	}
	return v.fullTarget.UpdateUser(ctx, id, u)
}

// TestUpdateOfMissingUser: an update answered 404 (the user was deleted in
// the target meanwhile) recreates it by default, or is reported as failed
// when the rule says so; never a silent success.
func TestUpdateOfMissingUser(t *testing.T) {
	for _, tt := range []struct {
		onMissing string
		want      reconcile.Counts
		recreated bool
	}{
		{onMissing: "", want: reconcile.Counts{Created: 1}, recreated: true},
		{onMissing: reconcile.MissingRecreate, want: reconcile.Counts{Created: 1}, recreated: true},
		{onMissing: reconcile.MissingReport, want: reconcile.Counts{Failed: 1}},
	} {
		t.Run("on missing "+tt.onMissing, func(t *testing.T) {
			e := newEnv(t)
			ada := e.addUser(t, "ada")
			base := e.syncer(reconcile.Options{})
			fullSync(t, base)
			before := e.targetUser(t, ada.ID)
			e.modifyUser(t, ada, "title: Countess")

			vt := &vanishingTarget{fullTarget: e.tgt, e: e, vanish: before.ID}
			s := &reconcile.Syncer{Source: e.src, Target: vt, Opts: reconcile.Options{Policy: reconcile.Policy{OnMissing: tt.onMissing}}}
			res, err := s.SyncUsers(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			checkCounts(t, "resync", res.Users, tt.want)
			if tt.recreated {
				after := e.targetUser(t, ada.ID)
				if after.ID == before.ID || after.Attributes["title"] != "Countess" {
					t.Errorf("not recreated with the new title: %+v", after)
				}
				return
			}
			if len(res.Failures) != 1 || !strings.Contains(res.Failures[0], "deleted in the target") {
				t.Errorf("failures %v", res.Failures)
			}
		})
	}
}

// TestDeprovisionModeOverride: a rule's deprovision mode wins over the
// target connection's: delete on a connection that disables, and disable
// on one that deletes.
func TestDeprovisionModeOverride(t *testing.T) {
	for _, tt := range []struct {
		connection, rule string
		wantGone         bool
	}{
		{connection: "disable", rule: reconcile.DeprovisionDelete, wantGone: true},
		{connection: "delete", rule: reconcile.DeprovisionDisable, wantGone: false},
		{connection: "delete", rule: reconcile.DeprovisionTarget, wantGone: true},
	} {
		t.Run(tt.connection+" connection, rule "+tt.rule, func(t *testing.T) {
			e := newEnv(t)
			e.addUser(t, "ada")
			bob := e.addUser(t, "bob")
			e.tgt = e.openTarget(t, map[string]any{"deprovision": tt.connection})
			s := e.syncer(reconcile.Options{Policy: reconcile.Policy{Deprovision: tt.rule}})
			fullSync(t, s)
			bobID := e.targetUser(t, bob.ID).ID

			e.delete(t, bob)
			users, _ := fullSync(t, s)
			checkCounts(t, "bob gone", users.Users, reconcile.Counts{Deprovisioned: 1, Unchanged: 1})
			still := false
			for _, u := range e.targetUsers(t) {
				if u.ID == bobID {
					still = true
					if u.Active {
						t.Error("bob is still active")
					}
				}
			}
			if still == tt.wantGone {
				t.Errorf("bob still in the target: %t, want %t", still, !tt.wantGone)
			}
		})
	}
}

// TestOnMissingIncremental: a managed user deleted in the target behind
// idsync's back and then changed at the source is, by a poll or a
// real-time change, created again only when the rule says recreate; with
// report it is counted failed, named, and not created (a new user at the
// source is still created). The target is one that remembers the ids of
// the managed users it listed (as the SCIM connector does): that memory
// is how an incremental run tells a managed user that vanished from one
// it never had.
func TestOnMissingIncremental(t *testing.T) {
	for _, tt := range []struct {
		name      string
		onMissing string
		realTime  bool
		want      reconcile.Counts
	}{
		{name: "poll, recreate", onMissing: reconcile.MissingRecreate, want: reconcile.Counts{Created: 2}},
		{name: "poll, report", onMissing: reconcile.MissingReport, want: reconcile.Counts{Created: 1, Failed: 1}},
		{name: "real-time, recreate", onMissing: reconcile.MissingRecreate, realTime: true, want: reconcile.Counts{Created: 2}},
		{name: "real-time, report", onMissing: reconcile.MissingReport, realTime: true, want: reconcile.Counts{Created: 1, Failed: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			ada := e.addUser(t, "ada")
			e.addUser(t, "bob")
			tgt := &knowingTarget{fullTarget: e.tgt}
			s := &reconcile.Syncer{Source: e.src, Target: tgt, Opts: reconcile.Options{Policy: reconcile.Policy{OnMissing: tt.onMissing}}}
			fullSync(t, s)
			cursor, err := e.src.Cursor(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !e.target.DeleteUser(e.targetUser(t, ada.ID).ID) {
				t.Fatal("ada not in the target")
			}
			e.modifyUser(t, ada, "title: Countess")
			cleo := e.addUser(t, "cleo")

			var res reconcile.Result
			if tt.realTime {
				res, err = s.ApplyEvents(ctx, []reconcile.Event{
					{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: ada.ID},
					{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: cleo.ID},
				})
			} else {
				var cs connectors.ChangeSet
				cs, err = e.src.Changes(ctx, cursor)
				if err != nil {
					t.Fatal(err)
				}
				res, err = s.ApplyChangeSet(ctx, cs)
			}
			if err != nil {
				t.Fatal(err)
			}
			checkCounts(t, "after the change", res.Users, tt.want)
			if e.targetUser(t, cleo.ID).UserName != "cleo" {
				t.Error("cleo, new at the source, was not created")
			}
			adaBack := false
			for _, tu := range e.targetUsers(t) {
				adaBack = adaBack || tu.UserName == "ada"
			}
			if adaBack != (tt.onMissing == reconcile.MissingRecreate) {
				t.Errorf("ada in the target again: %t, on missing %s", adaBack, tt.onMissing)
			}
			if tt.onMissing == reconcile.MissingReport {
				if len(res.Failures) != 1 || !strings.Contains(res.Failures[0], "ada") || !strings.Contains(res.Failures[0], "deleted in the target") {
					t.Errorf("failures %q: want one naming ada, deleted in the target", res.Failures)
				}
				if len(res.Retry) != 0 {
					t.Errorf("retry %+v: a user reported missing is not retried", res.Retry)
				}
			}
		})
	}
}
