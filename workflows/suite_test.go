package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// t0 is the fixed start time of every workflow under test.
var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

// acts is the receiver the mocks are registered on; workflows call the
// same methods through a nil *activities.Activities.
var acts = &activities.Activities{}

// ruleSuite runs RuleWorkflow in the test environment with
// mocked activities and a mocked FullResyncWorkflow child, and records what
// the workflow did, with the (skipped) time at which it did it.
type ruleSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env    *testsuite.TestWorkflowEnvironment
	rec    *recorder
	resync resyncFunc
}

func (s *ruleSuite) SetupTest()    { s.newEnv(false) }
func (s *ruleSuite) SetupSubTest() { s.newEnv(false) }

func (s *ruleSuite) TearDownSubTest() { s.env.AssertExpectations(s.T()) }

func (s *ruleSuite) AfterTest(_, _ string) { s.env.AssertExpectations(s.T()) }

// newEnv makes a fresh environment. The FullResyncWorkflow child is the
// fakeResync stand-in unless realResync, in which case it is the real
// workflow, with its activities to be mocked.
func (s *ruleSuite) newEnv(realResync bool) {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(t0)
	s.env.SetTestTimeout(30 * time.Second)
	// A rule runs until deleted or continued as new: a test whose rule does
	// neither fails here instead of skipping time for ever.
	s.env.SetWorkflowRunTimeout(48 * time.Hour)
	s.env.RegisterWorkflow(RuleWorkflow)
	registerUnexpected(s.env, s)
	if realResync {
		s.env.RegisterWorkflow(FullResyncWorkflow)
	} else {
		s.env.RegisterWorkflowWithOptions(s.fakeResync, workflow.RegisterOptions{Name: "FullResyncWorkflow"})
	}
	s.rec = &recorder{}
	s.resync = nil
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		s.rec.upserted(s.env.Now().UTC(), args.Get(0).(temporal.SearchAttributes))
	}).Return()
}

// registerUnexpected registers every activity as a stub that fails the
// test: a test mocks the activities it expects, and any other call is an
// error, not a silent activity failure.
func registerUnexpected(env *testsuite.TestWorkflowEnvironment, s interface{ Fail(string, ...any) bool }) {
	stub := func(name string) func(context.Context, json.RawMessage) (json.RawMessage, error) {
		return func(context.Context, json.RawMessage) (json.RawMessage, error) {
			s.Fail("unexpected activity " + name)
			return nil, temporal.NewNonRetryableApplicationError("unexpected activity "+name, "Unexpected", nil)
		}
	}
	for _, name := range []string{"Poll", "CheckChanges", "ApplyChanges", "Resync", "SourceCursor", "TestConnection"} {
		env.RegisterActivityWithOptions(stub(name), activity.RegisterOptions{Name: name})
	}
}

// recorder keeps what the mocks saw. Activity mocks run on their own
// goroutines, hence the lock.
type recorder struct {
	mu      sync.Mutex
	polls   []pollCall
	applies []applyCall
	resyncs []resyncCall
	states  []stateAt
	sa      map[string]any
}

type pollCall struct {
	At      time.Time
	Attempt int32
	Cursor  string
}

type applyCall struct {
	At     time.Time
	Events []reconcile.Event
}

type resyncCall struct {
	Start, End time.Time
	In         ResyncInput
	ID         string // workflow ID
	Kind       string // IdsyncKind search attribute
}

// stateAt is one value written to the SyncState search attribute.
type stateAt struct {
	At    time.Time
	State string
}

func (r *recorder) upserted(at time.Time, attrs temporal.SearchAttributes) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sa == nil {
		r.sa = map[string]any{}
	}
	for k, v := range attrs.GetUntypedValues() {
		r.sa[k.GetName()] = v
	}
	if st, ok := attrs.GetKeyword(SASyncState); ok {
		r.states = append(r.states, stateAt{at, st})
	}
}

