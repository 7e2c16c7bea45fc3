package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/workflow"
)

// TestBreakerOpensAfterConsecutiveFailures: the breaker opens on exactly
// the N-th consecutive failed poll (a poll whose retries all failed counts
// once); a success in between starts the count again. Once open, the rule
// stops polling, and both the status query and the SyncState search
// attribute say circuit_open.
func (s *ruleSuite) TestBreakerOpensAfterConsecutiveFailures() {
	tests := []struct {
		name      string
		threshold int // 0: default
		script    string
		err       error
		attempts  int // attempts per failed poll
		// openAt is the poll (1-based) that opens the breaker.
		openAt int
		want   int // the threshold in force
	}{
		{"default threshold is 5", 0, "FFFFFFFF", errUnauthorized, 1, 5, 5},
		{"custom threshold 3", 3, "FFFFFFFF", errUnauthorized, 1, 3, 3},
		{"custom threshold 1", 1, "FFFFFFFF", errUnauthorized, 1, 1, 1},
		{"a success resets the count", 0, "FFFFSFFFFFFF", errUnauthorized, 1, 10, 5},
		{"successes reset the count each time", 3, "FFSFFSFFF", errUnauthorized, 1, 9, 3},
		{"retried transient errors count once per poll", 3, "FFFFFF", errTransient, 3, 3, 3},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			state := ruleState("events", func(c *RuleConfig) { c.FailureThreshold = tc.threshold })
			s.mockPoll(failingPolls(tc.script, tc.err))
			// Polls are a minute apart (plus retry backoff): look just
			// before and well after the opening poll.
			var before, after *RuleStatus
			if tc.openAt > 1 {
				before = s.statusAt(time.Duration(tc.openAt-1)*time.Minute + 50*time.Second)
			}
			end := time.Duration(tc.openAt+10) * time.Minute
			after = s.statusAt(end - time.Second)
			s.runToDelete(state, end)

			polls := s.rec.firstPolls()
			s.Require().Len(polls, tc.openAt, "no poll after the breaker opened: %v", s.rec.pollTimes())
			s.Len(s.rec.allPolls(), len(polls)+(tc.attempts-1)*countFailures(tc.script[:tc.openAt]), "attempts")
			all := s.rec.allPolls()
			openedAt := all[len(all)-1].At // when the last attempt failed

			if before != nil {
				s.Equal(StateFailing, before.State, "failing, not open, before the %d-th failure", tc.want)
				s.Equal(tc.want-1, before.ConsecutiveFailures)
				s.True(before.BreakerOpenUntil.IsZero())
			}
			s.Equal(StateCircuitOpen, after.State)
			s.Equal(tc.want, after.ConsecutiveFailures)
			s.Equal(openedAt.Add(30*time.Minute), after.BreakerOpenUntil.UTC())
			s.Contains(after.LastError, "poll: ")
			s.Equal(StateCircuitOpen, s.rec.stateAtTime(openedAt), "SyncState search attribute")
			s.Equal(int64(tc.want), s.rec.searchAttr(SAConsecutiveFailures.GetName()), "ConsecutiveFailures search attribute")
			// the state never claimed circuit_open before the breaker opened
			for _, st := range s.rec.stateTimeline() {
				if st.At.Before(openedAt) {
					s.NotEqual(StateCircuitOpen, st.State, "at %s", st.At)
				}
			}
		})
	}
}

func countFailures(script string) int {
	n := 0
	for _, c := range script {
		if c == 'F' {
			n++
		}
	}
	return n
}

// TestBreakerTimerThenResync: after the breaker's reset period (30 min for
// ldap, 12 h for workday, or the rule's override) the rule starts a
// FullResyncWorkflow child of both scopes for reason "breaker", does not
// poll meanwhile, and polls on from the cursor the resync returned.
func (s *ruleSuite) TestBreakerTimerThenResync() {
	tests := []struct {
		name       string
		sourceType string
		reset      time.Duration // override
		want       time.Duration
	}{
		{"ldap resets after 30 minutes", "ldap", 0, 30 * time.Minute},
		{"workday resets after 12 hours", "workday", 0, 12 * time.Hour},
		{"events resets after 30 minutes", "events", 0, 30 * time.Minute},
		{"override wins", "workday", 2 * time.Hour, 2 * time.Hour},
		{"a cadence without a reset takes the engine's", "partial", 0, 30 * time.Minute},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			state := ruleState(tc.sourceType, func(c *RuleConfig) {
				c.FailureThreshold = 2
				c.BreakerReset = tc.reset
			})
			interval := state.Config.EffectivePollInterval()
			s.mockPoll(failingPolls("FF", errUnauthorized))
			s.mockResync(resyncTaking(3*time.Minute, "after-resync"))
			openedAt := 2 * interval
			resyncAt := openedAt + tc.want
			during := s.statusAt(resyncAt + time.Minute)
			s.runToDelete(state, resyncAt+3*time.Minute+interval/2)

			resyncs := s.rec.allResyncs()
			s.Require().Len(resyncs, 1)
			s.Equal(t0.Add(resyncAt), resyncs[0].Start, "the resync starts when the breaker timer fires")
			s.Equal(ScopeBoth, resyncs[0].In.Scope)
			s.Equal("breaker", resyncs[0].In.Reason)
			s.False(resyncs[0].In.DryRun)
			s.Equal(state.Config.spec(), resyncs[0].In.Rule)
			s.Equal(resyncWorkflowID("hr-to-app", 1), resyncs[0].ID)
			s.Equal(KindResync, resyncs[0].Kind, "the child's IdsyncKind search attribute")

			s.Equal(StateResyncing, during.State)
			s.Equal(resyncWorkflowID("hr-to-app", 1), during.ActiveResync)
			s.Equal(StateResyncing, s.rec.stateAtTime(t0.Add(resyncAt)))

			polls := s.rec.firstPolls()
			s.Require().Len(polls, 3, "two failures, none while open, one after: %v", s.rec.pollTimes())
			s.Equal(t0.Add(openedAt), polls[1].At)
			s.Equal(resyncs[0].End, polls[2].At, "polling resumes as soon as the breaker closes")
			s.Equal("after-resync", polls[2].Cursor)
			s.Equal(StateIdle, s.rec.stateAtTime(polls[2].At.Add(time.Second)))
			s.Equal(int64(0), s.rec.searchAttr(SAConsecutiveFailures.GetName()))
		})
	}
}

