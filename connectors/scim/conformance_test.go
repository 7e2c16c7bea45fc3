package scim

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/connectortest"
	"github.com/idsync/idsync/internal/peers"
)

// conformancePageSize makes the suite page past one page with a few
// users: the server's own page cap is 20.
const conformancePageSize = 5

// TestConformance runs the target suite through every SCIM connection
// type (the generic one and each vendor profile), opened as the worker
// opens them (through the registry), against the scimmy test server: a
// vendor profile is pointed at it by baseUrl, Zoom's OAuth at a token
// endpoint that hands out the server's token. The request budgets are
// lifted, or GitHub's 1,000 writes an hour would take the suite an hour.
// "scim-degraded" is the generic type against a server that refuses
// every email and group-name filter form and answers in 1–3 ms, so that
// lookups go the way of a paged scan.
func TestConformance(t *testing.T) {
	tests := []struct {
		connType string
		knobs    peers.SCIMKnobs
		settings func(t *testing.T, srv *peers.SCIM) map[string]any
		modes    []string
	}{
		{connType: "scim"},
		{connType: "scim", knobs: peers.SCIMKnobs{Latency: time.Millisecond, LatencyMax: 3 * time.Millisecond,
			RefuseFilters: []string{"emails", "emails.value", "displayName"}}},
		// DELETE only deactivates on Slack: "delete" is disabling there.
		{connType: "slack", modes: []string{connectors.DeprovisionDisable}},
		{connType: "zoom", settings: func(t *testing.T, srv *peers.SCIM) map[string]any {
			return map[string]any{"token": nil, "tokenUrl": tokenEndpoint(t, srv.Token), "accountId": "acc-7", "clientId": "idsync",
				"clientSecret": secretFile(t, "zoom-secret")}
		}},
		{connType: "github-emu", settings: func(*testing.T, *peers.SCIM) map[string]any {
			return map[string]any{"enterprise": "octo"}
		}},
		{connType: "aquera"},
	}
	for _, tt := range tests {
		name := tt.connType
		if len(tt.knobs.RefuseFilters) > 0 {
			name += "-degraded"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := peers.SCIMForTest(t)
			if err := srv.SetKnobs(t.Context(), tt.knobs); err != nil {
				t.Fatal(err)
			}
			token := secretFile(t, srv.Token)
			settings := map[string]any{"baseUrl": srv.URL, "token": token, "pageSize": conformancePageSize,
				"rateLimit": map[string]any{"requests": 100_000, "per": "1s"}}
			if tt.settings != nil {
				for k, v := range tt.settings(t, srv) {
					if v == nil {
						delete(settings, k)
					} else {
						settings[k] = v
					}
				}
			}
			h := connectortest.TargetHarness{
				Open:       func(t *testing.T) connectors.Target { return openType(t, tt.connType, settings) },
				PageSize:   conformancePageSize,
				Attributes: []string{"title", "department", "employeeNumber", "phoneNumber"},
				Modes:      tt.modes,
				// An administrator's own SCIM client, which GitHub EMU's
				// rule of an externalId on every user does not bind.
				CreateUnmanaged: func(t *testing.T, u connectors.User) string {
					id, err := openType(t, "scim", map[string]any{"baseUrl": srv.URL, "token": token}).CreateUser(t.Context(), u)
					if err != nil {
						t.Fatalf("create an unmanaged user: %v", err)
					}
					return id
				},
			}
			if tt.modes != nil && !slices.Contains(tt.modes, connectors.DeprovisionDelete) {
				h.MissingID = "2819c223-7f76-453a-919d-413861904646" // RFC 7643's example id
			}
			connectortest.RunTarget(t, h)
			if len(tt.knobs.RefuseFilters) > 0 {
				// The suite must have gone the way of the refusals.
				st, err := srv.Stats(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if len(st.RefusedFilters) == 0 {
					t.Errorf("the server refused no filter: the degraded paths were not exercised")
				}
				t.Logf("filters refused: %v", st.RefusedFilters)
			}
		})
	}
}

// openType opens a connection of a SCIM connection type through the
// registry of the SCIM types.
func openType(t *testing.T, connType string, settings map[string]any) connectors.Target {
	t.Helper()
	raw, err := json.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	conn, err := connectors.Registry(Types()).Open(t.Context(), "conformance", connType, raw, logger)
	if err != nil {
		t.Fatalf("open %s: %v", connType, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	tgt, err := connectors.AsTarget(conn)
	if err != nil {
		t.Fatal(err)
	}
	return tgt
}

// tokenEndpoint is an OAuth token endpoint that grants token to any
// client, for Zoom's Server-to-Server OAuth in front of the test server.
func tokenEndpoint(t *testing.T, token string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "bearer", "expires_in": 3600})
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}
