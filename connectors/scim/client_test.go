package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
)

func TestFilterValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`O"Brien`, `"O\"Brien"`},
		{`back\slash`, `"back\\slash"`},
		{`\"`, `"\\\""`},
		{"Ünïcödé ✓", `"Ünïcödé ✓"`},
		{"tab\tnew\nline", `"tab\u0009new\u000aline"`},
		{"", `""`},
	}
	for _, tt := range tests {
		got := filterValue(tt.in)
		if got != tt.want {
			t.Errorf("filterValue(%q) = %s, want %s", tt.in, got, tt.want)
		}
		// It is a JSON string that decodes to the input.
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil || back != tt.in {
			t.Errorf("filterValue(%q) = %s decodes to %q, %v", tt.in, got, back, err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"Fri, 01 May 2026 12:00:30 GMT", 30 * time.Second},
		{"999999999", 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestErrors maps answers of a fake server to the connectors' errors.
func TestErrors(t *testing.T) {
	date := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	long := "<html>" + strings.Repeat("x", 1000) + "</html>"
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		is         error
		retryAfter time.Duration // for a *connectors.RateLimitError
		contains   []string
	}{
		{"429 seconds", 429, map[string]string{"Retry-After": "7"}, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"429","detail":"slow down"}`,
			nil, 7 * time.Second, []string{"429", "slow down"}},
		{"503 date", 503, map[string]string{"Retry-After": date}, "", nil, time.Hour, []string{"503"}},
		{"409 numeric status", 409, nil, `{"status":409,"scimType":"uniqueness","detail":"taken"}`, connectors.ErrAlreadyExists, 0, []string{"uniqueness", "taken"}},
		{"400 uniqueness", 400, nil, `{"scimType":"uniqueness","detail":"taken"}`, connectors.ErrAlreadyExists, 0, nil},
		{"400 invalid", 400, nil, `{"scimType":"invalidValue","detail":"bad"}`, connectors.ErrRejected, 0, []string{"invalidValue"}},
		{"401", 401, nil, `{"detail":"no"}`, connectors.ErrUnauthorized, 0, nil},
		{"403", 403, nil, "", connectors.ErrUnauthorized, 0, nil},
		{"404", 404, nil, "", connectors.ErrNotFound, 0, nil},
		{"500 html", 500, nil, long, nil, 0, []string{"GET /Users/u1", "500 Internal Server Error", "<html>xxx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			// maxRetryWait 0s: every 429/503 reaches the error mapping.
			c := openTarget(t, srv.URL, "secret-token", func(c *Config) { c.MaxRetryWait = "0s" })
			err := c.UpdateUser(t.Context(), "u1", connectors.User{UserName: "x"})
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			var rl *connectors.RateLimitError
			if got := errors.As(err, &rl); got != (tt.retryAfter > 0) {
				t.Errorf("err = %v: rate limit %v, want %v", err, got, tt.retryAfter > 0)
			} else if got && (rl.RetryAfter < tt.retryAfter-2*time.Second || rl.RetryAfter > tt.retryAfter) {
				t.Errorf("RetryAfter = %s, want %s", rl.RetryAfter, tt.retryAfter)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %q, want it to contain %q", err, s)
				}
			}
			if len(err.Error()) > 400 {
				t.Errorf("err is %d bytes long: %q", len(err.Error()), err)
			}
			if strings.Contains(err.Error(), "secret-token") {
				t.Errorf("err %q contains the token", err)
			}
		})
	}
}

// fakeUsers answers GET /Users with n users, pageLen at a time whatever
// count asks for, reporting a wrong itemsPerPage, and echoing startIndex
// (or 1 when ignoreStart).
func fakeUsers(t *testing.T, n, pageLen int, ignoreStart bool) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
		if start < 1 || ignoreStart {
			start = 1
		}
		var res []map[string]any
		for i := start; i < start+pageLen && i <= n; i++ {
			res = append(res, map[string]any{"id": strconv.Itoa(i), "userName": fmt.Sprint("u", i)})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"schemas":      []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
			"totalResults": n, "startIndex": start, "itemsPerPage": 50, "Resources": res,
		})
	}))
}

func TestPagingFake(t *testing.T) {
	srv := fakeUsers(t, 8, 3, false)
	defer srv.Close()
	c := openTarget(t, srv.URL, "token", nil)
	var got []string
	err := c.ListUsers(t.Context(), func(tu connectors.TargetUser) error {
		got = append(got, tu.ID)
		return nil
	})
	if err != nil || strings.Join(got, ",") != "1,2,3,4,5,6,7,8" {
		t.Errorf("listed %v, %v; want 1..8", got, err)
	}

	srv2 := fakeUsers(t, 8, 3, true)
	defer srv2.Close()
	c2 := openTarget(t, srv2.URL, "token", nil)
	err = c2.ListUsers(t.Context(), func(connectors.TargetUser) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "startIndex") {
		t.Errorf("server ignoring startIndex: err = %v, want an error about startIndex", err)
	}
}

func TestConfigValidate(t *testing.T) {
	c := &Config{BaseURL: "https://scim.example.com/v2", Token: "env:SCIM_TOKEN"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Deprovision != DeprovisionDisable || c.PageSize != 100 || c.MembersPerRequest != 100 || c.Timeout != "30s" {
		t.Errorf("defaults not filled: %+v", c)
	}
	bad := &Config{BaseURL: "ftp://user:pw@host/x", Token: "s3cr3t-literal", Deprovision: "nuke", PageSize: -1, MembersPerRequest: -2, Timeout: "soon"}
	err := bad.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"baseUrl", "token", "deprovision", "pageSize", "membersPerRequest", "timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to mention %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cr3t-literal") {
		t.Errorf("err %q quotes the literal token", err)
	}
	for _, u := range []string{"", "http://", "https://h/x?q=1", "https://u:p@h/"} {
		if err := (&Config{BaseURL: u, Token: "env:X"}).Validate(); err == nil {
			t.Errorf("baseUrl %q: no error", u)
		}
	}
}

// statusServer answers /ServiceProviderConfig as scimmy does, and every
// other request with status, header and body.
func statusServer(t *testing.T, status int, header map[string]string, body string) *httptest.Server {
	t.Helper()
	spc := spcJSON(true, true, false, 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ServiceProviderConfig" {
			spc(w, r)
			return
		}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRateLimit403 tells a 403 that means "slow down" (Google's
// rateLimitExceeded, GitHub's x-ratelimit-remaining: 0 or retry-after)
// from one that means "forbidden".
func TestRateLimit403(t *testing.T) {
	reset := strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		limited    bool
		retryAfter time.Duration
	}{
		{"google rateLimitExceeded", 403, nil,
			`{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"domain":"usageLimits","reason":"rateLimitExceeded"}]}}`, true, 0},
		{"google userRateLimitExceeded", 403, nil,
			`{"error":{"code":403,"errors":[{"reason":"userRateLimitExceeded"}]}}`, true, 0},
		{"google quotaExceeded", 403, nil, `{"error":{"errors":[{"reason":"quotaExceeded"}]}}`, true, 0},
		{"github primary", 403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
			`{"message":"API rate limit exceeded for user ID 1."}`, true, time.Minute},
		{"github secondary", 403, map[string]string{"Retry-After": "30", "X-RateLimit-Remaining": "4000"},
			`{"message":"You have exceeded a secondary rate limit."}`, true, 30 * time.Second},
		{"429 with reset only", 429, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, "", true, time.Minute},
		{"github forbidden", 403, map[string]string{"X-RateLimit-Remaining": "4999"},
			`{"message":"Must have admin rights to Repository."}`, false, 0},
		{"scim forbidden", 403, nil,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"403","detail":"Insufficient scope"}`, false, 0},
		{"empty 403", 403, nil, "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := statusServer(t, tt.status, tt.header, tt.body)
			c := openTarget(t, srv.URL, "token", nil)
			_, err := c.LookupUsers(t.Context(), connectors.MatchUserName, "x")
			var rl *connectors.RateLimitError
			if got := errors.As(err, &rl); got != tt.limited {
				t.Fatalf("err = %v: rate limit %v, want %v", err, got, tt.limited)
			}
			if errors.Is(err, connectors.ErrUnauthorized) == tt.limited {
				t.Errorf("err = %v: ErrUnauthorized %v, want %v", err, !tt.limited, !tt.limited)
			}
			if tt.limited && (rl.RetryAfter < tt.retryAfter-2*time.Second || rl.RetryAfter > tt.retryAfter) {
				t.Errorf("RetryAfter = %s, want %s", rl.RetryAfter, tt.retryAfter)
			}
		})
	}
}

