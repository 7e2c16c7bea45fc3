package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/reconcile"
)

// Tunables of the loop.
const (
	// maxPending bounds the buffered changes before they are compacted
	// (later changes to an object supersede earlier ones).
	maxPending = 5000
	// maxPendingBytes bounds the buffered changes by their encoded size:
	// they are carried by continue-as-new, whose input Temporal limits to
	// 2 MB with the rest of the state. Past it they are dropped and a full
	// resync finds them again.
	maxPendingBytes = 1 << 20
	// maxApplyBatch bounds the events one ApplyChanges activity gets.
	maxApplyBatch = 500
	// applyBackoff is how long failed real-time changes wait to be retried.
	applyBackoff = 30 * time.Second
	// checkTimeout bounds the change check before a poll. It runs as a
	// local activity, and the server holds a query to the rule (status)
	// until a local activity ends or the workflow task heartbeats (8 s,
	// then another 8 s: queries waited 10-16 s behind a 20 s one against
	// the dev server): a longer check would make status go dark.
	checkTimeout = 3 * time.Second
	// slowCheckSkips is how many polls go straight to the Poll activity
	// after a check ran out of time: a source that slow makes the check
	// cost a wasted request, not save an activity.
	slowCheckSkips = 10
)

// rule is a running RuleWorkflow: durable state plus what lives
// only in this run (channels, the child resync in flight).
type rule struct {
	ctx    workflow.Context
	logger log.Logger
	state  RuleState

	changes workflow.ReceiveChannel
	pollNow workflow.ReceiveChannel
	deleted workflow.ReceiveChannel
	wake    workflow.Channel

	activity string // "polling" or "applying" while an activity runs
	// truthful: this run shows failing, retries a missing first resync
	// as such and lets resume close the breaker (versionTruthfulState).
	truthful  bool
	deleting  bool
	turns     int
	child     workflow.ChildWorkflowFuture
	childID   string
	childReq  SyncRequest
	childDone bool
	// started maps a sync request's ticket to the child it started.
	started map[int]string
	tickets int
	queued  []int // tickets parallel to state.SyncQueue
}

// RuleWorkflow keeps one rule's target in sync with its source,
// for as long as the rule exists: it polls on a durable timer, applies
// real-time changes from signals, opens a circuit breaker after repeated
// failures, and starts FullResyncWorkflow children.
func RuleWorkflow(ctx workflow.Context, state RuleState) error {
	r := &rule{
		ctx:     ctx,
		logger:  log.With(workflow.GetLogger(ctx), "rule", state.Config.Name),
		state:   state,
		changes: workflow.GetSignalChannel(ctx, SignalNameChanges),
		pollNow: workflow.GetSignalChannel(ctx, SignalNamePollNow),
		deleted: workflow.GetSignalChannel(ctx, SignalNameDelete),
		wake:    workflow.NewBufferedChannel(ctx, 1),
		started: map[int]string{},
	}
	// Queued syncs carried over continue-as-new get fresh tickets.
	for range r.state.SyncQueue {
		r.queued = append(r.queued, r.newTicket())
	}
	if err := r.registerHandlers(); err != nil {
		return err
	}
	return r.run()
}

func (r *rule) newTicket() int {
	r.tickets++
	return r.tickets
}

func (r *rule) now() time.Time { return workflow.Now(r.ctx) }

