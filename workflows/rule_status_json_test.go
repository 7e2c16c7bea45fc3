package workflows

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestRuleStatusJSON: a status decodes from the query's form (nanoseconds)
// and from starter's -o json ("2m0s"); it encodes as it always has.
func TestRuleStatusJSON(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{`{"name":"r","pollInterval":120000000000}`, 2 * time.Minute, ""},
		{`{"name":"r","pollInterval":"2m17s"}`, 2*time.Minute + 17*time.Second, ""},
		{`{"name":"r"}`, 0, ""},
		{`{"name":"r","pollInterval":null}`, 0, ""},
		{`{"name":"r","pollInterval":"soon"}`, 0, "pollInterval"},
		{`{"name":"r","pollInterval":true}`, 0, "pollInterval"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			var st RuleStatus
			err := json.Unmarshal([]byte(tt.in), &st)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Name != "r" || st.PollInterval != tt.want {
				t.Errorf("got name %q, poll interval %s; want r, %s", st.Name, st.PollInterval, tt.want)
			}
		})
	}
	b, err := json.Marshal(RuleStatus{Name: "r", PollInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"pollInterval":60000000000`) {
		t.Errorf("encoded %s: the query's form changed", b)
	}
}

// TestStatusHasSettings: the status carries the rule's settings, as
// updated, for `starter rule show`.
func (s *ruleSuite) TestStatusHasSettings() {
	state := ruleState("ldap", func(c *RuleConfig) {
		c.PollInterval = 5 * time.Minute
		c.Concurrency = 7
		c.OnMissing = "report"
	})
	s.mockPoll(okPoll)
	before := s.statusAt(time.Minute)
	var updated RuleStatus
	s.updateAt(2*time.Minute, UpdateNameConfig, ConfigPatch{"breakerReset": json.RawMessage(`600000000000`)}, &updated)
	after := s.statusAt(3 * time.Minute)
	s.runToDelete(state, 10*time.Minute)

	s.Equal(state.Config, before.Config)
	want := state.Config
	want.BreakerReset = 10 * time.Minute
	s.Equal(want, updated.Config, "the update's answer")
	s.Equal(want, after.Config)
}
