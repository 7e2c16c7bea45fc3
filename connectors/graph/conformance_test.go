package graph

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/connectortest"
	"github.com/idsync/idsync/internal/graphfake"
)

const (
	testTenant   = "contoso.onmicrosoft.com"
	testClient   = "11111111-2222-3333-4444-555555555555"
	testSecret   = "s3cret~value"
	testDomain   = "contoso.example"
	testPageSize = 5
)

// skipHardUserNames skips the suites' hard-characters check: it puts
// each hard value (spaces, commas, parentheses, non-ASCII letters …) in
// the userName, and Entra ID takes only A-Z a-z 0-9 ' . - _ ! # ^ ~
// before the @ of a userPrincipalName, as the fake does: a rule of the
// store, not a defect of the connector. TestHardValues puts the same
// values everywhere else, and TestUserPrincipalName covers what a
// userPrincipalName can hold (an apostrophe, another letter case).
var skipHardUserNames = map[string]string{
	"hard-characters": "Entra ID refuses these characters in a userPrincipalName (see TestHardValues, TestUserPrincipalName)",
}

// startFake starts a Graph fake for the test's connections.
func startFake(t *testing.T, knobs graphfake.Knobs) *graphfake.Server {
	t.Helper()
	srv := graphfake.Start(graphfake.Options{Tenant: testTenant, ClientID: testClient, ClientSecret: testSecret})
	t.Cleanup(srv.Close)
	srv.SetKnobs(knobs)
	return srv
}

// settings are a connection's settings against srv, with extra on top
// (a nil value removes a key).
func settings(t *testing.T, srv *graphfake.Server, extra map[string]any) map[string]any {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := map[string]any{"tenant": testTenant, "clientId": testClient, "clientSecret": "file:" + path,
		"authority": srv.AuthorityURL(), "graphUrl": srv.GraphURL(), "domain": testDomain, "pageSize": testPageSize,
		"rateLimit": map[string]any{"requests": 100_000, "per": "1s"}, "replicationWait": "5s"}
	for k, v := range extra {
		if v == nil {
			delete(s, k)
		} else {
			s[k] = v
		}
	}
	return s
}

// open opens a graph connection through the registry, as the worker does.
func open(t *testing.T, s map[string]any) connectors.Connector {
	t.Helper()
	return connectortest.Open(t, Type, s)
}

func openTarget(t *testing.T, s map[string]any) connectors.Target {
	t.Helper()
	tgt, err := connectors.AsTarget(open(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return tgt
}

// TestConformance runs the target suite against the fake: plain, and
// with latency, a 429 (Retry-After 0 s, waited out in the transport)
// every 17th request, a 503 every 29th and a replication delay of
// 150 ms on reads and member references after a create.
func TestConformance(t *testing.T) {
	for _, tt := range []struct {
		name  string
		knobs graphfake.Knobs
	}{
		{"plain", graphfake.Knobs{}},
		{"throttled", graphfake.Knobs{Latency: 200 * time.Microsecond, ThrottleEvery: 17, UnavailableEvery: 29, ReplicationDelay: 150 * time.Millisecond}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, tt.knobs)
			s := settings(t, srv, nil)
			connectortest.RunTarget(t, connectortest.TargetHarness{
				Open:       func(t *testing.T) connectors.Target { return openTarget(t, s) },
				PageSize:   testPageSize,
				Attributes: []string{"title", "department", "employeeNumber", "phoneNumber"},
				Skip:       skipHardUserNames,
			})
			st := srv.Stats()
			t.Logf("fake: %+v", st)
			if tt.knobs.ThrottleEvery > 0 && (st.Throttled == 0 || st.Unavailable == 0 || st.Replication == 0) {
				t.Errorf("the knobs were not exercised: %+v", st)
			}
		})
	}
}
