package google

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/googlefake"
)

// env is a fake with users and a group written through a target
// connection, and a source connection on it.
type env struct {
	f     *googlefake.Fake
	admin *googleConnector
	src   connectors.Source
	inc   connectors.Incremental
	users map[string]string // userName → id
	group string            // the id of group "Eng", members u1 and u2
}

func newEnv(t *testing.T, k googlefake.Knobs, extra map[string]any) *env {
	t.Helper()
	f := googlefake.New(t, googlefake.Knobs{})
	s := settings(t, f)
	tgt, err := connectors.AsTarget(open(t, s))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{f: f, admin: tgt.(*googleConnector), users: map[string]string{}}
	ctx := t.Context()
	for _, n := range []string{"u1", "u2", "u3"} {
		id, err := e.admin.CreateUser(ctx, connectors.User{UserName: n, GivenName: "G", FamilyName: "F", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		e.users[n] = id
	}
	if e.group, err = e.admin.CreateGroup(ctx, connectors.Group{ExternalID: "eng", DisplayName: "Eng"}); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.AddMembers(ctx, e.group, []string{e.users["u1"], e.users["u2"]}); err != nil {
		t.Fatal(err)
	}
	f.SetKnobs(k)
	ro := settings(t, f)
	ro["readOnly"] = true
	for key, v := range extra {
		ro[key] = v
	}
	if e.src, err = connectors.AsSource(open(t, ro)); err != nil {
		t.Fatal(err)
	}
	inc, ok := e.src.(connectors.Incremental)
	if !ok {
		t.Fatalf("a source of changes %v is not Incremental", ro["changes"])
	}
	e.inc = inc
	return e
}

// got is a change set as "users: a b; groups: Eng; deleted: 2", by
// userName and group name (ids sorted apart), for comparison.
func (e *env) got(cs connectors.ChangeSet) string {
	var us, gs, ds []string
	for _, u := range cs.Users {
		s := u.UserName
		if !u.Active {
			s += "(suspended)"
		}
		us = append(us, s)
	}
	for _, g := range cs.Groups {
		gs = append(gs, fmt.Sprintf("%s%d", g.DisplayName, len(g.Members)))
	}
	for _, id := range cs.DeletedIDs {
		for n, uid := range e.users {
			if uid == id {
				ds = append(ds, n)
			}
		}
	}
	slices.Sort(us)
	slices.Sort(ds)
	out := fmt.Sprintf("users: %s; groups: %s; deleted: %s", strings.Join(us, " "), strings.Join(gs, " "), strings.Join(ds, " "))
	if cs.ResyncRequired {
		out += "; resync"
	}
	return out
}

// TestChangesFromReports: each kind of change an admin makes is one poll's
// change set, read by a direct get; the poll after it (the events read
// again through the overlap) is empty and costs one request.
func TestChangesFromReports(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, e *env)
		want   string
	}{
		{"nothing", func(*testing.T, *env) {}, "users: ; groups: ; deleted: "},
		{"create user", func(t *testing.T, e *env) {
			id, err := e.admin.CreateUser(t.Context(), connectors.User{UserName: "new", GivenName: "N", FamilyName: "F", Active: true})
			e.users["new"] = id
			must(t, err)
		}, "users: new; groups: ; deleted: "},
		{"update and suspend", func(t *testing.T, e *env) {
			must(t, e.admin.UpdateUser(t.Context(), e.users["u1"], connectors.User{UserName: "u1", GivenName: "Changed", FamilyName: "F", Active: true}))
			must(t, e.admin.DeprovisionUserAs(t.Context(), e.users["u2"], connectors.DeprovisionDisable))
		}, "users: u1 u2(suspended); groups: ; deleted: "},
		{"rename user, then change it", func(t *testing.T, e *env) {
			must(t, e.admin.UpdateUser(t.Context(), e.users["u1"], connectors.User{UserName: "u1-renamed", GivenName: "G", FamilyName: "F", Active: true}))
			must(t, e.admin.UpdateUser(t.Context(), e.users["u1"], connectors.User{UserName: "u1-renamed", GivenName: "G2", FamilyName: "F", Active: true}))
		}, "users: u1-renamed; groups: ; deleted: "},
		{"change before a rename", func(t *testing.T, e *env) {
			must(t, e.admin.UpdateUser(t.Context(), e.users["u3"], connectors.User{UserName: "u3", GivenName: "G2", FamilyName: "F", Active: true}))
			must(t, e.admin.UpdateUser(t.Context(), e.users["u3"], connectors.User{UserName: "u3-renamed", GivenName: "G2", FamilyName: "F", Active: true}))
		}, "users: u3-renamed; groups: ; deleted: "},
		{"delete user", func(t *testing.T, e *env) {
			must(t, e.admin.DeprovisionUserAs(t.Context(), e.users["u3"], connectors.DeprovisionDelete))
		}, "users: ; groups: ; deleted: u3"},
		{"delete user, create one at its address", func(t *testing.T, e *env) {
			must(t, e.admin.DeprovisionUserAs(t.Context(), e.users["u3"], connectors.DeprovisionDelete))
			_, err := e.admin.CreateUser(t.Context(), connectors.User{UserName: "u3", GivenName: "N", FamilyName: "F", Active: true})
			must(t, err)
		}, "users: u3; groups: ; deleted: u3"},
		{"add and remove members", func(t *testing.T, e *env) {
			must(t, e.admin.AddMembers(t.Context(), e.group, []string{e.users["u3"]}))
			must(t, e.admin.RemoveMembers(t.Context(), e.group, []string{e.users["u1"]}))
		}, "users: ; groups: Eng2; deleted: "},
		{"rename group", func(t *testing.T, e *env) {
			must(t, e.admin.UpdateGroup(t.Context(), e.group, connectors.Group{ExternalID: "eng", DisplayName: "Engineering"}))
		}, "users: ; groups: Engineering2; deleted: "},
		{"delete group", func(t *testing.T, e *env) {
			must(t, e.admin.DeleteGroup(t.Context(), e.group))
		}, "users: ; groups: ; deleted: ; resync"},
		{"a change in the console", func(t *testing.T, e *env) {
			e.f.EditUser(e.users["u2"], func(u map[string]any) { u["suspended"] = true })
			e.f.RecordActivity("USER_SETTINGS", "SUSPEND_USER", "USER_EMAIL", "U2@example.org")
		}, "users: u2(suspended); groups: ; deleted: "},
		{"a user's own edit: no admin event, left to the periodic resync", func(t *testing.T, e *env) {
			e.f.EditUser(e.users["u2"], func(u map[string]any) { u["name"].(map[string]any)["givenName"] = "Self" })
		}, "users: ; groups: ; deleted: "},
		{"events of no user or group, of an address gone", func(t *testing.T, e *env) {
			e.f.RecordActivity("DOMAIN_SETTINGS", "CHANGE_SITES_SETTING", "SETTING_NAME", "x")
			e.f.RecordActivity("USER_SETTINGS", "CHANGE_FIRST_NAME", "USER_EMAIL", "gone@example.org")
		}, "users: ; groups: ; deleted: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, googlefake.Knobs{}, nil)
			ctx := t.Context()
			cur, err := e.inc.Cursor(ctx)
			if err != nil || !strings.HasPrefix(cur, cursorPrefix) {
				t.Fatalf("Cursor: %q, %v", cur, err)
			}
			tc.change(t, e)
			cs, err := e.inc.Changes(ctx, cur)
			if err != nil {
				t.Fatalf("Changes: %v", err)
			}
			if got := e.got(cs); got != tc.want {
				t.Errorf("changes:\n got %s\nwant %s", got, tc.want)
			}
			if cs.ResyncRequired {
				return
			}
			if cs.More {
				t.Errorf("More set for a small change")
			}
			before := e.f.Stats()
			again, err := e.inc.Changes(ctx, cs.Cursor)
			if err != nil || len(again.Users)+len(again.Groups)+len(again.DeletedIDs) > 0 || again.ResyncRequired {
				t.Errorf("the poll after: %s, %v; want nothing (the events seen skipped)", e.got(again), err)
			}
			if st := e.f.Stats(); st.Requests-before.Requests != 1 || st.ByOp["GET activities"]-before.ByOp["GET activities"] != 1 {
				t.Errorf("a poll with nothing new cost %d requests (%v), want 1 activities.list", st.Requests-before.Requests, st.ByOp)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestReportLag: an event Google reports late is found by the next poll,
// which reads the report again from reportsLag before where the last one
// read up to; with too short a reportsLag it is missed (the periodic
// resync's to find).
func TestReportLag(t *testing.T) {
	for _, tc := range []struct {
		lag   string
		found bool
	}{{"5s", true}, {"1ms", false}} {
		t.Run(tc.lag, func(t *testing.T) {
			e := newEnv(t, googlefake.Knobs{ReportLag: 300 * time.Millisecond}, map[string]any{"reportsLag": tc.lag})
			ctx := t.Context()
			cur, err := e.inc.Cursor(ctx)
			must(t, err)
			must(t, e.admin.DeprovisionUserAs(ctx, e.users["u1"], connectors.DeprovisionDisable))
			time.Sleep(20 * time.Millisecond) // the poll reads up to after the event, by more than 1ms
			cs, err := e.inc.Changes(ctx, cur)
			if err != nil || len(cs.Users) != 0 {
				t.Fatalf("before the report shows it: %s, %v", e.got(cs), err)
			}
			time.Sleep(400 * time.Millisecond)
			cs, err = e.inc.Changes(ctx, cs.Cursor)
			must(t, err)
			if got := len(cs.Users) == 1; got != tc.found {
				t.Errorf("reportsLag %s: found the late event %t, want %t (%s)", tc.lag, got, tc.found, e.got(cs))
			}
		})
	}
}

// TestMoreInPieces: a backlog larger than maxChanges comes in pieces
// with More set, every user once, the last piece without More.
func TestMoreInPieces(t *testing.T) {
	e := newEnv(t, googlefake.Knobs{}, map[string]any{"maxChanges": 2})
	ctx := t.Context()
	cur, err := e.inc.Cursor(ctx)
	must(t, err)
	for i := range 5 {
		_, err := e.admin.CreateUser(ctx, connectors.User{UserName: fmt.Sprintf("bulk%d", i), GivenName: "B", FamilyName: "F", Active: true})
		must(t, err)
	}
	seen := map[string]int{}
	polls := 0
	for more := true; more; polls++ {
		if polls > 5 {
			t.Fatalf("still More after %d polls", polls)
		}
		cs, err := e.inc.Changes(ctx, cur)
		must(t, err)
		if len(cs.Users) > 2 {
			t.Errorf("a piece of %d users, want at most maxChanges 2", len(cs.Users))
		}
		for _, u := range cs.Users {
			seen[u.UserName]++
		}
		cur, more = cs.Cursor, cs.More
	}
	if len(seen) != 5 || polls != 3 {
		t.Errorf("users %v in %d polls, want 5 in 3", seen, polls)
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("user %s in %d pieces, want 1", n, c)
		}
	}
}

// logBuffer collects log records, for the tests that read them.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestFallbackToSnapshot: a connection refused the reports scope
// (unauthorized_client) polls by snapshot digest, says so once at Warn,
// and a poll with nothing changed is an empty change set (no target
// read); a reports cursor it cannot follow asks for a resync and keeps
// the cursor; once the API answers, a snapshot cursor becomes a reports
// one.
func TestFallbackToSnapshot(t *testing.T) {
	e := newEnv(t, googlefake.Knobs{RefuseScopes: []string{ReportsScope}}, nil)
	ctx := t.Context()
	logs := &logBuffer{}
	g := e.src.(reportsSource)
	g.logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Try the Reports API again at every poll: each is refused, and
	// warned about once.
	g.st.retry = 0
	cur, err := g.Cursor(ctx)
	if err != nil || !strings.HasPrefix(cur, "snapshot:") {
		t.Fatalf("Cursor when refused: %q, %v; want a snapshot digest", cur, err)
	}
	for range 2 {
		before := e.f.Stats()
		cs, err := g.Changes(ctx, cur)
		if err != nil || cs.ResyncRequired || len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) > 0 || cs.Cursor != cur {
			t.Fatalf("a fallen-back poll with nothing changed: %s %q, %v", e.got(cs), cs.Cursor, err)
		}
		// 3 users in a page of 5, 1 group, its members.
		if n := e.f.Stats().Requests - before.Requests; n != 3 {
			t.Errorf("a fallen-back poll cost %d requests, want 3", n)
		}
	}
	must(t, e.admin.DeprovisionUserAs(ctx, e.users["u1"], connectors.DeprovisionDisable))
	if cs, err := g.Changes(ctx, cur); err != nil || !cs.ResyncRequired {
		t.Errorf("a fallen-back poll after a change: %s, %v; want a resync", e.got(cs), err)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "unauthorized_client") ||
		!strings.Contains(logs.String(), ReportsScope) {
		t.Errorf("%d warnings, want one naming the scope and the refusal:\n%s", n, logs)
	}

	// A reports cursor on a connection that is refused: a resync, the
	// cursor kept for the poll's retry.
	ok := newEnv(t, googlefake.Knobs{}, nil)
	rcur, err := ok.inc.Cursor(ctx)
	must(t, err)
	refusedSrc, err := connectors.AsSource(open(t, func() map[string]any {
		s := settings(t, ok.f)
		s["readOnly"] = true
		return s
	}()))
	must(t, err)
	ok.f.SetKnobs(googlefake.Knobs{RefuseScopes: []string{ReportsScope}})
	if cs, err := refusedSrc.(connectors.Incremental).Changes(ctx, rcur); err != nil || !cs.ResyncRequired || cs.Cursor != rcur {
		t.Errorf("a reports cursor, refused: %+v, %v; want a resync, the cursor kept", cs, err)
	}

	// A snapshot cursor where the API answers: a reports cursor when
	// nothing changed, a resync when something did.
	ok.f.SetKnobs(googlefake.Knobs{})
	snap, err := connectors.Incrementally(ok.src.(reportsSource).source).Cursor(ctx)
	must(t, err)
	cs, err := ok.inc.Changes(ctx, snap)
	if err != nil || cs.ResyncRequired || !strings.HasPrefix(cs.Cursor, cursorPrefix) {
		t.Errorf("a snapshot cursor, reports answering: %+v, %v; want a reports cursor", cs, err)
	}
	must(t, ok.admin.DeprovisionUserAs(ctx, ok.users["u1"], connectors.DeprovisionDisable))
	if cs, err := ok.inc.Changes(ctx, snap); err != nil || !cs.ResyncRequired {
		t.Errorf("a snapshot cursor after a change: %+v, %v; want a resync", cs, err)
	}
}

// TestSnapshotSetting: changes "snapshot" is a source without
// Incremental, which the engine polls by digest.
func TestSnapshotSetting(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{})
	s := settings(t, f)
	s["changes"] = "snapshot"
	src, err := connectors.AsSource(open(t, s))
	must(t, err)
	if _, ok := src.(connectors.Incremental); ok {
		t.Errorf("changes snapshot: the source is Incremental")
	}
}

// TestBadCursor: a cursor not of this form asks for a resync.
func TestBadCursor(t *testing.T) {
	e := newEnv(t, googlefake.Knobs{}, nil)
	for _, c := range []string{"", "google:v1:x:", "google:v1:1:%%", "google:v1:1:AAAA", "workos:v1:t:1"} {
		cs, err := e.inc.Changes(t.Context(), c)
		if err != nil || !cs.ResyncRequired {
			t.Errorf("cursor %q: %+v, %v; want a resync", c, cs, err)
		}
	}
	p := position{from: time.UnixMilli(1_700_000_000_123), seen: []uint64{1, 1 << 63}}
	if got, err := parseCursor(p.String()); err != nil || !got.from.Equal(p.from) || !slices.Equal(got.seen, p.seen) {
		t.Errorf("cursor round trip: %+v, %v; want %+v", got, err, p)
	}
}

// TestSeenBound: past maxSeen activities in the window, the cursor keeps
// the newest and moves its start up to them, so that it stays bounded and
// a burst is not applied again and again.
func TestSeenBound(t *testing.T) {
	base := time.UnixMilli(1_700_000_000_000)
	var acts []act
	for i := range maxSeen + 10 {
		acts = append(acts, act{at: base.Add(time.Duration(i) * time.Millisecond), key: uint64(i + 1)})
	}
	p := next(acts, base)
	if len(p.seen) != maxSeen || !p.from.Equal(acts[10].at) {
		t.Errorf("%d seen from %v, want %d from %v", len(p.seen), p.from, maxSeen, acts[10].at)
	}
	if p := next(acts[:5], base.Add(2*time.Millisecond)); len(p.seen) != 3 || !p.from.Equal(base.Add(2*time.Millisecond)) {
		t.Errorf("a small window: %+v", p)
	}
}

// TestChangesUnderStorm: with every other request refused by a 403 or
// 429 rate limit, or by a 503 backendError, writes land once (one admin event each) and a poll
// still returns every change.
func TestChangesUnderStorm(t *testing.T) {
	for _, tt := range []struct {
		name  string
		knobs googlefake.Knobs
	}{
		{"rate limits", googlefake.Knobs{RateLimitEvery: 2}},
		{"backend errors", googlefake.Knobs{ServerErrorEvery: 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, googlefake.Knobs{}, nil)
			ctx := t.Context()
			cur, err := e.inc.Cursor(ctx)
			must(t, err)
			e.f.SetKnobs(tt.knobs)
			for i := range 4 {
				_, err := e.admin.CreateUser(ctx, connectors.User{UserName: fmt.Sprintf("storm%d", i), GivenName: "S", FamilyName: "F", Active: true})
				must(t, err)
			}
			must(t, e.admin.AddMembers(ctx, e.group, []string{e.users["u3"]}))
			cs, err := e.inc.Changes(ctx, cur)
			must(t, err)
			if got, want := e.got(cs), "users: storm0 storm1 storm2 storm3; groups: Eng3; deleted: "; got != want {
				t.Errorf("changes under a storm:\n got %s\nwant %s", got, want)
			}
			creates := 0
			for _, a := range e.f.Activities() {
				if a == "CREATE_USER" {
					creates++
				}
			}
			if creates != 3+4 {
				t.Errorf("%d users created, want 7: a refused insert was applied twice or lost", creates)
			}
			if st := e.f.Stats(); st.RateLimited+st.ServerErrs == 0 {
				t.Errorf("nothing was refused")
			}
		})
	}
}

