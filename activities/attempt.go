package activities

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/idsync/idsync/reconcile"
)

// Progress is what a long activity heartbeats: the phase it is in
// ("target users", "users", "groups", …, as reconcile names them) and how
// many objects of it are done. A retried attempt reads the last one its
// predecessor recorded, and logs it: reconcile is idempotent, so a retry
// recomputes the difference rather than resuming the writes, and the
// progress says how far the lost attempt had got.
type Progress struct {
	Phase string `json:"phase"`
	Done  int    `json:"done"`
	// Attempt is the attempt that recorded it.
	Attempt int32 `json:"attempt"`
	// Counts and GroupCounts are what the activity has done so far to
	// users and to groups, this attempt's and those before it: a retry
	// reports its counts after them (reconcile.Counts.After), so that the
	// totals stay true. (A resync phase counts one kind, in Counts.)
	Counts      *reconcile.Counts `json:"counts,omitempty"`
	GroupCounts *reconcile.Counts `json:"groupCounts,omitempty"`
}

// Liveness heartbeat pacing (see beatEvery).
const (
	// defaultBeatEvery applies when the activity has no heartbeat timeout
	// (tests): the server then does not look at heartbeats, but a
	// heartbeat is still how the SDK learns the activity was cancelled.
	defaultBeatEvery = 10 * time.Second
	minBeatEvery     = 100 * time.Millisecond
	maxBeatEvery     = 30 * time.Second
)

// beatEvery is how often the liveness heartbeat records: a quarter of the
// heartbeat timeout. The SDK sends at most one heartbeat per 0.8 × the
// timeout (and at least one per 60 s when there is one to send); recording
// more often than that keeps a fresh one waiting at every send, so the
// server hears from the attempt however long its current request takes.
func beatEvery(heartbeatTimeout time.Duration) time.Duration {
	if heartbeatTimeout <= 0 {
		return defaultBeatEvery
	}
	return min(max(heartbeatTimeout/4, minBeatEvery), maxBeatEvery)
}

// keepAlive calls beat every interval until ctx ends or stop is called;
// stop returns once the goroutine has ended, so nothing of the activity
// outlives it.
func keepAlive(ctx context.Context, every time.Duration, beat func()) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				beat()
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// attemptKey names what may run only once at a time on a worker: one
// activity type, for one rule, in one resync phase ("" for the others).
type attemptKey struct {
	activity, rule, phase string
}

// holder is the attempt that runs for a key.
type holder struct {
	attempt int32
	done    chan struct{} // closed when it has returned
}

// attempts lets one attempt at a time run per activity, rule and phase on
// this worker. Temporal retries an activity whose attempt timed out
// without waiting for that attempt to notice: until it does (at its next
// heartbeat, which cancels its context), both would read and write the
// same target, each slowing the other down. The newer attempt waits for
// the older one to return instead. Attempts on different workers are not
// ordered by this; the heartbeat timeout bounds how long an orphan lives.
type attempts struct {
	mu      sync.Mutex
	running map[attemptKey]*holder
}

// acquire waits until no attempt runs for key, or ctx ends, and marks
// this attempt as running; call release once it has returned. waiting is
// called with the running attempt's number each time acquire has to wait.
func (r *attempts) acquire(ctx context.Context, key attemptKey, attempt int32, waiting func(running int32)) (release func(), err error) {
	for {
		r.mu.Lock()
		h := r.running[key]
		if h == nil {
			h = &holder{attempt: attempt, done: make(chan struct{})}
			if r.running == nil {
				r.running = map[attemptKey]*holder{}
			}
			r.running[key] = h
			r.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { r.release(key, h) }) }, nil
		}
		r.mu.Unlock()
		waiting(h.attempt)
		select {
		case <-h.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for attempt %d of %s to return: %w", h.attempt, key.activity, context.Cause(ctx))
		}
	}
}

func (r *attempts) release(key attemptKey, h *holder) {
	r.mu.Lock()
	if r.running[key] == h {
		delete(r.running, key)
	}
	r.mu.Unlock()
	close(h.done)
}

