package workflows

import (
	"time"

	"github.com/idsync/idsync/reconcile"
)

// Failed objects are never dropped: an object that fails in a poll or a
// real-time change (the target refused it, a lookup failed) is kept with
// the event that applies it again, retried with backoff by the loop, and
// after maxRetryAttempts reported as failed for good, with its error, in
// the status. A full resync, which recomputes everything, clears both.

const (
	// retryFirst is the first retry's delay; each next one doubles, up to
	// retryMax: 1, 2, 4, … 60 min, about 12 h over maxRetryAttempts.
	retryFirst       = time.Minute
	retryMax         = time.Hour
	maxRetryAttempts = 15
	// maxFailedForGood bounds the objects reported as failed for good.
	maxFailedForGood = 100
)

// RetryEntry is a failed object the rule retries.
type RetryEntry struct {
	Event    reconcile.Event `json:"event"`
	Error    string          `json:"error,omitempty"`
	Attempts int             `json:"attempts"`
	First    time.Time       `json:"first"`
	NextAt   time.Time       `json:"nextAt,omitzero"`
}

func retryDelay(attempts int) time.Duration {
	d := retryFirst
	for i := 1; i < attempts && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// noteRetries keeps what a run says failed. retried are the events of the
// entries this run applied again: those that did not fail again are done.
func (r *rule) noteRetries(retried []reconcile.Event, res reconcile.Result) {
	now := r.now()
	failed := map[string]reconcile.Retry{}
	for _, f := range res.Retry {
		failed[f.Event.Key()] = f
	}
	done := map[string]bool{}
	for _, e := range retried {
		if _, again := failed[e.Key()]; !again {
			done[e.Key()] = true
		}
	}
	var keep []RetryEntry
	byKey := map[string]int{}
	for _, en := range r.state.Retrying {
		if done[en.Event.Key()] {
			continue
		}
		byKey[en.Event.Key()] = len(keep)
		keep = append(keep, en)
	}
	for _, f := range res.Retry {
		k := f.Event.Key()
		i, ok := byKey[k]
		if !ok {
			i = len(keep)
			byKey[k] = i
			keep = append(keep, RetryEntry{Event: f.Event, First: now})
		}
		en := &keep[i]
		en.Attempts++
		en.Error = f.Error
		en.NextAt = now.Add(retryDelay(en.Attempts))
	}
	r.state.Retrying = r.state.Retrying[:0]
	for _, en := range keep {
		if en.Attempts >= maxRetryAttempts {
			r.logger.Warn("change failed for good", "key", en.Event.Key(), "attempts", en.Attempts, "error", en.Error)
			en.NextAt = time.Time{}
			r.state.FailedForGood = append(r.state.FailedForGood, en)
			continue
		}
		r.state.Retrying = append(r.state.Retrying, en)
	}
	if n := len(r.state.FailedForGood); n > maxFailedForGood {
		r.state.FailedForGood = append([]RetryEntry(nil), r.state.FailedForGood[n-maxFailedForGood:]...)
	}
	if res.RetryDropped > 0 {
		// More failed than a result may carry: a full resync brings them.
		r.logger.Warn("too many failed objects to retry one by one; a full resync will", "dropped", res.RetryDropped)
		r.enqueueSync(SyncRequest{Scope: ScopeBoth, Reason: ReasonRetry})
	}
}

// supersedeRetries drops the retries of objects that a newer real-time
// change names: the newer change is the truth, and a retry of an older
// one would undo it.
func (r *rule) supersedeRetries(events []reconcile.Event) {
	if len(r.state.Retrying) == 0 {
		return
	}
	newer := map[string]bool{}
	for _, e := range events {
		newer[e.Key()] = true
	}
	keep := r.state.Retrying[:0]
	for _, en := range r.state.Retrying {
		if !newer[en.Event.Key()] {
			keep = append(keep, en)
		}
	}
	r.state.Retrying = keep
}

// nextRetry is when the first retry is due; zero when none is.
func (r *rule) nextRetry() time.Time {
	var t time.Time
	for _, en := range r.state.Retrying {
		if t.IsZero() || en.NextAt.Before(t) {
			t = en.NextAt
		}
	}
	return t
}

// maybeRetry applies again the failed objects that are due.
func (r *rule) maybeRetry() {
	if len(r.state.Retrying) == 0 || r.state.Paused || r.breakerOpen() || r.child != nil {
		return
	}
	now := r.now()
	var due []reconcile.Event
	for _, en := range r.state.Retrying {
		if !en.NextAt.After(now) && len(due) < maxApplyBatch {
			due = append(due, en.Event)
		}
	}
	if len(due) == 0 {
		return
	}
	res, err := r.apply(r.incrementalSpec(), due)
	if err != nil {
		// The run failed, not the objects: try them again later.
		r.setError("retry failed changes", err)
		later := r.now().Add(applyBackoff)
		for i := range r.state.Retrying {
			if !r.state.Retrying[i].NextAt.After(now) {
				r.state.Retrying[i].NextAt = later
			}
		}
		return
	}
	r.took(RunRetry, due, res)
}
