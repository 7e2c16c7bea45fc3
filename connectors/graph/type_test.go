package graph_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/all"
	"github.com/idsync/idsync/connectors/graph"
)

// TestTypeBesideOthers checks the type as it would be registered: its
// flags share names with other types only for the same settings key, and
// its example settings parse. It is an external test: connectors/all
// will import this package once graph is registered.
func TestTypeBesideOthers(t *testing.T) {
	r := all.Registry()
	for _, f := range graph.Type.Flags {
		for name, other := range r {
			for _, of := range other.Flags {
				if of.Name == f.Name && of.Key != f.Key {
					t.Errorf("flag --%s sets %q here but %q in %s", f.Name, f.Key, of.Key, name)
				}
			}
		}
	}
	r["graph"] = graph.Type
	for _, s := range []string{
		`{"tenant":"contoso.onmicrosoft.com","clientId":"11111111-2222-3333-4444-555555555555","clientSecret":"env:GRAPH_SECRET","domain":"contoso.com"}`,
		`{"tenant":"t","clientId":"c","clientSecret":"file:/run/secrets/graph","deprovision":"delete","pageSize":500,
		  "externalIdAttribute":"extension_0123_idsyncId","rateLimit":{"requests":500,"per":"10s"},"maxRetryWait":"0s","replicationWait":"10s"}`,
	} {
		if _, err := r.Parse("graph", json.RawMessage(s)); err != nil {
			t.Errorf("Parse(%s): %v", s, err)
		}
	}
	_, err := r.Parse("graph", json.RawMessage(`{"tenant":"t","clientId":"c","clientSecret":"Xy8Q~pasted.secret"}`))
	if err == nil || strings.Contains(err.Error(), "pasted") {
		t.Errorf("a pasted secret: %v, want refused without quoting it", err)
	}
	if _, err := r.Parse("graph", json.RawMessage(`{"tenant":"t","clientId":"c","clientSecret":"env:X","clientSecrte":"x"}`)); err == nil {
		t.Errorf("a misspelt key was taken")
	}
	want := connectors.Cadence{PollInterval: 5 * time.Minute, BreakerReset: 30 * time.Minute, ResyncInterval: 24 * time.Hour}
	if c := r.Cadence("graph"); c != want {
		t.Errorf("cadence %+v", c)
	}
}
