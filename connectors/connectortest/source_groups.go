package connectortest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/idsync/idsync/connectors"
)

// groupSource returns the source's GroupSource, or skips.
func (r *sourceRun) groupSource(t *testing.T, src connectors.Source) connectors.GroupSource {
	t.Helper()
	gs, ok := src.(connectors.GroupSource)
	if !ok {
		t.Skip("the source is no GroupSource: it has no groups, and the engine does no group work for it")
	}
	if r.h.PutGroup == nil || r.h.DeleteGroup == nil {
		t.Skip("SourceHarness.PutGroup or DeleteGroup is nil: the suite cannot make groups")
	}
	return gs
}

func (r *sourceRun) putGroup(t *testing.T, g connectors.Group) connectors.Group {
	t.Helper()
	ext := r.h.PutGroup(t, g)
	if ext == "" {
		t.Fatalf("SourceHarness.PutGroup(%q) returned no ExternalID", g.DisplayName)
	}
	g.ExternalID = ext
	return g
}

// sourceGroupName is a group name with the hard characters a DN or a
// filter must quote.
func (r *sourceRun) sourceGroupName(t *testing.T, name string) string {
	return r.name(t, name) + ` R&D, "core" (a+b=c) * ë\`
}

func sameGroup(got, want connectors.Group) string {
	switch {
	case got.ExternalID != want.ExternalID, got.DisplayName != want.DisplayName:
		return fmt.Sprintf("%q (%s), want %q (%s)", got.DisplayName, got.ExternalID, want.DisplayName, want.ExternalID)
	case !slices.Equal(sorted(got.Members), sorted(want.Members)):
		return fmt.Sprintf("members %v, want %v", sorted(got.Members), sorted(want.Members))
	}
	return ""
}

func checkReadGroup(t *testing.T, gs connectors.GroupSource, want connectors.Group) {
	t.Helper()
	got, found, err := gs.GetGroup(t.Context(), want.ExternalID)
	if err != nil || !found {
		t.Fatalf("GetGroup(%s): found %t, %v", want.ExternalID, found, err)
	}
	if d := sameGroup(got, want); d != "" {
		t.Errorf("group %s reads as %s", want.ExternalID, d)
	}
}

func sourceGroupsListed(t *testing.T, gs connectors.GroupSource, want ...string) map[string]connectors.Group {
	t.Helper()
	out := map[string]connectors.Group{}
	err := gs.ListGroups(t.Context(), func(g connectors.Group) error {
		if !slices.Contains(want, g.ExternalID) {
			return nil
		}
		if _, dup := out[g.ExternalID]; dup {
			t.Errorf("ListGroups streamed group %s twice", g.ExternalID)
		}
		out[g.ExternalID] = g
		return nil
	})
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	return out
}

// groups: a group is read and listed with its members (users by
// ExternalID); changes of its name and members read as they are now; a
// deleted group is gone; listings page and stop at fn's error.
func (r *sourceRun) groups(t *testing.T) {
	src := r.open(t)
	gs := r.groupSource(t, src)
	a := r.put(t, r.newUser(t, "a")).ExternalID
	b := r.put(t, r.newUser(t, "b")).ExternalID
	c := r.put(t, r.newUser(t, "c")).ExternalID

	g := r.putGroup(t, connectors.Group{DisplayName: r.sourceGroupName(t, "eng"), Members: []string{a, b}})
	checkReadGroup(t, gs, g)
	got, ok := sourceGroupsListed(t, gs, g.ExternalID)[g.ExternalID]
	if !ok {
		t.Fatalf("ListGroups does not stream group %s", g.ExternalID)
	}
	if d := sameGroup(got, g); d != "" {
		t.Errorf("ListGroups streams group %s as %s", g.ExternalID, d)
	}

	g.DisplayName = r.sourceGroupName(t, "engineering")
	g.Members = []string{b, c}
	r.h.PutGroup(t, g)
	checkReadGroup(t, gs, g)

	r.h.DeleteGroup(t, g.ExternalID)
	if _, found, err := gs.GetGroup(t.Context(), g.ExternalID); err != nil || found {
		t.Errorf("GetGroup of a deleted group: found %t, %v", found, err)
	}
	if _, ok := sourceGroupsListed(t, gs, g.ExternalID)[g.ExternalID]; ok {
		t.Errorf("a deleted group is listed")
	}

	t.Run("paging", func(t *testing.T) {
		if r.h.PageSize <= 0 {
			t.Skip("SourceHarness.PageSize is 0: the page size is unknown")
		}
		n := 2*r.h.PageSize + 1
		want := make([]string, n)
		for i := range n {
			want[i] = r.putGroup(t, connectors.Group{DisplayName: r.name(t, fmt.Sprintf("gp%03d", i)), Members: []string{a}}).ExternalID
		}
		listed := sourceGroupsListed(t, gs, want...)
		for _, ext := range want {
			if _, ok := listed[ext]; !ok {
				t.Errorf("ListGroups (page size %d, %d groups) left out group %s", r.h.PageSize, n, ext)
			}
		}
		checkStops(t, "ListGroups", func(fn func() error) error {
			return gs.ListGroups(t.Context(), func(connectors.Group) error { return fn() })
		})
	})
}

// changes: Changes since a cursor says what changed after it, each
// object as it is now and the deleted by id, and nothing that did not
// change; from the cursor it returns, nothing until the next change. A
// source without Incremental is checked through connectors.Incrementally,
// which must see a change and must not see one where there is none.
func (r *sourceRun) changes(t *testing.T) {
	src := r.open(t)
	inc, ok := src.(connectors.Incremental)
	if !ok {
		r.snapshot(t, src)
		return
	}
	ctx := t.Context()
	a := r.put(t, r.newUser(t, "a"))
	b := r.put(t, r.newUser(t, "b"))
	quiet := r.put(t, r.newUser(t, "quiet"))
	renamed := r.put(t, r.newUser(t, "renamed"))
	disabled := r.put(t, r.newUser(t, "disabled"))
	gs, _ := src.(connectors.GroupSource)
	groups := gs != nil && r.h.PutGroup != nil
	var g connectors.Group
	if groups {
		g = r.putGroup(t, connectors.Group{DisplayName: r.sourceGroupName(t, "g"), Members: []string{a.ExternalID}})
	}
	cur, err := inc.Cursor(ctx)
	if err != nil {
		t.Fatalf("Cursor: %v", err)
	}

	c := r.put(t, r.newUser(t, "c"))
	a.DisplayName = "Changed " + a.DisplayName
	r.h.PutUser(t, a)
	r.h.DeleteUser(t, b.ExternalID)
	renamed.UserName = r.name(t, "renamed-again")
	r.h.PutUser(t, renamed)
	disabled.Active = false
	r.h.PutUser(t, disabled)
	if groups {
		g.Members = []string{a.ExternalID, c.ExternalID}
		r.h.PutGroup(t, g)
	}
	cs, err := inc.Changes(ctx, cur)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if cs.ResyncRequired || cs.Cursor == "" {
		t.Fatalf("Changes: resync required %t, cursor %q; want the changes and a cursor", cs.ResyncRequired, cs.Cursor)
	}
	users := map[string]connectors.User{}
	for _, u := range cs.Users {
		users[u.ExternalID] = u
	}
	// A renamed or disabled user is changed, not deleted: the engine
	// would deprovision it.
	for _, want := range []connectors.User{a, c, renamed, disabled} {
		if got, ok := users[want.ExternalID]; !ok {
			t.Errorf("Changes left out user %q (%s)", want.UserName, want.ExternalID)
		} else if d := sameUser(got, r.expect(want)); d != "" {
			t.Errorf("Changes reports user %s as %s", want.ExternalID, d)
		}
	}
	if _, ok := users[quiet.ExternalID]; ok {
		t.Errorf("Changes reports user %s, which did not change", quiet.ExternalID)
	}
	if _, ok := users[b.ExternalID]; ok || !slices.Contains(cs.DeletedIDs, b.ExternalID) {
		t.Errorf("Changes: deleted user %s among users %t, among DeletedIDs %v", b.ExternalID, ok, cs.DeletedIDs)
	}
	for _, u := range []connectors.User{renamed, disabled} {
		if slices.Contains(cs.DeletedIDs, u.ExternalID) {
			t.Errorf("Changes reports user %q, renamed or disabled, as deleted", u.UserName)
		}
	}
	if groups {
		i := slices.IndexFunc(cs.Groups, func(x connectors.Group) bool { return x.ExternalID == g.ExternalID })
		if i < 0 {
			t.Errorf("Changes left out group %s, whose members changed", g.ExternalID)
		} else if d := sameGroup(cs.Groups[i], g); d != "" {
			t.Errorf("Changes reports group %s as %s", g.ExternalID, d)
		}
	}

	ours := []string{a.ExternalID, b.ExternalID, c.ExternalID, quiet.ExternalID, renamed.ExternalID, disabled.ExternalID, g.ExternalID}
	again, err := inc.Changes(ctx, cs.Cursor)
	if err != nil {
		t.Fatalf("Changes from the new cursor: %v", err)
	}
	if n := reported(again, ours); again.ResyncRequired || len(n) > 0 {
		t.Errorf("Changes from the cursor it returned, with nothing changed since: resync %t, reports %v", again.ResyncRequired, n)
	}

	a.GivenName = "Again"
	r.h.PutUser(t, a)
	last, err := inc.Changes(ctx, again.Cursor)
	if err != nil {
		t.Fatalf("Changes after one more change: %v", err)
	}
	// The user's groups may come with it (LDAP reports them, so that a
	// user back in scope regains its memberships); no other user may.
	last.Groups = nil
	if n := reported(last, ours); last.ResyncRequired || !slices.Equal(n, []string{a.ExternalID}) {
		t.Errorf("Changes after one more change to user %s: resync %t, reports %v", a.ExternalID, last.ResyncRequired, n)
	}
}

// reported returns the ids among ours that cs reports, as users, groups
// or deletions.
func reported(cs connectors.ChangeSet, ours []string) []string {
	var out []string
	add := func(id string) {
		if id != "" && slices.Contains(ours, id) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	for _, u := range cs.Users {
		add(u.ExternalID)
	}
	for _, g := range cs.Groups {
		add(g.ExternalID)
	}
	for _, id := range cs.DeletedIDs {
		add(id)
	}
	return out
}

// snapshot checks connectors.Incrementally over a source without
// Incremental: an unchanged source is an empty ChangeSet (a poll that
// writes nothing), a changed one asks for a resync.
func (r *sourceRun) snapshot(t *testing.T, src connectors.Source) {
	ctx := t.Context()
	inc := connectors.Incrementally(src)
	r.put(t, r.newUser(t, "before"))
	cur, err := inc.Cursor(ctx)
	if err != nil {
		t.Fatalf("Cursor: %v", err)
	}
	cs, err := inc.Changes(ctx, cur)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if cs.ResyncRequired || len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) > 0 {
		t.Errorf("the source without Incremental, unchanged, reads as changed: %+v", cs)
	}
	r.put(t, r.newUser(t, "after"))
	if cs, err = inc.Changes(ctx, cs.Cursor); err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if !cs.ResyncRequired {
		t.Errorf("the source without Incremental, changed, asks for no resync: %+v", cs)
	}
}