// TestFailedBreakerResyncReopensBreaker: a breaker resync that fails opens
// the breaker for another reset period, after which a second resync runs;
// polling resumes only after a resync succeeds.
func (s *ruleSuite) TestFailedBreakerResyncReopensBreaker() {
	state := ruleState("ldap", func(c *RuleConfig) { c.FailureThreshold = 1 })
	interval := state.Config.EffectivePollInterval()
	s.mockPoll(failingPolls("F", errUnauthorized))
	ok := resyncTaking(time.Minute, "second-try")
	s.mockResync(func(ctx workflow.Context, n int, in ResyncInput) (ResyncResult, error) {
		if n == 0 {
			_ = workflow.Sleep(ctx, time.Minute)
			return ResyncResult{}, errors.New("ldap: search: size limit exceeded")
		}
		return ok(ctx, n, in)
	})
	opened := interval
	firstResync := opened + 30*time.Minute
	reopened := s.statusAt(firstResync + 2*time.Minute)
	secondResync := firstResync + time.Minute + 30*time.Minute
	s.runToDelete(state, secondResync+time.Minute+interval/2)

	resyncs := s.rec.allResyncs()
	s.Require().Len(resyncs, 2)
	s.Equal(t0.Add(firstResync), resyncs[0].Start)
	s.Equal(t0.Add(secondResync), resyncs[1].Start, "reopened for a full reset period after the failure")
	for _, r := range resyncs {
		s.Equal("breaker", r.In.Reason)
		s.Equal(ScopeBoth, r.In.Scope)
	}

	s.Equal(StateCircuitOpen, reopened.State)
	s.Equal(t0.Add(secondResync), reopened.BreakerOpenUntil.UTC())
	s.Require().NotNil(reopened.LastResync)
	s.Contains(reopened.LastResync.Error, "size limit exceeded")
	s.Contains(reopened.LastError, "resync: ")
	s.Equal(StateCircuitOpen, s.rec.stateAtTime(t0.Add(firstResync+2*time.Minute)))

	polls := s.rec.firstPolls()
	s.Require().Len(polls, 2, "%v", s.rec.pollTimes())
	s.Equal(resyncs[1].End, polls[1].At)
	s.Equal("second-try", polls[1].Cursor)
}

// TestManualResyncClosesOpenBreaker: a manual sync of both scopes while the
// breaker is open closes it when it succeeds, before the timer would have.
func (s *ruleSuite) TestManualResyncClosesOpenBreaker() {
	state := ruleState("workday", func(c *RuleConfig) { c.FailureThreshold = 1 })
	s.mockPoll(failingPolls("F", errUnauthorized))
	s.mockResync(resyncTaking(5*time.Minute, "manual"))
	var resp SyncResponse
	u := s.updateAt(time.Hour, UpdateNameSync, SyncRequest{Scope: ScopeBoth}, &resp)
	after := s.statusAt(time.Hour + 6*time.Minute)
	s.runToDelete(state, time.Hour+19*time.Minute)

	s.Require().True(u.done)
	s.NoError(u.err)
	s.Equal(StateIdle, after.State)
	s.True(after.BreakerOpenUntil.IsZero())
	s.Zero(after.ConsecutiveFailures)
	s.Equal(t0.Add(time.Hour+5*time.Minute), after.LastSuccess.UTC())
	polls := s.rec.firstPolls()
	s.Require().Len(polls, 2, "%v", s.rec.pollTimes())
	s.Equal(t0.Add(time.Hour+5*time.Minute), polls[1].At)
	s.Equal("manual", polls[1].Cursor)
	s.Equal("manual", s.rec.allResyncs()[0].In.Reason)
}
