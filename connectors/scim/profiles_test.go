package scim

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/httpx"
)

func TestProfiles(t *testing.T) {
	tests := []struct {
		profile  string
		settings string
		wantErr  string
		check    func(t *testing.T, c *Config)
	}{
		{profile: "slack", settings: `{"token":"env:SLACK"}`, check: func(t *testing.T, c *Config) {
			if c.BaseURL != "https://api.slack.com/scim/v2" || c.Deprovision != DeprovisionDisable {
				t.Errorf("slack: %+v", c)
			}
			if want := (httpx.Limit{Requests: 1000, Writes: 600, Per: time.Minute, Burst: 20}); c.budget != want {
				t.Errorf("slack budget %+v, want %+v", c.budget, want)
			}
		}},
		{profile: "slack", settings: `{"token":"env:SLACK","deprovision":"delete"}`, wantErr: "only deactivates users on DELETE"},
		{profile: "slack", settings: `{"token":"env:SLACK","rateLimit":{"requests":100,"writes":50,"per":"1m"}}`, check: func(t *testing.T, c *Config) {
			if want := (httpx.Limit{Requests: 100, Writes: 50, Per: time.Minute}); c.budget != want {
				t.Errorf("override budget %+v, want %+v", c.budget, want)
			}
		}},
		{profile: "slack", settings: `{"token":"env:SLACK","rateLimit":{"per":"soon"}}`, wantErr: `rateLimit.per "soon"`},
		{profile: "zoom", settings: `{"accountId":"acc-1","clientId":"cid","clientSecret":"env:ZOOM_SECRET"}`, check: func(t *testing.T, c *Config) {
			if c.BaseURL != "https://api.zoom.us/scim2" || c.Auth != AuthOAuth2 || c.TokenURL != zoomTokenURL ||
				c.TokenParams["grant_type"] != "account_credentials" || c.TokenParams["account_id"] != "acc-1" || c.AuthStyle != AuthStyleHeader {
				t.Errorf("zoom: %+v", c)
			}
		}},
		{profile: "zoom", settings: `{"clientId":"cid","clientSecret":"env:ZOOM_SECRET"}`, wantErr: "accountId is required"},
		{profile: "zoom", settings: `{"accountId":"a","auth":"bearer","token":"env:T"}`, wantErr: "Server-to-Server OAuth only"},
		{profile: "github-emu", settings: `{"enterprise":"octo corp","token":"env:GH"}`, check: func(t *testing.T, c *Config) {
			if c.BaseURL != "https://api.github.com/scim/v2/enterprises/octo%20corp" {
				t.Errorf("github base URL %q", c.BaseURL)
			}
		}},
		{profile: "github-emu", settings: `{"token":"env:GH"}`, wantErr: "enterprise is required"},
		{profile: "aquera", settings: `{"token":"env:AQ"}`, wantErr: "tenant's SCIM base URL"},
		{profile: "aquera", settings: `{"token":"env:AQ","baseUrl":"https://acme.aquera.example/scim/v2"}`},
		{profile: "scim", settings: `{"token":"env:T","baseUrl":"https://x.example/scim/v2","enterprise":"e"}`, wantErr: "enterprise is a github-emu setting"},
		{profile: "slack", settings: `{"token":"env:SLACK","accountId":"a"}`, wantErr: "accountId is a zoom setting"},
		{profile: "scim", settings: `{"token":"env:T","baseUrl":"https://x.example/scim/v2","maxRetryWait":"-1s"}`, wantErr: "maxRetryWait"},
	}
	for _, tt := range tests {
		t.Run(tt.profile+" "+tt.settings, func(t *testing.T) {
			c := NewConfig(Profiles[tt.profile])
			// Another vendor's setting is refused as it is decoded.
			err := json.Unmarshal([]byte(tt.settings), c)
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// TestRequireExternalID: a github-emu connection refuses, before sending,
// what GitHub would refuse.
func TestRequireExternalID(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	c := openTarget(t, srv.URL, "t", func(c *Config) {
		c.profile = Profiles["github-emu"]
		c.vendor = map[string]string{"enterprise": "octo"}
	})
	_, err := c.CreateUser(t.Context(), connectors.User{UserName: "ada"})
	if !errors.Is(err, connectors.ErrRejected) || !strings.Contains(err.Error(), "requires externalId") {
		t.Errorf("CreateUser without externalId: %v", err)
	}
	_, err = c.CreateGroup(t.Context(), connectors.Group{DisplayName: "eng"})
	if !errors.Is(err, connectors.ErrRejected) {
		t.Errorf("CreateGroup without externalId: %v", err)
	}
	if posts.Load() != 0 {
		t.Errorf("%d requests sent", posts.Load())
	}
}

// TestRetryAfterWaited: a 429 with a short Retry-After is waited out inside
// the request and the write lands once, without an error.
func TestRetryAfterWaited(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		if posts.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			scimErr(w, http.StatusTooManyRequests, "", "slow down")
			return
		}
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u1","userName":"ada","externalId":"x1"}`))
	}))
	defer srv.Close()
	c := openTarget(t, srv.URL, "t", nil)
	start := time.Now()
	id, err := c.CreateUser(t.Context(), connectors.User{ExternalID: "x1", UserName: "ada", Active: true})
	if err != nil || id != "u1" {
		t.Fatalf("CreateUser = %q, %v", id, err)
	}
	if posts.Load() != 2 {
		t.Errorf("%d POSTs, want 2 (the 429, then the retry)", posts.Load())
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("the retry came after %s, before the Retry-After of 1s", waited)
	}
}
