package reconcile_test

import (
	"context"
	"slices"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// TestGroups follows groups through full resyncs: an unmanaged target
// group with a source group's name (in any letter case) is adopted, two of
// them are ambiguous and left alone; memberships are added and removed; a
// member added by hand in the target stays; a renamed group is the same
// target group; a deleted group is deleted.
func TestGroups(t *testing.T) {
	e := newEnv(t)
	ada := e.addUser(t, "ada")
	bob := e.addUser(t, "bob")
	carol := e.addUser(t, "carol")
	dan := e.addUser(t, "dan")
	eng := e.addGroup(t, "eng", ada, bob)
	ops := e.addGroup(t, "ops", carol)
	legacy := e.addGroup(t, "legacy", dan)
	sales := e.addGroup(t, "sales", dan)
	design := e.addGroup(t, "design", ada)

	// The target's own: a user, a group of the source's name, one of a
	// name the source does not have, two of a name the source has.
	ctx := context.Background()
	handID := e.createTargetUser(t, connectors.User{UserName: "hand", Active: true})
	newGroup := func(name string) string {
		id, err := e.tgt.CreateGroup(ctx, connectors.Group{DisplayName: name})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.tgt.AddMembers(ctx, id, []string{handID}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	salesID := newGroup("Sales")
	untouched := []string{newGroup("Hand-made"), newGroup("Design"), newGroup("DESIGN")}
	start := e.mark(t)

	s := e.syncer(reconcile.Options{})
	users, groups := fullSync(t, s)
	checkCounts(t, "first sync: users", users.Users, reconcile.Counts{Created: 4})
	checkCounts(t, "first sync: groups", groups.Groups, reconcile.Counts{Created: 4, Adopted: 1})
	// checkMembers checks a group's name and members: the managed users
	// exts, and hand when withHand.
	checkMembers := func(t *testing.T, g entry, name string, withHand bool, exts ...string) connectors.TargetGroup {
		t.Helper()
		tg := e.targetGroup(t, g.ID)
		want := e.members(t, exts...)
		if withHand {
			want = sorted(append(want, handID))
		}
		if tg.DisplayName != name || !slices.Equal(sorted(tg.MemberIDs), want) {
			t.Errorf("group %s: %q with members %v; want %q with %v", g.ID, tg.DisplayName, sorted(tg.MemberIDs), name, want)
		}
		return tg
	}
	if tg := checkMembers(t, sales, "sales", true, dan.ID); tg.ID != salesID {
		t.Errorf("sales: target id %s, want the adopted %s", tg.ID, salesID)
	}
	if tg := checkMembers(t, design, "design", false, ada.ID); slices.Contains(untouched, tg.ID) {
		t.Error("design adopted one of two ambiguous groups")
	}
	checkMembers(t, eng, "eng", false, ada.ID, bob.ID)

	// Someone adds a user idsync does not manage to a managed group.
	engID := e.targetGroup(t, eng.ID).ID
	if err := e.tgt.AddMembers(ctx, engID, []string{handID}); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name   string
		change func(t *testing.T)
		users  reconcile.Counts
		groups reconcile.Counts
		check  func(t *testing.T)
	}{
		{
			name: "membership added and removed",
			change: func(t *testing.T) {
				e.addMembers(t, eng, carol)
				e.removeMembers(t, eng, bob)
			},
			users:  reconcile.Counts{Unchanged: 4},
			groups: reconcile.Counts{Updated: 1, Unchanged: 4},
			check: func(t *testing.T) {
				checkMembers(t, eng, "eng", true, ada.ID, carol.ID)
			},
		},
		{
			name:   "renamed",
			change: func(t *testing.T) { e.renameGroup(t, ops, "operations") },
			users:  reconcile.Counts{Unchanged: 4},
			groups: reconcile.Counts{Updated: 1, Unchanged: 4},
			check:  func(t *testing.T) { checkMembers(t, ops, "operations", false, carol.ID) },
		},
		{
			name:   "deleted",
			change: func(t *testing.T) { e.delete(t, legacy) },
			users:  reconcile.Counts{Unchanged: 4},
			groups: reconcile.Counts{Deprovisioned: 1, Unchanged: 4},
			check: func(t *testing.T) {
				for _, tg := range e.targetGroups(t) {
					if tg.ExternalID == legacy.ID {
						t.Errorf("legacy is still in the target: %+v", tg)
					}
				}
			},
		},
		{
			name:   "a member deleted at the source leaves its groups",
			change: func(t *testing.T) { e.delete(t, carol) },
			users:  reconcile.Counts{Deprovisioned: 1, Unchanged: 3},
			groups: reconcile.Counts{Updated: 2, Unchanged: 2},
			check: func(t *testing.T) {
				checkMembers(t, eng, "eng", true, ada.ID)
				checkMembers(t, ops, "operations", false)
			},
		},
		{
			name:   "nothing changed",
			change: func(t *testing.T) { e.resetStats(t) },
			users:  reconcile.Counts{Unchanged: 3},
			groups: reconcile.Counts{Unchanged: 4},
			check: func(t *testing.T) {
				if w := e.writes(t); len(w) > 0 {
					t.Errorf("wrote to the target: %v", w)
				}
			},
		},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			st.change(t)
			users, groups := fullSync(t, s)
			checkCounts(t, "users", users.Users, st.users)
			checkCounts(t, "groups", groups.Groups, st.groups)
			checkNoFailures(t, "groups", groups)
			st.check(t)
		})
		if !ok {
			return
		}
	}

	// The target's own groups were never written.
	written := e.written(t, start)
	for _, id := range untouched {
		if written[id] {
			t.Errorf("unmanaged group %s was written", id)
		}
	}
}
