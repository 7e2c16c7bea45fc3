package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/syncbuf"
)

// secretFile writes value to a file and returns its file: reference.
func secretFile(t *testing.T, value string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	return "file:" + path
}

// openConfig opens cfg; the connector's log (warnings and up) goes to the
// returned buffer and to the test's output.
func openConfig(t *testing.T, cfg *Config) (*scimConnector, *syncbuf.Buffer) {
	t.Helper()
	var logs syncbuf.Buffer
	h := slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})
	conn, err := cfg.Open(t.Context(), slog.New(h))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		if t.Failed() {
			t.Logf("connector log:\n%s", logs.String())
		}
	})
	return conn.(*scimConnector), &logs
}

// openFake opens a bearer connector to a fake server, after mod.
func openFake(t *testing.T, f *fakeSCIM, mod func(*Config)) (*scimConnector, *syncbuf.Buffer) {
	t.Helper()
	cfg := &Config{BaseURL: f.URL, Token: secretFile(t, "fake-token")}
	if mod != nil {
		mod(cfg)
	}
	return openConfig(t, cfg)
}

func describe(t *testing.T, c *scimConnector) string {
	t.Helper()
	lines, err := c.Describe(t.Context())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	return strings.Join(lines, "\n")
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("Describe:\n%s\nwant a line with %q", got, w)
		}
	}
}

