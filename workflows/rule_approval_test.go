package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/reconcile"
)

// heldResync is a resync whose guard held 1,991 users back (as rule B's
// was, in the issue), unless the input approves or rejects that set.
func heldResync(ctx workflow.Context, _ int, in ResyncInput) (ResyncResult, error) {
	if err := workflow.Sleep(ctx, time.Minute); err != nil {
		return ResyncResult{}, err
	}
	out := ResyncResult{Cursor: "after", Scope: in.Scope, Result: reconcile.Result{
		Users: reconcile.Counts{Created: 10}, ManagedUsers: 1991,
	}}
	switch {
	case len(in.Rule.ApprovedHolds) > 0:
		out.Result.Users.Deprovisioned = 1991
	case len(in.Rule.RejectedHolds) > 0:
		out.Result.Users.Kept = 1991
	default:
		out.Result.Held = []reconcile.Held{{Kind: "users", Would: 1991, Managed: 1991, Allowed: 398, Fingerprint: "fp1", Sample: []string{"jdoe"}}}
	}
	return out, nil
}

// TestRefusedResyncAwaitsApproval: a full resync whose guard refused
// leaves the rule awaiting_approval — no failure, no breaker, no new
// resync in a loop, polls go on — until approve runs one resync that may
// deprovision exactly that set; reject keeps the set instead.
func (s *ruleSuite) TestRefusedResyncAwaitsApproval() {
	for _, decision := range []string{UpdateNameApprove, UpdateNameReject} {
		s.Run(decision, func() {
			state := ruleState("ldap", func(c *RuleConfig) { c.PollInterval = 5 * time.Minute })
			state.Cursor = "" // the initial resync
			s.mockPoll(okPoll)
			s.mockResync(heldResync)
			held := s.statusAt(30 * time.Minute)
			var decided RuleStatus
			s.updateAt(31*time.Minute, decision, nil, &decided)
			after := s.statusAt(40 * time.Minute)
			s.runToDelete(state, 41*time.Minute)

			s.Equal(StateAwaitingApproval, held.State)
			s.Require().NotNil(held.Hold)
			s.Equal("jdoe", held.Hold.Resync[0].Sample[0])
			s.Zero(held.ConsecutiveFailures, "a refusal is not a failure")
			s.Empty(held.LastError)
			resyncs := s.rec.allResyncs()
			s.Require().Len(resyncs, map[string]int{UpdateNameApprove: 2, UpdateNameReject: 1}[decision], "no loop: one resync, and one more on approval")
			s.GreaterOrEqual(len(s.rec.polls), 5, "polls go on while awaiting approval")
			s.Nil(after.Hold)
			s.NotEqual(StateAwaitingApproval, after.State)
			if decision == UpdateNameApprove {
				s.Equal([]string{"fp1"}, resyncs[1].In.Rule.ApprovedHolds)
				s.Equal(1991, after.LastResync.Result.Users.Deprovisioned)
			} else {
				s.Equal(StateIdle, decided.State)
			}
		})
	}
}

// TestHeldChangesAwaitApproval: polls and real-time changes deprovision
// at most the rule's share within an hour; what the activity held back
// waits for approval, and an approval applies it without the limit.
func (s *ruleSuite) TestHeldChangesAwaitApproval() {
	state := ruleState("ldap", func(c *RuleConfig) { c.PollInterval = 5 * time.Minute })
	state.ManagedUsers = 100 // share 0.2: 20 an hour
	held := reconcile.HeldChange{Event: reconcile.Event{Kind: reconcile.KindUser, Op: reconcile.OpDelete, ID: "u-held"}, Name: "jdoe"}
	var budgets []int
	s.mockPoll(func(n int, in activities.PollInput) (activities.PollResult, error) {
		res, err := okPoll(n, in)
		budgets = append(budgets, *in.Rule.DeprovisionBudget)
		if n < 2 {
			res.Result.Users = reconcile.Counts{Deprovisioned: min(15, *in.Rule.DeprovisionBudget)}
		}
		if n == 1 {
			res.Result.HeldChanges = []reconcile.HeldChange{held}
		}
		return res, err
	})
	s.mockApply(nil)
	waiting := s.statusAt(12 * time.Minute)
	s.updateAt(13*time.Minute, UpdateNameApprove, nil, nil)
	after := s.statusAt(14 * time.Minute)
	s.runToDelete(state, 80*time.Minute)

	// 100 managed: 20; 15 done, 85 managed: 17-15; 2 more, 83 managed: 16-17.
	s.Equal([]int{20, 2, 0}, budgets[:3], "the window's allowance shrinks with what polls deprovisioned")
	s.Equal(StateAwaitingApproval, waiting.State)
	s.Require().NotNil(waiting.Hold)
	s.Equal("jdoe", waiting.Hold.Changes[0].Name)
	applies := s.rec.allApplies()
	s.Require().Len(applies, 1)
	s.Equal([]reconcile.Event{held.Event}, applies[0].Events)
	s.Nil(after.Hold)
	s.Equal(16, budgets[len(budgets)-1], "an hour later the window is full again (a fifth of 83)")
}

// TestDeprovisionPerHourCount: a configured count replaces the share in
// the incremental guard's window.
func (s *ruleSuite) TestDeprovisionPerHourCount() {
	state := ruleState("ldap", func(c *RuleConfig) {
		c.PollInterval = 5 * time.Minute
		c.MaxDeprovisionPerHour = 3
	})
	state.ManagedUsers = 1000 // the share would allow 200
	var budgets []int
	s.mockPoll(func(n int, in activities.PollInput) (activities.PollResult, error) {
		res, err := okPoll(n, in)
		budgets = append(budgets, *in.Rule.DeprovisionBudget)
		if n == 0 {
			res.Result.Users = reconcile.Counts{Deprovisioned: 2}
		}
		return res, err
	})
	s.runToDelete(state, 11*time.Minute)
	s.Equal([]int{3, 1}, budgets)
}