// firstPolls are the polls as the workflow sees them: first attempts only.
func (r *recorder) firstPolls() []pollCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []pollCall
	for _, p := range r.polls {
		if p.Attempt == 1 {
			out = append(out, p)
		}
	}
	return out
}

func (r *recorder) pollTimes() []time.Duration {
	var out []time.Duration
	for _, p := range r.firstPolls() {
		out = append(out, p.At.Sub(t0))
	}
	return out
}

func (r *recorder) allPolls() []pollCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pollCall(nil), r.polls...)
}

func (r *recorder) allApplies() []applyCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]applyCall(nil), r.applies...)
}

func (r *recorder) allResyncs() []resyncCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]resyncCall(nil), r.resyncs...)
}

// stateTimeline is every SyncState written, in order.
func (r *recorder) stateTimeline() []stateAt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stateAt(nil), r.states...)
}

// stateAtTime is the SyncState search attribute as it stood at t.
func (r *recorder) stateAtTime(t time.Time) string {
	st := ""
	for _, s := range r.stateTimeline() {
		if s.At.After(t) {
			break
		}
		st = s.State
	}
	return st
}

// searchAttr is the last value written to a search attribute.
func (r *recorder) searchAttr(name string) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sa[name]
}

// pollFunc answers the n-th poll (0-based, counting first attempts; a
// retry of poll n sees the same n).
type pollFunc func(n int, in activities.PollInput) (activities.PollResult, error)

// okPoll answers every poll with the next cursor, c1, c2, …; like the
// real activity, it asks for a full resync when given no cursor.
func okPoll(n int, in activities.PollInput) (activities.PollResult, error) {
	if in.Cursor == "" {
		return activities.PollResult{ResyncRequired: true}, nil
	}
	return activities.PollResult{Cursor: fmt.Sprintf("c%d", n+1), Changes: 1,
		Result: reconcile.Result{Users: reconcile.Counts{Updated: 1}}}, nil
}

// failingPolls answers according to a script: 'F' fails the poll with err,
// 'S' succeeds; polls past the script succeed.
func failingPolls(script string, err error) pollFunc {
	return func(n int, in activities.PollInput) (activities.PollResult, error) {
		if n < len(script) && script[n] == 'F' {
			return activities.PollResult{}, err
		}
		return okPoll(n, in)
	}
}

var (
	errUnauthorized = temporal.NewNonRetryableApplicationError("workday: 401 Unauthorized", activities.ErrTypeUnauthorized, nil)
	errTransient    = errors.New("ldap: dial tcp 10.0.0.5:636: connect: connection refused")
)

// mockPoll answers Poll with f and records every attempt. The change check
// before each poll says "changed" (see mockCheck for idle polls).
func (s *ruleSuite) mockPoll(f pollFunc) *testsuite.MockCallWrapper {
	s.env.OnActivity(acts.CheckChanges, mock.Anything, mock.Anything).Return(activities.ChangeCheck{Changed: true}, nil).Maybe()
	return s.env.OnActivity(acts.Poll, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.PollInput) (activities.PollResult, error) {
			attempt := activity.GetInfo(ctx).Attempt
			s.rec.mu.Lock()
			n := 0
			for _, p := range s.rec.polls {
				if p.Attempt == 1 {
					n++
				}
			}
			if attempt > 1 {
				n-- // a retry of the last poll
			}
			s.rec.polls = append(s.rec.polls, pollCall{At: s.env.Now().UTC(), Attempt: attempt, Cursor: in.Cursor})
			s.rec.mu.Unlock()
			return f(n, in)
		})
}

// mockApply answers ApplyChanges with f (nil: success) and records the
// batches.
func (s *ruleSuite) mockApply(f func(n int, in activities.ApplyInput) (reconcile.Result, error)) *testsuite.MockCallWrapper {
	return s.env.OnActivity(acts.ApplyChanges, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ApplyInput) (reconcile.Result, error) {
			s.rec.mu.Lock()
			n := len(s.rec.applies)
			s.rec.applies = append(s.rec.applies, applyCall{At: s.env.Now().UTC(), Events: in.Events})
			s.rec.mu.Unlock()
			if f != nil {
				return f(n, in)
			}
			return reconcile.Result{Users: reconcile.Counts{Updated: len(in.Events)}}, nil
		})
}

