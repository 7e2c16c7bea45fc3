package connectortest_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/connectortest"
	"github.com/idsync/idsync/connectors/memory"
)

// The suite is only worth what its checks catch. These tests run it over
// memory connectors with one defect each, in a child process (a failing
// suite fails its test), and require the checks that should catch the
// defect to fail, and only those.

type fullTarget interface {
	connectors.Target
	connectors.GroupTarget
	connectors.UserReader
	connectors.MemberOf
	connectors.ModeDeprovisioner
}

type fullSource interface {
	connectors.Source
	connectors.GroupSource
	connectors.Incremental
}

// Target defects: each overrides one method of a correct target.
type (
	caseSensitiveLookup struct{ fullTarget }
	foldedExternalID    struct{ fullTarget }
	ignoresStop         struct{ fullTarget }
	renameNewID         struct{ fullTarget }
	updateKeepsAttrs    struct{ fullTarget }
	missingIsNil        struct{ fullTarget }
	noUniqueness        struct{ fullTarget }
	removeIgnored       struct{ fullTarget }
	disableDeletes      struct{ fullTarget }
	dropsUndeclared     struct{ fullTarget }
	declaresTooFew      struct{ fullTarget }
)

func (d caseSensitiveLookup) LookupUsers(ctx context.Context, attr, value string) ([]connectors.TargetUser, error) {
	found, err := d.fullTarget.LookupUsers(ctx, attr, value)
	return slices.DeleteFunc(found, func(tu connectors.TargetUser) bool {
		return attr == connectors.MatchUserName && tu.UserName != value
	}), err
}

func (d foldedExternalID) LookupUsers(ctx context.Context, attr, value string) ([]connectors.TargetUser, error) {
	if attr != connectors.MatchExternalID {
		return d.fullTarget.LookupUsers(ctx, attr, value)
	}
	var out []connectors.TargetUser
	err := d.ListUsers(ctx, func(tu connectors.TargetUser) error {
		if strings.EqualFold(tu.ExternalID, value) {
			out = append(out, tu)
		}
		return nil
	})
	return out, err
}

func (d ignoresStop) ListUsers(ctx context.Context, fn func(connectors.TargetUser) error) error {
	return d.fullTarget.ListUsers(ctx, func(tu connectors.TargetUser) error { _ = fn(tu); return nil })
}

// UpdateUser of a new userName recreates the user, under a new id.
func (d renameNewID) UpdateUser(ctx context.Context, id string, u connectors.User) error {
	cur, _, err := d.GetUserByID(ctx, id)
	if err != nil || cur.UserName == u.UserName {
		return d.fullTarget.UpdateUser(ctx, id, u)
	}
	if err := d.DeprovisionUserAs(ctx, id, connectors.DeprovisionDelete); err != nil {
		return err
	}
	_, err = d.CreateUser(ctx, u)
	return err
}

// CreateUser drops the attributes other than title and department, and
// does not say so (no KeptAttributes).
func (d dropsUndeclared) CreateUser(ctx context.Context, u connectors.User) (string, error) {
	u.Attributes = map[string]string{"title": u.Attributes["title"], "department": u.Attributes["department"]}
	return d.fullTarget.CreateUser(ctx, u)
}

// KeptAttributes leaves out department, which the target keeps.
func (declaresTooFew) KeptAttributes() []string { return []string{"title"} }

// UpdateUser keeps attributes the update leaves out.
func (d updateKeepsAttrs) UpdateUser(ctx context.Context, id string, u connectors.User) error {
	cur, _, err := d.GetUserByID(ctx, id)
	if err != nil {
		return err
	}
	for k, v := range cur.Attributes {
		if _, ok := u.Attributes[k]; !ok {
			if u.Attributes == nil {
				u.Attributes = map[string]string{}
			}
			u.Attributes[k] = v
		}
	}
	return d.fullTarget.UpdateUser(ctx, id, u)
}

func (d missingIsNil) UpdateUser(ctx context.Context, id string, u connectors.User) error {
	if _, found, err := d.GetUserByID(ctx, id); err == nil && !found {
		return nil
	}
	return d.fullTarget.UpdateUser(ctx, id, u)
}

