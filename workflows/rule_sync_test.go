package workflows

import (
	"context"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/reconcile"
)

// TestManualSync: the sync update answers with the child's workflow ID
// once it has started; the child gets the scope asked for, reason
// "manual"; only a resync of both scopes moves the cursor, and a dry run
// changes no count.
func (s *ruleSuite) TestManualSync() {
	tests := []struct {
		req          SyncRequest
		name         string
		wantCursor   string
		wantUsers    int
		wantGroups   int
		wantUpdated  int // Totals.Users.Created after the resync
		wantFinished bool
	}{
		{name: "members", req: SyncRequest{Scope: ScopeMembers}, wantCursor: "c0", wantUsers: 42, wantGroups: 3, wantUpdated: 2},
		{name: "groups", req: SyncRequest{Scope: ScopeGroups}, wantCursor: "c0", wantUsers: 10, wantGroups: 7, wantUpdated: 2},
		{name: "both", req: SyncRequest{Scope: ScopeBoth}, wantCursor: "manual", wantUsers: 42, wantGroups: 7, wantUpdated: 2},
		{name: "both, dry run", req: SyncRequest{Scope: ScopeBoth, DryRun: true}, wantCursor: "c0", wantUsers: 10, wantGroups: 3},
		{name: "allow mass deprovision", req: SyncRequest{Scope: ScopeMembers, AllowMassDeprovision: true},
			wantCursor: "c0", wantUsers: 42, wantGroups: 3, wantUpdated: 2},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			state := ruleState("workday")
			state.ManagedUsers, state.ManagedGroups = 10, 3
			s.mockResync(resyncTaking(5*time.Minute, "manual"))
			s.mockPoll(okPoll)
			var resp SyncResponse
			u := s.updateAt(time.Minute, UpdateNameSync, tc.req, &resp)
			during := s.statusAt(3 * time.Minute)
			after := s.statusAt(10 * time.Minute)
			s.runToDelete(state, 16*time.Minute)

			s.Require().True(u.done, "the update completed")
			s.Require().NoError(u.err)
			resyncs := s.rec.allResyncs()
			s.Require().Len(resyncs, 1)
			s.Equal(resyncWorkflowID("hr-to-app", 1), resp.WorkflowID)
			s.Equal(resp.WorkflowID, resyncs[0].ID, "the update returns the child's ID")
			s.Equal(t0.Add(time.Minute), resyncs[0].Start)
			s.Equal(ResyncInput{
				Rule: state.Config.spec(), Scope: tc.req.Scope, DryRun: tc.req.DryRun,
				AllowMassDeprovision: tc.req.AllowMassDeprovision, Reason: "manual",
			}, resyncs[0].In)

			s.Equal(StateResyncing, during.State)
			s.Equal(resp.WorkflowID, during.ActiveResync)
			s.Equal(StateIdle, after.State)
			s.Empty(after.ActiveResync)
			s.Require().NotNil(after.LastResync)
			s.Equal(resp.WorkflowID, after.LastResync.WorkflowID)
			s.Equal(tc.req.Scope, after.LastResync.Scope)
			s.Equal("manual", after.LastResync.Reason)
			s.Equal(tc.req.DryRun, after.LastResync.DryRun)
			s.Equal(t0.Add(6*time.Minute), after.LastResync.Finished.UTC())
			s.Empty(after.LastResync.Error)
			s.Equal(tc.wantUsers, after.ManagedUsers)
			s.Equal(tc.wantGroups, after.ManagedGroups)
			s.Equal(tc.wantUpdated, after.Totals.Users.Created)

			polls := s.rec.firstPolls()
			s.Require().Len(polls, 1)
			s.Equal(t0.Add(15*time.Minute), polls[0].At, "a manual resync does not move the polling schedule")
			s.Equal(tc.wantCursor, polls[0].Cursor)
		})
	}
}

