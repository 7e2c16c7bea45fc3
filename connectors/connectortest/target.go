package connectortest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/idsync/idsync/connectors"
)

// TargetHarness is how the target suite reaches one connector.
type TargetHarness struct {
	// Open opens a new connection to the target under test, sharing
	// nothing (caches, refused filter forms) with an earlier one; every
	// connection sees the same store. The harness closes it (t.Cleanup).
	Open func(t *testing.T) connectors.Target
	// PageSize is the connection's page size: the paging check writes
	// twice as many users, plus one. 0 skips that check.
	PageSize int
	// Attributes are the profile attributes (User.Attributes keys:
	// title, department, employeeNumber, phoneNumber) the target keeps;
	// the suite writes and reads back those.
	Attributes []string
	// Deprovision is what DeprovisionUser does as the connection is
	// configured: connectors.DeprovisionDisable (the default) or
	// DeprovisionDelete.
	Deprovision string
	// Modes are the modes DeprovisionUserAs takes when the target is a
	// ModeDeprovisioner; default both.
	Modes []string
	// Unsupported are the attributes LookupUsers cannot look up by: it
	// must say so with ErrLookupUnsupported, and the checks that look up
	// by them are skipped.
	Unsupported []string
	// CreateUnmanaged creates a user without ExternalID, as an
	// administrator of the target would, and returns its id; default
	// CreateUser through a connection, for targets that refuse that.
	CreateUnmanaged func(t *testing.T, u connectors.User) string
	// MissingID is an id no user has, for a target that cannot delete
	// one to make one (Slack); default: a user created and deleted.
	MissingID string
	// Skip skips checks by subtest name ("hard-characters",
	// "groups/members"), each with the reason: the defect that fails it.
	Skip map[string]string
}

// RunTarget runs the target suite.
func RunTarget(t *testing.T, h TargetHarness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("connectortest: TargetHarness.Open is required")
	}
	if h.Deprovision == "" {
		h.Deprovision = connectors.DeprovisionDisable
	}
	if h.Modes == nil {
		h.Modes = []string{connectors.DeprovisionDisable, connectors.DeprovisionDelete}
	}
	r := &targetRun{run: newRun(t, h.Attributes, h.Skip), h: h}
	r.check(t, "create", r.create)
	r.check(t, "update", r.update)
	r.check(t, "rename", r.rename)
	r.check(t, "disable", r.disable)
	r.check(t, "delete", r.delete)
	r.check(t, "adopt", r.adopt)
	r.check(t, "paging", r.paging)
	r.check(t, "case", r.letterCase)
	r.check(t, "hard-characters", r.hardCharacters)
	r.check(t, "kept-attributes", r.keptAttributes)
	r.check(t, "errors", r.errorsClassified)
	r.check(t, "concurrent", r.concurrent)
	r.check(t, "groups", r.groups)
}

type targetRun struct {
	*run
	h TargetHarness
}

// open opens a connection for one check.
func (r *targetRun) open(t *testing.T) connectors.Target {
	t.Helper()
	tgt := r.h.Open(t)
	if tgt == nil {
		t.Fatal("TargetHarness.Open returned nil")
	}
	return tgt
}

func (r *targetRun) supports(attr string) bool { return !slices.Contains(r.h.Unsupported, attr) }

func mustCreate(t *testing.T, tgt connectors.Target, u connectors.User) string {
	t.Helper()
	id, err := tgt.CreateUser(t.Context(), clone(u))
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", u.UserName, err)
	}
	if id == "" {
		t.Fatalf("CreateUser(%q) returned no id", u.UserName)
	}
	return id
}

func mustUpdate(t *testing.T, tgt connectors.Target, id string, u connectors.User) {
	t.Helper()
	if err := tgt.UpdateUser(t.Context(), id, clone(u)); err != nil {
		t.Fatalf("UpdateUser(%s, %q): %v", id, u.UserName, err)
	}
}

// lookup returns the users LookupUsers finds.
func lookup(t *testing.T, tgt connectors.Target, attr, value string) []connectors.TargetUser {
	t.Helper()
	found, err := tgt.LookupUsers(t.Context(), attr, value)
	if err != nil {
		t.Fatalf("LookupUsers(%s, %q): %v", attr, value, err)
	}
	return found
}

