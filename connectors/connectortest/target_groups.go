package connectortest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
)

// groups runs the group checks of a GroupTarget.
func (r *targetRun) groups(t *testing.T) {
	if _, ok := r.open(t).(connectors.GroupTarget); !ok {
		t.Skip("the target is no GroupTarget: it has no groups, and the engine does no group work for it")
	}
	r.checkIn(t, "groups", "create", r.groupCreate)
	r.checkIn(t, "groups", "members", r.groupMembers)
	r.checkIn(t, "groups", "rename", r.groupRename)
	r.checkIn(t, "groups", "delete", r.groupDelete)
	r.checkIn(t, "groups", "member-of", r.groupMemberOf)
	r.checkIn(t, "groups", "paging", r.groupPaging)
}

func (r *targetRun) openGroups(t *testing.T) (connectors.Target, connectors.GroupTarget) {
	t.Helper()
	tgt := r.open(t)
	return tgt, tgt.(connectors.GroupTarget)
}

// group is a group called name: its name has the hard characters a DN
// or a filter must quote.
func (r *targetRun) group(t *testing.T, name string) connectors.Group {
	n := r.name(t, name)
	return connectors.Group{ExternalID: "ext/" + n + ` "g" \*`, DisplayName: n + ` R&D, "core" (a+b=c) * ë\`}
}

func mustCreateGroup(t *testing.T, gt connectors.GroupTarget, g connectors.Group) string {
	t.Helper()
	id, err := gt.CreateGroup(t.Context(), connectors.Group{ExternalID: g.ExternalID, DisplayName: g.DisplayName})
	if err != nil {
		t.Fatalf("CreateGroup(%q): %v", g.DisplayName, err)
	}
	if id == "" {
		t.Fatalf("CreateGroup(%q) returned no id", g.DisplayName)
	}
	return id
}

// lookupGroup returns the group with ExternalID ext, failing unless it is
// the one group found and its id is id.
func lookupGroup(t *testing.T, gt connectors.GroupTarget, ext, id string) connectors.TargetGroup {
	t.Helper()
	found, err := gt.LookupGroups(t.Context(), connectors.MatchExternalID, ext)
	if err != nil {
		t.Fatalf("LookupGroups(externalId, %q): %v", ext, err)
	}
	if len(found) != 1 || found[0].ID != id {
		t.Fatalf("LookupGroups(externalId, %q) found %s, want only group %s", ext, groupIDs(found), id)
	}
	return found[0]
}

func groupIDs(groups []connectors.TargetGroup) string {
	if len(groups) == 0 {
		return "none"
	}
	s := make([]string, len(groups))
	for i, g := range groups {
		s[i] = fmt.Sprintf("%s (%q, externalId %q)", g.ID, g.DisplayName, g.ExternalID)
	}
	return strings.Join(s, ", ")
}

// checkGroup reads the group by ExternalID and compares it with want
// and its members (target user ids).
func checkGroup(t *testing.T, gt connectors.GroupTarget, id string, want connectors.Group, members ...string) {
	t.Helper()
	got := lookupGroup(t, gt, want.ExternalID, id)
	if got.DisplayName != want.DisplayName || got.ExternalID != want.ExternalID {
		t.Errorf("group %s reads back as %q (externalId %q), want %q (%q)", id, got.DisplayName, got.ExternalID, want.DisplayName, want.ExternalID)
	}
	if !slices.Equal(sorted(got.MemberIDs), sorted(members)) {
		t.Errorf("group %s has members %v, want %v", id, sorted(got.MemberIDs), sorted(members))
	}
}

// listedGroups returns the groups ListGroups streams whose id is among
// want, and fails if one is listed twice.
func listedGroups(t *testing.T, gt connectors.GroupTarget, want ...string) map[string]connectors.TargetGroup {
	t.Helper()
	out := map[string]connectors.TargetGroup{}
	err := gt.ListGroups(t.Context(), func(tg connectors.TargetGroup) error {
		if !slices.Contains(want, tg.ID) {
			return nil
		}
		if _, dup := out[tg.ID]; dup {
			t.Errorf("ListGroups streamed group %s twice", tg.ID)
		}
		out[tg.ID] = tg
		return nil
	})
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	return out
}

// groupCreate: a new group has no members and is found by ExternalID
// (exactly), by name (without regard to case), and in the listing.
func (r *targetRun) groupCreate(t *testing.T) {
	_, gt := r.openGroups(t)
	g := r.group(t, "eng")
	id := mustCreateGroup(t, gt, g)
	checkGroup(t, gt, id, g)
	found, err := gt.LookupGroups(t.Context(), "displayName", swapCase(g.DisplayName))
	if err != nil {
		t.Fatalf("LookupGroups(displayName): %v", err)
	}
	if len(found) != 1 || found[0].ID != id {
		t.Errorf("LookupGroups(displayName, %q) found %s, want only group %s", swapCase(g.DisplayName), groupIDs(found), id)
	}
	if found, err := gt.LookupGroups(t.Context(), connectors.MatchExternalID, swapCase(g.ExternalID)); err != nil || len(found) > 0 {
		t.Errorf("externalId compares exactly, but %q finds %s (%v)", swapCase(g.ExternalID), groupIDs(found), err)
	}
	if _, ok := listedGroups(t, gt, id)[id]; !ok {
		t.Errorf("ListGroups does not stream the new group %s", id)
	}
}

// groupMembers: members are added and removed by target user id; adding
// a member twice or removing a non-member changes nothing.
func (r *targetRun) groupMembers(t *testing.T) {
	tgt, gt := r.openGroups(t)
	a := mustCreate(t, tgt, r.user(t, "a"))
	b := mustCreate(t, tgt, r.user(t, "b"))
	c := mustCreate(t, tgt, r.user(t, "c"))
	g := r.group(t, "team")
	id := mustCreateGroup(t, gt, g)
	ctx := t.Context()
	steps := []struct {
		what    string
		do      func() error
		members []string
	}{
		{"add a and b", func() error { return gt.AddMembers(ctx, id, []string{a, b}) }, []string{a, b}},
		{"add b again and c", func() error { return gt.AddMembers(ctx, id, []string{b, c}) }, []string{a, b, c}},
		{"remove a", func() error { return gt.RemoveMembers(ctx, id, []string{a}) }, []string{b, c}},
		{"remove a again", func() error { return gt.RemoveMembers(ctx, id, []string{a}) }, []string{b, c}},
		{"remove b and c", func() error { return gt.RemoveMembers(ctx, id, []string{b, c}) }, nil},
		{"add c", func() error { return gt.AddMembers(ctx, id, []string{c}) }, []string{c}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		checkGroup(t, gt, id, g, s.members...)
		if t.Failed() {
			t.Fatalf("after %s", s.what)
		}
	}
	got, ok := listedGroups(t, r.open(t).(connectors.GroupTarget), id)[id]
	if !ok || !slices.Equal(sorted(got.MemberIDs), []string{c}) {
		t.Errorf("ListGroups streams group %s with members %v (listed %t), want [%s]", id, got.MemberIDs, ok, c)
	}
}

// groupRename: a new name keeps the group's id and its members, and an
// unmanaged group is taken over by writing its ExternalID.
func (r *targetRun) groupRename(t *testing.T) {
	tgt, gt := r.openGroups(t)
	member := mustCreate(t, tgt, r.user(t, "m"))
	g := r.group(t, "before")
	id := mustCreateGroup(t, gt, g)
	if err := gt.AddMembers(t.Context(), id, []string{member}); err != nil {
		t.Fatal(err)
	}
	old := g.DisplayName
	g.DisplayName = r.group(t, "after").DisplayName
	if err := gt.UpdateGroup(t.Context(), id, g); err != nil {
		t.Fatalf("UpdateGroup: %v", err)
	}
	checkGroup(t, gt, id, g, member)
	if found, err := gt.LookupGroups(t.Context(), "displayName", old); err != nil || len(found) > 0 {
		t.Errorf("the old name %q still finds %s (%v)", old, groupIDs(found), err)
	}
	g.ExternalID = r.group(t, "claimed").ExternalID
	if err := gt.UpdateGroup(t.Context(), id, g); err != nil {
		t.Fatalf("UpdateGroup (new externalId): %v", err)
	}
	checkGroup(t, gt, id, g, member)
}

// groupDelete: a deleted group is gone; deleting it again and writing to
// it wrap ErrNotFound (or, for the delete, succeed).
func (r *targetRun) groupDelete(t *testing.T) {
	tgt, gt := r.openGroups(t)
	member := mustCreate(t, tgt, r.user(t, "m"))
	g := r.group(t, "doomed")
	id := mustCreateGroup(t, gt, g)
	ctx := t.Context()
	if err := gt.DeleteGroup(ctx, id); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if found, err := gt.LookupGroups(ctx, connectors.MatchExternalID, g.ExternalID); err != nil || len(found) > 0 {
		t.Errorf("a deleted group is found: %s (%v)", groupIDs(found), err)
	}
	if _, ok := listedGroups(t, gt, id)[id]; ok {
		t.Errorf("a deleted group is listed")
	}
	if err := gt.DeleteGroup(ctx, id); err != nil && !errors.Is(err, connectors.ErrNotFound) {
		t.Errorf("DeleteGroup of a deleted group: %v, want nil or ErrNotFound", err)
	}
	for _, w := range []struct {
		what string
		err  error
	}{
		{"UpdateGroup", gt.UpdateGroup(ctx, id, g)},
		{"AddMembers", gt.AddMembers(ctx, id, []string{member})},
		{"RemoveMembers", gt.RemoveMembers(ctx, id, []string{member})},
	} {
		if !errors.Is(w.err, connectors.ErrNotFound) {
			t.Errorf("%s of a deleted group: %v, want ErrNotFound", w.what, w.err)
		}
	}
}

// groupMemberOf: GroupsOfUser finds the groups a user is a direct member
// of, so that a leaver leaves them without a listing of every group.
func (r *targetRun) groupMemberOf(t *testing.T) {
	tgt, gt := r.openGroups(t)
	mo, ok := tgt.(connectors.MemberOf)
	if !ok {
		t.Skip("the target is no MemberOf: the engine lists every group to find a leaver's")
	}
	a := mustCreate(t, tgt, r.user(t, "a"))
	b := mustCreate(t, tgt, r.user(t, "b"))
	g1, g2 := r.group(t, "one"), r.group(t, "two")
	id1, id2 := mustCreateGroup(t, gt, g1), mustCreateGroup(t, gt, g2)
	for _, add := range []struct {
		group string
		users []string
	}{{id1, []string{a, b}}, {id2, []string{a}}} {
		if err := gt.AddMembers(t.Context(), add.group, add.users); err != nil {
			t.Fatalf("AddMembers: %v", err)
		}
	}
	for _, c := range []struct {
		user string
		want []string
	}{{a, []string{id1, id2}}, {b, []string{id1}}} {
		groups, err := mo.GroupsOfUser(t.Context(), c.user)
		if err != nil {
			t.Fatalf("GroupsOfUser(%s): %v", c.user, err)
		}
		var got []string
		for _, g := range groups {
			got = append(got, g.ID)
		}
		if !slices.Equal(sorted(got), sorted(c.want)) {
			t.Errorf("GroupsOfUser(%s) = %v, want %v", c.user, sorted(got), sorted(c.want))
		}
	}
}

// groupPaging: a listing of groups past one page streams each once and
// stops at fn's first error.
func (r *targetRun) groupPaging(t *testing.T) {
	if r.h.PageSize <= 0 {
		t.Skip("TargetHarness.PageSize is 0: the page size is unknown")
	}
	_, gt := r.openGroups(t)
	n := 2*r.h.PageSize + 1
	want := make([]string, n)
	for i := range n {
		n := r.name(t, fmt.Sprintf("gp%03d", i))
		want[i] = mustCreateGroup(t, gt, connectors.Group{ExternalID: "ext:" + n, DisplayName: n})
	}
	got := listedGroups(t, gt, want...)
	for _, id := range want {
		if _, ok := got[id]; !ok {
			t.Errorf("ListGroups (page size %d, %d groups) left out group %s", r.h.PageSize, n, id)
		}
	}
	checkStops(t, "ListGroups", func(fn func() error) error {
		return gt.ListGroups(t.Context(), func(connectors.TargetGroup) error { return fn() })
	})
}
