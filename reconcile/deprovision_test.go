package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/memory"
	"github.com/idsync/idsync/reconcile"
)

// TestDeprovision: a managed user that leaves the source (deleted, or out
// of the filter) is disabled in the target (active=false, the
// connection's default "disable"), once; one that comes back is enabled
// again as the same target user; a target user idsync does not manage is
// never written, whatever happens.
func TestDeprovision(t *testing.T) {
	e := newEnv(t)
	// The source's scope leaves out disabled employees, as the LDAP filter
	// (!(employeeType=disabled)) does.
	e.src = &scopedSource{fullSource: e.src, in: func(u connectors.User) bool {
		return u.Attributes["employeeType"] != "disabled"
	}}
	ada := e.addUser(t, "ada")
	bob := e.addUser(t, "bob")
	carol := e.addUser(t, "carol")
	dan := e.addUser(t, "dan")
	team := e.addGroup(t, "team", ada, bob, carol, dan)
	zedID := e.createTargetUser(t, connectors.User{UserName: "zed", Email: "zed@example.org", Active: true})
	start := e.mark(t)
	s := e.syncer(reconcile.Options{})
	ctx := context.Background()

	users, _ := fullSync(t, s)
	checkCounts(t, "first sync", users.Users, reconcile.Counts{Created: 4})

	// Deleted at the source: disabled in the target, and out of its groups.
	e.delete(t, bob)
	users, groups := fullSync(t, s)
	checkCounts(t, "bob deleted: users", users.Users, reconcile.Counts{Deprovisioned: 1, Unchanged: 3})
	checkCounts(t, "bob deleted: groups", groups.Groups, reconcile.Counts{Updated: 1})
	bobTarget := e.targetUser(t, bob.ID)
	if bobTarget.Active {
		t.Error("bob is still active in the target")
	}
	if got, want := sorted(e.targetGroup(t, team.ID).MemberIDs), e.members(t, ada.ID, carol.ID, dan.ID); !slices.Equal(got, want) {
		t.Errorf("team members = %v, want %v", got, want)
	}

	// Again: bob is inactive already, so nothing is deprovisioned twice.
	again := e.mark(t)
	e.resetStats(t)
	users, _ = fullSync(t, s)
	checkCounts(t, "again", users.Users, reconcile.Counts{Unchanged: 3})
	if e.written(t, again)[bobTarget.ID] || e.writes(t)["DeprovisionUser"] > 0 {
		t.Errorf("bob was written again (writes %v)", e.writes(t))
	}

	// Out of the filter: disabled; back in: enabled, the same target user.
	danID := e.targetUser(t, dan.ID).ID
	e.modifyUser(t, dan, "employeeType: disabled")
	users, _ = fullSync(t, s)
	checkCounts(t, "dan out of scope", users.Users, reconcile.Counts{Deprovisioned: 1, Unchanged: 2})
	if tu := e.targetUser(t, dan.ID); tu.Active {
		t.Error("dan is still active in the target")
	}
	e.modifyUser(t, dan, "employeeType:")
	users, _ = fullSync(t, s)
	checkCounts(t, "dan back in scope", users.Users, reconcile.Counts{Updated: 1, Unchanged: 2})
	if tu := e.targetUser(t, dan.ID); !tu.Active || tu.ID != danID {
		t.Errorf("dan = %+v (id %s), want active with id %s", tu.User, tu.ID, danID)
	}

	// A delete event: disabled once; the same event again changes nothing;
	// an event for an id the target never had changes nothing either.
	e.delete(t, carol)
	for i, want := range []reconcile.Counts{{Deprovisioned: 1}, {Unchanged: 1}} {
		res, err := s.ApplyEvents(ctx, []reconcile.Event{
			{Kind: reconcile.KindUser, Op: reconcile.OpDelete, ID: carol.ID},
			{Kind: reconcile.KindUser, Op: reconcile.OpDelete, ID: "never-in-the-target"},
		})
		if err != nil {
			t.Fatal(err)
		}
		checkCounts(t, fmt.Sprintf("delete event, pass %d", i+1), res.Users, want)
	}
	if tu := e.targetUser(t, carol.ID); tu.Active {
		t.Error("carol is still active in the target")
	}

	if n := len(e.targetUsers(t)); n != 5 {
		t.Errorf("target has %d users, want 5 (disabled users are kept)", n)
	}
	if e.written(t, start)[zedID] {
		t.Error("the unmanaged user zed was written")
	}
}