// TestSecondSyncRejected: while a resync is queued or running, the
// validator rejects another; once it has finished, a new one is accepted.
func (s *ruleSuite) TestSecondSyncRejected() {
	tests := []struct {
		name     string
		secondAt time.Duration // after the first, which is sent at 1m
		pollAt1m bool          // a poll runs from 1m to 1m30s: the first sync waits in the queue
		wantErr  string
	}{
		{"sent in the same instant, while the first starts", 0, false, "a full resync is already running: rule/hr-to-app/resync-1"},
		{"while the first runs", 3 * time.Minute, false, "a full resync is already running: rule/hr-to-app/resync-1"},
		{"while the first waits for a poll to end", 10 * time.Second, true, "a full resync is already queued"},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			s.mockResync(resyncTaking(10*time.Minute, "manual"))
			state := ruleState("workday")
			if tc.pollAt1m {
				state.Config.PollInterval = time.Minute
				s.mockPoll(okPoll).After(30 * time.Second)
			}
			var first, third SyncResponse
			var u1, u2 *updateOutcome
			u2 = &updateOutcome{}
			if tc.secondAt == 0 {
				u1 = &updateOutcome{result: &first}
				s.at(time.Minute, func() {
					s.sendUpdate(UpdateNameSync, SyncRequest{Scope: ScopeMembers}, u1)
					s.sendUpdate(UpdateNameSync, SyncRequest{Scope: ScopeGroups}, u2)
				})
			} else {
				u1 = s.updateAt(time.Minute, UpdateNameSync, SyncRequest{Scope: ScopeMembers}, &first)
				s.at(time.Minute+tc.secondAt, func() { s.sendUpdate(UpdateNameSync, SyncRequest{Scope: ScopeGroups}, u2) })
			}
			u3 := s.updateAt(12*time.Minute, UpdateNameSync, SyncRequest{Scope: ScopeBoth}, &third)
			s.runToDelete(state, 14*time.Minute)

			s.Require().True(u1.done)
			s.NoError(u1.err)
			s.Equal(resyncWorkflowID("hr-to-app", 1), first.WorkflowID)
			s.Require().True(u2.sent)
			s.Require().Error(u2.rejected, "the validator rejects the second sync")
			s.Contains(u2.rejected.Error(), tc.wantErr)
			s.False(u2.done)
			s.Require().True(u3.done)
			s.NoError(u3.err)
			s.Equal(resyncWorkflowID("hr-to-app", 2), third.WorkflowID)

			resyncs := s.rec.allResyncs()
			s.Require().Len(resyncs, 2, "the rejected sync started nothing")
			s.Equal(ScopeMembers, resyncs[0].In.Scope)
			s.Equal(ScopeBoth, resyncs[1].In.Scope)
		})
	}
}

// TestSyncValidation: a sync with a bad scope is rejected and starts
// nothing.
func (s *ruleSuite) TestSyncValidation() {
	for _, scope := range []string{"", "everything", "Members", "users"} {
		s.Run("scope "+scope, func() {
			u := s.updateAt(time.Minute, UpdateNameSync, SyncRequest{Scope: scope}, nil)
			s.runToDelete(ruleState("workday"), 2*time.Minute)

			s.Require().Error(u.rejected)
			s.Contains(u.rejected.Error(), "want members, groups or both")
			s.False(u.accepted)
			s.Empty(s.rec.allResyncs())
		})
	}
}

// TestDeleteWaitsForResync: a rule deleted while its resync runs rejects
// new updates and ends when the resync has finished.
func (s *ruleSuite) TestDeleteWaitsForResync() {
	s.mockResync(resyncTaking(5*time.Minute, "x"))
	s.updateAt(time.Minute, UpdateNameSync, SyncRequest{Scope: ScopeBoth}, nil)
	s.deleteAt(2 * time.Minute)
	sync := s.updateAt(3*time.Minute, UpdateNameSync, SyncRequest{Scope: ScopeBoth}, nil)
	pause := s.updateAt(3*time.Minute, UpdateNamePause, nil, nil)
	s.run(ruleState("workday"))
	ended := s.env.Now().UTC()

	s.NoError(s.env.GetWorkflowError())
	s.Equal(t0.Add(6*time.Minute), ended, "the rule ended when its resync finished")
	s.ErrorIs(sync.rejected, errDeleted)
	s.ErrorIs(pause.rejected, errDeleted)
	s.Len(s.rec.allResyncs(), 1)
}

