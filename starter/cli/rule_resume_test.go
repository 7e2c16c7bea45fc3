package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/workflows"
)

func TestDescribeResume(t *testing.T) {
	until := time.Date(2026, 12, 5, 21, 30, 0, 0, time.UTC)
	tests := []struct {
		name          string
		before, after workflows.RuleStatus
		want          []string
	}{
		{
			name:   "breaker open: closed now",
			before: workflows.RuleStatus{State: workflows.StateCircuitOpen, BreakerOpenUntil: until, ConsecutiveFailures: 5},
			after: workflows.RuleStatus{State: workflows.StateResyncing, ActiveResync: "rule/hr/resync-3",
				LastResync: &workflows.ResyncSummary{WorkflowID: "rule/hr/resync-3", Reason: workflows.ReasonBreaker}},
			want: []string{"rule hr: the circuit breaker was open until 2026-12-05 21:30:00 UTC",
				"full resync rule/hr/resync-3 started now", "closes the breaker", "polling resumes", "starter status hr"},
		},
		{
			name:   "paused",
			before: workflows.RuleStatus{State: workflows.StatePaused},
			after:  workflows.RuleStatus{State: workflows.StateIdle},
			want:   []string{"rule hr: resumed; now idle"},
		},
		{
			name:   "failing: polls now",
			before: workflows.RuleStatus{State: workflows.StateFailing, ConsecutiveFailures: 2, LastErrorClass: workflows.ErrorClassAuth},
			after:  workflows.RuleStatus{State: workflows.StateFailing, ConsecutiveFailures: 2},
			want:   []string{"rule hr: polls now", "2 failed in a row", "auth"},
		},
		{
			name:   "healthy: nothing to resume",
			before: workflows.RuleStatus{State: workflows.StateIdle},
			after:  workflows.RuleStatus{State: workflows.StateIdle},
			want:   []string{"rule hr: was neither paused nor failing; now idle"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describeResume("hr", tt.before, tt.after)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q\nwant it to contain %q", got, w)
				}
			}
		})
	}
}

// TestStatusErrorInFullWithClass: `status NAME` shows the last error in
// full with its class, and the table of rules keeps the error's cause
// (its end) where it has to shorten it.
func TestStatusErrorInFullWithClass(t *testing.T) {
	cause := "401 Unauthorized: invalid bearer token"
	st := workflows.RuleStatus{Name: "hr", State: workflows.StateFailing, ConsecutiveFailures: 1,
		LastError:      "poll: apply 3 changes to app: users: user ada: look up user by externalId: scim: list users: GET https://app.example/scim/v2/Users: " + cause,
		LastErrorClass: workflows.ErrorClassAuth}
	var b bytes.Buffer
	printRuleStatus(&b, st, false)
	if !strings.Contains(b.String(), "last error (auth): "+st.LastError+"\n") {
		t.Errorf("status NAME:\n%s\nwant the last error in full, with its class", b.String())
	}
	b.Reset()
	printRuleTable(&b, []workflows.RuleStatus{st})
	if !strings.Contains(b.String(), cause) || !strings.Contains(b.String(), "auth") {
		t.Errorf("status:\n%s\nwant the cause %q and the class", b.String(), cause)
	}
}

// TestSyncBreakerNote: `sync` on a rule whose breaker is open says that
// a complete resync closes it; otherwise it says nothing more.
func TestSyncBreakerNote(t *testing.T) {
	open := workflows.RuleStatus{State: workflows.StateCircuitOpen, BreakerOpenUntil: time.Date(2026, 12, 5, 21, 30, 0, 0, time.UTC)}
	tests := []struct {
		name   string
		before workflows.RuleStatus
		req    workflows.SyncRequest
		want   string
	}{
		{name: "open, full", before: open, req: workflows.SyncRequest{Scope: workflows.ScopeBoth},
			want: "the circuit breaker was open until 2026-12-05 21:30:00 UTC: this resync closes it when it succeeds, and polling resumes"},
		{name: "open, dry run", before: open, req: workflows.SyncRequest{Scope: workflows.ScopeBoth, DryRun: true},
			want: "the circuit breaker is open until 2026-12-05 21:30:00 UTC; a dry run does not close it (`starter rule resume` does)"},
		{name: "open, users only", before: open, req: workflows.SyncRequest{Scope: workflows.ScopeMembers},
			want: "the circuit breaker is open until 2026-12-05 21:30:00 UTC; only a resync of users and groups closes it (`starter rule resume` runs one)"},
		{name: "closed", before: workflows.RuleStatus{State: workflows.StateIdle}, req: workflows.SyncRequest{Scope: workflows.ScopeBoth}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := breakerNote(tt.before, tt.req); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
