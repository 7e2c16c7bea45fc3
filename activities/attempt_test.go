package activities

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/syncbuf"
	"github.com/idsync/idsync/reconcile"
)

func TestBeatEvery(t *testing.T) {
	for _, tt := range []struct{ timeout, want time.Duration }{
		{0, defaultBeatEvery},
		{2 * time.Second, 500 * time.Millisecond},
		{2 * time.Minute, 30 * time.Second},
		{time.Hour, maxBeatEvery},
		{100 * time.Millisecond, minBeatEvery},
	} {
		if got := beatEvery(tt.timeout); got != tt.want {
			t.Errorf("beatEvery(%s) = %s, want %s", tt.timeout, got, tt.want)
		}
	}
}

// TestKeepAlive: the liveness heartbeat beats steadily while nothing else
// does, and its goroutine has ended when stop returns or soon after the
// context ends.
func TestKeepAlive(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		var n atomic.Int32
		stop := keepAlive(context.Background(), 10*time.Millisecond, func() { n.Add(1) })
		time.Sleep(200 * time.Millisecond)
		stop()
		got := n.Load()
		if got < 5 {
			t.Errorf("%d beats in 200 ms at 10 ms, want at least 5", got)
		}
		time.Sleep(50 * time.Millisecond)
		if after := n.Load(); after != got {
			t.Errorf("%d beats after stop returned", after-got)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var n atomic.Int32
		stop := keepAlive(ctx, 10*time.Millisecond, func() { n.Add(1) })
		time.Sleep(50 * time.Millisecond)
		cancel()
		ended := make(chan struct{})
		go func() { stop(); close(ended) }()
		select {
		case <-ended:
		case <-time.After(time.Second):
			t.Fatal("the heartbeat goroutine outlived its context")
		}
	})
}