// lookupOne returns the one user a lookup finds, failing unless there is
// exactly one and its id is id.
func lookupOne(t *testing.T, tgt connectors.Target, attr, value, id string) connectors.TargetUser {
	t.Helper()
	found := lookup(t, tgt, attr, value)
	if len(found) != 1 || found[0].ID != id {
		t.Fatalf("LookupUsers(%s, %q) found %s, want only user %s", attr, value, ids(found), id)
	}
	return found[0]
}

// checkUser reads the user by ExternalID and compares it with want.
func checkUser(t *testing.T, tgt connectors.Target, id string, want connectors.User) connectors.TargetUser {
	t.Helper()
	got := lookupOne(t, tgt, connectors.MatchExternalID, want.ExternalID, id)
	if d := sameUser(got.User, want); d != "" {
		t.Errorf("user %s reads back as %+v: %s", id, got.User, d)
	}
	if ur, ok := tgt.(connectors.UserReader); ok {
		byID, found, err := ur.GetUserByID(t.Context(), id)
		switch {
		case err != nil:
			t.Errorf("GetUserByID(%s): %v", id, err)
		case !found || byID.ID != id:
			t.Errorf("GetUserByID(%s) = %s, found %t", id, byID.ID, found)
		default:
			if d := sameUser(byID.User, want); d != "" {
				t.Errorf("GetUserByID(%s) reads %s", id, d)
			}
		}
	}
	return got
}

// listed returns the users ListUsers streams whose id is among want, and
// fails if one is listed twice.
func listed(t *testing.T, tgt connectors.Target, want ...string) map[string]connectors.TargetUser {
	t.Helper()
	out := map[string]connectors.TargetUser{}
	err := tgt.ListUsers(t.Context(), func(tu connectors.TargetUser) error {
		if !slices.Contains(want, tu.ID) {
			return nil
		}
		if _, dup := out[tu.ID]; dup {
			t.Errorf("ListUsers streamed user %s twice", tu.ID)
		}
		out[tu.ID] = tu
		return nil
	})
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	return out
}

func ids(users []connectors.TargetUser) string {
	if len(users) == 0 {
		return "none"
	}
	s := make([]string, len(users))
	for i, u := range users {
		s[i] = fmt.Sprintf("%s (%q, externalId %q)", u.ID, u.UserName, u.ExternalID)
	}
	return strings.Join(s, ", ")
}

// create: a new user reads back as written, by lookup, by id and in the
// listing.
func (r *targetRun) create(t *testing.T) {
	tgt := r.open(t)
	u := r.user(t, "ada")
	id := mustCreate(t, tgt, u)
	checkUser(t, tgt, id, u)
	got, ok := listed(t, tgt, id)[id]
	if !ok {
		t.Fatalf("ListUsers does not stream the new user %s", id)
	}
	if d := sameUser(got.User, u); d != "" {
		t.Errorf("ListUsers streams user %s as %s", id, d)
	}
}

// keptAttributes: a source attribute the target has no place for (a
// Workday hireDate) reads back as the target keeps the user, which is
// what reconciliation compares it with: a target that drops it says so in
// KeptAttributes (connectors.AttributeKeeper), else every run finds every
// user changed and writes it again. What the harness says the target
// keeps must be in KeptAttributes.
func (r *targetRun) keptAttributes(t *testing.T) {
	tgt := r.open(t)
	u := r.user(t, "hire")
	if u.Attributes == nil {
		u.Attributes = map[string]string{}
	}
	u.Attributes["hireDate"] = "2020-01-06"
	want := clone(u)
	if k, ok := tgt.(connectors.AttributeKeeper); ok {
		kept := k.KeptAttributes()
		for _, a := range r.attrs {
			if !slices.Contains(kept, a) {
				t.Errorf("KeptAttributes %v leaves out %s, which the target keeps", kept, a)
			}
		}
		for a := range want.Attributes {
			if !slices.Contains(kept, a) {
				delete(want.Attributes, a)
			}
		}
	}
	id := mustCreate(t, tgt, clone(u))
	got := lookupOne(t, tgt, connectors.MatchExternalID, u.ExternalID, id)
	if d := sameUser(got.User, want); d != "" {
		t.Errorf("user %s reads back with %s: an attribute the target cannot hold must be left out of its KeptAttributes "+
			"(connectors.AttributeKeeper), or every run rewrites every user", id, d)
	}
}