// run is the loop: each turn reads like a checklist, as in Temporal's own
// scheduler workflow.
func (r *rule) run() error {
	// Decided once per run, before any other command, and kept in r: the
	// status query (which may not call GetVersion) reads it.
	r.truthful = workflow.GetVersion(r.ctx, versionTruthfulState, workflow.DefaultVersion, 1) >= 1
	if r.state.NextPoll.IsZero() {
		r.state.NextPoll = r.now().Add(r.state.Config.EffectivePollInterval())
	}
	if r.state.Cursor == "" && r.state.LastResync == nil {
		if r.state.Config.SkipInitialSync {
			r.state.PollNow = true // the poll fetches a cursor from now on
		} else {
			r.enqueueSync(SyncRequest{Scope: ScopeBoth, Reason: ReasonInitial})
		}
	}
	for {
		r.turns++
		r.receiveSignals()
		if r.deleting && r.child == nil {
			r.flushOnDelete()
			r.logger.Info("rule deleted")
			r.updateStatus()
			return nil
		}
		r.maybeScheduledResync()
		r.startQueuedResync()
		r.maybeCloseBreaker()
		r.maybeApplyChanges()
		r.maybeApplyApproved()
		r.maybeRetry()
		r.maybePoll()
		r.updateStatus()
		if r.shouldContinueAsNew() {
			return r.continueAsNew()
		}
		r.sleep()
	}
}

// receiveSignals moves every waiting signal into state.
func (r *rule) receiveSignals() {
	for {
		var b ChangeBatch
		if !r.changes.ReceiveAsync(&b) {
			break
		}
		r.addPending(b.Events)
	}
	for r.pollNow.ReceiveAsync(nil) {
		r.state.PollNow = true
	}
	for r.deleted.ReceiveAsync(nil) {
		r.deleting = true
	}
	for r.wake.ReceiveAsync(nil) {
	}
}

func (r *rule) addPending(events []reconcile.Event) {
	if len(events) == 0 {
		return
	}
	if len(r.state.Pending) == 0 {
		r.state.PendingDue = r.now().Add(r.state.Config.effectiveBatchWindow())
	}
	r.state.Pending = append(r.state.Pending, events...)
	r.supersedeRetries(events)
	if len(r.state.Pending) > maxPending {
		r.state.Pending = compact(r.state.Pending)
	}
	if r.state.PendingBytes == 0 {
		// Kept by a run from before PendingBytes, or emptied: count all.
		r.state.PendingBytes = encodedSize(r.state.Pending)
	} else {
		r.state.PendingBytes += encodedSize(events)
	}
	if r.state.PendingBytes > maxPendingBytes {
		r.state.PendingBytes = encodedSize(r.state.Pending) // after compaction
	}
	if r.state.PendingBytes > maxPendingBytes && workflow.GetVersion(r.ctx, versionPendingOverflow, workflow.DefaultVersion, 1) >= 1 {
		r.overflow()
	}
}

// overflow drops the buffered changes, which a full resync finds again:
// the breaker's, when it is open, else one queued now.
func (r *rule) overflow() {
	n := len(r.state.Pending)
	r.state.Pending, r.state.PendingBytes = nil, 0
	r.state.ChangesOverflowed += n
	if r.breakerOpen() {
		r.logger.Warn("too many real-time changes to keep while the breaker is open; dropped, the breaker's full resync finds them", "dropped", n)
		return
	}
	r.logger.Warn("too many real-time changes to keep; dropped, a full resync finds them", "dropped", n)
	if !r.resyncQueued(ReasonOverflow) {
		r.enqueueSync(SyncRequest{Scope: ScopeBoth, Reason: ReasonOverflow})
	}
}

// resyncQueued says whether a full resync for reason waits in the queue.
func (r *rule) resyncQueued(reason string) bool {
	for _, q := range r.state.SyncQueue {
		if q.Reason == reason {
			return true
		}
	}
	return false
}

// encodedSize is the size of events as JSON, as state carries them.
// Encoding is deterministic (encoding/json sorts map keys).
//
//workflowcheck:ignore
func encodedSize(events []reconcile.Event) int {
	b, err := json.Marshal(events)
	if err != nil {
		return 0
	}
	return len(b)
}

// compact keeps the last event of each object, in the order of those last
// events: applying them gives the same end state as applying all.
func compact(events []reconcile.Event) []reconcile.Event {
	last := make(map[string]int, len(events))
	for i, e := range events {
		last[e.Key()] = i
	}
	out := make([]reconcile.Event, 0, len(last))
	for i, e := range events {
		if last[e.Key()] == i {
			out = append(out, e)
		}
	}
	return out
}