// attempt is one run of a long activity (Resync, Poll, ApplyChanges): it
// heartbeats its latest progress at a steady pace until end, and holds
// the rule's place on this worker.
type attempt struct {
	ctx      context.Context
	logger   *slog.Logger
	mu       sync.Mutex
	progress Progress
	// before and beforeGroups are what the previous attempts did.
	before, beforeGroups reconcile.Counts
	stopBeat             func()
	release              func()
}

// begin starts an attempt: it logs where a previous attempt got to,
// heartbeats from now until end, and waits until the previous attempt of
// the same activity, rule and phase on this worker has returned. Call end
// when the activity returns.
func (a *Activities) begin(ctx context.Context, logger *slog.Logger, rule, phase string) (*attempt, error) {
	info := activity.GetInfo(ctx)
	prev := logPrevious(ctx, logger)
	at := &attempt{ctx: ctx, logger: logger, progress: Progress{Phase: "starting", Attempt: info.Attempt}}
	// Until this attempt has counted, its predecessors' counts stand.
	if prev.Counts != nil {
		at.before, at.progress.Counts = *prev.Counts, prev.Counts
	}
	if prev.GroupCounts != nil {
		at.beforeGroups, at.progress.GroupCounts = *prev.GroupCounts, prev.GroupCounts
	}
	at.stopBeat = keepAlive(ctx, beatEvery(info.HeartbeatTimeout), at.beat)
	key := attemptKey{activity: info.ActivityType.Name, rule: rule, phase: phase}
	release, err := a.attempts.acquire(ctx, key, info.Attempt, func(running int32) {
		logger.Warn("waiting for an earlier attempt on this worker to return", "running_attempt", running)
		at.set(fmt.Sprintf("waiting for attempt %d", running), 0)
	})
	if err != nil {
		at.stopBeat()
		return nil, err
	}
	at.release = release
	return at, nil
}

// logPrevious logs and returns the progress a previous attempt
// heartbeat, if any.
func logPrevious(ctx context.Context, logger *slog.Logger) Progress {
	if !activity.HasHeartbeatDetails(ctx) {
		return Progress{}
	}
	var prev Progress
	if err := activity.GetHeartbeatDetails(ctx, &prev); err != nil {
		// Details from before Progress (two values, phase and count).
		logger.Info("retrying; the previous attempt's progress is unreadable", "error", err)
		return Progress{}
	}
	logger.Info("retrying: the previous attempt got this far; this one recomputes from the start",
		"previous_attempt", prev.Attempt, "previous_phase", prev.Phase, "previous_done", prev.Done, "previous_counts", prev.Counts)
	return prev
}

// tally records what the phase has done so far; it is the reconcile
// Syncer's Tally.
// Incremental runs tally as "changes users" and "changes groups".
func (at *attempt) tally(phase string, c reconcile.Counts) {
	at.mu.Lock()
	defer at.mu.Unlock()
	if phase == reconcile.TallyGroups {
		c = c.After(at.beforeGroups)
		at.progress.GroupCounts = &c
		return
	}
	c = c.After(at.before)
	at.progress.Counts = &c
}

// after is a resync phase's counts, after what the previous attempts did.
func (at *attempt) after(c reconcile.Counts) reconcile.Counts { return c.After(at.before) }

// afterResult is an incremental run's result, after what the previous
// attempts did.
func (at *attempt) afterResult(r reconcile.Result) reconcile.Result {
	r.Users, r.Groups = r.Users.After(at.before), r.Groups.After(at.beforeGroups)
	return r
}

// set records progress and heartbeats it at once; it is the reconcile
// Syncer's Progress.
func (at *attempt) set(phase string, done int) {
	at.mu.Lock()
	at.progress.Phase, at.progress.Done = phase, done
	at.mu.Unlock()
	at.beat()
}

// beat heartbeats the latest progress. The SDK batches heartbeats and,
// when the server answers that the attempt is gone (timed out, cancelled),
// cancels the activity's context: that is what stops an orphaned
// attempt's reads and writes.
func (at *attempt) beat() {
	at.mu.Lock()
	p := at.progress
	at.mu.Unlock()
	activity.RecordHeartbeat(at.ctx, p)
}

// end stops the heartbeats and lets the next attempt for the rule run.
func (at *attempt) end() {
	at.stopBeat()
	at.release()
}
