package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/reconcile"
)

// TestManagedRecord: the rule keeps the record of managed users a full
// resync returns, changes it by what each poll did, answers it to
// activities by query, and keeps it out of the resync summary.
func (s *ruleSuite) TestManagedRecord() {
	h := reconcile.HashID
	s.mockResync(func(ctx workflow.Context, _ int, in ResyncInput) (ResyncResult, error) {
		return ResyncResult{Cursor: "c1", Scope: in.Scope, Result: reconcile.Result{
			Users: reconcile.Counts{Created: 2}, ManagedUsers: 2, ManagedSet: reconcile.ManagedSet{}.Apply([]uint64{h("a"), h("b")}, nil),
		}}, nil
	})
	s.mockPoll(func(n int, in activities.PollInput) (activities.PollResult, error) {
		if n == 0 {
			return activities.PollResult{Cursor: "c2", Changes: 2, Result: reconcile.Result{
				Users: reconcile.Counts{Created: 1, Deprovisioned: 1}, ManagedAdded: []uint64{h("c")}, ManagedRemoved: []uint64{h("a")},
			}}, nil
		}
		return okPoll(n, in)
	})
	var afterResync, afterPoll reconcile.ManagedSet
	query := func(out *reconcile.ManagedSet) func() {
		return func() {
			v, err := s.env.QueryWorkflow(QueryNameManagedSet)
			s.Require().NoError(err)
			s.Require().NoError(v.Get(out))
		}
	}
	s.at(30*time.Second, query(&afterResync))
	s.at(90*time.Second, query(&afterPoll))
	st := s.statusAt(90 * time.Second)
	state := ruleState("events")
	state.Cursor = ""
	s.runToDelete(state, 2*time.Minute)

	s.True(afterResync.Has("a") && afterResync.Has("b") && len(afterResync) == 2, "after the resync: %v", afterResync)
	s.True(afterPoll.Has("b") && afterPoll.Has("c") && !afterPoll.Has("a") && len(afterPoll) == 2, "after the poll: %v", afterPoll)
	s.Require().NotNil(st.LastResync)
	s.Nil(st.LastResync.Result.ManagedSet, "the summary does not carry the record")
}
