package workflows

import (
	"time"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/reconcile"
)

// TestFailedChangesRetried: 20 users that fail in a poll (the target
// refused them) are kept, not dropped when the cursor moves on: they are
// applied again with backoff (1, 2, 4 … min) while later polls say "no
// changes", shown in the status meanwhile with their error, and leave it
// once they succeed. One that never succeeds is reported as failed for
// good after maxRetryAttempts.
func (s *ruleSuite) TestFailedChangesRetried() {
	state := ruleState("ldap", func(c *RuleConfig) {
		c.PollInterval = 10 * time.Minute
		c.ResyncInterval = -1 // no scheduled resync in the 30 h
	})
	var failing []reconcile.Retry
	for i := range 20 {
		id := string(rune('a'+i)) + "-user"
		failing = append(failing, reconcile.Retry{Event: userEvent(id), Error: "create user " + id + ": 400 invalidFilter"})
	}
	s.mockPoll(func(n int, in activities.PollInput) (activities.PollResult, error) {
		res, err := okPoll(n, in)
		if n == 0 {
			res.Result.Retry = failing
			res.Result.Users.Failed = len(failing)
		} else {
			res.Changes, res.Result = 0, reconcile.Result{}
		}
		return res, err
	})
	forever := failing[19].Event
	s.mockApply(func(n int, in activities.ApplyInput) (reconcile.Result, error) {
		// The first two retries fail again; then all but one succeed.
		var res reconcile.Result
		for _, e := range in.Events {
			if n < 2 || e == forever {
				res.Retry = append(res.Retry, reconcile.Retry{Event: e, Error: "400 invalidFilter"})
			}
		}
		return res, nil
	})
	during := s.statusAt(10*time.Minute + 30*time.Second)
	after := s.statusAt(20 * time.Minute)
	end := s.statusAt(30 * time.Hour)
	s.runToDelete(state, 30*time.Hour+time.Minute)

	s.Equal(20, during.RetryingCount, "kept after the poll moved its cursor on")
	s.Contains(during.Retrying[0].Error, "invalidFilter")
	applies := s.rec.allApplies()
	s.Require().GreaterOrEqual(len(applies), 3)
	// Polled at 10m; retries after 1, 2 and 4 minutes.
	s.Equal(t0.Add(11*time.Minute), applies[0].At)
	s.Equal(t0.Add(13*time.Minute), applies[1].At)
	s.Equal(t0.Add(17*time.Minute), applies[2].At)
	s.Len(applies[0].Events, 20)
	s.Equal(1, after.RetryingCount, "19 succeeded on the third retry")
	s.Equal(0, end.RetryingCount)
	s.Require().Len(end.FailedForGood, 1, "the one that never succeeds is reported")
	s.Equal(forever, end.FailedForGood[0].Event)
	s.Equal(maxRetryAttempts, end.FailedForGood[0].Attempts)
	s.Len(applies, maxRetryAttempts-1, "the poll was the first attempt; one apply per retry after it, none after the last")
}

// TestPollMore: a source that hands out a backlog in pieces (ChangeSet.More)
// is polled again at once, piece after piece, not once per interval.
func (s *ruleSuite) TestPollMore() {
	state := ruleState("workos", func(c *RuleConfig) {
		c.PollInterval = 10 * time.Minute
		c.ResyncInterval = -1
	})
	s.mockPoll(func(n int, in activities.PollInput) (activities.PollResult, error) {
		res, err := okPoll(n, in)
		res.More = n < 3 // three more pieces after the first poll's
		return res, err
	})
	s.runToDelete(state, 25*time.Minute)

	var cursors []string
	var at []time.Duration
	for _, p := range s.rec.polls {
		cursors = append(cursors, p.Cursor)
		at = append(at, p.At.Sub(t0))
	}
	s.Require().GreaterOrEqual(len(cursors), 5, "polls %v", cursors)
	s.Equal([]string{"c0", "c1", "c2", "c3"}, cursors[:4], "each piece from the cursor the last one ended at")
	s.Equal([]time.Duration{10 * time.Minute, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute}, at[:4],
		"the pieces follow one another at once")
	s.Equal(20*time.Minute, at[4], "then the interval again")
}
