package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/idsync/idsync/connectors"
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
