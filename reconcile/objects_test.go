package reconcile_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idsync/idsync/reconcile"
)

// TestObjectsNamed: a run names what it created, updated, deprovisioned
// and failed — by userName or display name and source id — so that
// status can say who, not only how many; a dry run names what it would
// do; the list is bounded and says how many it left out.
func TestObjectsNamed(t *testing.T) {
	e := newEnv(t)
	ada := e.addUser(t, "ada")
	bob := e.addUser(t, "bob")
	team := e.addGroup(t, "team", ada, bob)
	s := e.syncer(reconcile.Options{})
	ctx := context.Background()

	users, groups := fullSync(t, s)
	checkObjects(t, "first sync: users", users.Objects,
		"created user ada "+ada.ID, "created user bob "+bob.ID)
	checkObjects(t, "first sync: groups", groups.Objects, "created group team "+team.ID)

	e.modifyUser(t, ada, "title: Engineer")
	e.delete(t, bob)
	dry := e.syncer(reconcile.Options{DryRun: true})
	users, err := dry.SyncUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkObjects(t, "dry run", users.Objects, "updated user ada "+ada.ID, "deprovisioned user bob "+bob.ID)
	if e.targetUser(t, ada.ID).Attributes["title"] == "Engineer" {
		t.Error("the dry run wrote ada's title")
	}

	users, groups = fullSync(t, s)
	checkObjects(t, "bob deleted: users", users.Objects, "updated user ada "+ada.ID, "deprovisioned user bob "+bob.ID)
	checkObjects(t, "bob deleted: groups", groups.Objects, "updated group team "+team.ID)

	// Incremental: the change names its object too.
	e.modifyUser(t, ada, "title: Manager")
	res, err := s.ApplyEvents(ctx, []reconcile.Event{{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: ada.ID}})
	if err != nil {
		t.Fatal(err)
	}
	checkObjects(t, "change", res.Objects, "updated user ada "+ada.ID)

	// A failure names what was being done and why.
	carol := e.addUser(t, "carol")
	refusing := &reconcile.Syncer{Source: e.src, Target: e.openTarget(t, map[string]any{"rejectRate": 1.0})}
	res, err = refusing.ApplyEvents(ctx, []reconcile.Event{{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: carol.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 || res.Objects[0].Action != reconcile.ActionFailed ||
		!strings.Contains(res.Objects[0].Name, carol.ID) || res.Objects[0].Error == "" {
		t.Errorf("failed create: objects = %+v, want carol failed with an error", res.Objects)
	}

	// Bounded: 100 named, the rest counted; Named hears of every one.
	e.addUsers(t, "many", 120)
	var heard atomic.Int64
	s.Named = func(reconcile.Object) { heard.Add(1) }
	users, err = s.SyncUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(users.Objects) + users.ObjectsDropped; got != 121 || len(users.Objects) != 100 {
		t.Errorf("121 creates: %d named, %d dropped; want 100 named, 21 dropped", len(users.Objects), users.ObjectsDropped)
	}
	if heard.Load() != 121 {
		t.Errorf("Named was called %d times for 121 creates", heard.Load())
	}
	var merged reconcile.Result
	merged.Merge(users)
	merged.Merge(groups)
	if len(merged.Objects) != 100 || merged.ObjectsDropped != 22 {
		t.Errorf("merged: %d named, %d dropped; want 100, 22", len(merged.Objects), merged.ObjectsDropped)
	}
}

// checkObjects compares objects as "action kind name id" lines, in any
// order (writes run concurrently).
func checkObjects(t *testing.T, what string, got []reconcile.Object, want ...string) {
	t.Helper()
	lines := make([]string, len(got))
	for i, o := range got {
		lines[i] = fmt.Sprintf("%s %s %s %s", o.Action, o.Kind, o.Name, o.ID)
	}
	slices.Sort(lines)
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Errorf("%s: objects\n%s\nwant\n%s", what, strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