// TestAttemptsOneAtATime: a second attempt for the same key waits until
// the first has returned; another rule or phase does not wait; a waiting
// attempt whose context ends gives up.
func TestAttemptsOneAtATime(t *testing.T) {
	var r attempts
	ctx := context.Background()
	key := attemptKey{activity: "Resync", rule: "hr", phase: PhaseUsers}
	release1, err := r.acquire(ctx, key, 1, func(int32) { t.Error("the first attempt waited") })
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []attemptKey{{"Resync", "hr", PhaseGroups}, {"Resync", "crm", PhaseUsers}, {"Poll", "hr", ""}} {
		rel, err := r.acquire(ctx, other, 1, func(int32) { t.Errorf("%+v waited for %+v", other, key) })
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}

	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := r.acquire(cctx, key, 2, func(int32) {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting past its deadline: %v", err)
	}

	var waitedFor atomic.Int32
	acquired := make(chan func())
	go func() {
		rel, err := r.acquire(ctx, key, 3, func(running int32) { waitedFor.Store(running) })
		if err != nil {
			t.Error(err)
		}
		acquired <- rel
	}()
	select {
	case <-acquired:
		t.Fatal("the second attempt ran while the first had not returned")
	case <-time.After(100 * time.Millisecond):
	}
	release1()
	release1() // a second call does nothing
	select {
	case rel := <-acquired:
		rel()
	case <-time.After(time.Second):
		t.Fatal("the second attempt did not run once the first returned")
	}
	if got := waitedFor.Load(); got != 1 {
		t.Errorf("the second attempt waited for attempt %d, want 1", got)
	}
}

// TestResyncOneAttemptAtATime runs two Resync activities for the same
// rule and phase at once, as a retry and the timed-out attempt it
// replaces would on one worker: the second must not read the target until
// the first has returned, and heartbeats while it waits.
func TestResyncOneAttemptAtATime(t *testing.T) {
	tgt := &gatedTarget{entered: make(chan struct{}, 2), proceed: make(chan struct{})}
	var logs syncbuf.Buffer
	a := &Activities{
		Connections: connections{byName: map[string]connectors.Connection{
			"src": {Name: "src", Type: "emptysource", Settings: json.RawMessage(`{}`)},
			"dst": {Name: "dst", Type: "gatedtarget", Settings: json.RawMessage(`{}`)},
		}},
		Registry: connectors.Registry{
			"emptysource": {New: func() connectors.Config { return &fakeConfig{conn: emptySource{}} }},
			"gatedtarget": {New: func() connectors.Config { return &fakeConfig{conn: tgt} }},
		},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	in := ResyncInput{Rule: RuleSpec{Name: "hr", SourceConnection: "src", TargetConnection: "dst"}, Phase: PhaseUsers}

	var suite testsuite.WorkflowTestSuite
	run := func(env *testsuite.TestActivityEnvironment) <-chan error {
		env.RegisterActivity(a)
		done := make(chan error, 1)
		go func() {
			_, err := env.ExecuteActivity(a.Resync, in)
			done <- err
		}()
		return done
	}
	first := run(suite.NewTestActivityEnvironment())
	waitFor(t, tgt.entered, "the first attempt lists the target")

	env2 := suite.NewTestActivityEnvironment()
	// A retry: its predecessor heartbeat how far it got.
	env2.SetHeartbeatDetails(Progress{Phase: "target users", Done: 300, Attempt: 1})
	beats := make(chan Progress, 10)
	env2.SetOnActivityHeartbeatListener(func(_ *activity.Info, d converter.EncodedValues) {
		var p Progress
		if err := d.Get(&p); err != nil {
			t.Errorf("heartbeat details: %v", err)
		}
		beats <- p
	})
	second := run(env2)
	select {
	case <-tgt.entered:
		t.Fatal("the second attempt read the target while the first ran")
	case p := <-beats:
		if p.Phase != "waiting for attempt 1" {
			t.Errorf("waiting attempt heartbeat %+v", p)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the waiting attempt did not heartbeat")
	}

	tgt.proceed <- struct{}{}
	if err := <-first; err != nil {
		t.Fatalf("first attempt: %v", err)
	}
	waitFor(t, tgt.entered, "the second attempt lists the target once the first returned")
	tgt.proceed <- struct{}{}
	if err := <-second; err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	if got := tgt.maxInFlight.Load(); got != 1 {
		t.Errorf("%d target listings at once, want 1", got)
	}
	if out := logs.String(); !strings.Contains(out, "previous_phase=\"target users\" previous_done=300") {
		t.Errorf("the retry did not log where its predecessor got to:\n%s", out)
	}
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not within 5 s", what)
	}
}

// fakeConfig opens the connector it holds; it has no settings.
type fakeConfig struct{ conn connectors.Connector }

func (*fakeConfig) Validate() error { return nil }
func (c *fakeConfig) Open(context.Context, *slog.Logger) (connectors.Connector, error) {
	return c.conn, nil
}

// emptySource has no users; its other methods are not called.
type emptySource struct{ connectors.Source }

func (emptySource) Close() error                                                 { return nil }
func (emptySource) ListUsers(context.Context, func(connectors.User) error) error { return nil }

// gatedTarget's user listing announces itself on entered and waits for
// proceed (or its context), counting the listings that run at once.
type gatedTarget struct {
	connectors.Target
	entered               chan struct{}
	proceed               chan struct{}
	inFlight, maxInFlight atomic.Int32
}

func (*gatedTarget) Close() error { return nil }

func (g *gatedTarget) ListUsers(ctx context.Context, _ func(connectors.TargetUser) error) error {
	n := g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	for {
		m := g.maxInFlight.Load()
		if n <= m || g.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	g.entered <- struct{}{}
	select {
	case <-g.proceed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestResyncCountsAcrossAttempts: a retried resync phase sees what the
// attempts before it created as unchanged; it reports their counts with
// its own (from the heartbeat they left), and heartbeats the sum.
func TestResyncCountsAcrossAttempts(t *testing.T) {
	users := []connectors.User{{ExternalID: "u1", UserName: "a", Active: true}, {ExternalID: "u2", UserName: "b", Active: true}, {ExternalID: "u3", UserName: "c", Active: true}}
	a := inSync(users)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	env.SetHeartbeatDetails(Progress{Phase: "users", Done: 2, Attempt: 1, Counts: &reconcile.Counts{Created: 2}})
	val, err := env.ExecuteActivity(a.Resync, ResyncInput{Rule: RuleSpec{Name: "hr", SourceConnection: "src", TargetConnection: "dst"}, Phase: PhaseUsers})
	if err != nil {
		t.Fatal(err)
	}
	var res reconcile.Result
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	if want := (reconcile.Counts{Created: 2, Unchanged: 1}); res.Users != want {
		t.Errorf("users = %+v, want %+v (the first attempt's 2 creates, this one's 1 unchanged)", res.Users, want)
	}
}

// inSync is Activities whose connection "src" lists users and "dst"
// holds them already, managed by the rule "hr".
func inSync(users []connectors.User) *Activities {
	return &Activities{
		Connections: connections{byName: map[string]connectors.Connection{
			"src": {Name: "src", Type: "listsource", Settings: json.RawMessage(`{}`)},
			"dst": {Name: "dst", Type: "fulltarget", Settings: json.RawMessage(`{}`)},
		}},
		Registry: connectors.Registry{
			"listsource": {New: func() connectors.Config { return &fakeConfig{conn: listSource{users: users}} }},
			"fulltarget": {New: func() connectors.Config { return &fakeConfig{conn: heldTarget{owner: "hr", users: users}} }},
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// listSource lists the users it holds.
type listSource struct {
	connectors.Source
	users []connectors.User
}

func (listSource) Close() error { return nil }
func (s listSource) ListUsers(_ context.Context, fn func(connectors.User) error) error {
	for _, u := range s.users {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}

// heldTarget holds the users already, managed by owner; it is only listed.
type heldTarget struct {
	connectors.Target
	owner string
	users []connectors.User
}

func (heldTarget) Close() error { return nil }
func (t heldTarget) ListUsers(_ context.Context, fn func(connectors.TargetUser) error) error {
	for _, u := range t.users {
		u.ExternalID = reconcile.OwnedExternalID(t.owner, u.ExternalID)
		if err := fn(connectors.TargetUser{ID: "id-" + u.ExternalID, User: u}); err != nil {
			return err
		}
	}
	return nil
}

// TestApplyCountsAcrossAttempts: a retried ApplyChanges reports what the
// attempt before it did, to users and to groups, with its own.
func TestApplyCountsAcrossAttempts(t *testing.T) {
	users := []connectors.User{{ExternalID: "u1", UserName: "a", Active: true}}
	a := inSync(users)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	env.SetHeartbeatDetails(Progress{Phase: "changes", Attempt: 1,
		Counts: &reconcile.Counts{Updated: 1}, GroupCounts: &reconcile.Counts{Deprovisioned: 2}})
	u := users[0]
	val, err := env.ExecuteActivity(a.ApplyChanges, ApplyInput{
		Rule:   RuleSpec{Name: "hr", SourceConnection: "src", TargetConnection: "dst"},
		Events: []reconcile.Event{{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: u.ExternalID, User: &u}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var res reconcile.Result
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	if want := (reconcile.Counts{Updated: 1}); res.Users != want {
		t.Errorf("users = %+v, want %+v (the first attempt's update, seen unchanged now)", res.Users, want)
	}
	if want := (reconcile.Counts{Deprovisioned: 2}); res.Groups != want {
		t.Errorf("groups = %+v, want %+v", res.Groups, want)
	}
}

// LookupUsers finds the held user by externalId, as a real target does.
func (t heldTarget) LookupUsers(ctx context.Context, attr, value string) ([]connectors.TargetUser, error) {
	var out []connectors.TargetUser
	err := t.ListUsers(ctx, func(tu connectors.TargetUser) error {
		if attr == connectors.MatchExternalID && tu.ExternalID == value {
			out = append(out, tu)
		}
		return nil
	})
	return out, err
}
