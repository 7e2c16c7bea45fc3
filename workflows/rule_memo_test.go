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
			m := statusMemo(tc.st)
			if m.ManagedUsers != tc.st.ManagedUsers || m.ManagedGroups != tc.st.ManagedGroups || m.PollInterval != tc.st.PollInterval ||
				m.LastErrorClass != tc.st.LastErrorClass || m.LastError != tc.wantErr {
				t.Errorf("statusMemo(%+v) = %+v", tc.st, m)
			}
		})
	}
}