func (r *rule) breakerOpen() bool { return !r.state.BreakerOpenUntil.IsZero() }

// maybeCloseBreaker starts the full resync that closes an open breaker once
// its timer has run out.
func (r *rule) maybeCloseBreaker() {
	if !r.breakerOpen() || r.child != nil || r.state.Paused || r.now().Before(r.state.BreakerOpenUntil) {
		return
	}
	r.logger.Info("breaker timer expired, starting full resync")
	r.startResync(SyncRequest{Scope: ScopeBoth, Reason: ReasonBreaker})
}

// maybeApplyChanges applies buffered real-time changes once their batch
// window has passed. While the breaker is open or the rule is paused they
// are kept, not dropped.
func (r *rule) maybeApplyChanges() {
	if len(r.state.Pending) == 0 || r.state.Paused || r.breakerOpen() || r.now().Before(r.state.PendingDue) {
		return
	}
	n := min(len(r.state.Pending), maxApplyBatch)
	batch := r.state.Pending[:n]
	res, err := r.apply(r.incrementalSpec(), batch)
	if err != nil {
		r.setError("apply changes", err)
		r.state.PendingDue = r.now().Add(applyBackoff)
		r.logger.Warn("applying real-time changes failed; they are kept", "pending", len(r.state.Pending), "error", err)
		return
	}
	r.state.Pending = append([]reconcile.Event(nil), r.state.Pending[n:]...)
	r.state.PendingBytes = encodedSize(r.state.Pending)
	r.state.PendingDue = r.now()
	r.took(RunChange, nil, res)
	if len(res.Failures) > 0 {
		r.setFailure("apply changes", res.Failures[0])
	}
}

// apply runs the ApplyChanges activity on events, showing the rule as
// applying meanwhile.
func (r *rule) apply(spec activities.RuleSpec, events []reconcile.Event) (reconcile.Result, error) {
	r.activity = StateApplying
	r.updateStatus()
	var res reconcile.Result
	err := workflow.ExecuteActivity(r.applyOptions(), (*activities.Activities).ApplyChanges,
		activities.ApplyInput{Rule: spec, Events: events}).Get(r.ctx, &res)
	r.activity = ""
	return res, err
}

// maybePoll polls the source when the interval is up.
func (r *rule) maybePoll() {
	if r.state.Paused || r.breakerOpen() || r.child != nil {
		return
	}
	if !r.state.PollNow && r.now().Before(r.state.NextPoll) {
		return
	}
	r.state.PollNow = false
	if r.state.Cursor == "" && r.state.Config.SkipInitialSync {
		r.takeCursor()
		return
	}
	if r.state.Cursor != "" && workflow.GetVersion(r.ctx, versionIdleCheck, workflow.DefaultVersion, 1) >= 1 && r.nothingChanged() {
		return
	}
	r.activity = StatePolling
	r.updateStatus()
	var out activities.PollResult
	err := workflow.ExecuteActivity(r.pollOptions(), (*activities.Activities).Poll,
		activities.PollInput{Rule: r.incrementalSpec(), Cursor: r.state.Cursor}).Get(r.ctx, &out)
	r.activity = ""
	now := r.now()
	r.state.LastPoll = now
	r.state.NextPoll = now.Add(r.state.Config.EffectivePollInterval())
	if err != nil {
		r.pollFailed(err)
		return
	}
	if out.ResyncRequired {
		// Not a success yet: the resync decides. Its failure counts toward
		// the breaker (see failedResync), so a resync that keeps failing
		// opens it instead of rerunning every interval.
		if r.truthful && r.state.Cursor == "" {
			// No cursor: no full resync has completed (the first one
			// failed, the target refusing its credentials, say). The
			// source asked for nothing; say what happens.
			r.state.LastPollResult = "no cursor yet: the first full resync has not completed; running it again"
			r.enqueueSync(SyncRequest{Scope: ScopeBoth, Reason: ReasonInitial})
			return
		}
		r.state.LastPollResult = "source asked for a full resync"
		r.enqueueSync(SyncRequest{Scope: ScopeBoth, Reason: ReasonSource})
		return
	}
	r.state.ConsecutiveFailures = 0
	r.state.LastSuccess = now
	r.state.Cursor = out.Cursor
	r.state.LastPollResult = fmt.Sprintf("ok: %d changes", out.Changes)
	if out.More {
		// A backlog the source hands out in pieces: the next piece now.
		// Histories from before More have it false, so they replay.
		r.state.PollNow = true
		r.state.LastPollResult += ", more to read"
	}
	r.took(RunPoll, nil, out.Result)
	if len(out.Result.Failures) > 0 {
		r.setFailure("poll", out.Result.Failures[0])
	}
}