// update: every field changes, and cleared fields read back empty, which
// is how reconciliation finds the user unchanged on the next run.
func (r *targetRun) update(t *testing.T) {
	tgt := r.open(t)
	u := r.user(t, "grace")
	id := mustCreate(t, tgt, u)
	u.GivenName, u.FamilyName, u.DisplayName = "Grace", "Hopper", "Rear Admiral Grace Hopper"
	u.Email = strings.ToLower(r.name(t, "amazing-grace")) + "@example.org"
	for i, a := range r.attrs {
		u.Attributes[a] = attrValue(a, "changed-"+a)
		if i == 0 {
			delete(u.Attributes, a) // cleared in the source
		}
	}
	mustUpdate(t, tgt, id, u)
	checkUser(t, tgt, id, u)

	u.GivenName, u.DisplayName, u.Email = "", "", ""
	mustUpdate(t, tgt, id, u)
	checkUser(t, tgt, id, u)

	// A new ExternalID replaces the old (a rule claims a user written
	// before ownership: "<rule>/<id>"); the old finds nothing.
	old := u.ExternalID
	u.ExternalID = "claiming-rule/" + old
	mustUpdate(t, tgt, id, u)
	checkUser(t, tgt, id, u)
	if found := lookup(t, tgt, connectors.MatchExternalID, old); len(found) > 0 {
		t.Errorf("the old externalId %q still finds %s", old, ids(found))
	}
}

// rename: a new userName keeps the user's id, which the engine holds.
func (r *targetRun) rename(t *testing.T) {
	tgt := r.open(t)
	u := r.user(t, "before")
	id := mustCreate(t, tgt, u)
	old := u.UserName
	u.UserName = r.name(t, "after")
	mustUpdate(t, tgt, id, u)
	checkUser(t, tgt, id, u)
	if r.supports(connectors.MatchUserName) {
		lookupOne(t, tgt, connectors.MatchUserName, u.UserName, id)
		if found := lookup(t, tgt, connectors.MatchUserName, old); len(found) > 0 {
			t.Errorf("the old userName %q still finds %s", old, ids(found))
		}
	}
	// A second connection, with nothing cached, agrees.
	checkUser(t, r.open(t), id, u)

	// A change of letter case only is a rename too.
	u.UserName = swapCase(u.UserName)
	mustUpdate(t, tgt, id, u)
	checkUser(t, tgt, id, u)
}

// deprovisioner returns how to deprovision in mode, or skips.
func (r *targetRun) deprovisioner(t *testing.T, tgt connectors.Target, mode string) func(id string) error {
	t.Helper()
	if md, ok := tgt.(connectors.ModeDeprovisioner); ok && slices.Contains(r.h.Modes, mode) {
		return func(id string) error { return md.DeprovisionUserAs(t.Context(), id, mode) }
	}
	if r.h.Deprovision == mode {
		return func(id string) error { return tgt.DeprovisionUser(t.Context(), id) }
	}
	t.Skipf("the target cannot deprovision in mode %s (DeprovisionUser does %s; DeprovisionUserAs takes %v)", mode, r.h.Deprovision, r.h.Modes)
	return nil
}

// disable: a disabled user is kept, inactive and otherwise unchanged;
// an update makes it active again (a returning user); a user created
// inactive reads back inactive.
func (r *targetRun) disable(t *testing.T) {
	tgt := r.open(t)
	deprovision := r.deprovisioner(t, tgt, connectors.DeprovisionDisable)
	u := r.user(t, "leaver")
	id := mustCreate(t, tgt, u)
	if err := deprovision(id); err != nil {
		t.Fatalf("disable user %s: %v", id, err)
	}
	u.Active = false
	checkUser(t, tgt, id, u)
	if _, ok := listed(t, tgt, id)[id]; !ok {
		t.Errorf("a disabled user is no longer listed")
	}
	if err := deprovision(id); err != nil {
		t.Errorf("disable a disabled user again: %v", err)
	}

	u.Active = true
	mustUpdate(t, tgt, id, u)
	checkUser(t, tgt, id, u)

	inactive := r.user(t, "inactive")
	inactive.Active = false
	checkUser(t, tgt, mustCreate(t, tgt, inactive), inactive)
}

