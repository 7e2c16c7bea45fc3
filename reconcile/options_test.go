package reconcile_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/scim"
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

	e.delete(t, bob.DN)
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
// it, as an administrator of the target would, with a plain SCIM DELETE.
type vanishingTarget struct {
	fullTarget
	e      *env
	vanish string // target id
}

func (v *vanishingTarget) UpdateUser(ctx context.Context, id string, u connectors.User) error {
	if id == v.vanish {
		v.vanish = ""
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, v.e.scim.URL+"/Users/"+id, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+v.e.scim.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("vanish: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("vanish: %s", resp.Status)
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
			e.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: title\ntitle: Countess\n", ada.DN))

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
			path := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(path, []byte(e.scim.Token), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := &scim.Config{BaseURL: e.scim.URL, Token: "file:" + path, Deprovision: tt.connection}
			conn, err := cfg.Open(context.Background(), testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }()
			e.tgt = conn.(fullTarget)
			s := e.syncer(reconcile.Options{Policy: reconcile.Policy{Deprovision: tt.rule}})
			fullSync(t, s)
			bobID := e.targetUser(t, bob.ID).ID

			e.delete(t, bob.DN)
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
