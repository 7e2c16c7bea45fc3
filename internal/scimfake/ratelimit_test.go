package scimfake

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRateLimitRealTime: N requests within the window pass, the next is
// 429 with a Retry-After that, when waited, lets it pass. Real time, no
// fake clock.
func TestRateLimitRealTime(t *testing.T) {
	s := Start(Options{RateLimit: &RateLimit{Requests: 3, Window: 3 * time.Second}})
	defer s.Close()
	c := newClient(t, s, "")
	for i := range 3 {
		if r := c.do("GET", "/Users", nil); r.status != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, r.status)
		}
	}
	r := c.do("GET", "/Users", nil)
	r.wantError(t, http.StatusTooManyRequests, "")
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs != 1 {
		t.Fatalf("Retry-After %q, want 1", r.header.Get("Retry-After"))
	}
	time.Sleep(time.Duration(secs) * time.Second)
	c.do("GET", "/Users", nil).want(t, http.StatusOK)
	c.do("GET", "/Users", nil).wantError(t, http.StatusTooManyRequests, "")
}

type step struct {
	advance      time.Duration
	method, path string
	body         any
	status       int
	retryAfter   string
}

func runSteps(t *testing.T, s *Server, clk *fakeClock, c *client, steps []step) {
	t.Helper()
	for i, st := range steps {
		clk.advance(st.advance)
		r := c.do(st.method, st.path, st.body)
		if r.status != st.status || r.header.Get("Retry-After") != st.retryAfter {
			t.Fatalf("step %d %s %s: %d Retry-After %q, want %d %q; %s", i, st.method, st.path, r.status, r.header.Get("Retry-After"), st.status, st.retryAfter, r.body)
		}
	}
}

func TestRateLimitBuckets(t *testing.T) {
	t.Run("separate write budget", func(t *testing.T) {
		clk := newFakeClock()
		s := Start(Options{clock: clk.now, RateLimit: &RateLimit{Requests: 2, Window: time.Minute, Writes: 1}})
		defer s.Close()
		c := newClient(t, s, "")
		search := map[string]any{"schemas": []string{schemaSearchRequest}}
		runSteps(t, s, clk, c, []step{
			{0, "GET", "/Users", nil, 200, ""},
			{0, "POST", "/Users/.search", search, 200, ""}, // a read
			{0, "GET", "/Users", nil, 429, "30"},
			{0, "POST", "/Users", userBody("a", ""), 201, ""},
			{0, "POST", "/Users", userBody("b", ""), 429, "60"},
			{59 * time.Second, "POST", "/Users", userBody("b", ""), 429, "1"},
			{time.Second, "POST", "/Users", userBody("b", ""), 201, ""},
			{0, "GET", "/Users", nil, 200, ""}, // refilled one read meanwhile
		})
	})
	t.Run("refused requests cost nothing", func(t *testing.T) {
		clk := newFakeClock()
		s := Start(Options{clock: clk.now, RateLimit: &RateLimit{Requests: 1, Window: 10 * time.Second}})
		defer s.Close()
		c := newClient(t, s, "")
		runSteps(t, s, clk, c, []step{
			{0, "GET", "/Users", nil, 200, ""},
			{0, "GET", "/Users", nil, 429, "10"},
			{5 * time.Second, "GET", "/Users", nil, 429, "5"},
			{5 * time.Second, "GET", "/Users", nil, 200, ""},
		})
	})
	t.Run("burst and fixed Retry-After", func(t *testing.T) {
		clk := newFakeClock()
		s := Start(Options{clock: clk.now, RateLimit: &RateLimit{Requests: 60, Window: time.Minute, Burst: 2, RetryAfter: 7 * time.Second, Status: 503}})
		defer s.Close()
		c := newClient(t, s, "")
		runSteps(t, s, clk, c, []step{
			{0, "GET", "/Users", nil, 200, ""},
			{0, "GET", "/Users", nil, 200, ""},
			{0, "GET", "/Users", nil, 503, "7"},
			{time.Second, "GET", "/Users", nil, 200, ""},
		})
	})
}