// resyncFunc plays the n-th FullResyncWorkflow child (0-based).
type resyncFunc func(ctx workflow.Context, n int, in ResyncInput) (ResyncResult, error)

// mockResync makes f play the FullResyncWorkflow child.
func (s *ruleSuite) mockResync(f resyncFunc) { s.resync = f }

// fakeResync stands in for the FullResyncWorkflow child: it records each
// run and plays s.resync. It is registered under the child's name rather
// than mocked with OnWorkflow because the test environment reports a
// mocked child as started only once the mock has returned, so a mocked
// child could never be seen running. It is test scaffolding, not workflow
// code: its assertion helpers are not checked for determinism.
//
//workflowcheck:ignore
func (s *ruleSuite) fakeResync(ctx workflow.Context, in ResyncInput) (ResyncResult, error) {
	if s.resync == nil {
		s.Fail("unexpected FullResyncWorkflow child", "%+v", in)
		return ResyncResult{}, errors.New("unexpected child")
	}
	sa := workflow.GetTypedSearchAttributes(ctx)
	kind, _ := sa.GetKeyword(SAKind)
	s.rec.mu.Lock()
	n := len(s.rec.resyncs)
	s.rec.resyncs = append(s.rec.resyncs, resyncCall{
		Start: workflow.Now(ctx).UTC(), In: in, ID: workflow.GetInfo(ctx).WorkflowExecution.ID, Kind: kind,
	})
	s.rec.mu.Unlock()
	out, err := s.resync(ctx, n, in)
	s.rec.mu.Lock()
	s.rec.resyncs[n].End = workflow.Now(ctx).UTC()
	s.rec.mu.Unlock()
	return out, err
}

// resyncTaking is a resync that takes d and returns cursor (except on a
// dry run, like the real one), 42 managed users and 7 managed groups.
func resyncTaking(d time.Duration, cursor string) resyncFunc {
	return func(ctx workflow.Context, _ int, in ResyncInput) (ResyncResult, error) {
		if err := workflow.Sleep(ctx, d); err != nil {
			return ResyncResult{}, err
		}
		out := ResyncResult{Cursor: cursor, Scope: in.Scope, DryRun: in.DryRun, Result: reconcile.Result{
			Users: reconcile.Counts{Created: 2, Unchanged: 40}, ManagedUsers: 42, ManagedGroups: 7,
		}}
		if in.DryRun {
			out.Cursor = ""
		}
		return out, nil
	}
}

// at runs f when the test clock reaches t0+d.
func (s *ruleSuite) at(d time.Duration, f func()) { s.env.RegisterDelayedCallback(f, d) }

func (s *ruleSuite) signalAt(d time.Duration, events ...reconcile.Event) {
	s.at(d, func() { s.env.SignalWorkflow(SignalNameChanges, ChangeBatch{Events: events}) })
}

func (s *ruleSuite) deleteAt(d time.Duration) {
	s.at(d, func() { s.env.SignalWorkflow(SignalNameDelete, nil) })
}

// statusAt queries the status at t0+d; the result is filled in then.
func (s *ruleSuite) statusAt(d time.Duration) *RuleStatus {
	st := &RuleStatus{}
	s.at(d, func() { *st = s.queryStatus() })
	return st
}

func (s *ruleSuite) queryStatus() RuleStatus {
	v, err := s.env.QueryWorkflow(QueryNameStatus)
	s.Require().NoError(err)
	var st RuleStatus
	s.Require().NoError(v.Get(&st))
	return st
}

// updateOutcome is what became of an update sent by updateAt.
type updateOutcome struct {
	sent     bool
	accepted bool
	rejected error
	done     bool
	result   any
	err      error
}