// CreateUser makes a userName taken in another letter case unique by a
// suffix, as a target that compares userName exactly would accept it.
func (d noUniqueness) CreateUser(ctx context.Context, u connectors.User) (string, error) {
	id, err := d.fullTarget.CreateUser(ctx, u)
	if err != nil {
		u.UserName += "~"
		return d.fullTarget.CreateUser(ctx, u)
	}
	return id, nil
}

func (d removeIgnored) RemoveMembers(context.Context, string, []string) error { return nil }

func (d disableDeletes) DeprovisionUserAs(ctx context.Context, id, _ string) error {
	return d.fullTarget.DeprovisionUserAs(ctx, id, connectors.DeprovisionDelete)
}

// Source defects.
type (
	lowerUserName   struct{ fullSource }
	noDeletions     struct{ fullSource }
	groupsLoseLast  struct{ fullSource }
	sourceIgnores   struct{ fullSource }
	unchangedAsWell struct{ fullSource }
)

func (d lowerUserName) GetUser(ctx context.Context, ext string) (connectors.User, bool, error) {
	u, found, err := d.fullSource.GetUser(ctx, ext)
	u.UserName = strings.ToLower(u.UserName)
	return u, found, err
}

func (d noDeletions) Changes(ctx context.Context, cursor string) (connectors.ChangeSet, error) {
	cs, err := d.fullSource.Changes(ctx, cursor)
	cs.DeletedIDs = nil
	return cs, err
}

func (d groupsLoseLast) GetGroup(ctx context.Context, ext string) (connectors.Group, bool, error) {
	g, found, err := d.fullSource.GetGroup(ctx, ext)
	if len(g.Members) > 1 {
		g.Members = g.Members[:len(g.Members)-1]
	}
	return g, found, err
}

func (d sourceIgnores) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	return d.fullSource.ListUsers(ctx, func(u connectors.User) error { _ = fn(u); return nil })
}

// Changes reports every user, changed or not, as a source that cannot
// tell would.
func (d unchangedAsWell) Changes(ctx context.Context, cursor string) (connectors.ChangeSet, error) {
	cs, err := d.fullSource.Changes(ctx, cursor)
	if err != nil {
		return cs, err
	}
	cs.Users = nil
	err = d.ListUsers(ctx, func(u connectors.User) error { cs.Users = append(cs.Users, u); return nil })
	return cs, err
}

var targetDefects = map[string]struct {
	wrap     func(fullTarget) connectors.Target
	wantFail []string
}{
	"case-sensitive-lookup": {func(t fullTarget) connectors.Target { return caseSensitiveLookup{t} }, []string{"adopt", "case", "hard-characters"}},
	"folded-external-id":    {func(t fullTarget) connectors.Target { return foldedExternalID{t} }, []string{"case"}},
	"ignores-stop":          {func(t fullTarget) connectors.Target { return ignoresStop{t} }, []string{"paging"}},
	"rename-new-id":         {func(t fullTarget) connectors.Target { return renameNewID{t} }, []string{"rename", "hard-characters", "errors"}},
	"update-keeps-attrs":    {func(t fullTarget) connectors.Target { return updateKeepsAttrs{t} }, []string{"update"}},
	"missing-is-nil":        {func(t fullTarget) connectors.Target { return missingIsNil{t} }, []string{"errors"}},
	"no-uniqueness":         {func(t fullTarget) connectors.Target { return noUniqueness{t} }, []string{"case", "errors"}},
	"remove-ignored":        {func(t fullTarget) connectors.Target { return removeIgnored{t} }, []string{"groups"}},
	"disable-deletes":       {func(t fullTarget) connectors.Target { return disableDeletes{t} }, []string{"disable"}},
	"drops-undeclared":      {func(t fullTarget) connectors.Target { return dropsUndeclared{t} }, []string{"kept-attributes"}},
	"declares-too-few":      {func(t fullTarget) connectors.Target { return declaresTooFew{t} }, []string{"kept-attributes"}},
}

