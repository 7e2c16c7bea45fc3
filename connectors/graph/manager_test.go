package graph

import (
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/graphfake"
)

// managerOf is the fake's manager of the user with id.
func managerOf(t *testing.T, srv *graphfake.Server, id string) string {
	t.Helper()
	for _, u := range srv.Users() {
		if u.ID == id {
			return u.ManagerID
		}
	}
	t.Fatalf("no user %s in the fake", id)
	return ""
}

func withManager(ext, name, manager string) connectors.User {
	u := connectors.User{ExternalID: ext, UserName: name, Active: true}
	if manager != "" {
		u.Attributes = map[string]string{"manager": manager}
	}
	return u
}

// TestManager: the manager is written by its ExternalID, read back so
// that an equal one is not written again, changed, and cleared; the
// steps run in order against one fake.
func TestManager(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{})
	tgt := openTarget(t, settings(t, srv, nil))
	ctx := t.Context()
	ids := map[string]string{}
	for _, ext := range []string{"boss1", "boss2"} {
		id, err := tgt.CreateUser(ctx, withManager(ext, ext, ""))
		if err != nil {
			t.Fatal(err)
		}
		ids[ext] = id
	}
	for _, step := range []struct {
		name        string
		manager     string // the manager's ExternalID written
		wantID      string // the fake's manager after the write
		wantWrites  int    // requests that wrote, the user's PATCH among them
		create      bool
		freshTarget bool // write through a new connection, which has read nothing
	}{
		{name: "create with a manager", manager: "boss1", wantID: ids["boss1"], wantWrites: 2, create: true},
		{name: "same manager is not written again", manager: "boss1", wantID: ids["boss1"], wantWrites: 1},
		{name: "another manager", manager: "boss2", wantID: ids["boss2"], wantWrites: 2},
		{name: "cleared", manager: "", wantID: "", wantWrites: 2},
		{name: "cleared again: nothing to remove", manager: "", wantID: "", wantWrites: 1},
		{name: "set through a connection that has read nothing", manager: "boss1", wantID: ids["boss1"], wantWrites: 2, freshTarget: true},
		{name: "cleared through a connection that has read nothing", manager: "", wantID: "", wantWrites: 2, freshTarget: true},
	} {
		w := tgt
		if step.freshTarget {
			w = openTarget(t, settings(t, srv, nil))
		}
		before := srv.Stats().Writes
		u := withManager("rep", "rep", step.manager)
		if step.create {
			id, err := w.CreateUser(ctx, u)
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			ids["rep"] = id
		} else if err := w.UpdateUser(ctx, ids["rep"], u); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := managerOf(t, srv, ids["rep"]); got != step.wantID {
			t.Errorf("%s: the fake's manager is %q, want %q", step.name, got, step.wantID)
		}
		if got := srv.Stats().Writes - before; got != step.wantWrites {
			t.Errorf("%s: %d writes, want %d", step.name, got, step.wantWrites)
		}
		got, found, err := openTarget(t, settings(t, srv, nil)).(connectors.UserReader).GetUserByID(ctx, ids["rep"])
		if err != nil || !found || got.Attributes["manager"] != step.manager {
			t.Errorf("%s: reads back manager %q (found %v, %v), want %q", step.name, got.Attributes["manager"], found, err, step.manager)
		}
	}
}

