package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/reconcile"
)

// ResyncInput is the input of FullResyncWorkflow.
type ResyncInput struct {
	Rule                 activities.RuleSpec `json:"rule"`
	Scope                string              `json:"scope"`
	DryRun               bool                `json:"dryRun,omitempty"`
	AllowMassDeprovision bool                `json:"allowMassDeprovision,omitempty"`
	Reason               string              `json:"reason,omitempty"`
	// HeartbeatTimeout, when set, replaces the Resync activities'
	// heartbeat timeout (resyncHeartbeatTimeout): a test shortens it to
	// show that a target listing far longer than it still completes.
	HeartbeatTimeout time.Duration `json:"heartbeatTimeout,omitempty"`
}

// Timeouts of a resync phase. A phase pages through the whole source and
// target: at 100,000 users and 25 s per 100-user page, one listing of the
// target takes 7 h, and the groups phase lists the target's users again,
// with writes on top (100,000 at 4 in flight and 0.5 s each: 3.5 h). 24 h
// leaves twice that. A long StartToClose costs nothing when a worker dies:
// the heartbeat timeout notices that. The activity heartbeats every
// quarter of it from a goroutine of its own (activities/attempt.go),
// whatever a request takes, so it needs to exceed only the SDK's gap
// between heartbeats (0.8 × the timeout, at most 60 s) with room for a
// slow RPC, not a page's latency; 2 min is four times a connector's
// default request timeout (30 s) all the same.
const (
	resyncStartToClose     = 24 * time.Hour
	resyncHeartbeatTimeout = 2 * time.Minute
	// cursorStartToClose bounds the one request that reads the source's
	// cursor: it need not wait a day for a hung connection.
	cursorStartToClose = 10 * time.Minute
)

// resyncRetry retries a phase a few times: a retry recomputes the
// difference (reconcile is idempotent), and waits on this worker for the
// attempt it replaces to return (activities/attempt.go).
func resyncRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval: 5 * time.Second,
		MaximumInterval: 5 * time.Minute,
		MaximumAttempts: 5,
		NonRetryableErrorTypes: []string{
			activities.ErrTypeConfig, activities.ErrTypeUnauthorized, activities.ErrTypeMassDeprovision,
		},
	}
}

// ResyncResult is what a full resync did.
type ResyncResult struct {
	// Cursor is the source's position taken before anything was read: the
	// rule polls on from there, so nothing that changed meanwhile is lost.
	Cursor string           `json:"cursor,omitempty"`
	Scope  string           `json:"scope"`
	DryRun bool             `json:"dryRun,omitempty"`
	Result reconcile.Result `json:"result"`
}

// FullResyncWorkflow makes the target equal to the scoped source: users
// ("members"), then groups with their memberships. Each phase is one
// heartbeating activity that pages through both sides and returns counts;
// running it twice changes nothing the second time.
func FullResyncWorkflow(ctx workflow.Context, in ResyncInput) (ResyncResult, error) {
	if err := (SyncRequest{Scope: in.Scope}).Validate(); err != nil {
		return ResyncResult{}, temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrTypeConfig, nil)
	}
	logger := workflow.GetLogger(ctx)
	out := ResyncResult{Scope: in.Scope, DryRun: in.DryRun}
	heartbeat := resyncHeartbeatTimeout
	if in.HeartbeatTimeout > 0 {
		heartbeat = in.HeartbeatTimeout
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: resyncStartToClose,
		HeartbeatTimeout:    heartbeat,
		RetryPolicy:         resyncRetry(),
	})
	cctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: cursorStartToClose,
		HeartbeatTimeout:    resyncHeartbeatTimeout,
		RetryPolicy:         resyncRetry(),
	})
	setDetails := func(phase string) {
		workflow.SetCurrentDetails(ctx, resyncMarkdown(in, phase, out.Result))
	}
	if !in.DryRun {
		setDetails("reading the source's cursor")
		if err := workflow.ExecuteActivity(cctx, (*activities.Activities).SourceCursor, in.Rule).Get(ctx, &out.Cursor); err != nil {
			return out, failure("read source cursor", err)
		}
	}
	var phases []string
	if in.Scope != ScopeGroups {
		phases = append(phases, activities.PhaseUsers)
	}
	if in.Scope != ScopeMembers {
		phases = append(phases, activities.PhaseGroups)
	}
	for _, phase := range phases {
		setDetails(phase)
		var res reconcile.Result
		err := workflow.ExecuteActivity(actx, (*activities.Activities).Resync, activities.ResyncInput{
			Rule: in.Rule, Phase: phase, DryRun: in.DryRun, AllowMassDeprovision: in.AllowMassDeprovision,
		}).Get(ctx, &res)
		if err != nil {
			setDetails("failed in " + phase)
			return out, failure("resync "+phase, err)
		}
		out.Result.Merge(res)
		logger.Info("resync phase done", "phase", phase, "users", res.Users, "groups", res.Groups)
	}
	setDetails("done")
	return out, nil
}

// failure wraps an activity's failure as the workflow's own, keeping the
// type and retryability the activity gave it: a MassDeprovisionGuard stays
// a non-retryable MassDeprovisionGuard for the rule, the Web UI and any
// retry policy, rather than becoming a generic, retryable "wrapError".
func failure(what string, err error) error {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return fmt.Errorf("%s: %w", what, err)
	}
	msg := what + ": " + appErr.Message()
	if appErr.NonRetryable() {
		return temporal.NewNonRetryableApplicationError(msg, appErr.Type(), err)
	}
	return temporal.NewApplicationErrorWithCause(msg, appErr.Type(), err)
}

func resyncMarkdown(in ResyncInput, phase string, res reconcile.Result) string {
	dry := ""
	if in.DryRun {
		dry = " (dry run)"
	}
	return fmt.Sprintf("**Full resync of %s%s**: %s, %s\n\n%s",
		in.Rule.Name, dry, in.Scope, phase, countsTable(res.Users, res.Groups))
}