func TestSlackDocumentedLimits(t *testing.T) {
	clk := newFakeClock()
	s := Start(Options{Flavor: Slack, clock: clk.now, RateLimit: DocumentedRateLimit(Slack)})
	defer s.Close()
	c := newClient(t, s, "")
	var first User
	for i := range 20 { // POST /Users: bursts of 20
		r := c.do("POST", "/Users", userBody("u"+strconv.Itoa(i), "", "u"+strconv.Itoa(i)+"@example.com")).want(t, http.StatusCreated)
		if i == 0 {
			r.decode(t, &first)
		}
	}
	r := c.do("POST", "/Users", userBody("u20", "", "u20@example.com"))
	r.wantError(t, http.StatusTooManyRequests, "")
	if r.header.Get("Retry-After") != "1" { // 180 a minute: one every 1/3 s
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Other writes draw on the org-wide write budget: 180 at once, of which
	// the creates took 20.
	for i := range 160 {
		if r := c.do("PATCH", "/Users/"+first.ID, patchBody(op("replace", "title", strconv.Itoa(i)))); r.status != http.StatusOK {
			t.Fatalf("write %d: %d %s", i, r.status, r.body)
		}
	}
	c.do("PATCH", "/Users/"+first.ID, patchBody(op("replace", "title", "x"))).wantError(t, http.StatusTooManyRequests, "")
	c.do("GET", "/Users", nil).want(t, http.StatusOK) // reads are apart
	clk.advance(time.Second)                          // 3 creates and 10 writes refilled
	c.do("POST", "/Users", userBody("u20", "", "u20@example.com")).want(t, http.StatusCreated)
	if n := len(s.Users()); n != 21 {
		t.Errorf("%d users, want 21", n)
	}
}

func TestGitHubRateLimit(t *testing.T) {
	clk := newFakeClock()
	s := Start(Options{Flavor: GitHubEMU, Token: "ghp", clock: clk.now, RateLimit: &RateLimit{Requests: 2, Window: time.Hour, Status: http.StatusForbidden}})
	defer s.Close()
	c := newClient(t, s, "ghp")
	for i, wantRemaining := range []string{"1", "0"} {
		r := c.do("GET", "/Users", nil).want(t, http.StatusOK)
		if r.header.Get("x-ratelimit-limit") != "2" || r.header.Get("x-ratelimit-remaining") != wantRemaining ||
			r.header.Get("x-ratelimit-used") != strconv.Itoa(i+1) || r.header.Get("x-ratelimit-reset") == "" {
			t.Errorf("request %d headers %v", i, r.header)
		}
	}
	r := c.do("GET", "/Users", nil)
	e := r.wantGitHubError(t, http.StatusForbidden, "")
	if r.header.Get("retry-after") != "1800" || r.header.Get("x-ratelimit-remaining") != "0" || !strings.Contains(e.Message, "rate limit") {
		t.Errorf("limited: %v %+v", r.header, e)
	}
	reset, _ := strconv.ParseInt(r.header.Get("x-ratelimit-reset"), 10, 64)
	if want := clk.now().Add(time.Hour).Unix(); reset != want {
		t.Errorf("x-ratelimit-reset %d, want %d", reset, want)
	}
	if d := DocumentedRateLimit(GitHubEMU); d.Requests != 5000 || d.Window != time.Hour || d.Status != 403 {
		t.Errorf("DocumentedRateLimit(GitHubEMU) = %+v", d)
	}
	if DocumentedRateLimit(Generic) != nil {
		t.Error("DocumentedRateLimit(Generic) is not nil")
	}
}

func TestFailNextAndRequestLog(t *testing.T) {
	s := Start(Options{ClientID: "cid", ClientSecret: "sec", Token: "tok"})
	defer s.Close()
	c := newClient(t, s, "tok")
	s.FailNext(2, http.StatusServiceUnavailable, 2500*time.Millisecond)

	// The token endpoint is not failed.
	req, _ := http.NewRequest("POST", s.TokenURL, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("cid", "sec")
	tokenOf(t, req, http.StatusOK)

	for range 2 {
		r := c.do("POST", "/Users", userBody("alice", ""))
		r.wantError(t, http.StatusServiceUnavailable, "")
		if r.header.Get("Retry-After") != "3" {
			t.Errorf("Retry-After %q, want 3", r.header.Get("Retry-After"))
		}
	}
	c.do("POST", "/Users", userBody("alice", "")).want(t, http.StatusCreated)
	s.FailNext(1, http.StatusTooManyRequests, 0)
	r := c.do("GET", "/Users", nil)
	r.wantError(t, http.StatusTooManyRequests, "")
	if r.header.Get("Retry-After") != "" {
		t.Errorf("Retry-After %q, want none", r.header.Get("Retry-After"))
	}
	c.do("GET", "/Users", nil).want(t, http.StatusOK)
	if len(s.Users()) != 1 {
		t.Error("a failed request was applied")
	}

	reqs := s.Requests()
	want := []struct {
		method string
		status int
	}{{"POST", 200}, {"POST", 503}, {"POST", 503}, {"POST", 201}, {"GET", 429}, {"GET", 200}}
	if len(reqs) != len(want) {
		t.Fatalf("%d requests logged, want %d: %+v", len(reqs), len(want), reqs)
	}
	for i, w := range want {
		if reqs[i].Method != w.method || reqs[i].Status != w.status || reqs[i].At.IsZero() {
			t.Errorf("request %d: %+v, want %s %d", i, reqs[i], w.method, w.status)
		}
	}
	if reqs[0].Path != "/oauth/token" || !strings.HasSuffix(reqs[1].Path, "/scim/v2/Users") {
		t.Errorf("paths %q %q", reqs[0].Path, reqs[1].Path)
	}
	s.ResetRequests()
	if len(s.Requests()) != 0 {
		t.Error("ResetRequests kept requests")
	}
}