// nothingChanged asks the source, in a local activity, whether anything
// changed since the cursor, and when nothing did, records the poll as done.
// An idle poll then costs a marker in history instead of an activity task
// (three events) and two search attribute upserts for the polling state.
// Any other answer, an error included, leaves the work to the Poll
// activity, which counts failures and retries as always. A check that ran
// out of checkTimeout is not tried for the next slowCheckSkips polls.
func (r *rule) nothingChanged() bool {
	slowSkip := workflow.GetVersion(r.ctx, versionSlowCheckSkip, workflow.DefaultVersion, 1) >= 1
	if slowSkip && r.state.CheckSkips > 0 {
		r.state.CheckSkips--
		return false
	}
	ctx := workflow.WithLocalActivityOptions(r.ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: checkTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var out activities.ChangeCheck
	// By name: the SDK's replayer runs local activities given by name, but
	// refuses a method of an unregistered struct.
	err := workflow.ExecuteLocalActivity(ctx, activities.NameCheckChanges,
		activities.PollInput{Rule: r.state.Config.spec(), Cursor: r.state.Cursor}).Get(r.ctx, &out)
	if err != nil {
		if slowSkip && temporal.IsTimeoutError(err) {
			r.state.CheckSkips = slowCheckSkips
			r.logger.Info("change check took too long; polling without it", "timeout", checkTimeout, "skipped_polls", slowCheckSkips)
			return false
		}
		r.logger.Info("change check failed; polling", "error", err)
		return false
	}
	if out.Changed || out.Cursor == "" {
		return false
	}
	now := r.now()
	r.state.LastPoll = now
	r.state.NextPoll = now.Add(r.state.Config.EffectivePollInterval())
	r.state.ConsecutiveFailures = 0
	r.state.LastSuccess = now
	r.state.Cursor = out.Cursor
	r.state.LastPollResult = "ok: no changes"
	return true
}

// takeCursor starts a rule created with SkipInitialSync from the source's
// current cursor. (Poll without a cursor asks for a full resync, which is
// what SkipInitialSync is there to avoid.) A failure counts as a failed
// poll.
func (r *rule) takeCursor() {
	r.activity = StatePolling
	r.updateStatus()
	var cursor string
	err := workflow.ExecuteActivity(r.pollOptions(), (*activities.Activities).SourceCursor,
		r.state.Config.spec()).Get(r.ctx, &cursor)
	r.activity = ""
	now := r.now()
	r.state.LastPoll = now
	r.state.NextPoll = now.Add(r.state.Config.EffectivePollInterval())
	if err != nil {
		r.pollFailed(err)
		return
	}
	r.state.ConsecutiveFailures = 0
	r.state.LastSuccess = now
	r.state.Cursor = cursor
	r.state.LastPollResult = "ok: polling from the source's current cursor"
}

func (r *rule) pollFailed(err error) {
	r.state.ConsecutiveFailures++
	r.setError("poll", err)
	r.state.LastPollResult = fmt.Sprintf("failed (%d in a row)", r.state.ConsecutiveFailures)
	r.logger.Warn("poll failed", "consecutive_failures", r.state.ConsecutiveFailures, "error", err)
	if r.state.ConsecutiveFailures >= r.state.Config.EffectiveFailureThreshold() {
		r.openBreaker()
	}
}

func (r *rule) openBreaker() {
	r.state.BreakerOpenUntil = r.now().Add(r.state.Config.EffectiveBreakerReset())
	r.logger.Warn("circuit breaker open", "until", r.state.BreakerOpenUntil)
}

// took takes in what an incremental run did: its counts, the objects
// that failed (retried are the retry events it applied again), and what
// it deprovisioned and held back.
func (r *rule) took(run string, retried []reconcile.Event, res reconcile.Result) {
	r.record(run, res)
	r.noteRetries(retried, res)
	r.noteIncremental(res)
}

// record adds a run's counts to the totals and keeps the objects it named.
func (r *rule) record(run string, res reconcile.Result) {
	r.noteObjects(run, res)
	r.noteManaged(res)
	r.state.Totals.Merge(reconcile.Result{Users: res.Users, Groups: res.Groups})
	r.state.ManagedUsers += res.Users.Created + res.Users.Adopted - res.Users.Deprovisioned
	r.state.ManagedGroups += res.Groups.Created + res.Groups.Adopted - res.Groups.Deprovisioned
}

// sleep waits for the next deadline, a signal, an update or the child.
func (r *rule) sleep() {
	deadline := r.nextDeadline()
	if !deadline.IsZero() && !deadline.After(r.now()) {
		return
	}
	tctx, cancel := workflow.WithCancel(r.ctx)
	defer cancel()
	sel := workflow.NewSelector(r.ctx)
	if !deadline.IsZero() {
		sel.AddFuture(workflow.NewTimer(tctx, deadline.Sub(r.now())), func(workflow.Future) {})
	}
	sel.AddReceive(r.changes, func(c workflow.ReceiveChannel, _ bool) {
		var b ChangeBatch
		c.Receive(r.ctx, &b)
		r.addPending(b.Events)
	})
	sel.AddReceive(r.pollNow, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(r.ctx, nil)
		r.state.PollNow = true
	})
	sel.AddReceive(r.deleted, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(r.ctx, nil)
		r.deleting = true
	})
	sel.AddReceive(r.wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(r.ctx, nil) })
	if r.child != nil && !r.childDone {
		sel.AddFuture(r.child, func(workflow.Future) { r.childDone = true })
	}
	sel.Select(r.ctx)
	if r.childDone {
		r.finishResync()
	}
}

