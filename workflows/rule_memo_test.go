package workflows

import (
	"strings"
	"testing"
	"time"
)

// TestStatusMemo: the memo keeps the figures no search attribute holds,
// and of a long error its end, where the cause is.
func TestStatusMemo(t *testing.T) {
	long := "poll: " + strings.Repeat("x", 600) + ": 401 Unauthorized"
	for _, tc := range []struct {
		name    string
		st      RuleStatus
		wantErr string
	}{
		{name: "no error", st: RuleStatus{ManagedUsers: 3, ManagedGroups: 1, PollInterval: time.Minute}},
		{name: "short error", st: RuleStatus{LastError: "poll: 401 Unauthorized", LastErrorClass: ErrorClassAuth}, wantErr: "poll: 401 Unauthorized"},
		{name: "long error", st: RuleStatus{LastError: long}, wantErr: "…" + long[len(long)-memoErrorLen:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := statusMemo(tc.st, false)
			if m.ManagedUsers != tc.st.ManagedUsers || m.ManagedGroups != tc.st.ManagedGroups || m.PollInterval != tc.st.PollInterval ||
				m.LastErrorClass != tc.st.LastErrorClass || m.LastError != tc.wantErr {
				t.Errorf("statusMemo(%+v) = %+v", tc.st, m)
			}
			if m.Summary != "" {
				t.Errorf("a rule from before the summary has none: %q", m.Summary)
			}
		})
	}
}

// TestMemoSummary: the memo's summary line says what the rule is and how
// it is, and leaves out the moments of a poll.
func TestMemoSummary(t *testing.T) {
	base := RuleStatus{SourceConnection: "hr", SourceType: "ldap", TargetConnection: "app", TargetType: "scim", ManagedUsers: 12, ManagedGroups: 3}
	for _, tc := range []struct {
		name string
		edit func(*RuleStatus)
		want string
	}{
		{"idle", func(st *RuleStatus) { st.State = StateIdle }, "idle · hr (ldap) → app (scim) · managed 12 users, 3 groups"},
		{"polling is idle", func(st *RuleStatus) { st.State = StatePolling }, "idle · hr (ldap)"},
		{"polling while failing", func(st *RuleStatus) {
			st.State, st.ConsecutiveFailures, st.LastErrorClass = StatePolling, 2, ErrorClassAuth
		}, "failing (auth) · hr"},
		{"breaker open", func(st *RuleStatus) { st.State, st.LastErrorClass = StateCircuitOpen, ErrorClassNetwork }, "circuit_open (network) ·"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := base
			tc.edit(&st)
			if got := statusMemo(st, true).Summary; !strings.HasPrefix(got, tc.want) {
				t.Errorf("summary = %q, want it to start %q", got, tc.want)
			}
		})
	}
}