// TestBadInput: a malformed body, and a refused key, are errors that say
// what was being done and quote no key; the poll that failed can be run
// again from its cursor and loses nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t, googlefake.Knobs{}, nil)
	ctx := t.Context()
	cur, err := e.inc.Cursor(ctx)
	must(t, err)
	must(t, e.admin.DeprovisionUserAs(ctx, e.users["u1"], connectors.DeprovisionDisable))
	e.f.SetKnobs(googlefake.Knobs{MalformedEvery: 1})
	_, err = e.inc.Changes(ctx, cur)
	if err == nil || !strings.Contains(err.Error(), "google: read the admin activity report from ") {
		t.Errorf("a malformed report page: %v, want an error naming the read", err)
	}
	if err = e.src.ListUsers(ctx, func(connectors.User) error { return nil }); err == nil || !strings.Contains(err.Error(), "google: list users: ") {
		t.Errorf("a malformed users page: %v, want an error naming the listing", err)
	}
	e.f.SetKnobs(googlefake.Knobs{})
	cs, err := e.inc.Changes(ctx, cur)
	if err != nil || e.got(cs) != "users: u1(suspended); groups: ; deleted: " {
		t.Errorf("the poll again from the same cursor: %s, %v", e.got(cs), err)
	}

	// A key the token endpoint does not trust, and no delegation for
	// the directory scopes.
	other := googlefake.New(t, googlefake.Knobs{})
	for _, tc := range []struct {
		name   string
		s      map[string]any
		knobs  googlefake.Knobs
		reason string
	}{
		{"untrusted key", func() map[string]any {
			s := settings(t, other)
			s["endpoint"], s["tokenUrl"] = e.f.Endpoint(), e.f.TokenURL()
			return s
		}(), googlefake.Knobs{}, "invalid_grant"},
		{"directory scopes not delegated", settings(t, e.f), googlefake.Knobs{RefuseScopes: Scopes}, "unauthorized_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.f.SetKnobs(tc.knobs)
			defer e.f.SetKnobs(googlefake.Knobs{})
			tgt, err := connectors.AsTarget(open(t, tc.s))
			must(t, err)
			_, _, err = tgt.(connectors.UserReader).GetUserByID(ctx, e.users["u2"])
			if err == nil || !errors.Is(err, connectors.ErrUnauthorized) || !strings.Contains(err.Error(), "google: read user "+e.users["u2"]+": token: ") ||
				!strings.Contains(err.Error(), tc.reason) {
				t.Errorf("GetUserByID: %v, want ErrUnauthorized naming the read and %s", err, tc.reason)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "private_key") {
				t.Errorf("the error quotes the key: %v", err)
			}
		})
	}
}