// TestInitialSync: a new rule starts with a full resync of both scopes
// (reason "initial") and polls from the cursor it returned; with
// SkipInitialSync it takes the source's current cursor instead and polls
// from there, without any resync.
func (s *ruleSuite) TestInitialSync() {
	s.Run("initial resync", func() {
		state := ruleState("events")
		state.Cursor = ""
		s.mockResync(resyncTaking(30*time.Second, "initial-cursor"))
		s.mockPoll(okPoll)
		s.runToDelete(state, 150*time.Second)

		resyncs := s.rec.allResyncs()
		s.Require().Len(resyncs, 1)
		s.Equal(t0, resyncs[0].Start)
		s.Equal(ScopeBoth, resyncs[0].In.Scope)
		s.Equal("initial", resyncs[0].In.Reason)
		s.False(resyncs[0].In.DryRun)
		polls := s.rec.firstPolls()
		s.Require().Len(polls, 2)
		s.Equal(t0.Add(time.Minute), polls[0].At)
		s.Equal("initial-cursor", polls[0].Cursor)
	})
	s.Run("skip initial sync", func() {
		state := ruleState("events", func(c *RuleConfig) { c.SkipInitialSync = true })
		state.Cursor = ""
		s.env.OnActivity(acts.SourceCursor, mock.Anything, state.Config.spec()).Return("now", nil).Once()
		s.mockPoll(okPoll)
		s.runToDelete(state, 150*time.Second)

		s.Empty(s.rec.allResyncs(), "no full resync")
		polls := s.rec.firstPolls()
		s.Require().Len(polls, 2, "%v", s.rec.pollTimes())
		s.Equal(t0.Add(time.Minute), polls[0].At)
		s.Equal("now", polls[0].Cursor, "polls from the cursor taken at creation")
	})
	s.Run("skip initial sync, cursor unavailable", func() {
		state := ruleState("events", func(c *RuleConfig) {
			c.SkipInitialSync = true
			c.FailureThreshold = 2
		})
		state.Cursor = ""
		s.env.OnActivity(acts.SourceCursor, mock.Anything, mock.Anything).Return("", errUnauthorized).Twice()
		s.mockResync(resyncTaking(time.Minute, "from-breaker"))
		s.mockPoll(okPoll)
		s.runToDelete(state, 32*time.Minute+30*time.Second)

		// taken at 0 and 1m: both failed; the breaker resync at 31m gives
		// the cursor.
		resyncs := s.rec.allResyncs()
		s.Require().Len(resyncs, 1)
		s.Equal("breaker", resyncs[0].In.Reason)
		s.Equal(t0.Add(31*time.Minute), resyncs[0].Start)
		polls := s.rec.firstPolls()
		s.Require().Len(polls, 1)
		s.Equal("from-breaker", polls[0].Cursor)
	})
}

// TestSourceAsksForResync: a poll whose source cannot say what changed
// starts a full resync of both scopes (reason "source"); polling goes on
// from the resync's cursor.
func (s *ruleSuite) TestSourceAsksForResync() {
	s.mockPoll(func(n int, in activities.PollInput) (activities.PollResult, error) {
		if n == 1 {
			return activities.PollResult{Cursor: in.Cursor, ResyncRequired: true}, nil
		}
		return okPoll(n, in)
	})
	s.mockResync(resyncTaking(10*time.Second, "fresh"))
	s.runToDelete(ruleState("events"), 3*time.Minute+30*time.Second)

	resyncs := s.rec.allResyncs()
	s.Require().Len(resyncs, 1)
	s.Equal("source", resyncs[0].In.Reason)
	s.Equal(ScopeBoth, resyncs[0].In.Scope)
	s.Equal(t0.Add(2*time.Minute), resyncs[0].Start)
	var cursors []string
	for _, p := range s.rec.firstPolls() {
		cursors = append(cursors, p.Cursor)
	}
	s.Equal([]string{"c0", "c1", "fresh"}, cursors)
}

