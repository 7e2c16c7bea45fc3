package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/reconcile"
)

// resyncSuite runs FullResyncWorkflow on its own with mocked activities.
type resyncSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment

	mu    sync.Mutex
	calls []string // "cursor", "users", "groups", in call order
}

func TestResyncSuite(t *testing.T) { suite.Run(t, new(resyncSuite)) }

func (s *resyncSuite) SetupTest()    { s.newEnv() }
func (s *resyncSuite) SetupSubTest() { s.newEnv() }

func (s *resyncSuite) TearDownSubTest() { s.env.AssertExpectations(s.T()) }

func (s *resyncSuite) AfterTest(_, _ string) { s.env.AssertExpectations(s.T()) }

func (s *resyncSuite) newEnv() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(t0)
	s.env.SetTestTimeout(30 * time.Second)
	s.env.RegisterWorkflow(FullResyncWorkflow)
	registerUnexpected(s.env, s)
	s.calls = nil
}

func (s *resyncSuite) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *resyncSuite) recorded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

var resyncRule = activities.RuleSpec{
	Name:             "hr-to-app",
	SourceConnection: "hr",
	TargetConnection: "app",
	Policy:           reconcile.Policy{MaxDeprovisionFraction: 0.2},
}

// mockCursor expects SourceCursor to be called once.
func (s *resyncSuite) mockCursor(cursor string) {
	s.env.OnActivity(acts.SourceCursor, mock.Anything, resyncRule).Return(
		func(context.Context, activities.RuleSpec) (string, error) {
			s.record("cursor")
			return cursor, nil
		}).Once()
}

// mockPhases answers the Resync activity per phase, with users and groups
// counts, or with errs[phase] on the attempts listed there.
func (s *resyncSuite) mockPhases(want activities.ResyncInput, errs map[string]error) *testsuite.MockCallWrapper {
	return s.env.OnActivity(acts.Resync, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ResyncInput) (reconcile.Result, error) {
			s.record(in.Phase)
			s.Equal(want.Rule, in.Rule)
			s.Equal(want.DryRun, in.DryRun)
			s.Equal(want.AllowMassDeprovision, in.AllowMassDeprovision)
			if err := errs[in.Phase]; err != nil {
				return reconcile.Result{}, err
			}
			switch in.Phase {
			case activities.PhaseUsers:
				return reconcile.Result{Users: reconcile.Counts{Created: 3, Unchanged: 40}, ManagedUsers: 43}, nil
			case activities.PhaseGroups:
				return reconcile.Result{Groups: reconcile.Counts{Updated: 2}, ManagedGroups: 6}, nil
			}
			return reconcile.Result{}, errors.New("unknown phase " + in.Phase)
		})
}

// phases counts the Resync calls in a list of expected calls.
func phases(calls []string) int {
	n := 0
	for _, c := range calls {
		if c != "cursor" {
			n++
		}
	}
	return n
}

// TestPhasesByScope: members runs the users phase only, groups the groups
// phase only, both runs users then groups; the cursor is taken before any
// phase, except on a dry run, which takes none.
func (s *resyncSuite) TestPhasesByScope() {
	tests := []struct {
		scope  string
		dryRun bool
		allow  bool
		want   []string
		result reconcile.Result
	}{
		{scope: ScopeMembers, want: []string{"cursor", "users"},
			result: reconcile.Result{Users: reconcile.Counts{Created: 3, Unchanged: 40}, ManagedUsers: 43}},
		{scope: ScopeGroups, want: []string{"cursor", "groups"},
			result: reconcile.Result{Groups: reconcile.Counts{Updated: 2}, ManagedGroups: 6}},
		{scope: ScopeBoth, want: []string{"cursor", "users", "groups"},
			result: reconcile.Result{Users: reconcile.Counts{Created: 3, Unchanged: 40}, Groups: reconcile.Counts{Updated: 2},
				ManagedUsers: 43, ManagedGroups: 6}},
		{scope: ScopeBoth, dryRun: true, want: []string{"users", "groups"},
			result: reconcile.Result{Users: reconcile.Counts{Created: 3, Unchanged: 40}, Groups: reconcile.Counts{Updated: 2},
				ManagedUsers: 43, ManagedGroups: 6}},
		{scope: ScopeMembers, dryRun: true, want: []string{"users"},
			result: reconcile.Result{Users: reconcile.Counts{Created: 3, Unchanged: 40}, ManagedUsers: 43}},
		{scope: ScopeGroups, allow: true, want: []string{"cursor", "groups"},
			result: reconcile.Result{Groups: reconcile.Counts{Updated: 2}, ManagedGroups: 6}},
	}
	for _, tc := range tests {
		name := tc.scope
		if tc.dryRun {
			name += ", dry run"
		}
		if tc.allow {
			name += ", mass deprovision allowed"
		}
		s.Run(name, func() {
			if !tc.dryRun {
				s.mockCursor("cur-9")
			}
			s.mockPhases(activities.ResyncInput{Rule: resyncRule, DryRun: tc.dryRun, AllowMassDeprovision: tc.allow}, nil).
				Times(phases(tc.want))
			s.env.ExecuteWorkflow(FullResyncWorkflow, ResyncInput{
				Rule: resyncRule, Scope: tc.scope, DryRun: tc.dryRun, AllowMassDeprovision: tc.allow, Reason: "manual",
			})

			s.Require().True(s.env.IsWorkflowCompleted())
			s.Require().NoError(s.env.GetWorkflowError())
			var out ResyncResult
			s.Require().NoError(s.env.GetWorkflowResult(&out))
			s.Equal(tc.want, s.recorded())
			wantCursor := "cur-9"
			if tc.dryRun {
				wantCursor = ""
				s.env.AssertActivityNotCalled(s.T(), "SourceCursor", mock.Anything, mock.Anything)
			}
			s.Equal(ResyncResult{Cursor: wantCursor, Scope: tc.scope, DryRun: tc.dryRun, Result: tc.result}, out)
		})
	}
}

