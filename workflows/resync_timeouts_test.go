package workflows

import (
	"context"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/reconcile"
)

// TestTimeouts: a resync phase may run for a day (a very slow target's
// listing takes hours) and is watched by a heartbeat timeout that a test
// can shorten; the cursor read is one request and is bounded far sooner.
func (s *resyncSuite) TestTimeouts() {
	type seen struct{ startToClose, heartbeat time.Duration }
	timeouts := func(ctx context.Context) seen {
		info := activity.GetInfo(ctx)
		return seen{info.Deadline.Sub(info.StartedTime).Round(time.Minute), info.HeartbeatTimeout}
	}
	for _, tc := range []struct {
		name      string
		heartbeat time.Duration
		want      seen
	}{
		{name: "defaults", want: seen{24 * time.Hour, 2 * time.Minute}},
		{name: "shortened heartbeat", heartbeat: 3 * time.Second, want: seen{24 * time.Hour, 3 * time.Second}},
	} {
		s.Run(tc.name, func() {
			var cursor, phase seen
			s.env.OnActivity(acts.SourceCursor, mock.Anything, resyncRule).Return(
				func(ctx context.Context, _ activities.RuleSpec) (string, error) {
					cursor = timeouts(ctx)
					return "cur", nil
				}).Once()
			s.env.OnActivity(acts.Resync, mock.Anything, mock.Anything).Return(
				func(ctx context.Context, _ activities.ResyncInput) (reconcile.Result, error) {
					phase = timeouts(ctx)
					return reconcile.Result{}, nil
				}).Once()
			s.env.ExecuteWorkflow(FullResyncWorkflow, ResyncInput{Rule: resyncRule, Scope: ScopeMembers, HeartbeatTimeout: tc.heartbeat})

			s.Require().NoError(s.env.GetWorkflowError())
			s.Equal(tc.want, phase, "resync phase")
			s.Equal(seen{10 * time.Minute, 2 * time.Minute}, cursor, "cursor read")
		})
	}
}