// nextDeadline is the earliest time the loop has work; zero when it only
// waits for signals.
func (r *rule) nextDeadline() time.Time {
	var d time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	if r.state.Paused {
		return d
	}
	if len(r.state.SyncQueue) > 0 && r.child == nil {
		earliest(r.now())
	}
	if len(r.state.Pending) > 0 && !r.breakerOpen() {
		earliest(r.state.PendingDue)
	}
	if len(r.state.Retrying) > 0 && !r.breakerOpen() && r.child == nil {
		earliest(r.nextRetry())
	}
	if len(r.state.ApprovedChanges) > 0 && !r.breakerOpen() {
		earliest(r.now())
	}
	if r.child == nil && !r.breakerOpen() {
		earliest(r.state.NextResync)
	}
	switch {
	case r.breakerOpen():
		if r.child == nil {
			earliest(r.state.BreakerOpenUntil)
		}
	case r.child == nil:
		if r.state.PollNow {
			earliest(r.now())
		}
		earliest(r.state.NextPoll)
	}
	return d
}

func (r *rule) shouldContinueAsNew() bool {
	if r.child != nil || len(r.state.SyncQueue) > 0 || r.deleting {
		return false
	}
	if n := r.state.Config.ContinueAsNewAfter; n > 0 && r.turns >= n {
		return true
	}
	return workflow.GetInfo(r.ctx).GetContinueAsNewSuggested()
}