// TestManagerLater: a report written before its manager exists is
// written without it, without error, and gets it when this connection
// creates the manager; a manager an administrator set on an unmanaged
// user is neither read as idsync's nor cleared.
func TestManagerLater(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{ReplicationDelay: 100 * time.Millisecond})
	tgt := openTarget(t, settings(t, srv, nil))
	ctx := t.Context()
	rep, err := tgt.CreateUser(ctx, withManager("rep", "rep", "late"))
	if err != nil {
		t.Fatalf("create before the manager: %v", err)
	}
	if got := managerOf(t, srv, rep); got != "" {
		t.Fatalf("manager %q before it exists", got)
	}
	late, err := tgt.CreateUser(ctx, withManager("late", "late", ""))
	if err != nil {
		t.Fatal(err)
	}
	if got := managerOf(t, srv, rep); got != late {
		t.Errorf("after the manager was created: manager %q, want %q", got, late)
	}

	admin := srv.AddUser(map[string]any{"userPrincipalName": "admin@" + testDomain, "displayName": "Admin", "mailNickname": "admin", "accountEnabled": true})
	other := srv.AddUser(map[string]any{"userPrincipalName": "other@" + testDomain, "displayName": "Other", "mailNickname": "other", "accountEnabled": true})
	srv.SetManager(other, admin)
	fresh := openTarget(t, settings(t, srv, nil))
	got, _, err := fresh.(connectors.UserReader).GetUserByID(ctx, other)
	if err != nil || got.Attributes["manager"] != "" {
		t.Errorf("an unmanaged manager reads as %q (%v), want none", got.Attributes["manager"], err)
	}
	if err := openTarget(t, settings(t, srv, nil)).UpdateUser(ctx, other, withManager("", "other", "")); err != nil {
		t.Fatal(err)
	}
	if got := managerOf(t, srv, other); got != admin {
		t.Errorf("an administrator's manager was cleared: %q", got)
	}
}

// TestSourceManager: as a source, a user's manager is the manager's
// object id (its ExternalID there), in polls, listings and reads.
func TestSourceManager(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{})
	boss := srv.AddUser(map[string]any{"userPrincipalName": "boss@" + testDomain, "displayName": "Boss", "accountEnabled": true})
	rep := srv.AddUser(map[string]any{"userPrincipalName": "rep@" + testDomain, "displayName": "Rep", "accountEnabled": true})
	inc, cur := incremental(t, settings(t, srv, nil))
	srv.SetManager(rep, boss)
	cs, err := inc.Changes(t.Context(), cur)
	if err != nil || len(cs.Users) != 1 || cs.Users[0].ExternalID != rep || cs.Users[0].Attributes["manager"] != boss {
		t.Errorf("a poll after the manager was set: %+v, %v; want %s with manager %s", cs.Users, err, rep, boss)
	}
	src, err := connectors.AsSource(open(t, settings(t, srv, nil)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{boss: "", rep: boss}
	err = src.ListUsers(t.Context(), func(u connectors.User) error {
		if got := u.Attributes["manager"]; got != want[u.ExternalID] {
			t.Errorf("listed %s with manager %q, want %q", u.UserName, got, want[u.ExternalID])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	u, found, err := src.GetUser(t.Context(), rep)
	if err != nil || !found || u.Attributes["manager"] != boss {
		t.Errorf("GetUser: manager %q, found %v, %v; want %q", u.Attributes["manager"], found, err, boss)
	}
}

// TestManagerGone: a manager this connection knew, deleted since by
// someone else, is looked up again rather than reported as a 404, which
// the engine would take for the report being gone: the report is
// written without it.
func TestManagerGone(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{})
	tgt := openTarget(t, settings(t, srv, nil))
	ctx := t.Context()
	boss, err := tgt.CreateUser(ctx, withManager("boss", "boss", ""))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := tgt.CreateUser(ctx, withManager("rep", "rep", ""))
	if err != nil {
		t.Fatal(err)
	}
	other := openTarget(t, settings(t, srv, nil)).(connectors.ModeDeprovisioner)
	if err := other.DeprovisionUserAs(ctx, boss, connectors.DeprovisionDelete); err != nil {
		t.Fatal(err)
	}
	if err := tgt.UpdateUser(ctx, rep, withManager("rep", "rep", "boss")); err != nil {
		t.Errorf("update with a manager deleted elsewhere: %v, want no error", err)
	}
	if got := managerOf(t, srv, rep); got != "" {
		t.Errorf("manager %q, want none", got)
	}
}
