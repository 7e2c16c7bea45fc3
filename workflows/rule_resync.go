package workflows

import (
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/reconcile"
)

// enqueueSync queues a resync; the loop starts it when none is running.
func (r *rule) enqueueSync(req SyncRequest) int {
	t := r.newTicket()
	r.state.SyncQueue = append(r.state.SyncQueue, req)
	r.queued = append(r.queued, t)
	return t
}

// startQueuedResync starts the oldest queued resync, if none is running.
func (r *rule) startQueuedResync() {
	if r.child != nil || len(r.state.SyncQueue) == 0 {
		return
	}
	req, ticket := r.state.SyncQueue[0], r.queued[0]
	r.state.SyncQueue, r.queued = r.state.SyncQueue[1:], r.queued[1:]
	r.started[ticket] = r.startResync(req)
}

// resyncWorkflowID names a rule's n-th resync.
func resyncWorkflowID(rule string, n int) string {
	return fmt.Sprintf("%s%s/resync-%d", RuleIDPrefix, rule, n)
}

// startResync starts a FullResyncWorkflow child and returns its ID, or ""
// when it could not be started. The child is abandoned, not killed, if
// this workflow closes: a resync in progress always finishes.
func (r *rule) startResync(req SyncRequest) string {
	r.state.ResyncSeq++
	id := resyncWorkflowID(r.state.Config.Name, r.state.ResyncSeq)
	cctx := workflow.WithChildOptions(r.ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        id,
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		// A resync that fails is reported; the rule decides what next.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SAKind.ValueSet(KindResync),
			SASourceConnection.ValueSet(r.state.Config.SourceConnection),
			SATargetConnection.ValueSet(r.state.Config.TargetConnection),
		),
	})
	in := ResyncInput{
		Rule: r.spec(), Scope: req.Scope, DryRun: req.DryRun,
		AllowMassDeprovision: req.AllowMassDeprovision, Reason: req.Reason,
	}
	child := workflow.ExecuteChildWorkflow(cctx, FullResyncWorkflow, in)
	summary := &ResyncSummary{WorkflowID: id, Scope: req.Scope, Reason: req.Reason, DryRun: req.DryRun, Started: r.now()}
	// Until the child has started, childID alone tells validateSync that a
	// resync is on its way (it has already left the queue).
	r.childID = id
	if err := child.GetChildWorkflowExecution().Get(r.ctx, nil); err != nil {
		r.childID = ""
		summary.Error = "start: " + boundError(errorMessage(err))
		summary.Finished = r.now()
		r.state.LastResync = summary
		r.setError("resync: start", err)
		r.failedResync(req)
		return ""
	}
	r.logger.Info("full resync started", "workflow_id", id, "scope", req.Scope, "reason", req.Reason)
	r.child, r.childID, r.childReq, r.childDone = child, id, req, false
	r.state.LastResync = summary
	r.updateStatus()
	return id
}

// finishResync takes in the result of the child that just completed.
func (r *rule) finishResync() {
	var out ResyncResult
	err := r.child.Get(r.ctx, &out)
	req := r.childReq
	r.child, r.childID, r.childDone = nil, "", false
	s := r.state.LastResync
	s.Finished = r.now()
	if err != nil {
		s.Error = boundError(errorMessage(err))
		r.setError("resync", err)
		r.logger.Warn("full resync failed", "workflow_id", s.WorkflowID, "error", err)
		r.failedResync(req)
		return
	}
	s.Result = out.Result
	// The record is the rule's, not the summary's: kept once.
	s.Result.ManagedSet = nil
	if out.DryRun {
		return // its named objects stay in the summary: nothing else has them
	}
	// An applied run's objects go to Recent (noteObjects): kept once.
	s.Result.Objects, s.Result.ObjectsDropped = nil, 0
	if req.Scope != ScopeGroups {
		r.state.Managed = out.Result.ManagedSet
	}
	r.noteObjects(RunResync, out.Result)
	r.noteResyncHolds(out.Result, req.Scope == ScopeBoth)
	r.state.Totals.Merge(reconcile.Result{Users: out.Result.Users, Groups: out.Result.Groups})
	if req.Scope != ScopeGroups {
		r.state.ManagedUsers = out.Result.ManagedUsers
	}
	if req.Scope != ScopeMembers {
		r.state.ManagedGroups = out.Result.ManagedGroups
	}
	if req.Scope == ScopeBoth {
		if out.Cursor != "" {
			r.state.Cursor = out.Cursor
		}
		// A complete resync is a success whatever opened the breaker.
		r.state.BreakerOpenUntil = time.Time{}
		r.state.ConsecutiveFailures = 0
		r.state.LastSuccess = r.now()
		r.state.LastError, r.state.LastErrorClass = "", ""
		// It recomputed every object: what was left to retry is done, or
		// counted among its own failures.
		r.state.Retrying, r.state.FailedForGood = nil, nil
		r.state.LegacyClaimed = true
	}
	r.logger.Info("full resync done", "workflow_id", s.WorkflowID, "users", out.Result.Users, "groups", out.Result.Groups)
}

// failedResync decides what a failed or unstartable resync means. A
// breaker resync reopens the breaker for another period. An automatic one
// (initial, or asked for by the source) counts as a failed poll, so that a
// resync that keeps failing opens the breaker. A manual one is the user's:
// it is reported and changes nothing else.
func (r *rule) failedResync(req SyncRequest) {
	switch req.Reason {
	case ReasonBreaker:
		r.openBreaker()
	case ReasonInitial, ReasonSource:
		r.state.ConsecutiveFailures++
		if r.state.ConsecutiveFailures >= r.state.Config.EffectiveFailureThreshold() {
			r.openBreaker()
		}
	}
}

// maybeScheduledResync queues the scheduled full resync that repairs drift
// in the target, when it is due and nothing else is resyncing.
func (r *rule) maybeScheduledResync() {
	if workflow.GetVersion(r.ctx, versionScheduledResync, workflow.DefaultVersion, 1) < 1 {
		return
	}
	every := r.state.Config.EffectiveResyncInterval()
	switch {
	case every == 0:
		r.state.NextResync = time.Time{}
		return
	case r.state.NextResync.IsZero() || r.state.NextResync.After(r.now().Add(every)):
		// First turn, or the interval was shortened.
		r.state.NextResync = r.now().Add(every)
		return
	}
	if r.now().Before(r.state.NextResync) || r.child != nil || len(r.state.SyncQueue) > 0 || r.state.Paused || r.breakerOpen() {
		return
	}
	r.state.NextResync = r.now().Add(every)
	r.logger.Info("scheduled full resync", "next", r.state.NextResync)
	r.enqueueSync(SyncRequest{Scope: ScopeBoth, Reason: ReasonScheduled})
}
