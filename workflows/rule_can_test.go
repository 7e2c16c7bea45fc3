package workflows

import (
	"time"

	"github.com/idsync/idsync/reconcile"
)

// requireCAN requires the run to have ended in continue-as-new to the
// rule workflow, at t0+at, and returns the state it carries.
func (s *ruleSuite) requireCAN(at time.Duration) RuleState {
	s.Require().True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	s.Require().Error(err, "the run should have continued as new")
	state, ok := canInput(err)
	s.Require().True(ok, "not a continue-as-new error: %v", err)
	s.Equal(t0.Add(at), s.env.Now().UTC(), "continued as new at")
	return state
}

// TestContinueAsNewCarriesState: with ContinueAsNewAfter set, the rule
// continues as new after that many loop turns, and the new run's input
// carries the cursor, the counters, the pending changes (including those
// signalled in the very last moment) and the breaker.
func (s *ruleSuite) TestContinueAsNewCarriesState() {
	a, b, c := userEvent("a"), userEvent("b"), membershipEvent(reconcile.OpUpsert, "g", "b")

	s.Run("cursor, counters and pending changes", func() {
		state := ruleState("events", func(c *RuleConfig) {
			c.ContinueAsNewAfter = 5
			c.BatchWindow = time.Minute
		})
		state.Totals.Users.Created = 100
		s.mockPoll(okPoll)
		// turns: 0s, 1m (poll), 2m (poll), 2m30s (a), 2m40s (b and c)
		s.signalAt(150*time.Second, a)
		// b and c arrive in the same workflow task: the selector takes b,
		// c waits in the channel.
		s.at(160*time.Second, func() {
			s.env.SignalWorkflowSkippingWorkflowTask(SignalNameChanges, ChangeBatch{Events: []reconcile.Event{b}})
			s.env.SignalWorkflow(SignalNameChanges, ChangeBatch{Events: []reconcile.Event{c}})
		})
		s.run(state)

		next := s.requireCAN(160 * time.Second)
		s.Equal("c2", next.Cursor)
		s.Equal(state.Config, next.Config)
		s.Equal([]reconcile.Event{a, b, c}, next.Pending, "no change is lost, and their order is kept")
		s.Equal(t0.Add(210*time.Second), next.PendingDue.UTC(), "the batch window still runs from the first")
		s.Equal(100, next.Totals.Users.Created)
		s.Equal(2, next.Totals.Users.Updated, "the polls' counts")
		s.Equal(t0.Add(2*time.Minute), next.LastPoll.UTC())
		s.Equal(t0.Add(3*time.Minute), next.NextPoll.UTC())
		s.Zero(next.ConsecutiveFailures)
		s.True(next.BreakerOpenUntil.IsZero())
		s.Empty(s.rec.allApplies())
	})

	s.Run("a signal that arrives during the last turn's poll", func() {
		state := ruleState("events", func(c *RuleConfig) { c.ContinueAsNewAfter = 2 })
		s.mockPoll(okPoll).After(10 * time.Second)
		// turns: 0s, 1m (a poll that takes 10s, during which a arrives)
		s.signalAt(time.Minute+5*time.Second, a)
		s.run(state)

		next := s.requireCAN(time.Minute + 10*time.Second)
		s.Equal("c1", next.Cursor)
		s.Equal([]reconcile.Event{a}, next.Pending)
	})

	s.Run("breaker state, and the next run picks it up", func() {
		state := ruleState("events", func(c *RuleConfig) {
			c.ContinueAsNewAfter = 4
			c.FailureThreshold = 2
		})
		s.mockPoll(failingPolls("FF", errUnauthorized))
		// turns: 0s, 1m (fail), 2m (fail, open until 32m), 10m (a)
		s.signalAt(10*time.Minute, a)
		s.run(state)

		next := s.requireCAN(10 * time.Minute)
		s.Equal(2, next.ConsecutiveFailures)
		s.Equal(t0.Add(32*time.Minute), next.BreakerOpenUntil.UTC())
		s.Contains(next.LastError, "401 Unauthorized")
		s.Equal("c0", next.Cursor)
		s.Equal([]reconcile.Event{a}, next.Pending)

		// The next run: the breaker resync at 32m, then the kept change.
		s.newEnv(false)
		s.env.SetStartTime(t0.Add(10 * time.Minute))
		next.Config.ContinueAsNewAfter = 0
		s.mockResync(resyncTaking(time.Minute, "after"))
		s.mockApply(nil)
		s.mockPoll(okPoll)
		s.runToDelete(next, 23*time.Minute+30*time.Second) // until 33m30s

		resyncs := s.rec.allResyncs()
		s.Require().Len(resyncs, 1)
		s.Equal(t0.Add(32*time.Minute), resyncs[0].Start)
		s.Equal("breaker", resyncs[0].In.Reason)
		applies := s.rec.allApplies()
		s.Require().Len(applies, 1)
		s.Equal(t0.Add(33*time.Minute), applies[0].At)
		s.Equal([]reconcile.Event{a}, applies[0].Events)
		polls := s.rec.firstPolls()
		s.Require().Len(polls, 1)
		s.Equal("after", polls[0].Cursor)
	})
}

