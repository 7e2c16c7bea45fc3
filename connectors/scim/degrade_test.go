package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/peers"
)

// seedUsers creates n users u0..u(n-1) with emails U<i>@Example.ORG and a
// group per user, G<i>, with externalId g<i>; it returns the users' ids.
func seedUsers(t *testing.T, c *scimConnector, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		id, err := c.CreateUser(t.Context(), connectors.User{
			ExternalID: fmt.Sprint("ext-", i), UserName: fmt.Sprint("u", i), Email: fmt.Sprintf("U%d@Example.ORG", i), Active: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
		if _, err := c.CreateGroup(t.Context(), connectors.Group{ExternalID: fmt.Sprint("g", i), DisplayName: fmt.Sprint("G", i)}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// setKnobs sets the server's knobs and zeroes its counts.
func setKnobs(t *testing.T, srv *peers.SCIM, k peers.SCIMKnobs) {
	t.Helper()
	if err := srv.SetKnobs(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	if err := srv.ResetStats(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func stats(t *testing.T, srv *peers.SCIM) peers.SCIMStats {
	t.Helper()
	st, err := srv.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// lookupIDs looks users (or groups, when attr is a group attribute with
// the "group " prefix) up and returns their ids.
func lookupIDs(ctx context.Context, c *scimConnector, attr, value string) ([]string, error) {
	var ids []string
	if ga, ok := strings.CutPrefix(attr, "group "); ok {
		found, err := c.LookupGroups(ctx, ga, value)
		for _, g := range found {
			ids = append(ids, g.ID)
		}
		return ids, err
	}
	found, err := c.LookupUsers(ctx, attr, value)
	for _, u := range found {
		ids = append(ids, u.ID)
	}
	return ids, err
}

// TestLookupRefusedFilters runs lookups against the real server with
// filter forms refused: each lookup still finds its object, in any
// letter case where the attribute is case-insensitive, and each refused
// form reaches the server once, however many lookups follow.
func TestLookupRefusedFilters(t *testing.T) {
	srv := peers.SCIMForTest(t)
	seeder := openTarget(t, srv.URL, srv.Token, nil)
	userIDs := seedUsers(t, seeder, 6)
	tests := []struct {
		name    string
		knobs   peers.SCIMKnobs
		attr    string
		values  []string // each finds user (or group) 3
		refused []string // the forms Describe lists, in order
		scans   bool     // lookups page through every resource
	}{
		{name: "email, dotted path refused", knobs: peers.SCIMKnobs{RefuseFilters: []string{"emails.value"}},
			attr: connectors.MatchEmail, values: []string{"u3@example.org", "U3@EXAMPLE.ORG", "u3@Example.Org"},
			refused: []string{"/Users emails.value eq (400 invalidFilter)", "/Users emails[value eq] (400 invalidFilter)"}},
		{name: "email, refused as invalidValue", knobs: peers.SCIMKnobs{RefuseFilters: []string{"emails.value"}, RefuseAs: "invalidValue"},
			attr: connectors.MatchEmail, values: []string{"u3@example.org", "U3@EXAMPLE.ORG"},
			refused: []string{"/Users emails.value eq (400 invalidValue)", "/Users emails[value eq] (400 invalidValue)"}},
		{name: "email, plain 400", knobs: peers.SCIMKnobs{RefuseFilters: []string{"emails.value"}, RefuseAs: "plain"},
			attr: connectors.MatchEmail, values: []string{"u3@example.org", "U3@EXAMPLE.ORG"},
			refused: []string{"/Users emails.value eq (400)", "/Users emails[value eq] (400)"}},
		{name: "email, every form refused", knobs: peers.SCIMKnobs{RefuseFilters: []string{"emails.value", "emails"}},
			attr: connectors.MatchEmail, values: []string{"u3@example.org", "U3@EXAMPLE.ORG", "u3@EXAMPLE.org"},
			refused: []string{"/Users emails.value eq (400 invalidFilter)", "/Users emails[value eq] (400 invalidFilter)", "/Users emails eq (400 invalidFilter)"},
			scans:   true},
		{name: "email, value path only refused", knobs: peers.SCIMKnobs{RefuseFilters: []string{"emails"}},
			attr: connectors.MatchEmail, values: []string{"U3@example.org"}},
		{name: "userName", knobs: peers.SCIMKnobs{RefuseFilters: []string{"userName"}},
			attr: connectors.MatchUserName, values: []string{"u3", "U3"}, refused: []string{"/Users userName eq (400 invalidFilter)"}, scans: true},
		{name: "externalId", knobs: peers.SCIMKnobs{RefuseFilters: []string{"externalId"}},
			attr: connectors.MatchExternalID, values: []string{"ext-3", "ext-3"}, refused: []string{"/Users externalId eq (400 invalidFilter)"}, scans: true},
		{name: "group externalId", knobs: peers.SCIMKnobs{RefuseFilters: []string{"externalId"}},
			attr: "group externalId", values: []string{"g3", "g3"}, refused: []string{"/Groups externalId eq (400 invalidFilter)"}, scans: true},
		{name: "group displayName", knobs: peers.SCIMKnobs{RefuseFilters: []string{"displayName"}, RefuseAs: "plain"},
			attr: "group displayName", values: []string{"g3", "G3"}, refused: []string{"/Groups displayName eq (400)"}, scans: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups, err := seeder.LookupGroups(t.Context(), "externalId", "g3")
			if err != nil || len(groups) != 1 {
				t.Fatalf("group g3: %v, %v", groups, err)
			}
			want := userIDs[3]
			if strings.HasPrefix(tt.attr, "group ") {
				want = groups[0].ID
			}
			setKnobs(t, srv, tt.knobs)
			// Pages of 2: a scan of the 6 resources takes 3 requests, a
			// filtered lookup 1.
			c := openTarget(t, srv.URL, srv.Token, func(c *Config) { c.PageSize = 2 })
			for _, v := range tt.values {
				got, err := lookupIDs(t.Context(), c, tt.attr, v)
				if err != nil || len(got) != 1 || got[0] != want {
					t.Fatalf("lookup %s %q = %v, %v; want [%s]", tt.attr, v, got, err, want)
				}
			}
			st := stats(t, srv)
			if n := sum(st.RefusedFilters); n != len(tt.refused) {
				t.Errorf("%d filters refused over %d lookups, want %d (one per refused form): %v", n, len(tt.values), len(tt.refused), st.RefusedFilters)
			}
			listings := st.ByRoute["GET /Users"] + st.ByRoute["GET /Groups"] - sum(st.RefusedFilters)
			if scanned := listings > len(tt.values); scanned != tt.scans {
				t.Errorf("%d list requests for %d lookups: scanned %v, want %v", listings, len(tt.values), scanned, tt.scans)
			}
			line := "filter forms refused: none so far"
			if len(tt.refused) > 0 {
				line = "filter forms refused: " + strings.Join(tt.refused, ", ") + "; lookups use the next form"
			}
			wantLines(t, describe(t, c), line)
		})
	}
}

// TestLookupMaxScan: with every filter form of an attribute refused, or
// no filters at all, a lookup pages through at most maxScan resources;
// past that it fails with connectors.ErrLookupUnsupported, saying which
// attribute and why, after reading one page only.
func TestLookupMaxScan(t *testing.T) {
	srv := peers.SCIMForTest(t)
	seedUsers(t, openTarget(t, srv.URL, srv.Token, nil), 6)
	allEmail := peers.SCIMKnobs{RefuseFilters: []string{"emails.value", "emails"}}
	tests := []struct {
		name    string
		knobs   peers.SCIMKnobs
		mod     func(*Config)
		attr    string
		value   string
		wantErr []string // what the error says; nil: the lookup finds one
	}{
		{"email, more users than maxScan", allEmail, func(c *Config) { c.MaxScan = 5 }, connectors.MatchEmail, "u1@example.org",
			[]string{"lookup users by email", "refused emails.value eq, emails[value eq], emails eq", "6 resources at /Users", "maxScan (5)"}},
		{"email, as many users as maxScan", allEmail, func(c *Config) { c.MaxScan = 6 }, connectors.MatchEmail, "U1@example.org", nil},
		{"externalId, more users than maxScan", peers.SCIMKnobs{RefuseFilters: []string{"externalId"}}, func(c *Config) { c.MaxScan = 2 },
			connectors.MatchExternalID, "ext-1", []string{"lookup users by externalId", "refused externalId eq", "maxScan (2)"}},
		{"filter off by setting", peers.SCIMKnobs{}, func(c *Config) { c.MaxScan = 5; c.Filter = ToggleFalse }, connectors.MatchUserName, "u1",
			[]string{"lookup users by userName", "does not filter (setting)", "maxScan (5)"}},
		{"group displayName", peers.SCIMKnobs{RefuseFilters: []string{"displayName"}}, func(c *Config) { c.MaxScan = 5 }, "group displayName", "G1",
			[]string{"lookup groups by displayName", "refused displayName eq", "6 resources at /Groups"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setKnobs(t, srv, tt.knobs)
			c := openTarget(t, srv.URL, srv.Token, tt.mod)
			got, err := lookupIDs(t.Context(), c, tt.attr, tt.value)
			if tt.wantErr == nil {
				if err != nil || len(got) != 1 {
					t.Fatalf("lookup = %v, %v; want one", got, err)
				}
				return
			}
			if !errors.Is(err, connectors.ErrLookupUnsupported) {
				t.Fatalf("lookup = %v, %v; want an error wrapping ErrLookupUnsupported", got, err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			st := stats(t, srv)
			if n := st.ByRoute["GET /Users"] + st.ByRoute["GET /Groups"] - sum(st.RefusedFilters); n != 1 {
				t.Errorf("%d unfiltered list requests, want 1: the first page tells the total", n)
			}
		})
	}
}

// TestLookupErrorsAreNotRefusals: a 500, 503 or 429 to a filtered
// lookup is an error, not a refused form: the form is used again once the
// server is well.
func TestLookupErrorsAreNotRefusals(t *testing.T) {
	srv := peers.SCIMForTest(t)
	ids := seedUsers(t, openTarget(t, srv.URL, srv.Token, nil), 2)
	for _, tt := range []struct {
		name  string
		knobs peers.SCIMKnobs
	}{
		{"errors", peers.SCIMKnobs{ErrorRate: 1}},
		{"throttled", peers.SCIMKnobs{ThrottleRate: 1, RetryAfter: 5 * time.Second}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// maxRetryWait 0s: the 429 comes back at once, as a RateLimitError.
			c := openTarget(t, srv.URL, srv.Token, func(c *Config) { c.MaxRetryWait = "0s" })
			if _, err := c.features(t.Context()); err != nil {
				t.Fatal(err)
			}
			setKnobs(t, srv, tt.knobs)
			if got, err := lookupIDs(t.Context(), c, connectors.MatchEmail, "u1@example.org"); err == nil || errors.Is(err, connectors.ErrLookupUnsupported) {
				t.Fatalf("lookup = %v, %v; want the server's error", got, err)
			}
			setKnobs(t, srv, peers.SCIMKnobs{})
			got, err := lookupIDs(t.Context(), c, connectors.MatchEmail, "u1@example.org")
			if err != nil || len(got) != 1 || got[0] != ids[1] {
				t.Fatalf("lookup once the server is well = %v, %v", got, err)
			}
			if st := stats(t, srv); st.Total != 1 {
				t.Errorf("%d requests, want 1 (emails.value eq, not refused)", st.Total)
			}
			wantLines(t, describe(t, c), "filter forms refused: none so far")
		})
	}
}

// TestKnobsAtRunTime: the latency knob makes every list page take at
// least its time; turning the knobs off at run time gives fast,
// filtered lookups again to a new connector. The connector that learnt
// a refusal keeps it (its life is bounded by the pool).
func TestKnobsAtRunTime(t *testing.T) {
	srv := peers.SCIMForTest(t)
	ids := seedUsers(t, openTarget(t, srv.URL, srv.Token, nil), 5)
	const pageLatency = 200 * time.Millisecond
	setKnobs(t, srv, peers.SCIMKnobs{ListLatency: pageLatency, ListLatencyMax: pageLatency + 50*time.Millisecond, RefuseFilters: []string{"emails.value"}})
	slow := openTarget(t, srv.URL, srv.Token, func(c *Config) { c.PageSize = 2 })
	began := time.Now()
	n := 0
	if err := slow.ListUsers(t.Context(), func(connectors.TargetUser) error { n++; return nil }); err != nil || n != 5 {
		t.Fatalf("list: %d users, %v", n, err)
	}
	if took, want := time.Since(began), 3*pageLatency; took < want {
		t.Errorf("3 pages in %v, want at least %v", took, want)
	}
	if got, err := lookupIDs(t.Context(), slow, connectors.MatchEmail, "u2@example.org"); err != nil || len(got) != 1 || got[0] != ids[2] {
		t.Fatalf("slow lookup = %v, %v", got, err)
	}

	setKnobs(t, srv, peers.SCIMKnobs{})
	fresh := openTarget(t, srv.URL, srv.Token, nil)
	for _, c := range []*scimConnector{fresh, slow} {
		if got, err := lookupIDs(t.Context(), c, connectors.MatchEmail, "u2@example.org"); err != nil || len(got) != 1 || got[0] != ids[2] {
			t.Fatalf("lookup = %v, %v", got, err)
		}
	}
	st := stats(t, srv)
	// fresh: discovery and one filtered GET; slow: emails eq, learnt before.
	if st.Total != 3 || sum(st.RefusedFilters) != 0 || st.ByRoute["GET /Users"] != 2 {
		t.Errorf("stats %+v, want 3 requests, no refusal", st)
	}
}

// TestCancelStopsPromptly: a cancelled listing, lookup or discovery
// returns at once, even while the server takes seconds to answer, and
// calls nothing after it returned.
func TestCancelStopsPromptly(t *testing.T) {
	srv := peers.SCIMForTest(t)
	seedUsers(t, openTarget(t, srv.URL, srv.Token, nil), 3)
	const latency, cancelAfter, prompt = 3 * time.Second, 150 * time.Millisecond, time.Second
	tests := []struct {
		name  string
		knobs peers.SCIMKnobs
		run   func(ctx context.Context, c *scimConnector, calls *atomic.Int32) error
	}{
		{"list users", peers.SCIMKnobs{ListLatency: latency}, func(ctx context.Context, c *scimConnector, calls *atomic.Int32) error {
			return c.ListUsers(ctx, func(connectors.TargetUser) error { calls.Add(1); return nil })
		}},
		{"lookup scanning", peers.SCIMKnobs{ListLatency: latency, RefuseFilters: []string{"userName"}}, func(ctx context.Context, c *scimConnector, calls *atomic.Int32) error {
			_, err := c.LookupUsers(ctx, connectors.MatchUserName, "u1")
			return err
		}},
		{"discovery held by another request", peers.SCIMKnobs{Latency: latency}, func(ctx context.Context, c *scimConnector, calls *atomic.Int32) error {
			// Another request, not cancelled, is reading /ServiceProviderConfig.
			go func() { _, _ = c.features(context.WithoutCancel(ctx)) }()
			time.Sleep(20 * time.Millisecond)
			_, err := c.LookupUsers(ctx, connectors.MatchUserName, "u1")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setKnobs(t, srv, tt.knobs)
			c := openTarget(t, srv.URL, srv.Token, nil)
			if tt.knobs.Latency == 0 {
				if _, err := c.features(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), cancelAfter)
			defer cancel()
			var calls atomic.Int32
			began := time.Now()
			err := tt.run(ctx, c, &calls)
			took := time.Since(began)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want one wrapping context.DeadlineExceeded", err)
			}
			if took > prompt {
				t.Errorf("returned %v after the start, %v after the cancel; want within %v", took, took-cancelAfter, prompt)
			}
			after := calls.Load()
			time.Sleep(100 * time.Millisecond)
			if calls.Load() != after {
				t.Error("fn called after the listing returned")
			}
		})
	}
}

// TestRefusalOfUnusualValue: a refusal of a filter whose value has
// characters a parser may stumble on (a quote) may be about the value, so
// it is not remembered; the same form with a plain value is tried, and
// its refusal is.
func TestRefusalOfUnusualValue(t *testing.T) {
	srv := peers.SCIMForTest(t)
	seeder := openTarget(t, srv.URL, srv.Token, nil)
	odd, err := seeder.CreateUser(t.Context(), connectors.User{ExternalID: "odd", UserName: `O"Brien`, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	seedUsers(t, seeder, 1)
	setKnobs(t, srv, peers.SCIMKnobs{RefuseFilters: []string{"userName"}})
	c := openTarget(t, srv.URL, srv.Token, nil)
	for _, q := range []struct {
		value       string
		wantRefused int // refusals counted by the server so far
	}{{`o"brien`, 1}, {`O"Brien`, 2}, {"u0", 3}, {"U0", 3}, {`o"brien`, 3}} {
		got, err := lookupIDs(t.Context(), c, connectors.MatchUserName, q.value)
		if err != nil || len(got) != 1 {
			t.Fatalf("lookup %q = %v, %v", q.value, got, err)
		}
		if q.value == `o"brien` && got[0] != odd {
			t.Errorf("lookup %q = %v, want %s", q.value, got, odd)
		}
		if n := sum(stats(t, srv).RefusedFilters); n != q.wantRefused {
			t.Errorf("after lookup %q: %d refusals, want %d", q.value, n, q.wantRefused)
		}
	}
}

// TestFilterUnimplemented: a 501 to a filtered lookup turns filters off
// for the connector, as if it had advertised none; lookups page through.
func TestFilterUnimplemented(t *testing.T) {
	f := newFakeSCIM(t, func(f *fakeSCIM) { f.spc, f.filter = spcJSON(true, true, false, 0), "unimplemented" })
	c, _ := openFake(t, f, nil)
	ctx := t.Context()
	for i := range 4 {
		if _, err := c.CreateUser(ctx, connectors.User{ExternalID: fmt.Sprint("x", i), UserName: fmt.Sprint("n", i), Email: fmt.Sprintf("n%d@example.org", i), Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []struct{ attr, value string }{{connectors.MatchEmail, "N2@example.org"}, {connectors.MatchUserName, "N3"}} {
		got, err := lookupIDs(ctx, c, q.attr, q.value)
		if err != nil || len(got) != 1 {
			t.Fatalf("lookup %s %q = %v, %v", q.attr, q.value, got, err)
		}
	}
	if n := f.count("GET /Users?count=100&filter="); n != 1 {
		t.Errorf("%d filtered requests, want 1: %q", n, f.log())
	}
	wantLines(t, describe(t, c), "filter: no (refused by the server)")
}

// TestCancelWhileTokenFetched: a request waiting for an OAuth 2.0 token
// from a slow token endpoint returns when its ctx ends; the token, once
// it comes, serves the next request.
func TestCancelWhileTokenFetched(t *testing.T) {
	release := make(chan struct{})
	ts := newTokenServer(t, func(ts *tokenServer) {
		ts.answer = func(http.ResponseWriter, int) bool {
			select {
			case <-release:
			case <-time.After(3 * time.Second):
			}
			return false
		}
	})
	t.Cleanup(func() { close(release) }) // before ts.Close, which waits for the handler
	f := newFakeSCIM(t, func(f *fakeSCIM) { f.spc = spcJSON(true, true, false, 0) })
	c, _ := openConfig(t, oauthConfig(t, f.URL, ts.URL))
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := c.LookupUsers(ctx, connectors.MatchUserName, "x")
	if took := time.Since(began); !errors.Is(err, context.DeadlineExceeded) || took > time.Second {
		t.Fatalf("lookup = %v after %v; want context.DeadlineExceeded within 1s", err, took)
	}
	release <- struct{}{}
	if _, err := c.LookupUsers(t.Context(), connectors.MatchUserName, "x"); err != nil {
		t.Fatal(err)
	}
	if n := ts.count(); n != 1 {
		t.Errorf("%d token requests, want 1: the abandoned one's token is reused", n)
	}
}