// updateAt sends an update at t0+d; out must point to the handler's
// result type.
func (s *ruleSuite) updateAt(d time.Duration, name string, arg any, out any) *updateOutcome {
	u := &updateOutcome{result: out}
	s.at(d, func() { s.sendUpdate(name, arg, u) })
	return u
}

func (s *ruleSuite) sendUpdate(name string, arg any, u *updateOutcome) {
	u.sent = true
	cb := &testsuite.TestUpdateCallback{
		OnAccept: func() { u.accepted = true },
		OnReject: func(err error) { u.rejected = err },
		OnComplete: func(v any, err error) {
			u.done, u.err = true, err
			if err == nil && u.result != nil {
				s.Require().NoError(decodeInto(v, u.result))
			}
		},
	}
	if arg == nil {
		s.env.UpdateWorkflow(name, "", cb)
		return
	}
	s.env.UpdateWorkflow(name, "", cb, arg)
}

// decodeInto copies an update's result, encoded or not, into out.
func decodeInto(v any, out any) error {
	switch v := v.(type) {
	case converter.EncodedValue:
		return v.Get(out)
	case *commonpb.Payloads:
		return converter.GetDefaultDataConverter().FromPayloads(v, out)
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		return err
	}
	return converter.GetDefaultDataConverter().FromPayload(p, out)
}

// run executes the rule workflow until it returns.
func (s *ruleSuite) run(state RuleState) {
	s.env.ExecuteWorkflow(RuleWorkflow, state)
	s.Require().True(s.env.IsWorkflowCompleted(), "the workflow did not complete")
}

// runToDelete runs the rule until it is deleted at t0+d, and requires it
// to end cleanly.
func (s *ruleSuite) runToDelete(state RuleState, d time.Duration) {
	s.deleteAt(d)
	s.run(state)
	s.Require().NoError(s.env.GetWorkflowError())
}

// testCadences stand for what connection types supply when a rule is
// created (connectors.Type.Cadence): the rule reads only its Cadence. A
// type not listed gives a rule without one, as rules created before
// cadences were stored.
var testCadences = map[string]connectors.Cadence{
	"ldap":    {PollInterval: 2 * time.Minute, PollJitter: time.Minute, BreakerReset: 30 * time.Minute, ResyncInterval: 24 * time.Hour},
	"workday": {PollInterval: 15 * time.Minute, BreakerReset: 12 * time.Hour, ResyncInterval: 24 * time.Hour},
	"workos":  {PollInterval: time.Minute, BreakerReset: 30 * time.Minute, ResyncInterval: 24 * time.Hour},
	"events":  {PollInterval: time.Minute, BreakerReset: 30 * time.Minute, ResyncInterval: 24 * time.Hour},
	"partial": {PollInterval: 7 * time.Minute},
}

// ruleState is a rule that has already synced once (it has a cursor), so
// that it starts by polling; opts change its config.
func ruleState(sourceType string, opts ...func(*RuleConfig)) RuleState {
	c := RuleConfig{
		Name: "hr-to-app", SourceConnection: "hr", TargetConnection: "app",
		SourceType: sourceType, TargetType: "scim", Cadence: testCadences[sourceType],
	}
	for _, o := range opts {
		o(&c)
	}
	return RuleState{Config: c, Cursor: "c0"}
}

func userEvent(id string) reconcile.Event {
	return reconcile.Event{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: id}
}

func membershipEvent(op, group, user string) reconcile.Event {
	return reconcile.Event{Kind: reconcile.KindMembership, Op: op, GroupID: group, UserID: user}
}

// canInput decodes the state a continue-as-new error carries.
func canInput(err error) (RuleState, bool) {
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		return RuleState{}, false
	}
	var st RuleState
	if e := converter.GetDefaultDataConverter().FromPayloads(can.Input, &st); e != nil {
		return RuleState{}, false
	}
	return st, true
}
