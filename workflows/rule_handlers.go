package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/reconcile"
)

// registerHandlers registers the query and updates before anything blocks.
// Handlers only record what was asked and wake the loop; the loop changes
// the world.
func (r *rule) registerHandlers() error {
	if err := workflow.SetQueryHandler(r.ctx, QueryNameStatus, func() (RuleStatus, error) {
		return r.status(), nil
	}); err != nil {
		return fmt.Errorf("register status query: %w", err)
	}
	if err := workflow.SetQueryHandler(r.ctx, QueryNameManagedSet, func() (reconcile.ManagedSet, error) {
		return r.state.Managed, nil
	}); err != nil {
		return fmt.Errorf("register managed-set query: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(r.ctx, UpdateNameSync, r.handleSync,
		workflow.UpdateHandlerOptions{Validator: r.validateSync}); err != nil {
		return fmt.Errorf("register sync update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(r.ctx, UpdateNamePause, func(workflow.Context) (RuleStatus, error) {
		r.state.Paused = true
		r.wakeUp()
		return r.status(), nil
	}, workflow.UpdateHandlerOptions{Validator: r.validateAlive}); err != nil {
		return fmt.Errorf("register pause update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(r.ctx, UpdateNameResume, r.handleResume,
		workflow.UpdateHandlerOptions{Validator: r.validateAlive}); err != nil {
		return fmt.Errorf("register resume update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(r.ctx, UpdateNameApprove, r.handleApprove,
		workflow.UpdateHandlerOptions{Validator: r.validateDecision}); err != nil {
		return fmt.Errorf("register approve update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(r.ctx, UpdateNameReject, r.handleReject,
		workflow.UpdateHandlerOptions{Validator: r.validateDecision}); err != nil {
		return fmt.Errorf("register reject update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(r.ctx, UpdateNameConfig, r.handleConfig,
		workflow.UpdateHandlerOptions{Validator: r.validateConfig}); err != nil {
		return fmt.Errorf("register config update: %w", err)
	}
	return nil
}

func (r *rule) wakeUp() { r.wake.SendAsync(nil) }

// handleResume un-pauses the rule and, when its breaker is open (the
// credentials were fixed, say), ends the breaker's wait now: the full
// resync that closes it starts at once, and the answer comes once it has
// started (state resyncing, ActiveResync its id), so that the caller can
// say what happened. A rule that was only failing polls now.
func (r *rule) handleResume(ctx workflow.Context) (RuleStatus, error) {
	r.state.Paused = false
	if r.truthful {
		switch {
		case r.breakerOpen() && r.child == nil:
			r.state.BreakerOpenUntil = r.now()
			r.wakeUp()
			// Until the loop has tried to start the resync: a child that
			// could not start reopens the breaker, and must not keep the
			// caller waiting for the next reset.
			seq := r.state.ResyncSeq
			if err := workflow.Await(ctx, func() bool {
				started := r.child != nil
				failedToStart := r.state.ResyncSeq != seq && r.childID == ""
				return started || failedToStart || !r.breakerOpen() || r.deleting
			}); err != nil {
				return RuleStatus{}, err
			}
			return r.status(), nil
		case r.state.ConsecutiveFailures > 0:
			r.state.PollNow = true
		}
	}
	r.wakeUp()
	return r.status(), nil
}

func (r *rule) validateAlive() error {
	if r.deleting {
		return errDeleted
	}
	return nil
}

func (r *rule) validateSync(req SyncRequest) error {
	if err := r.validateAlive(); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	if r.childID != "" { // running, or starting
		return fmt.Errorf("a full resync is already running: %s", r.childID)
	}
	if len(r.state.SyncQueue) > 0 {
		return errors.New("a full resync is already queued")
	}
	return nil
}

// handleSync queues a manual resync and answers with the child's ID once
// the loop has started it.
func (r *rule) handleSync(ctx workflow.Context, req SyncRequest) (SyncResponse, error) {
	req.Reason = ReasonManual
	ticket := r.enqueueSync(req)
	r.wakeUp()
	if err := workflow.Await(ctx, func() bool { _, ok := r.started[ticket]; return ok }); err != nil {
		return SyncResponse{}, err
	}
	id := r.started[ticket]
	delete(r.started, ticket)
	if id == "" {
		return SyncResponse{}, fmt.Errorf("could not start the full resync: %s", r.state.LastResync.Error)
	}
	return SyncResponse{WorkflowID: id}, nil
}

func (r *rule) validateConfig(p ConfigPatch) error {
	if err := r.validateAlive(); err != nil {
		return err
	}
	c, err := p.Apply(r.state.Config)
	if err != nil {
		return err
	}
	return c.Validate()
}

func (r *rule) handleConfig(_ workflow.Context, p ConfigPatch) (RuleStatus, error) {
	oldReset := r.state.Config.EffectiveBreakerReset()
	c, err := p.Apply(r.state.Config)
	if err != nil {
		return RuleStatus{}, err // the validator refused it already
	}
	r.state.Config = c
	if r.breakerOpen() && p.Has("breakerReset") {
		// The breaker open now closes by the new setting too: counted from
		// when it opened.
		r.state.BreakerOpenUntil = r.state.BreakerOpenUntil.Add(r.state.Config.EffectiveBreakerReset() - oldReset)
		r.logger.Info("open breaker rescheduled", "until", r.state.BreakerOpenUntil)
	}
	base := r.state.LastPoll
	if base.IsZero() {
		base = r.now()
	}
	r.state.NextPoll = base.Add(r.state.Config.EffectivePollInterval())
	r.logger.Info("rule settings changed", "poll_interval", r.state.Config.EffectivePollInterval())
	r.wakeUp()
	return r.status(), nil
}