// TestManualSyncWithRealResync runs the real FullResyncWorkflow child (its
// activities mocked): the rule takes in its cursor and counts; a
// mass-deprovision guard fails the child once, without a retry, and leaves
// the rule's cursor and counts alone.
func (s *ruleSuite) TestManualSyncWithRealResync() {
	guard := temporal.NewNonRetryableApplicationError(
		(&reconcile.MassDeprovisionError{Kind: "users", Would: 40, Managed: 50, Allowed: 10}).Error(),
		activities.ErrTypeMassDeprovision, nil)
	tests := []struct {
		name       string
		usersErr   error
		wantCursor string
		wantUsers  int
		wantGroups int
		wantError  string
		wantCalls  int // Resync activity calls
	}{
		{name: "success", wantCursor: "cur-77", wantUsers: 50, wantGroups: 9, wantCalls: 2},
		{name: "mass deprovision guard", usersErr: guard, wantCursor: "c0", wantUsers: 10, wantGroups: 3,
			wantError: "refusing to deprovision 40 of 50 managed users", wantCalls: 1},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			s.newEnv(true)
			state := ruleState("workday")
			state.ManagedUsers, state.ManagedGroups = 10, 3
			s.env.OnActivity(acts.SourceCursor, mock.Anything, state.Config.spec()).Return("cur-77", nil).Once()
			s.env.OnActivity(acts.Resync, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.ResyncInput) (reconcile.Result, error) {
					if in.Phase == activities.PhaseUsers {
						return reconcile.Result{Users: reconcile.Counts{Created: 3}, ManagedUsers: 50}, tc.usersErr
					}
					return reconcile.Result{Groups: reconcile.Counts{Created: 1}, ManagedGroups: 9}, nil
				}).Times(tc.wantCalls)
			s.mockPoll(okPoll)
			var resp SyncResponse
			u := s.updateAt(time.Minute, UpdateNameSync, SyncRequest{Scope: ScopeBoth}, &resp)
			after := s.statusAt(10 * time.Minute)
			s.runToDelete(state, 16*time.Minute)

			s.Require().True(u.done)
			s.NoError(u.err, "the update answers once the child has started")
			s.Equal(resyncWorkflowID("hr-to-app", 1), resp.WorkflowID)
			s.Equal(tc.wantUsers, after.ManagedUsers)
			s.Equal(tc.wantGroups, after.ManagedGroups)
			s.Require().NotNil(after.LastResync)
			if tc.wantError != "" {
				s.Contains(after.LastResync.Error, tc.wantError)
				s.Contains(after.LastError, tc.wantError)
			} else {
				s.Empty(after.LastResync.Error)
				s.Equal(4, after.LastResync.Result.Users.Created+after.LastResync.Result.Groups.Created)
			}
			polls := s.rec.firstPolls()
			s.Require().Len(polls, 1)
			s.Equal(tc.wantCursor, polls[0].Cursor)
		})
	}
}

// TestFailingAutomaticResyncOpensBreaker: a source that keeps asking for a
// resync that keeps failing must open the breaker after the threshold,
// rather than rerun the resync every interval for ever; status then shows
// no next poll, only the breaker.
func (s *ruleSuite) TestFailingAutomaticResyncOpensBreaker() {
	s.mockPoll(func(n int, in activities.PollInput) (activities.PollResult, error) {
		return activities.PollResult{Cursor: in.Cursor, ResyncRequired: true}, nil
	})
	s.mockResync(func(workflow.Context, int, ResyncInput) (ResyncResult, error) {
		return ResyncResult{}, temporal.NewApplicationError("target down", "Transient")
	})
	state := ruleState("events", func(c *RuleConfig) { c.FailureThreshold = 3 })
	state.Cursor = "c0"
	st := s.statusAt(10 * time.Minute)
	s.runToDelete(state, 20*time.Minute)

	s.Len(s.rec.allResyncs(), 3, "one resync per poll until the breaker opens")
	s.Require().NotNil(st)
	s.Equal(StateCircuitOpen, st.State)
	s.Equal(3, st.ConsecutiveFailures)
	s.True(st.NextPoll.IsZero(), "no poll is due while the breaker is open")
	s.False(st.BreakerOpenUntil.IsZero())
	s.Contains(st.LastError, "target down")
	s.NotContains(st.LastError, "(type: ", "LastError holds the message, not Temporal's wrapping")
}