// delete: a deleted user is gone from lookups, the listing and reads by
// id; deleting it again is no failure (the engine ignores ErrNotFound).
func (r *targetRun) delete(t *testing.T) {
	tgt := r.open(t)
	deprovision := r.deprovisioner(t, tgt, connectors.DeprovisionDelete)
	u := r.user(t, "gone")
	id := mustCreate(t, tgt, u)
	if err := deprovision(id); err != nil {
		t.Fatalf("delete user %s: %v", id, err)
	}
	r.checkGone(t, tgt, id, u)
	if err := deprovision(id); err != nil && !errors.Is(err, connectors.ErrNotFound) {
		t.Errorf("delete a deleted user: %v, want nil or ErrNotFound", err)
	}
}

func (r *targetRun) checkGone(t *testing.T, tgt connectors.Target, id string, u connectors.User) {
	t.Helper()
	if found := lookup(t, tgt, connectors.MatchExternalID, u.ExternalID); len(found) > 0 {
		t.Errorf("a deleted user is found by externalId: %s", ids(found))
	}
	if r.supports(connectors.MatchUserName) {
		if found := lookup(t, tgt, connectors.MatchUserName, u.UserName); len(found) > 0 {
			t.Errorf("a deleted user is found by userName: %s", ids(found))
		}
	}
	if _, ok := listed(t, tgt, id)[id]; ok {
		t.Errorf("a deleted user is listed")
	}
	if ur, ok := tgt.(connectors.UserReader); ok {
		if _, found, err := ur.GetUserByID(t.Context(), id); err != nil || found {
			t.Errorf("GetUserByID of a deleted user: found %t, %v; want not found, no error", found, err)
		}
	}
}

// missingID returns an id no user has.
func (r *targetRun) missingID(t *testing.T, tgt connectors.Target) string {
	t.Helper()
	if r.h.MissingID != "" {
		return r.h.MissingID
	}
	del := r.deprovisioner(t, tgt, connectors.DeprovisionDelete)
	id := mustCreate(t, tgt, r.user(t, "missing"))
	if err := del(id); err != nil {
		t.Fatalf("delete user %s: %v", id, err)
	}
	return id
}

// adopt: a user made in the target by hand (no ExternalID) is found by
// userName and by email without regard to case, and taking it over
// (writing the ExternalID) makes it found by ExternalID.
func (r *targetRun) adopt(t *testing.T) {
	tgt := r.open(t)
	u := r.user(t, "Hand.Made")
	u.Email = r.name(t, "Hand.Made") + "@Example.ORG"
	unmanaged := u
	unmanaged.ExternalID = ""
	var id string
	if r.h.CreateUnmanaged != nil {
		id = r.h.CreateUnmanaged(t, unmanaged)
	} else {
		id = mustCreate(t, tgt, unmanaged)
	}
	looked := 0
	for _, q := range []struct{ attr, value string }{
		{connectors.MatchUserName, u.UserName},
		{connectors.MatchUserName, strings.ToLower(u.UserName)},
		{connectors.MatchUserName, strings.ToUpper(u.UserName)},
		{connectors.MatchEmail, strings.ToLower(u.Email)},
		{connectors.MatchEmail, strings.ToUpper(u.Email)},
	} {
		if !r.supports(q.attr) {
			continue
		}
		looked++
		got := lookupOne(t, tgt, q.attr, q.value, id)
		if got.ExternalID != "" {
			t.Errorf("an unmanaged user reads with externalId %q", got.ExternalID)
		}
		if d := sameUser(got.User, unmanaged); d != "" {
			t.Errorf("unmanaged user %s reads back as %s", id, d)
		}
	}
	if looked == 0 {
		t.Log("neither userName nor email can be looked up: adoption by lookup is untested")
	}
	if got, ok := listed(t, tgt, id)[id]; !ok || got.ExternalID != "" {
		t.Errorf("ListUsers streams the unmanaged user %s: listed %t, externalId %q", id, ok, got.ExternalID)
	}
	mustUpdate(t, tgt, id, u)
	checkUser(t, tgt, id, u)
}

