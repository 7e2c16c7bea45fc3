package google_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/all"
	"github.com/idsync/idsync/connectors/google"
)

// TestTypeBesideOthers checks the type as it would be registered: its
// flags share names with other types only for the same settings key, and
// its example settings parse. It is an external test: connectors/all will
// import this package once google is registered.
func TestTypeBesideOthers(t *testing.T) {
	r := all.Registry()
	if _, taken := r["google"]; taken {
		t.Log("google is registered already")
	}
	for _, f := range google.Type.Flags {
		for name, other := range r {
			for _, of := range other.Flags {
				if of.Name == f.Name && of.Key != f.Key {
					t.Errorf("flag --%s sets %q here but %q in %s", f.Name, f.Key, of.Key, name)
				}
			}
		}
	}
	r["google"] = google.Type
	for _, s := range []string{
		`{"domain":"example.org","subject":"a@example.org","credentials":"file:/run/secrets/sa.json"}`,
		`{"domain":"example.org","subject":"a@example.org","credentials":"env:K","deprovision":"delete","pageSize":200,"readOnly":true}`,
	} {
		if _, err := r.Parse("google", json.RawMessage(s)); err != nil {
			t.Errorf("Parse(%s): %v", s, err)
		}
	}
	_, err := r.Parse("google", json.RawMessage(`{"domain":"example.org","subject":"a@example.org","credentials":"{\"private_key\":\"x\"}"}`))
	if err == nil || strings.Contains(err.Error(), "private_key") {
		t.Errorf("a pasted key: %v, want refused without quoting it", err)
	}
	want := connectors.Cadence{PollInterval: 5 * time.Minute, BreakerReset: 30 * time.Minute, ResyncInterval: 24 * time.Hour}
	if c := r.Cadence("google"); c != want {
		t.Errorf("cadence %+v", c)
	}
}
