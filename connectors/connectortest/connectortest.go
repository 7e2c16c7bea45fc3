// Package connectortest is the conformance suite of idsync's connectors:
// what reconciliation expects of every source and every target, checked
// against a real peer with one call from the connector's tests:
//
//	connectortest.RunTarget(t, connectortest.TargetHarness{Open: …, PageSize: 5})
//	connectortest.RunSource(t, connectortest.SourceHarness{Open: …, PutUser: …, DeleteUser: …})
//
// Each check is a subtest named after what it checks (create, update,
// rename, disable, delete, adopt, paging, case, hard-characters, groups,
// changes, errors, concurrent); a capability the connector lacks skips its
// checks, saying why. A check that a connector cannot pass yet is skipped
// through the harness's Skip, which names the defect, so that it stays in
// sight.
//
// The suite shares its store with other tests and with earlier runs: every
// object it makes has a name of its own, and it looks only at those.
package connectortest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idsync/idsync/connectors"
)

// runSeq makes each run's names its own within a process; the time part
// of prefix makes them differ across processes that share a peer.
var runSeq atomic.Int64

// run is one run of a suite.
type run struct {
	root   string // the test that runs the suite
	prefix string
	attrs  []string
	skip   map[string]string
}

func newRun(t *testing.T, attrs []string, skip map[string]string) *run {
	return &run{root: t.Name(), prefix: fmt.Sprintf("ct%d", runSeq.Add(1)), attrs: attrs, skip: skip}
}

// check runs fn as the subtest name, unless the harness skips it.
func (r *run) check(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	r.checkIn(t, "", name, fn)
}

// checkIn runs fn as the subtest name of the check parent, which the
// harness's Skip names "<parent>/<name>".
func (r *run) checkIn(t *testing.T, parent, name string, fn func(t *testing.T)) {
	t.Helper()
	key := name
	if parent != "" {
		key = parent + "/" + name
	}
	t.Run(name, func(t *testing.T) {
		if reason, ok := r.skip[key]; ok {
			t.Skip(reason)
		}
		fn(t)
	})
}

// name is a name of the run's own: <prefix>-<check>-<s>, so that
// checks never meet each other's objects.
func (r *run) name(t *testing.T, s string) string {
	check := strings.ReplaceAll(strings.TrimPrefix(t.Name(), r.root+"/"), "/", ".")
	return r.prefix + "-" + check + "-" + s
}

// user is a full user called name: every canonical field set, and the
// harness's attributes.
func (r *run) user(t *testing.T, name string) connectors.User {
	n := r.name(t, name)
	u := connectors.User{
		ExternalID:  "ext:" + n,
		UserName:    n,
		GivenName:   "Given " + name,
		FamilyName:  "Family " + name,
		DisplayName: "Display " + name,
		Email:       strings.ToLower(n) + "@example.org",
		Active:      true,
	}
	for _, a := range r.attrs {
		if u.Attributes == nil {
			u.Attributes = map[string]string{}
		}
		u.Attributes[a] = attrValue(a, name)
	}
	return u
}

// clone is u with a map of its own, so that a connector that changes
// what it is given cannot change what the suite expects.
func clone(u connectors.User) connectors.User {
	u.Attributes = maps.Clone(u.Attributes)
	return u
}

// attrValue is a value a target accepts for a profile attribute.
func attrValue(attr, name string) string {
	switch attr {
	case "phoneNumber":
		return fmt.Sprintf("+1 555 01%02d", len(name)%100)
	case "employeeNumber":
		return fmt.Sprintf("%d", 1000+len(name))
	}
	return attr + " of " + name
}

// hardValues are values with the characters that break naive quoting:
// LDAP DN and filter specials, SCIM filter metacharacters, non-ASCII.
// Each comes after a plain prefix, as a name of the run's always does.
var hardValues = []struct{ name, value string }{
	{"quotes", `o'brien "the" quote`},
	{"backslashes", `back\slash\`},
	{"commas", `last, first`},
	{"parentheses", `paren(s) (x)`},
	{"asterisk", `star*`},
	{"non-ascii", `zoë-ünïcødé-日本`},
	{"dn-specials", `a=b+c<d>;#e`},
	{"scim-filter", `x" or userName pr or "`},
	{"brackets", `[a] and {b} | c & d`},
	// A leading "#" and a trailing space must be escaped in a DN; a
	// target that trims would differ from the source on every run.
	{"edges", "# hash, and a space "},
	// Decomposed (NFD): a target that normalizes it would, too.
	{"combining", "Rene\u0301e Zoe\u0308"},
}

// sameUser reports how got differs from want, as reconciliation compares
// them (reconcile.UsersEqual): every field exactly but email, which
// compares without regard to case, and attributes whose empty values
// count as absent. "" means equal.
func sameUser(got, want connectors.User) string {
	var diffs []string
	field := func(name, g, w string, fold bool) {
		if g != w && !(fold && strings.EqualFold(g, w)) {
			diffs = append(diffs, fmt.Sprintf("%s %q, want %q", name, g, w))
		}
	}
	field("externalId", got.ExternalID, want.ExternalID, false)
	field("userName", got.UserName, want.UserName, false)
	field("givenName", got.GivenName, want.GivenName, false)
	field("familyName", got.FamilyName, want.FamilyName, false)
	field("displayName", got.DisplayName, want.DisplayName, false)
	field("email", got.Email, want.Email, true)
	if got.Active != want.Active {
		diffs = append(diffs, fmt.Sprintf("active %t, want %t", got.Active, want.Active))
	}
	ga, wa := nonEmpty(got.Attributes), nonEmpty(want.Attributes)
	for _, k := range slices.Sorted(maps.Keys(wa)) {
		field(k, ga[k], wa[k], false)
	}
	for _, k := range slices.Sorted(maps.Keys(ga)) {
		if _, ok := wa[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s %q, want none", k, ga[k]))
		}
	}
	return strings.Join(diffs, "; ")
}

func nonEmpty(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// sorted returns ids sorted, [] for none, to compare member lists.
func sorted(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	if ids == nil {
		ids = []string{}
	}
	return ids
}

// swapCase turns the letters of s to the other case: a lookup by it must
// find s where the attribute compares without regard to case.
func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		if l := []rune(strings.ToLower(string(r))); len(l) == 1 && l[0] != r {
			return l[0]
		}
		if u := []rune(strings.ToUpper(string(r))); len(u) == 1 {
			return u[0]
		}
		return r
	}, s)
}
