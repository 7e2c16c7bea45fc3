package connectortest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/idsync/idsync/connectors"
)

// SourceHarness is how the source suite reaches one connector and writes
// to the store behind it, as the store's administrator would.
type SourceHarness struct {
	// Open opens a new connection to the source under test; the harness
	// closes it (t.Cleanup).
	Open func(t *testing.T) connectors.Source
	// PutUser creates a user in the store (u.ExternalID empty) or
	// replaces the user with that ExternalID (a rename included), and
	// returns its ExternalID.
	PutUser func(t *testing.T, u connectors.User) string
	// DeleteUser deletes the user with that ExternalID.
	DeleteUser func(t *testing.T, externalID string)
	// PutGroup and DeleteGroup do the same for groups, whose Members are
	// ExternalIDs of users; nil when the store has no groups.
	PutGroup    func(t *testing.T, g connectors.Group) string
	DeleteGroup func(t *testing.T, externalID string)
	// PageSize is the connection's page size: the paging check puts
	// twice as many users, plus one. 0 skips that check.
	PageSize int
	// Attributes are the profile attributes (User.Attributes keys) the
	// source reads.
	Attributes []string
	// Expect is how the source reads a user that PutUser put, where its
	// mapping has fallbacks (LDAP reads cn as displayName when there is
	// none); default: as put.
	Expect func(u connectors.User) connectors.User
	// Skip skips checks by subtest name, each with the reason: the
	// defect that fails it.
	Skip map[string]string
}

// RunSource runs the source suite.
func RunSource(t *testing.T, h SourceHarness) {
	t.Helper()
	if h.Open == nil || h.PutUser == nil || h.DeleteUser == nil {
		t.Fatal("connectortest: SourceHarness.Open, PutUser and DeleteUser are required")
	}
	r := &sourceRun{run: newRun(t, h.Attributes, h.Skip), h: h}
	r.check(t, "read", r.read)
	r.check(t, "update", r.update)
	r.check(t, "rename", r.rename)
	r.check(t, "disable", r.disable)
	r.check(t, "delete", r.delete)
	r.check(t, "paging", r.paging)
	r.check(t, "case", r.letterCase)
	r.check(t, "hard-characters", r.hardCharacters)
	r.check(t, "groups", r.groups)
	r.check(t, "changes", r.changes)
}

type sourceRun struct {
	*run
	h SourceHarness
}

func (r *sourceRun) open(t *testing.T) connectors.Source {
	t.Helper()
	src := r.h.Open(t)
	if src == nil {
		t.Fatal("SourceHarness.Open returned nil")
	}
	return src
}

// put puts u (without an ExternalID: a new user) and returns it as the
// source should read it.
func (r *sourceRun) put(t *testing.T, u connectors.User) connectors.User {
	t.Helper()
	ext := r.h.PutUser(t, u)
	if ext == "" {
		t.Fatalf("SourceHarness.PutUser(%q) returned no ExternalID", u.UserName)
	}
	u.ExternalID = ext
	return u
}

// newUser is r.user without an ExternalID, which the store gives.
func (r *sourceRun) newUser(t *testing.T, name string) connectors.User {
	u := r.user(t, name)
	u.ExternalID = ""
	return u
}

// expect is how the source should read u.
func (r *sourceRun) expect(u connectors.User) connectors.User {
	if r.h.Expect != nil {
		return r.h.Expect(u)
	}
	return u
}

// checkRead reads want by GetUser and compares.
func (r *sourceRun) checkRead(t *testing.T, src connectors.Source, want connectors.User) {
	t.Helper()
	want = r.expect(want)
	got, found, err := src.GetUser(t.Context(), want.ExternalID)
	if err != nil {
		t.Fatalf("GetUser(%s): %v", want.ExternalID, err)
	}
	if !found {
		t.Fatalf("GetUser(%s): not found", want.ExternalID)
	}
	if d := sameUser(got, want); d != "" {
		t.Errorf("user %s reads as %+v: %s", want.ExternalID, got, d)
	}
}

func checkNotFound(t *testing.T, src connectors.Source, ext string) {
	t.Helper()
	if got, found, err := src.GetUser(t.Context(), ext); err != nil || found {
		t.Errorf("GetUser(%s) = %q, found %t, %v; want not found, no error", ext, got.UserName, found, err)
	}
}

// sourceListed returns the users ListUsers streams whose ExternalID is
// among want, and fails if one is listed twice.
func sourceListed(t *testing.T, src connectors.Source, want ...string) map[string]connectors.User {
	t.Helper()
	out := map[string]connectors.User{}
	err := src.ListUsers(t.Context(), func(u connectors.User) error {
		if !slices.Contains(want, u.ExternalID) {
			return nil
		}
		if _, dup := out[u.ExternalID]; dup {
			t.Errorf("ListUsers streamed user %s twice", u.ExternalID)
		}
		out[u.ExternalID] = u
		return nil
	})
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	return out
}

