package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/memory"
	"github.com/idsync/idsync/reconcile"
)

// refusingTarget is the target refusing the creates of the userNames
// it is told to, as a target that rejects some data for a while does.
type refusingTarget struct {
	fullTarget
	mu     sync.Mutex
	refuse map[string]bool
}

func (r *refusingTarget) CreateUser(ctx context.Context, u connectors.User) (string, error) {
	r.mu.Lock()
	refused := r.refuse[u.UserName]
	r.mu.Unlock()
	if refused {
		return "", fmt.Errorf("create %s: 400 invalidValue: %w", u.UserName, connectors.ErrRejected)
	}
	return r.fullTarget.CreateUser(ctx, u)
}

// TestFailedChangeRetried: an object that fails in an incremental run is
// returned as a retry event, with its error; applying the retry events
// later (the rule does, with backoff) reads the object from the source
// again and brings it over. A conflict is not retried.
func TestFailedChangeRetried(t *testing.T) {
	e := newEnv(t)
	e.addUser(t, "ada")
	tgt := &refusingTarget{fullTarget: e.tgt, refuse: map[string]bool{"bob": true}}
	s := &reconcile.Syncer{Source: e.src, Target: tgt, Opts: reconcile.Options{Owner: "hr"}}
	fullSync(t, s)
	ctx := context.Background()
	cursor, err := e.src.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bob := e.addUser(t, "bob")
	e.addUser(t, "carol")
	cs, err := e.src.Changes(ctx, cursor)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.ApplyChangeSet(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "poll", res.Users, reconcile.Counts{Created: 1, Failed: 1})
	if len(res.Retry) != 1 || res.Retry[0].Event.ID != bob.ID || res.Retry[0].Event.User != nil ||
		!strings.Contains(res.Retry[0].Error, "invalidValue") {
		t.Fatalf("retry = %+v, want bob's upsert, to be read from the source, with the error", res.Retry)
	}

	// Still refused: still to retry.
	events := []reconcile.Event{res.Retry[0].Event}
	res, err = s.ApplyEvents(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Retry) != 1 {
		t.Fatalf("retry while still refused = %+v, want bob again", res.Retry)
	}

	// Accepted now: bob is there, nothing left to retry.
	tgt.mu.Lock()
	tgt.refuse = nil
	tgt.mu.Unlock()
	res, err = s.ApplyEvents(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "retry", res.Users, reconcile.Counts{Created: 1})
	if len(res.Retry) != 0 {
		t.Errorf("retry after success = %+v", res.Retry)
	}
	e.targetUser(t, reconcile.OwnedExternalID("hr", bob.ID))

	// A conflict (a userName taken by an account of another source id) is
	// reported, not retried.
	cursor = cs.Cursor
	if _, err := e.tgt.CreateUser(ctx, connectors.User{ExternalID: "other/x", UserName: "dave", Active: true}); err != nil {
		t.Fatal(err)
	}
	e.addUser(t, "dave")
	cs, err = e.src.Changes(ctx, cursor)
	if err != nil {
		t.Fatal(err)
	}
	res, err = s.ApplyChangeSet(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "conflict", res.Users, reconcile.Counts{Conflicts: 1})
	if len(res.Retry) != 0 {
		t.Errorf("a conflict is to be retried: %+v", res.Retry)
	}
}

// TestTargetFailures: a failure the target answers is taken by whether
// retrying can cure it. A transient one (a 5xx, a 429 with the wait the
// caller must honour) fails the whole run, so that the run is retried and
// no change is lost; a rejection of the object itself (a 400) fails that
// object alone, which is returned to be retried later, and the run goes on.
func TestTargetFailures(t *testing.T) {
	tests := []struct {
		name string
		err  error
		// transient: the run fails; wantRetryAfter is the wait it asks.
		transient      bool
		wantRetryAfter time.Duration
	}{
		{name: "503", err: memory.ErrUnavailable, transient: true},
		{name: "429", err: memory.RateLimited(3 * time.Second), transient: true, wantRetryAfter: 3 * time.Second},
		{name: "400", err: memory.Rejected()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			users := e.addUsers(t, "f", 2)
			var events []reconcile.Event
			for _, u := range users {
				events = append(events, reconcile.Event{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: u.ID})
			}
			s := e.syncer(reconcile.Options{})
			// The first call the target gets (a lookup of one of the two
			// users, applied at once) fails.
			e.target.FailNext(1, tt.err)
			res, err := s.ApplyEvents(ctx, events)

			var rl *connectors.RateLimitError
			switch {
			case tt.transient && err == nil:
				t.Fatalf("ApplyEvents: %+v, want the run to fail", res)
			case tt.transient && tt.wantRetryAfter > 0 && (!errors.As(err, &rl) || rl.RetryAfter != tt.wantRetryAfter):
				t.Errorf("ApplyEvents: %v, want a *RateLimitError asking to wait %s", err, tt.wantRetryAfter)
			case !tt.transient && err != nil:
				t.Fatalf("ApplyEvents: %v, want the object to fail alone", err)
			case !tt.transient:
				checkCounts(t, "users", res.Users, reconcile.Counts{Created: 1, Failed: 1})
				if len(res.Retry) != 1 || !strings.Contains(res.Retry[0].Error, "400") {
					t.Errorf("retry = %+v, want the failed user, with the 400", res.Retry)
				}
				events = []reconcile.Event{res.Retry[0].Event}
			}

			// Applied again, as the retried run or the retry events are,
			// every user is there, once.
			if _, err := s.ApplyEvents(ctx, events); err != nil {
				t.Fatalf("again: %v", err)
			}
			for _, u := range users {
				e.targetUser(t, u.ID)
			}
			if n := len(e.targetUsers(t)); n != len(users) {
				t.Errorf("target has %d users, want %d", n, len(users))
			}
		})
	}
}