// TestMassDeprovisionGuard: a full resync that would deprovision more than
// the guard allows (a fifth of the managed users, at least
// MinDeprovisionGuard) refuses with *MassDeprovisionError and deprovisions
// nothing, whether users were deleted or the scope changed under it.
// AllowMassDeprovision and a larger fraction lift it.
func TestMassDeprovisionGuard(t *testing.T) {
	deleteFirst := func(n int) func(*testing.T, *env, []entry) fullSource {
		return func(t *testing.T, e *env, users []entry) fullSource {
			e.delete(t, users[:n]...)
			return e.src
		}
	}
	tests := []struct {
		name string
		// prepare runs after the first sync, before the change.
		prepare func(*testing.T, *env)
		// change changes the source and returns the source to sync from.
		change func(*testing.T, *env, []entry) fullSource
		opts   reconcile.Options
		// wantErr is the refusal; nil: the run deprovisions wantGone.
		wantErr  *reconcile.MassDeprovisionError
		wantGone int
	}{
		{
			name:    "20 of 30 deleted",
			change:  deleteFirst(20),
			wantErr: &reconcile.MassDeprovisionError{Kind: "users", Would: 20, Managed: 30, Allowed: 10},
		},
		{
			name:    "11 of 30 deleted",
			change:  deleteFirst(11),
			wantErr: &reconcile.MassDeprovisionError{Kind: "users", Would: 11, Managed: 30, Allowed: 10},
		},
		{
			name: "scope change: a filter that matches nothing",
			change: func(t *testing.T, e *env, _ []entry) fullSource {
				return &scopedSource{fullSource: e.src, in: func(u connectors.User) bool { return u.Attributes["employeeType"] == "contractor" }}
			},
			wantErr: &reconcile.MassDeprovisionError{Kind: "users", Would: 30, Managed: 30, Allowed: 10},
		},
		{
			name: "scope change: an empty base",
			change: func(t *testing.T, e *env, _ []entry) fullSource {
				return openSource(t, memory.ForTest(t), nil) // a store with nothing in it
			},
			wantErr: &reconcile.MassDeprovisionError{Kind: "users", Would: 30, Managed: 30, Allowed: 10},
		},
		{
			// Disabled users pile up in the target; they are not what the
			// guard protects and must not widen it: 20 of 100 managed
			// users is a fifth, but 20 of the 30 active ones is not.
			name: "20 of 30 deleted, with 70 disabled managed users in the target",
			prepare: func(t *testing.T, e *env) {
				for i := range 70 {
					e.createTargetUser(t, connectors.User{ExternalID: fmt.Sprintf("left-%02d", i), UserName: fmt.Sprintf("left%02d", i)})
				}
			},
			change:  deleteFirst(20),
			wantErr: &reconcile.MassDeprovisionError{Kind: "users", Would: 20, Managed: 30, Allowed: 10},
		},
		{
			name:     "10 of 30 deleted: within MinDeprovisionGuard",
			change:   deleteFirst(reconcile.MinDeprovisionGuard),
			wantGone: reconcile.MinDeprovisionGuard,
		},
		{
			name:     "20 of 30 deleted, AllowMassDeprovision",
			change:   deleteFirst(20),
			opts:     reconcile.Options{AllowMassDeprovision: true},
			wantGone: 20,
		},
		{
			name: "scope change, AllowMassDeprovision",
			change: func(t *testing.T, e *env, _ []entry) fullSource {
				return &scopedSource{fullSource: e.src, in: func(u connectors.User) bool { return u.Attributes["employeeType"] == "x" }}
			},
			opts:     reconcile.Options{AllowMassDeprovision: true},
			wantGone: 30,
		},
		{
			name:     "20 of 30 deleted, MaxDeprovisionFraction 0.7",
			change:   deleteFirst(20),
			opts:     reconcile.Options{Policy: reconcile.Policy{MaxDeprovisionFraction: 0.7}},
			wantGone: 20,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			users := e.addUsers(t, "p", 30)
			res, err := e.syncer(reconcile.Options{}).SyncUsers(context.Background())
			if err != nil || res.Users.Created != 30 {
				t.Fatalf("first sync: %+v, %v", res.Users, err)
			}
			if tt.prepare != nil {
				tt.prepare(t, e)
			}
			src := tt.change(t, e, users)

			s := &reconcile.Syncer{Source: src, Target: e.tgt, Opts: tt.opts}
			res, err = s.SyncUsers(context.Background())
			active := map[string]bool{}
			for _, tu := range e.targetUsers(t) {
				active[tu.ExternalID] = tu.Active
			}
			gone := 0
			for _, u := range users {
				if !active[u.ID] {
					gone++
				}
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("SyncUsers: %v", err)
				}
				if res.Users.Deprovisioned != tt.wantGone || gone != tt.wantGone {
					t.Errorf("deprovisioned %d (counted %d), want %d", gone, res.Users.Deprovisioned, tt.wantGone)
				}
				return
			}
			var md *reconcile.MassDeprovisionError
			if !errors.As(err, &md) {
				t.Fatalf("SyncUsers: err = %v, want a *MassDeprovisionError", err)
			}
			if w := tt.wantErr; md.Kind != w.Kind || md.Would != w.Would || md.Managed != w.Managed || md.Allowed != w.Allowed {
				t.Errorf("error = %+v, want %+v", *md, *w)
			}
			if len(md.SampleIDs) != 5 {
				t.Errorf("sample = %q, want 5 ids", md.SampleIDs)
			}
			for _, id := range md.SampleIDs {
				if !slices.ContainsFunc(users, func(u entry) bool { return u.ID == id }) {
					t.Errorf("sample id %q is not one of the source's users", id)
				}
			}
			if gone != 0 || res.Users.Changed() != 0 {
				t.Errorf("the refused run deprovisioned %d users (result %+v)", gone, res.Users)
			}
		})
	}
}

