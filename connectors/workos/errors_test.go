package workos

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/workosfake"
)

// TestErrors: answers become the errors the engine classifies, quote
// WorkOS's bodies, and never the API key.
func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		knobs   workosfake.Knobs
		key     string // "" for the right one
		is      error  // a sentinel the error must match, or nil
		rate    bool   // a *connectors.RateLimitError
		stage   string // the stage Test names
		contain string
	}{
		{"bad key", workosfake.Knobs{}, "sk_test_wrong", connectors.ErrUnauthorized, false, connectors.StageAuth, "401 Unauthorized (unauthorized): Unauthorized"},
		{"throttled", workosfake.Knobs{ThrottleRate: 1, RetryAfter: 2 * time.Second}, "", nil, true, connectors.StagePermissions, "429"},
		{"outage", workosfake.Knobs{Outage: true}, "", nil, false, connectors.StagePermissions, "503 Service Unavailable (service_unavailable)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := workosfake.ForTest(t, workosfake.Options{Knobs: tt.knobs})
			srv.Directory().Populate(3)
			c := open(t, srv, nil)
			c.client.maxWait = 10 * time.Millisecond
			if tt.key != "" {
				c.client.key = tt.key
			}
			srv.ResetRequests()
			err := c.ListUsers(t.Context(), func(connectors.User) error { return nil })
			if err == nil {
				t.Fatal("ListUsers succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%v is not %v", err, tt.is)
			}
			var rl *connectors.RateLimitError
			if errors.As(err, &rl) != tt.rate || (tt.rate && rl.RetryAfter != 2*time.Second) {
				t.Errorf("%v: rate limit %t (%v), want %t with 2s", err, errors.As(err, &rl), rl, tt.rate)
			}
			for _, s := range []error{connectors.ErrUnauthorized, connectors.ErrRejected, connectors.ErrNotFound} {
				if s != tt.is && errors.Is(err, s) {
					t.Errorf("%v is also %v", err, s)
				}
			}
			if !strings.Contains(err.Error(), tt.contain) {
				t.Errorf("%v does not say %q", err, tt.contain)
			}
			if strings.Contains(err.Error(), srv.APIKey()) || strings.Contains(err.Error(), "sk_test") {
				t.Errorf("the error quotes the API key: %v", err)
			}
			// 401 is final; 429 and 5xx are tried again, 4 times.
			if want := map[bool]int{true: 1, false: 4}[tt.key != ""]; srv.Requests("/directory_users") != want {
				t.Errorf("%d requests, want %d", srv.Requests("/directory_users"), want)
			}
			var te *connectors.TestError
			if err := c.Test(t.Context()); !errors.As(err, &te) || te.Stage != tt.stage {
				t.Errorf("Test: %v, want stage %s", err, tt.stage)
			}
		})
	}
}

// TestTest: a working connection passes; a directory of another
// environment fails at the config stage; Describe says what it uses.
func TestTest(t *testing.T) {
	srv := workosfake.ForTest(t, workosfake.Options{})
	c := open(t, srv, nil)
	if err := c.Test(t.Context()); err != nil {
		t.Fatalf("Test: %v", err)
	}
	lines, err := c.Describe(t.Context())
	if err != nil || len(lines) == 0 || strings.Contains(strings.Join(lines, "\n"), srv.APIKey()) {
		t.Errorf("Describe: %v, %v", lines, err)
	}
	c = open(t, srv, map[string]any{"directory": "directory_01NOTHERE"})
	var te *connectors.TestError
	if err := c.Test(t.Context()); !errors.As(err, &te) || te.Stage != connectors.StageConfig {
		t.Errorf("Test of an unknown directory: %v, want stage config", err)
	}
}

// TestConfig: Validate fills the defaults and reports every problem.
func TestConfig(t *testing.T) {
	good := map[string]any{"apiKey": "env:K", "directory": "directory_01X"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name     string
		settings map[string]any
		want     []string // pieces of the error; none: valid
	}{
		{"defaults", good, nil},
		{"no key, no directory", with("apiKey", nil, "directory", nil), []string{"apiKey is required", "directory is required"}},
		{"literal key", with("apiKey", "sk_live_123"), []string{"secret reference"}},
		{"not a directory id", with("directory", "org_01X"), []string{"not a directory id"}},
		{"page too large", with("pageSize", 101), []string{"pageSize: 101"}},
		{"unknown event type", with("eventTypes", []string{"user.created"}), []string{`"user.created" is not a Directory Sync event type`}},
		{"short retention", with("retention", "10m"), []string{"less than an hour"}},
		{"bad url", with("url", "ftp://x"), []string{"not an http(s) URL"}},
		{"typo", with("pageSizes", 5), []string{`unknown setting "pageSizes" for type workos; did you mean "pageSize"?`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := json.Marshal(tt.settings)
			cfg, err := connectors.Registry{"workos": Type}.Parse("workos", raw)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				c := cfg.(*Config)
				if c.URL != DefaultURL || c.PageSize != 100 || len(c.EventTypes) != len(EventTypes) ||
					time.Duration(c.Retention) != 30*24*time.Hour || c.MaxBatchEvents != 1000 || c.UsersPerSecond != 4 {
					t.Errorf("defaults: %+v", c)
				}
				return
			}
			if !errors.Is(err, connectors.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v does not say %q", err, w)
				}
			}
		})
	}
}