// TestDiscoveryScimmy reads the real server's /ServiceProviderConfig, once
// for a connector's life, and shows what it found.
func TestDiscoveryScimmy(t *testing.T) {
	c, srv := startTarget(t, nil)
	ctx := t.Context()
	if err := srv.ResetStats(ctx); err != nil {
		t.Fatal(err)
	}
	got := describe(t, c)
	wantLines(t, got,
		"auth: bearer token",
		"discovery: read /ServiceProviderConfig",
		"patch: yes (advertised)",
		"filter: yes (advertised)",
		"etag: no (advertised)",
		"bulk: no (advertised)",
		"maxResults: 20 (advertised); pages of 20 asked for")
	if strings.Contains(got, srv.Token) {
		t.Errorf("Describe shows the token:\n%s", got)
	}
	uid, err := c.CreateUser(ctx, connectors.User{ExternalID: "disc-1", UserName: "disc", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	gid, err := c.CreateGroup(ctx, connectors.Group{ExternalID: "disc-g", DisplayName: "Disc"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddMembers(ctx, gid, []string{uid}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LookupUsers(ctx, connectors.MatchUserName, "DISC"); err != nil {
		t.Fatal(err)
	}
	if err := c.Test(ctx); err != nil {
		t.Fatal(err)
	}
	stats, err := srv.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := stats.ByRoute["GET /ServiceProviderConfig"]; n != 1 {
		t.Errorf("GET /ServiceProviderConfig %d times, want once", n)
	}
	if n := stats.ByRoute["PATCH /Groups"]; n != 1 {
		t.Errorf("PATCH /Groups %d times, want 1 (the server advertises PATCH)", n)
	}
}

// TestOverridesScimmy overrides what the real server advertises: without
// PATCH, memberships, renames and disabling go by GET and PUT; without
// filters, lookups read every user and match here. Both must still give
// the right results on a real server.
func TestOverridesScimmy(t *testing.T) {
	c, srv := startTarget(t, func(c *Config) {
		c.Patch, c.Filter, c.MaxResults = ToggleFalse, ToggleFalse, 7
	})
	ctx := t.Context()
	wantLines(t, describe(t, c), "patch: no (setting)", "filter: no (setting)", "maxResults: 7 (setting); pages of 7 asked for")

	var ids []string
	for i := range 10 {
		id, err := c.CreateUser(ctx, connectors.User{ExternalID: fmt.Sprint("ov-", i), UserName: fmt.Sprint("Over.", i), Active: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	gid, err := c.CreateGroup(ctx, connectors.Group{ExternalID: "ov-g", DisplayName: "Overridden"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ResetStats(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.AddMembers(ctx, gid, ids[:4]); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveMembers(ctx, gid, ids[1:3]); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateGroup(ctx, gid, connectors.Group{ExternalID: "ov-g2", DisplayName: "Renamed"}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeprovisionUser(ctx, ids[9]); err != nil {
		t.Fatal(err)
	}
	stats, err := srv.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.ByMethod["PATCH"] != 0 || stats.ByRoute["PUT /Groups"] != 3 || stats.ByRoute["PUT /Users"] != 1 {
		t.Errorf("requests by route %v, want no PATCH, 3 PUT /Groups, 1 PUT /Users", stats.ByRoute)
	}
	found, err := c.LookupGroups(ctx, "displayName", "RENAMED")
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].ExternalID != "ov-g2" || !sameSet(found[0].MemberIDs, []string{ids[0], ids[3]}) {
		t.Errorf("group after PUTs: %+v, want Renamed/ov-g2 with members %v", found, []string{ids[0], ids[3]})
	}
	for _, q := range []struct{ attr, value, want string }{
		{connectors.MatchUserName, "over.9", ids[9]},
		{connectors.MatchExternalID, "ov-3", ids[3]},
		{connectors.MatchUserName, "OVER.0", ids[0]},
	} {
		users, err := c.LookupUsers(ctx, q.attr, q.value)
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 1 || users[0].ID != q.want {
			t.Errorf("lookup %s %q = %+v, want %s", q.attr, q.value, users, q.want)
		}
		if q.want == ids[9] && users[0].Active {
			t.Errorf("user disabled by PUT is active")
		}
	}
	if users, err := c.LookupUsers(ctx, connectors.MatchExternalID, "OV-3"); err != nil || len(users) != 0 {
		t.Errorf("lookup by externalId in another case: %+v, %v; want none", users, err)
	}
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// TestDiscoveryFallback: a missing or broken /ServiceProviderConfig gives
// the safe defaults and one warning, not a failure; a failure that may
// pass is an error, and the next use tries again.
func TestDiscoveryFallback(t *testing.T) {
	tests := []struct {
		name string
		spc  http.HandlerFunc // nil: 404
	}{
		{"404", nil},
		{"HTML", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><body>Welcome to the portal</body></html>")
		}},
		{"JSON not a config", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{"hello": "world"}) }},
		{"JSON array", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, []int{1}) }},
		{"500", func(w http.ResponseWriter, r *http.Request) { scimErr(w, 500, "", "boom") }},
		{"403", func(w http.ResponseWriter, r *http.Request) { scimErr(w, 403, "", "not for you") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSCIM(t, func(f *fakeSCIM) { f.spc = tt.spc })
			c, logs := openFake(t, f, nil)
			ctx := t.Context()
			uid, err := c.CreateUser(ctx, connectors.User{ExternalID: "fb-1", UserName: "fb", Active: true})
			if err != nil {
				t.Fatal(err)
			}
			gid, err := c.CreateGroup(ctx, connectors.Group{ExternalID: "fb-g", DisplayName: "FB"})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := c.LookupUsers(ctx, connectors.MatchUserName, "fb"); err != nil {
					t.Fatal(err)
				}
				if err := c.AddMembers(ctx, gid, []string{uid}); err != nil {
					t.Fatal(err)
				}
			}
			wantLines(t, describe(t, c), "discovery: /ServiceProviderConfig unusable", "patch: yes (default)", "filter: yes (default)", "etag: no (default)")
			if n := f.count("GET /ServiceProviderConfig"); n != 1 {
				t.Errorf("GET /ServiceProviderConfig %d times, want 1", n)
			}
			if n := f.count("PATCH /Groups"); n != 2 {
				t.Errorf("PATCH /Groups %d times, want 2 (PATCH assumed)", n)
			}
			if n := f.count("GET /Users?count=100&filter=userName eq \"fb\""); n != 2 {
				t.Errorf("filtered lookups: %d, want 2 (filters assumed); requests %q", n, f.log())
			}
			if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
				t.Errorf("%d warnings, want 1:\n%s", n, logs)
			}
		})
	}

	t.Run("rate limited, then read", func(t *testing.T) {
		calls := 0
		f := newFakeSCIM(t, func(f *fakeSCIM) {
			ok := spcJSON(false, true, false, 0)
			f.spc = func(w http.ResponseWriter, r *http.Request) {
				calls++
				if calls == 1 {
					w.Header().Set("Retry-After", "3")
					scimErr(w, http.StatusTooManyRequests, "", "slow down")
					return
				}
				ok(w, r)
			}
		})
		// maxRetryWait 0s: the 429 reaches the caller instead of being
		// waited out inside the request (TestRetryAfterWaited does that).
		c, _ := openFake(t, f, func(c *Config) { c.MaxRetryWait = "0s" })
		_, err := c.Describe(t.Context())
		var rl *connectors.RateLimitError
		if !errors.As(err, &rl) || rl.RetryAfter.Seconds() != 3 {
			t.Fatalf("Describe: err = %v, want a RateLimitError of 3s", err)
		}
		wantLines(t, describe(t, c), "discovery: read /ServiceProviderConfig", "patch: no (advertised)")
	})
}

// TestPatchUnsupported: a server that advertises no PATCH gets GET and PUT
// for memberships, group renames and disabling, and the results are right.
func TestPatchUnsupported(t *testing.T) {
	for _, mode := range []string{"advertised", "refused"} {
		t.Run(mode, func(t *testing.T) {
			f := newFakeSCIM(t, func(f *fakeSCIM) {
				f.noPatch = true
				f.spc = spcJSON(mode == "refused", true, false, 0)
			})
			c, logs := openFake(t, f, func(c *Config) { c.MembersPerRequest = 2 })
			ctx := t.Context()
			var ids []string
			for i := range 5 {
				id, err := c.CreateUser(ctx, connectors.User{ExternalID: fmt.Sprint("np-", i), UserName: fmt.Sprint("np", i), Active: true})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			gid, err := c.CreateGroup(ctx, connectors.Group{ExternalID: "np-g", DisplayName: "No Patch"})
			if err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				name string
				run  func() error
				puts int
			}{
				{"add five", func() error { return c.AddMembers(ctx, gid, ids) }, 1},
				{"add again: no change, no PUT", func() error { return c.AddMembers(ctx, gid, ids[:2]) }, 0},
				{"remove two", func() error { return c.RemoveMembers(ctx, gid, ids[1:3]) }, 1},
				{"rename", func() error { return c.UpdateGroup(ctx, gid, connectors.Group{DisplayName: "Renamed"}) }, 1},
				{"disable", func() error { return c.DeprovisionUser(ctx, ids[0]) }, 1},
			}
			for _, st := range steps {
				before := f.count("PUT ")
				if err := st.run(); err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				if got := f.count("PUT ") - before; got != st.puts {
					t.Errorf("%s: %d PUTs, want %d", st.name, got, st.puts)
				}
			}
			wantPatches := map[string]int{"advertised": 0, "refused": 1}[mode]
			if n := f.count("PATCH "); n != wantPatches {
				t.Errorf("%d PATCH requests, want %d: %q", n, wantPatches, f.log())
			}
			g := f.res[groupPath(gid)]
			var members []string
			for _, m := range g["members"].([]any) {
				members = append(members, m.(map[string]any)["value"].(string))
			}
			if !sameSet(members, []string{ids[0], ids[3], ids[4]}) || g["displayName"] != "Renamed" || g["externalId"] != nil {
				t.Errorf("group = %v, want Renamed without externalId, members %v", g, []string{ids[0], ids[3], ids[4]})
			}
			if active := f.res[userPath(ids[0])]["active"]; active != false {
				t.Errorf("disabled user has active = %v", active)
			}
			if mode == "refused" {
				wantLines(t, describe(t, c), "patch: no (refused by the server)")
				if !strings.Contains(logs.String(), "refused PATCH") {
					t.Errorf("no warning about the refused PATCH:\n%s", logs)
				}
			}
		})
	}
}

// TestFilterUnsupported: lookups page through every resource and match
// here when the server does not filter: as advertised, or when it answers
// a filter with 400 invalidFilter, or when it ignores the filter.
func TestFilterUnsupported(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(f *fakeSCIM)
		mod       func(*Config)
		filtered  bool // the first lookup sends a filter
		describes string
	}{
		{"advertised", func(f *fakeSCIM) { f.spc, f.filter = spcJSON(true, false, false, 0), "refuse" }, nil, false, "filter: no (advertised)"},
		{"refused at run time", func(f *fakeSCIM) { f.spc, f.filter = spcJSON(true, true, false, 0), "refuse" }, nil, true, "filter: yes (advertised)"},
		{"ignored", func(f *fakeSCIM) { f.spc, f.filter = spcJSON(true, true, false, 0), "ignore" }, nil, true, "filter: yes (advertised)"},
		{"setting", func(f *fakeSCIM) { f.spc = spcJSON(true, true, false, 0) }, func(c *Config) { c.Filter = ToggleFalse }, false, "filter: no (setting)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSCIM(t, tt.setup)
			c, _ := openFake(t, f, tt.mod)
			ctx := t.Context()
			names := []string{`O"Brien`, `back\slash`, "Zoë", "MiXeD", "plain", "other", "more"}
			ids := map[string]string{}
			for i, n := range names {
				id, err := c.CreateUser(ctx, connectors.User{ExternalID: fmt.Sprint("fu-", i), UserName: n, Email: n + "@Example.org", Active: true})
				if err != nil {
					t.Fatal(err)
				}
				ids[n] = id
			}
			gid, err := c.CreateGroup(ctx, connectors.Group{ExternalID: "fu-g", DisplayName: "Filterless"})
			if err != nil {
				t.Fatal(err)
			}
			wantLines(t, describe(t, c), tt.describes)
			for _, q := range []struct{ attr, value, want string }{
				{connectors.MatchUserName, "mixed", ids["MiXeD"]},
				{connectors.MatchUserName, `o"brien`, ids[`O"Brien`]},
				{connectors.MatchEmail, `BACK\SLASH@example.ORG`, ids[`back\slash`]},
				{connectors.MatchExternalID, "fu-6", ids["more"]},
				{connectors.MatchExternalID, "FU-6", ""},
				{connectors.MatchUserName, "nobody", ""},
			} {
				got, err := c.LookupUsers(ctx, q.attr, q.value)
				if err != nil {
					t.Fatalf("lookup %s %q: %v", q.attr, q.value, err)
				}
				var gotIDs []string
				for _, u := range got {
					gotIDs = append(gotIDs, u.ID)
				}
				if want := slices.DeleteFunc([]string{q.want}, func(s string) bool { return s == "" }); !slices.Equal(gotIDs, want) {
					t.Errorf("lookup %s %q = %v, want %v", q.attr, q.value, gotIDs, want)
				}
			}
			groups, err := c.LookupGroups(ctx, "displayName", "FILTERLESS")
			if err != nil || len(groups) != 1 || groups[0].ID != gid {
				t.Errorf("group lookup = %+v, %v; want %s", groups, err, gid)
			}
			filtered := 0
			for _, r := range f.log() {
				if strings.Contains(r, "filter=") {
					filtered++
				}
			}
			if (filtered > 0) != tt.filtered {
				t.Errorf("%d filtered requests; want some: %v", filtered, tt.filtered)
			}
			// 7 users in pages of 3: every unfiltered lookup reads 3 pages.
			if n := f.count("GET /Users?count=100&startIndex=7"); n == 0 && tt.name != "ignored" {
				t.Errorf("no lookup paged to the end: %q", f.log())
			}
		})
	}
}

// TestMaxResults: the count asked for is capped by the advertised
// maxResults, and the setting overrides it.
func TestMaxResults(t *testing.T) {
	for _, tt := range []struct {
		advertised, setting, pageSize int
		want                          string
	}{
		{0, 0, 100, "count=100"},
		{2, 0, 100, "count=2"},
		{50, 0, 10, "count=10"},
		{2, 1, 100, "count=1"},
	} {
		t.Run(fmt.Sprint(tt), func(t *testing.T) {
			f := newFakeSCIM(t, func(f *fakeSCIM) { f.spc = spcJSON(true, true, false, tt.advertised) })
			c, _ := openFake(t, f, func(c *Config) { c.MaxResults, c.PageSize = tt.setting, tt.pageSize })
			for i := range 4 {
				if _, err := c.CreateUser(t.Context(), connectors.User{ExternalID: fmt.Sprint(i), UserName: fmt.Sprint("mr", i)}); err != nil {
					t.Fatal(err)
				}
			}
			n := 0
			if err := c.ListUsers(t.Context(), func(connectors.TargetUser) error { n++; return nil }); err != nil || n != 4 {
				t.Fatalf("listed %d, %v; want 4", n, err)
			}
			for _, r := range f.log() {
				if strings.HasPrefix(r, "GET /Users?") && !strings.Contains(r, tt.want+"&") {
					t.Errorf("request %q, want %s", r, tt.want)
				}
			}
		})
	}
}

// TestETag: with ETags, a PUT carries If-Match with the version read; a
// 412 reads again and retries once, then fails with an error that is not
// ErrRejected (a later attempt may succeed). Without ETags, no If-Match.
func TestETag(t *testing.T) {
	tests := []struct {
		name      string
		etag      bool // advertised
		conflicts int  // PUTs that find the resource changed
		wantErr   bool
		ifMatch   []string
	}{
		{"no conflict", true, 0, false, []string{`W/"1"`}},
		{"one conflict, retried", true, 1, false, []string{`W/"1"`, `W/"2"`}},
		{"conflicts twice", true, 2, true, []string{`W/"1"`, `W/"2"`}},
		{"etag not supported", false, 0, false, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conflicts := tt.conflicts
			f := newFakeSCIM(t, func(f *fakeSCIM) {
				f.spc, f.etag = spcJSON(true, true, tt.etag, 0), true
				f.beforePut = func(f *fakeSCIM, path string) {
					if conflicts > 0 {
						conflicts--
						f.bump(path)
					}
				}
			})
			c, _ := openFake(t, f, nil)
			ctx := t.Context()
			id, err := c.CreateUser(ctx, connectors.User{ExternalID: "e-1", UserName: "etag", Active: true})
			if err != nil {
				t.Fatal(err)
			}
			err = c.UpdateUser(ctx, id, connectors.User{ExternalID: "e-1", UserName: "etag2", Active: true})
			if got := err != nil; got != tt.wantErr {
				t.Fatalf("update: err = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && (errors.Is(err, connectors.ErrRejected) || !isStatus(err, http.StatusPreconditionFailed)) {
				t.Errorf("err = %v, want a 412 that is not ErrRejected", err)
			}
			if !slices.Equal(f.ifMatch, tt.ifMatch) {
				t.Errorf("If-Match headers %q, want %q", f.ifMatch, tt.ifMatch)
			}
			if want := len(tt.ifMatch); f.count("GET /Users/") != want {
				t.Errorf("%d reads of the user, want %d", f.count("GET /Users/"), want)
			}
			if !tt.wantErr && f.res[userPath(id)]["userName"] != "etag2" {
				t.Errorf("userName = %v after update", f.res[userPath(id)]["userName"])
			}
		})
	}

	t.Run("scimmy forced", func(t *testing.T) {
		// scimmy does not advertise ETags but has meta.version; forcing
		// etag sends it, and scimmy (which ignores If-Match) accepts.
		c, _ := startTarget(t, func(c *Config) { c.ETag = ToggleTrue })
		id, err := c.CreateUser(t.Context(), connectors.User{ExternalID: "e-2", UserName: "forced", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.UpdateUser(t.Context(), id, connectors.User{ExternalID: "e-2", UserName: "forced2", Active: true}); err != nil {
			t.Fatal(err)
		}
		wantLines(t, describe(t, c), "etag: yes (setting)")
	})
}

// TestSPCShapes reads variants of /ServiceProviderConfig as servers send
// them.
func TestSPCShapes(t *testing.T) {
	tests := []struct {
		body string
		o    overrides
		want features
	}{
		{`{"patch":{"supported":false},"filter":{"supported":"true","maxResults":"50"}}`, overrides{},
			features{patch: false, filter: true, etag: false, maxResults: 50}},
		{`{"etag":{"supported":true},"bulk":{"supported":true,"maxOperations":5,"maxPayloadSize":99}}`, overrides{},
			features{patch: true, filter: true, etag: true, bulk: true, bulkMaxOperations: 5, bulkMaxPayloadSize: 99}},
		{`{"patch":{"supported":true},"filter":{"supported":true,"maxResults":200},"etag":{"supported":true}}`,
			overrides{patch: ToggleFalse, filter: ToggleFalse, etag: ToggleFalse, maxResults: 10},
			features{maxResults: 10}},
		{`{"patch":{},"filter":{"supported":false},"etag":{"supported":false}}`,
			overrides{patch: ToggleTrue, filter: ToggleTrue, etag: ToggleTrue, maxResults: 0},
			features{patch: true, filter: true, etag: true}},
	}
	for _, tt := range tests {
		var spc serviceProviderConfig
		if err := json.Unmarshal([]byte(tt.body), &spc); err != nil {
			t.Fatalf("%s: %v", tt.body, err)
		}
		got := resolveFeatures(spc, tt.o)
		got.source = nil
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s with %+v:\n got %+v\nwant %+v", tt.body, tt.o, got, tt.want)
		}
	}
}