// TestMassDeleteGuardGroups: the guard covers groups too.
func TestMassDeleteGuardGroups(t *testing.T) {
	tests := []struct {
		name     string
		deleted  int
		opts     reconcile.Options
		wantErr  bool
		wantLeft int
	}{
		{"11 of 12 deleted", 11, reconcile.Options{}, true, 12},
		{"10 of 12 deleted", 10, reconcile.Options{}, false, 2},
		{"11 of 12 deleted, AllowMassDeprovision", 11, reconcile.Options{AllowMassDeprovision: true}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var groups []entry
			for i := range 12 {
				groups = append(groups, e.addGroup(t, fmt.Sprintf("g%02d", i)))
			}
			if _, res := fullSync(t, e.syncer(reconcile.Options{})); res.Groups.Created != 12 {
				t.Fatalf("first sync: %+v", res.Groups)
			}
			e.delete(t, groups[:tt.deleted]...)
			res, err := e.syncer(tt.opts).SyncGroups(context.Background())
			var md *reconcile.MassDeprovisionError
			switch {
			case tt.wantErr && (!errors.As(err, &md) || md.Kind != "groups" || md.Would != tt.deleted || md.Managed != 12):
				t.Errorf("SyncGroups: err = %v, want a *MassDeprovisionError for %d of 12 groups", err, tt.deleted)
			case !tt.wantErr && (err != nil || res.Groups.Deprovisioned != tt.deleted):
				t.Errorf("SyncGroups: %+v, %v; want %d deleted", res.Groups, err, tt.deleted)
			}
			if n := len(e.targetGroups(t)); n != tt.wantLeft {
				t.Errorf("target has %d groups, want %d", n, tt.wantLeft)
			}
		})
	}
}