// continueAsNew carries the whole state into a new run, after every
// handler has finished and every waiting signal is in state.
func (r *rule) continueAsNew() error {
	if err := workflow.Await(r.ctx, func() bool { return workflow.AllHandlersFinished(r.ctx) }); err != nil {
		return err
	}
	r.receiveSignals()
	r.logger.Info("continuing as new", "pending", len(r.state.Pending))
	return workflow.NewContinueAsNewError(r.ctx, RuleWorkflow, r.state)
}

// flushOnDelete makes one attempt to apply what is buffered before the rule
// stops for good.
func (r *rule) flushOnDelete() {
	if len(r.state.Pending) == 0 || r.breakerOpen() || r.state.Paused {
		return
	}
	r.state.PendingDue = r.now()
	r.maybeApplyChanges()
	if len(r.state.Pending) > 0 {
		r.logger.Warn("rule deleted with changes not applied", "pending", len(r.state.Pending))
	}
}

func (r *rule) pollOptions() workflow.Context {
	return workflow.WithActivityOptions(r.ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: []string{activities.ErrTypeConfig, activities.ErrTypeUnauthorized},
		},
	})
}

func (r *rule) applyOptions() workflow.Context {
	return workflow.WithActivityOptions(r.ctx, workflow.ActivityOptions{
		// A batch of 500 changes on a target that takes seconds per
		// lookup needs more than minutes; the activity heartbeats, so a
		// dead worker is still noticed within the heartbeat timeout.
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: []string{activities.ErrTypeConfig, activities.ErrTypeUnauthorized},
		},
	})
}

// setError records what failed, and why: the error's innermost message,
// bounded but with its cause, and its class.
func (r *rule) setError(what string, err error) {
	r.state.LastError = what + ": " + boundError(errorMessage(err))
	if r.truthful {
		r.state.LastErrorClass = errorClass(err)
	}
}

// setFailure records an object's failure (a string from a result: the
// activity itself succeeded).
func (r *rule) setFailure(what, failure string) {
	r.state.LastError = what + ": " + boundError(failure)
	if r.truthful {
		r.state.LastErrorClass = ErrorClassOther
	}
}

// errorClass is the class of an activity or child error: that of the
// innermost ApplicationError whose type the activities set (a child's
// failure wraps its activity's), a timeout being a network one.
func errorClass(err error) string {
	class := ErrorClassOther
	for ; err != nil; err = errors.Unwrap(err) {
		if _, ok := err.(*temporal.TimeoutError); ok {
			class = ErrorClassNetwork
			continue
		}
		ae, ok := err.(*temporal.ApplicationError)
		if !ok {
			continue
		}
		switch ae.Type() {
		case activities.ErrTypeUnauthorized:
			class = ErrorClassAuth
		case activities.ErrTypeRateLimited:
			class = ErrorClassRateLimit
		case activities.ErrTypeConfig:
			class = ErrorClassConfig
		case activities.ErrTypeNetwork:
			class = ErrorClassNetwork
		}
	}
	return class
}

// errorMessage is the innermost message of an activity or child error
// that says something: an ApplicationError without words (some errors
// cross the wire with an empty message) gives way to the one around it,
// without the "what: " it prefixed, so that a rule's last error always
// carries a cause.
func errorMessage(err error) string {
	last := ""
	for err != nil {
		var next error
		switch e := err.(type) {
		case *temporal.ActivityError:
			next = e.Unwrap()
		case *temporal.ChildWorkflowExecutionError:
			next = e.Unwrap()
		case *temporal.ApplicationError:
			// Its Error() appends type and retryability: keep the words.
			if m := strings.TrimSpace(e.Message()); m != "" {
				last = m
			}
			next = e.Unwrap()
		default:
			if m := strings.TrimSpace(err.Error()); m != "" {
				last = m
			}
		}
		err = next
	}
	if last == "" {
		return "an error without a message (see the worker's log)"
	}
	return strings.TrimSuffix(last, ":")
}
