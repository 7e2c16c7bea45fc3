package workflows

import (
	"strings"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/reconcile"
)

// currentDetails reads the markdown the Web UI shows for the workflow.
func (s *ruleSuite) currentDetails() string {
	v, err := s.env.QueryWorkflow("__temporal_workflow_metadata")
	s.Require().NoError(err)
	var meta sdkpb.WorkflowMetadata
	s.Require().NoError(v.Get(&meta))
	return meta.GetCurrentDetails()
}

// TestSearchAttributesAndDetails: the rule writes the search attributes
// the Web UI's list filters on, and compact current details, table first.
func (s *ruleSuite) TestSearchAttributesAndDetails() {
	state := ruleState("events", func(c *RuleConfig) { c.FailureThreshold = 2 })
	s.mockPoll(func(n int, in activities.PollInput) (activities.PollResult, error) {
		if n == 0 {
			return activities.PollResult{Cursor: "c1", Changes: 5, Result: reconcile.Result{
				Users: reconcile.Counts{Created: 3, Failed: 2}, Failures: []string{"user u9: 400 invalid email"},
			}}, nil
		}
		return failingPolls("FF", errUnauthorized)(n-1, in)
	})
	var healthy, open string
	s.at(90*time.Second, func() { healthy = s.currentDetails() })
	s.at(4*time.Minute, func() { open = s.currentDetails() })
	s.runToDelete(state, 5*time.Minute)

	for name, want := range map[string]any{
		SAKind.GetName():                KindRule,
		SASourceConnection.GetName():    "hr",
		SATargetConnection.GetName():    "app",
		SASourceType.GetName():          "events",
		SATargetType.GetName():          "scim",
		SASyncState.GetName():           StateCircuitOpen,
		SAConsecutiveFailures.GetName(): int64(2),
		SAFailedObjects.GetName():       int64(2),
		SALastSyncTime.GetName():        t0.Add(time.Minute),
	} {
		got := s.rec.searchAttr(name)
		if t, ok := got.(time.Time); ok {
			got = t.UTC()
		}
		s.Equal(want, got, name)
	}

	s.True(strings.HasPrefix(healthy, "**idle** · rule hr-to-app · hr (events) → app (scim) · last: ok: 5 changes\n\n| | created |"),
		"at a glance, then the table:\n%s", healthy)
	s.Contains(healthy, "| users | 3 | 0 | 0 | 0 | 0 | 2 |")
	s.Contains(healthy, "Last error (other): poll: user u9: 400 invalid email")
	s.True(strings.HasPrefix(open, "**circuit_open** · rule hr-to-app"), "at a glance:\n%s", open)
	s.Contains(open, "breaker open until 2025-03-03 09:33:00Z")
	s.Contains(open, "Last error (auth): poll: workday: 401 Unauthorized")
}