var sourceDefects = map[string]struct {
	wrap     func(fullSource) connectors.Source
	wantFail []string
}{
	"lower-user-name":  {func(s fullSource) connectors.Source { return lowerUserName{s} }, []string{"case", "hard-characters"}},
	"no-deletions":     {func(s fullSource) connectors.Source { return noDeletions{s} }, []string{"changes"}},
	"groups-lose-last": {func(s fullSource) connectors.Source { return groupsLoseLast{s} }, []string{"groups"}},
	"ignores-stop":     {func(s fullSource) connectors.Source { return sourceIgnores{s} }, []string{"paging"}},
	"unchanged-too":    {func(s fullSource) connectors.Source { return unchangedAsWell{s} }, []string{"changes"}},
}

const defectEnv = "CONNECTORTEST_DEFECT"

func open(t *testing.T, store *memory.Store) connectors.Connector {
	t.Helper()
	cfg := &memory.Config{Store: store.Name(), PageSize: 3}
	conn, err := cfg.Open(t.Context(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestBrokenTarget runs the target suite over the defect the parent
// names; without one, it is skipped.
func TestBrokenTarget(t *testing.T) {
	d, ok := targetDefects[os.Getenv(defectEnv)]
	if !ok {
		t.Skip("run by TestDefectsAreCaught")
	}
	store := memory.ForTest(t)
	connectortest.RunTarget(t, connectortest.TargetHarness{
		Open: func(t *testing.T) connectors.Target {
			tgt, err := connectors.AsTarget(open(t, store))
			if err != nil {
				t.Fatal(err)
			}
			return d.wrap(tgt.(fullTarget))
		},
		PageSize:   3,
		Attributes: []string{"title", "department"},
	})
}

// TestBrokenSource runs the source suite over the defect the parent
// names.
func TestBrokenSource(t *testing.T) {
	d, ok := sourceDefects[os.Getenv(defectEnv)]
	if !ok {
		t.Skip("run by TestDefectsAreCaught")
	}
	store := memory.ForTest(t)
	n := 0
	connectortest.RunSource(t, connectortest.SourceHarness{
		Open: func(t *testing.T) connectors.Source { return d.wrap(open(t, store).(fullSource)) },
		PutUser: func(t *testing.T, u connectors.User) string {
			if u.ExternalID == "" {
				n++
				u.ExternalID = fmt.Sprint("u", n)
			}
			store.PutUser(u)
			return u.ExternalID
		},
		DeleteUser: func(t *testing.T, ext string) { store.DeleteUser(ext) },
		PutGroup: func(t *testing.T, g connectors.Group) string {
			if g.ExternalID == "" {
				n++
				g.ExternalID = fmt.Sprint("g", n)
			}
			store.PutGroup(g)
			return g.ExternalID
		},
		DeleteGroup: func(t *testing.T, ext string) { store.DeleteGroup(ext) },
		PageSize:    3,
		Attributes:  []string{"title"},
	})
}

var failLine = regexp.MustCompile(`(?m)^\s*--- FAIL: TestBroken(?:Target|Source)/([^/\s]+)`)

// TestDefectsAreCaught runs each defect's suite in a child process and
// compares the checks that failed with the ones that should.
func TestDefectsAreCaught(t *testing.T) {
	if os.Getenv(defectEnv) != "" {
		t.Skip("in a child")
	}
	run := func(t *testing.T, test, defect string, want []string) {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), defectEnv+"="+defect)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("the suite passed a connector with the defect %q", defect)
		}
		var failed []string
		for _, m := range failLine.FindAllStringSubmatch(string(out), -1) {
			if !slices.Contains(failed, m[1]) {
				failed = append(failed, m[1])
			}
		}
		slices.Sort(failed)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(failed, want) {
			t.Errorf("the defect %q failed the checks %v, want %v; output:\n%s", defect, failed, want, tail(string(out), 3000))
		}
	}
	for name, d := range targetDefects {
		t.Run("target/"+name, func(t *testing.T) { run(t, "TestBrokenTarget", name, d.wantFail) })
	}
	for name, d := range sourceDefects {
		t.Run("source/"+name, func(t *testing.T) { run(t, "TestBrokenSource", name, d.wantFail) })
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