// TestMalformed: a 2xx answer that is not what the request expects is an
// error that quotes the method, the path and the start of the body.
func TestMalformed(t *testing.T) {
	long := "<html><body>" + strings.Repeat("0123456789", 100) + "</body></html>"
	list := func(c *scimConnector) error {
		return c.ListUsers(t.Context(), func(connectors.TargetUser) error { return nil })
	}
	create := func(c *scimConnector) error {
		_, err := c.CreateUser(t.Context(), connectors.User{ExternalID: "m", UserName: "m"})
		return err
	}
	update := func(c *scimConnector) error {
		return c.UpdateUser(t.Context(), "u1", connectors.User{ExternalID: "m", UserName: "m"})
	}
	tests := []struct {
		name   string
		op     func(*scimConnector) error
		status int
		body   string
		method string
		path   string
		reason string
	}{
		{"list HTML", list, 200, "<html>Sign in</html>", "GET", "/Users", "invalid character"},
		{"list long HTML", list, 200, long, "GET", "/Users", "invalid character"},
		{"list array", list, 200, `[{"id":"1"}]`, "GET", "/Users", "cannot unmarshal array"},
		{"list without totalResults", list, 200, `{"Resources":[]}`, "GET", "/Users", "no totalResults"},
		{"list Resources not a list", list, 200, `{"totalResults":1,"Resources":"x"}`, "GET", "/Users", "cannot unmarshal"},
		{"list resource without id", list, 200, `{"totalResults":1,"Resources":[{"userName":"a"}]}`, "GET", "/Users", "list resource 0: no id"},
		{"create empty", create, 201, "", "POST", "/Users", "empty body"},
		{"create null", create, 201, "null", "POST", "/Users", "no id"},
		{"create without id", create, 201, `{"userName":"m"}`, "POST", "/Users", "no id"},
		{"create truncated JSON", create, 201, `{"id":"1","userName":`, "POST", "/Users", "unexpected end"},
		{"update read not an object", update, 200, `["x"]`, "GET", "/Users/u1", "cannot unmarshal"},
		{"update read null", update, 200, `null`, "GET", "/Users/u1", "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := statusServer(t, tt.status, map[string]string{"Content-Type": "text/html"}, tt.body)
			err := tt.op(openTarget(t, srv.URL, "token", nil))
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want a *MalformedError", err)
			}
			if me.Method != tt.method || me.Path != tt.path || me.Status != tt.status {
				t.Errorf("err = %#v, want %s %s %d", me, tt.method, tt.path, tt.status)
			}
			quote := tt.body[:min(len(tt.body), maxErrorQuote)]
			msg := err.Error()
			for _, want := range []string{tt.method + " " + tt.path, tt.reason, strconv.Quote(quote)[1 : len(strconv.Quote(quote))-1]} {
				if !strings.Contains(msg, want) {
					t.Errorf("err = %q, want it to contain %q", msg, want)
				}
			}
			if len(tt.body) > maxErrorQuote && strings.Contains(msg, tt.body[:maxErrorQuote+5]) {
				t.Errorf("err quotes more than %d bytes of the body", maxErrorQuote)
			}
			for _, sentinel := range []error{connectors.ErrRejected, connectors.ErrUnauthorized, connectors.ErrNotFound, connectors.ErrAlreadyExists} {
				if errors.Is(err, sentinel) {
					t.Errorf("err = %v is %v", err, sentinel)
				}
			}
		})
	}
}