// read: a user put in the store is listed and read as it was put; an id
// the store does not have is not found, without an error.
func (r *sourceRun) read(t *testing.T) {
	src := r.open(t)
	u := r.put(t, r.newUser(t, "ada"))
	r.checkRead(t, src, u)
	got, ok := sourceListed(t, src, u.ExternalID)[u.ExternalID]
	if !ok {
		t.Fatalf("ListUsers does not stream user %s", u.ExternalID)
	}
	if d := sameUser(got, r.expect(u)); d != "" {
		t.Errorf("ListUsers streams user %s as %s", u.ExternalID, d)
	}
	gone := r.put(t, r.newUser(t, "gone"))
	r.h.DeleteUser(t, gone.ExternalID)
	checkNotFound(t, src, gone.ExternalID)
}

// update: changed and cleared fields read as they are now.
func (r *sourceRun) update(t *testing.T) {
	src := r.open(t)
	u := r.put(t, r.newUser(t, "grace"))
	u.GivenName, u.FamilyName, u.DisplayName = "Grace", "Hopper", "Rear Admiral Grace Hopper"
	u.Email = r.name(t, "amazing") + "@example.org"
	for i, a := range r.attrs {
		u.Attributes[a] = attrValue(a, "changed-"+a)
		if i == 0 {
			delete(u.Attributes, a)
		}
	}
	r.h.PutUser(t, u)
	r.checkRead(t, src, u)
	u.GivenName, u.DisplayName, u.Email = "", "", ""
	r.h.PutUser(t, u)
	r.checkRead(t, src, u)
}

// rename: a new userName keeps the ExternalID, the engine's key.
func (r *sourceRun) rename(t *testing.T) {
	src := r.open(t)
	u := r.put(t, r.newUser(t, "before"))
	u.UserName = r.name(t, "after")
	if ext := r.h.PutUser(t, u); ext != u.ExternalID {
		t.Fatalf("a rename changed the ExternalID from %s to %s", u.ExternalID, ext)
	}
	r.checkRead(t, src, u)
	if _, ok := sourceListed(t, src, u.ExternalID)[u.ExternalID]; !ok {
		t.Errorf("a renamed user is not listed")
	}
}

// disable: a disabled user is read inactive, and active again after.
func (r *sourceRun) disable(t *testing.T) {
	src := r.open(t)
	u := r.newUser(t, "leaver")
	u.Active = false
	u = r.put(t, u)
	r.checkRead(t, src, u)
	u.Active = true
	r.h.PutUser(t, u)
	r.checkRead(t, src, u)
	u.Active = false
	r.h.PutUser(t, u)
	r.checkRead(t, src, u)
}

// delete: a deleted user is neither read nor listed.
func (r *sourceRun) delete(t *testing.T) {
	src := r.open(t)
	u := r.put(t, r.newUser(t, "gone"))
	keep := r.put(t, r.newUser(t, "kept"))
	r.h.DeleteUser(t, u.ExternalID)
	checkNotFound(t, src, u.ExternalID)
	got := sourceListed(t, src, u.ExternalID, keep.ExternalID)
	if _, ok := got[u.ExternalID]; ok {
		t.Errorf("a deleted user is listed")
	}
	if _, ok := got[keep.ExternalID]; !ok {
		t.Errorf("the user beside a deleted one is not listed")
	}
}

// paging: a listing past one page streams every user once and stops at
// fn's first error.
func (r *sourceRun) paging(t *testing.T) {
	if r.h.PageSize <= 0 {
		t.Skip("SourceHarness.PageSize is 0: the page size is unknown")
	}
	src := r.open(t)
	n := 2*r.h.PageSize + 1
	want := make([]string, n)
	for i := range n {
		u := r.newUser(t, fmt.Sprintf("p%03d", i))
		u.Attributes = nil
		want[i] = r.put(t, u).ExternalID
	}
	got := sourceListed(t, src, want...)
	for _, ext := range want {
		if _, ok := got[ext]; !ok {
			t.Errorf("ListUsers (page size %d, %d users) left out user %s", r.h.PageSize, n, ext)
		}
	}
	checkStops(t, "ListUsers", func(fn func() error) error {
		return src.ListUsers(t.Context(), func(connectors.User) error { return fn() })
	})
}

// letterCase: values keep their letter case.
func (r *sourceRun) letterCase(t *testing.T) {
	u := r.newUser(t, "MiXeD.CaSe")
	u.Email = r.name(t, "Mixed.Case") + "@Example.ORG"
	u.DisplayName = "McDONALD van der BERG"
	r.checkRead(t, r.open(t), r.put(t, u))
}

// hardCharacters: values with quoting hazards read back as put.
func (r *sourceRun) hardCharacters(t *testing.T) {
	src := r.open(t)
	for _, hv := range hardValues {
		t.Run(hv.name, func(t *testing.T) {
			u := r.newUser(t, "h")
			u.UserName = r.name(t, hv.value)
			u.DisplayName, u.FamilyName = hv.value, "Family "+hv.value
			u = r.put(t, u)
			r.checkRead(t, src, u)
			if _, ok := sourceListed(t, src, u.ExternalID)[u.ExternalID]; !ok {
				t.Errorf("user %q is not listed", u.UserName)
			}
			u.UserName = r.name(t, hv.value+" renamed")
			r.h.PutUser(t, u)
			r.checkRead(t, src, u)
		})
	}
}