// TestRequestBudget: the connection spends a budget of
// requestsPerMinute (bursts of a tenth of it) before each request.
func TestRequestBudget(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{})
	for _, tc := range []struct {
		perMinute int
		slow      bool
	}{{600, true}, {0, false}} {
		s := settings(t, f)
		if tc.perMinute > 0 {
			s["requestsPerMinute"] = tc.perMinute
		}
		tester := open(t, s).(connectors.Tester)
		start := time.Now()
		// A burst of 60, then 10 a second: 70 requests take 1 s.
		for range 70 {
			must(t, tester.Test(t.Context()))
		}
		if took := time.Since(start); (took > 800*time.Millisecond) != tc.slow {
			t.Errorf("requestsPerMinute %d: 70 requests took %v, slowed %t, want %t", tc.perMinute, took, !tc.slow, tc.slow)
		}
	}
}

// TestCreateWithoutNames: Google requires both names; a user without one
// is refused before any request, as rejected, naming the account.
func TestCreateWithoutNames(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{})
	tgt, err := connectors.AsTarget(open(t, settings(t, f)))
	must(t, err)
	for _, u := range []connectors.User{
		{UserName: "nogiven", FamilyName: "F", Active: true},
		{UserName: "nofamily", GivenName: "G", Active: true},
	} {
		_, err := tgt.CreateUser(t.Context(), u)
		if !errors.Is(err, connectors.ErrRejected) || !strings.Contains(err.Error(), "create user "+u.UserName+"@") {
			t.Errorf("CreateUser(%s): %v, want ErrRejected naming the user", u.UserName, err)
		}
	}
	if n := f.Stats().Requests; n != 0 {
		t.Errorf("%d requests sent for users Google refuses", n)
	}
}

// TestSettings: the new settings' defaults and refusals.
func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]any
		want string // an error's text, or "" for valid
	}{
		{map[string]any{}, ""},
		{map[string]any{"changes": "snapshot", "reportsLag": "1h", "maxChanges": 10, "requestsPerMinute": 100}, ""},
		{map[string]any{"changes": "delta"}, `changes: "delta" is not reports or snapshot`},
		{map[string]any{"reportsLag": "-1m"}, "reportsLag"},
		{map[string]any{"reportsLag": "200h"}, "reportsLag"},
		{map[string]any{"maxChanges": -1}, "maxChanges"},
		{map[string]any{"requestsPerMinute": -5}, "requestsPerMinute"},
	} {
		c := &Config{Domain: "example.org", Subject: "a@example.org", Credentials: "env:K"}
		b, _ := json.Marshal(tc.set)
		must(t, json.Unmarshal(b, c))
		err := c.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.set, err, tc.want)
		}
		if len(tc.set) == 0 && (c.Changes != ChangesReports || c.reportsLag != DefaultReportsLag || c.MaxChanges != DefaultMaxChanges || c.RequestsPerMinute != 2400) {
			t.Errorf("defaults: %+v", c)
		}
	}
}