// paging: a listing past one page streams every user once, and stops at
// fn's first error, which it returns.
func (r *targetRun) paging(t *testing.T) {
	if r.h.PageSize <= 0 {
		t.Skip("TargetHarness.PageSize is 0: the page size is unknown")
	}
	tgt := r.open(t)
	n := 2*r.h.PageSize + 1
	want := make([]string, n)
	for i := range n {
		u := r.user(t, fmt.Sprintf("p%03d", i))
		u.Attributes = nil
		want[i] = mustCreate(t, tgt, u)
	}
	got := listed(t, r.open(t), want...)
	for _, id := range want {
		if _, ok := got[id]; !ok {
			t.Errorf("ListUsers (page size %d, %d users) left out user %s", r.h.PageSize, n, id)
		}
	}
	checkStops(t, "ListUsers", func(fn func() error) error {
		return tgt.ListUsers(t.Context(), func(connectors.TargetUser) error { return fn() })
	})
}

// errStop is what a listing's fn returns to stop it.
var errStop = errors.New("connectortest: stop here")

// checkStops checks that list, streaming more than two objects, stops
// at the second one's error and returns it.
func checkStops(t *testing.T, what string, list func(fn func() error) error) {
	t.Helper()
	calls := 0
	err := list(func() error {
		calls++
		if calls == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Errorf("%s returned %v, want fn's error", what, err)
	}
	if calls != 2 {
		t.Errorf("%s called fn %d times, want it to stop after the error of the second", what, calls)
	}
}

// letterCase: userName keeps its letter case as written; userName and
// email are found without regard to case, externalId only exactly; a
// userName that differs only in case is taken.
func (r *targetRun) letterCase(t *testing.T) {
	tgt := r.open(t)
	u := r.user(t, "MiXeD.CaSe")
	u.ExternalID = "Ext:" + r.name(t, "MiXeD")
	u.Email = r.name(t, "Mixed.Case") + "@Example.ORG"
	id := mustCreate(t, tgt, u)
	checkUser(t, tgt, id, u)
	if r.supports(connectors.MatchUserName) {
		lookupOne(t, tgt, connectors.MatchUserName, swapCase(u.UserName), id)
	}
	if r.supports(connectors.MatchEmail) {
		lookupOne(t, tgt, connectors.MatchEmail, swapCase(u.Email), id)
	}
	for _, other := range []string{strings.ToLower(u.ExternalID), swapCase(u.ExternalID)} {
		if found := lookup(t, tgt, connectors.MatchExternalID, other); len(found) > 0 {
			t.Errorf("externalId compares exactly, but %q finds %s", other, ids(found))
		}
	}
	dup := r.user(t, "other")
	dup.UserName = swapCase(u.UserName)
	if _, err := tgt.CreateUser(t.Context(), dup); !errors.Is(err, connectors.ErrAlreadyExists) {
		t.Errorf("CreateUser(%q) beside %q: %v, want ErrAlreadyExists (userName is unique without regard to case)", dup.UserName, u.UserName, err)
	}
}

// hardCharacters: values with quoting hazards round-trip, are found by
// an exact lookup and only then (no wildcard, no filter injection), and
// can be renamed to.
func (r *targetRun) hardCharacters(t *testing.T) {
	tgt := r.open(t)
	// A decoy that a "*" read as a wildcard, or an injected "or", would
	// also find.
	decoy := r.user(t, "starfish")
	decoyID := mustCreate(t, tgt, decoy)
	for i, hv := range hardValues {
		t.Run(hv.name, func(t *testing.T) {
			u := r.user(t, fmt.Sprintf("h%d", i))
			u.UserName = r.name(t, hv.value)
			u.ExternalID = "ext/" + r.prefix + "/" + hv.value
			u.DisplayName, u.FamilyName = hv.value, "Family "+hv.value
			u.Email = strings.ToLower(r.name(t, "h")) + "+o'tag@example.org"
			id := mustCreate(t, tgt, u)
			if id == decoyID {
				t.Fatalf("created user has the decoy's id")
			}
			checkUser(t, tgt, id, u)
			if r.supports(connectors.MatchUserName) {
				lookupOne(t, tgt, connectors.MatchUserName, u.UserName, id)
				lookupOne(t, tgt, connectors.MatchUserName, swapCase(u.UserName), id)
			}
			if r.supports(connectors.MatchEmail) {
				lookupOne(t, tgt, connectors.MatchEmail, swapCase(u.Email), id)
			}
			u.UserName = r.name(t, hv.value+" renamed")
			mustUpdate(t, tgt, id, u)
			checkUser(t, tgt, id, u)
		})
	}
	checkUser(t, tgt, decoyID, decoy)
}

// errors: writes to an id that does not exist wrap ErrNotFound (the
// engine then recreates the user); a create or rename onto a taken
// userName wraps ErrAlreadyExists (the engine then adopts); refused
// lookups wrap ErrLookupUnsupported.
func (r *targetRun) errorsClassified(t *testing.T) {
	tgt := r.open(t)
	ctx := t.Context()
	for _, attr := range r.h.Unsupported {
		if _, err := tgt.LookupUsers(ctx, attr, "x@example.org"); !errors.Is(err, connectors.ErrLookupUnsupported) {
			t.Errorf("LookupUsers(%s) = %v, want ErrLookupUnsupported", attr, err)
		}
	}

	a, b := r.user(t, "first"), r.user(t, "second")
	aID := mustCreate(t, tgt, a)
	bID := mustCreate(t, tgt, b)
	dup := r.user(t, "dup")
	dup.UserName = a.UserName
	if _, err := tgt.CreateUser(ctx, dup); !errors.Is(err, connectors.ErrAlreadyExists) {
		t.Errorf("CreateUser with a taken userName: %v, want ErrAlreadyExists", err)
	}
	b2 := b
	b2.UserName = a.UserName
	if err := tgt.UpdateUser(ctx, bID, clone(b2)); !errors.Is(err, connectors.ErrAlreadyExists) {
		t.Errorf("UpdateUser onto a taken userName: %v, want ErrAlreadyExists", err)
	}
	checkUser(t, tgt, aID, a)
	checkUser(t, tgt, bID, b)

	t.Run("missing", func(t *testing.T) {
		missing := r.missingID(t, tgt)
		if err := tgt.UpdateUser(ctx, missing, r.user(t, "ghost")); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("UpdateUser of a missing user: %v, want ErrNotFound", err)
		}
		if err := tgt.DeprovisionUser(ctx, missing); err != nil && !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("DeprovisionUser of a missing user: %v, want nil or ErrNotFound", err)
		}
		if ur, ok := tgt.(connectors.UserReader); ok {
			if _, found, err := ur.GetUserByID(ctx, missing); err != nil || found {
				t.Errorf("GetUserByID of a missing user: found %t, %v", found, err)
			}
		}
	})
}

// concurrent: the engine writes from several goroutines at once.
func (r *targetRun) concurrent(t *testing.T) {
	tgt := r.open(t)
	const n = 8
	users := make([]connectors.User, n)
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		users[i] = r.user(t, fmt.Sprintf("c%d", i))
		wg.Go(func() {
			if got[i], errs[i] = tgt.CreateUser(t.Context(), clone(users[i])); errs[i] != nil {
				return
			}
			users[i].DisplayName = "Updated " + users[i].DisplayName
			errs[i] = tgt.UpdateUser(t.Context(), got[i], clone(users[i]))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent writes: %v", err)
	}
	if len(slices.Compact(sorted(got))) != n {
		t.Fatalf("%d concurrent creates returned ids %v, want %d distinct", n, got, n)
	}
	for i := range n {
		checkUser(t, tgt, got[i], users[i])
	}
}