// TestFailures: a MassDeprovisionGuard error fails the resync at once,
// with no retry and no later phase; other non-retryable errors do the
// same; a transient error is retried; a bad scope fails before anything
// runs.
func (s *resyncSuite) TestFailures() {
	guard := temporal.NewNonRetryableApplicationError(
		(&reconcile.MassDeprovisionError{Kind: "users", Would: 30, Managed: 43, Allowed: 8}).Error(),
		activities.ErrTypeMassDeprovision, nil)
	unauthorized := temporal.NewNonRetryableApplicationError("scim: 401", activities.ErrTypeUnauthorized, nil)
	tests := []struct {
		name      string
		scope     string
		errs      map[string]error
		calls     []string
		wantType  string // ApplicationError type of the failure
		wantInErr string
		retryable bool // as the activity marked it
	}{
		{name: "mass deprovision guard in users", scope: ScopeBoth,
			errs: map[string]error{activities.PhaseUsers: guard}, calls: []string{"cursor", "users"},
			wantType: activities.ErrTypeMassDeprovision, wantInErr: "refusing to deprovision 30 of 43 managed users"},
		{name: "mass deprovision guard in groups", scope: ScopeBoth,
			errs: map[string]error{activities.PhaseGroups: guard}, calls: []string{"cursor", "users", "groups"},
			wantType: activities.ErrTypeMassDeprovision, wantInErr: "resync groups"},
		{name: "mass deprovision guard, even if marked retryable", scope: ScopeMembers,
			errs:  map[string]error{activities.PhaseUsers: temporal.NewApplicationError("refusing to deprovision", activities.ErrTypeMassDeprovision)},
			calls: []string{"cursor", "users"}, wantType: activities.ErrTypeMassDeprovision, wantInErr: "refusing to deprovision",
			retryable: true},
		{name: "unauthorized", scope: ScopeMembers,
			errs: map[string]error{activities.PhaseUsers: unauthorized}, calls: []string{"cursor", "users"},
			wantType: activities.ErrTypeUnauthorized, wantInErr: "scim: 401"},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			s.mockCursor("cur")
			s.mockPhases(activities.ResyncInput{Rule: resyncRule}, tc.errs).Times(phases(tc.calls))
			s.env.ExecuteWorkflow(FullResyncWorkflow, ResyncInput{Rule: resyncRule, Scope: tc.scope, Reason: "breaker"})

			s.Require().True(s.env.IsWorkflowCompleted())
			err := s.env.GetWorkflowError()
			s.Require().Error(err)
			s.Contains(err.Error(), tc.wantInErr)
			var appErr *temporal.ApplicationError
			s.Require().True(errors.As(err, &appErr), "%v", err)
			s.Equal(tc.wantType, appErr.Type(), "the activity's error type is kept")
			s.Equal(!tc.retryable, appErr.NonRetryable(), "and so is its retryability")
			s.Equal(tc.calls, s.recorded(), "no retry, no later phase")
		})
	}

	s.Run("a transient error is retried", func() {
		s.mockCursor("cur")
		attempts := 0
		s.env.OnActivity(acts.Resync, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.ResyncInput) (reconcile.Result, error) {
				s.record(in.Phase)
				if attempts++; attempts == 1 {
					return reconcile.Result{}, errors.New("scim: 503 Service Unavailable")
				}
				return reconcile.Result{Users: reconcile.Counts{Updated: 1}}, nil
			}).Times(2)
		s.env.ExecuteWorkflow(FullResyncWorkflow, ResyncInput{Rule: resyncRule, Scope: ScopeMembers})

		s.Require().NoError(s.env.GetWorkflowError())
		s.Equal([]string{"cursor", "users", "users"}, s.recorded())
	})

	s.Run("a bad scope fails before anything runs", func() {
		s.env.ExecuteWorkflow(FullResyncWorkflow, ResyncInput{Rule: resyncRule, Scope: "all"})

		err := s.env.GetWorkflowError()
		s.Require().Error(err)
		var appErr *temporal.ApplicationError
		s.Require().True(errors.As(err, &appErr))
		s.Equal(activities.ErrTypeConfig, appErr.Type())
		s.True(appErr.NonRetryable())
		s.Empty(s.recorded())
	})
}