// TestContinueAsNewSuggested: when the server suggests it, the rule
// continues as new at its next turn, with every signal received so far;
// never while a resync runs; and a paused rule stays paused.
func (s *ruleSuite) TestContinueAsNewSuggested() {
	a, b, c := userEvent("a"), userEvent("b"), userEvent("c")

	s.Run("signals sent with the suggestion are kept", func() {
		state := ruleState("events", func(c *RuleConfig) { c.BatchWindow = time.Minute })
		s.mockPoll(okPoll)
		s.signalAt(150*time.Second, a)
		s.at(160*time.Second, func() {
			s.env.SetContinueAsNewSuggested(true)
			// b and c in the same workflow task
			s.env.SignalWorkflowSkippingWorkflowTask(SignalNameChanges, ChangeBatch{Events: []reconcile.Event{b}})
			s.env.SignalWorkflow(SignalNameChanges, ChangeBatch{Events: []reconcile.Event{c}})
		})
		s.run(state)

		next := s.requireCAN(160 * time.Second)
		s.Equal([]reconcile.Event{a, b, c}, next.Pending)
		s.Equal("c2", next.Cursor)
		s.Empty(s.rec.allApplies())
	})

	s.Run("not while a resync runs", func() {
		s.mockResync(resyncTaking(5*time.Minute, "resynced"))
		s.mockPoll(okPoll)
		var resp SyncResponse
		u := s.updateAt(time.Minute, UpdateNameSync, SyncRequest{Scope: ScopeBoth}, &resp)
		s.at(2*time.Minute, func() {
			s.env.SetContinueAsNewSuggested(true)
			s.env.SignalWorkflow(SignalNamePollNow, nil) // wakes the loop
		})
		s.run(ruleState("workday"))

		next := s.requireCAN(6 * time.Minute)
		s.True(u.done)
		s.NoError(u.err)
		s.Require().NotNil(next.LastResync)
		s.Equal(resp.WorkflowID, next.LastResync.WorkflowID)
		s.Equal(t0.Add(6*time.Minute), next.LastResync.Finished.UTC())
		s.Empty(next.SyncQueue)
		s.Equal(1, next.ResyncSeq, "the next run names its resyncs on from here")
		// the poll asked for during the resync runs after it, first
		polls := s.rec.firstPolls()
		s.Require().Len(polls, 1)
		s.Equal(t0.Add(6*time.Minute), polls[0].At)
		s.Equal("resynced", polls[0].Cursor)
		s.Equal("c1", next.Cursor)
	})

	s.Run("a paused rule stays paused", func() {
		s.updateAt(30*time.Second, UpdateNamePause, nil, nil)
		s.at(2*time.Minute, func() {
			s.env.SetContinueAsNewSuggested(true)
			s.env.SignalWorkflow(SignalNameChanges, ChangeBatch{Events: []reconcile.Event{a}})
		})
		s.run(ruleState("events"))

		next := s.requireCAN(2 * time.Minute)
		s.True(next.Paused)
		s.Equal([]reconcile.Event{a}, next.Pending)
	})
}
