package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

const ms = time.Millisecond

// TestChangesKeptWhileCircuitOpen: change batches signalled while the
// breaker is open are kept (the status shows them pending), not applied,
// and are applied in the order they arrived once the breaker's resync has
// closed the breaker.
func (s *ruleSuite) TestChangesKeptWhileCircuitOpen() {
	state := ruleState("events", func(c *RuleConfig) { c.FailureThreshold = 1 })
	s.mockPoll(failingPolls("F", errUnauthorized))
	s.mockResync(resyncTaking(2*time.Minute, "after-resync"))
	s.mockApply(nil)
	u1, u2, u3 := userEvent("u1"), userEvent("u2"), userEvent("u3")
	add := membershipEvent(reconcile.OpUpsert, "g1", "u1")
	remove := membershipEvent(reconcile.OpDelete, "g1", "u2")
	s.signalAt(5*time.Minute, u1, add)
	s.at(10*time.Minute, func() {
		s.env.SignalWorkflow(SignalNameChanges, ChangeBatch{Events: []reconcile.Event{u2}})
		s.env.SignalWorkflow(SignalNameChanges, ChangeBatch{Events: []reconcile.Event{remove, u3}})
	})
	open := s.statusAt(20 * time.Minute)
	// opened at 1m, resync 31m–33m
	after := s.statusAt(33*time.Minute + 10*time.Second)
	s.runToDelete(state, 33*time.Minute+30*time.Second)

	s.Equal(StateCircuitOpen, open.State)
	s.Equal(5, open.PendingChanges)
	s.Equal(StateCircuitOpen, s.rec.stateAtTime(t0.Add(20*time.Minute)))

	applies := s.rec.allApplies()
	s.Require().Len(applies, 1, "one batch, after the breaker closed")
	s.Equal(t0.Add(33*time.Minute), applies[0].At)
	s.Equal([]reconcile.Event{u1, add, u2, remove, u3}, applies[0].Events, "in the order received")
	s.Equal(0, after.PendingChanges)
	s.Equal(StateIdle, after.State)
	s.Equal(5+1, after.Totals.Users.Updated, "the apply's counts (5) and the poll's (1) are recorded")
}

// TestChangesBatching: in normal operation, changes are applied in the
// order received. By default (no window) a change is applied at once, and
// changes that arrive while a batch is being applied form the next batch;
// with a window, changes that arrive within it of the first are applied
// together when it closes. An apply carries at most maxApplyBatch events.
func (s *ruleSuite) TestChangesBatching() {
	type signal struct {
		at     time.Duration
		events []reconcile.Event
	}
	type apply struct {
		at     time.Duration
		events []reconcile.Event
	}
	a, b, c, d, e := userEvent("a"), userEvent("b"), userEvent("c"), userEvent("d"), userEvent("e")
	big := make([]reconcile.Event, 1200)
	for i := range big {
		big[i] = userEvent(fmt.Sprintf("big%d", i))
	}
	tests := []struct {
		name       string
		window     time.Duration
		applyTakes time.Duration
		signals    []signal
		want       []apply
	}{
		{
			name: "no window by default: each change at once",
			signals: []signal{{10 * time.Second, []reconcile.Event{a}}, {10*time.Second + 100*ms, []reconcile.Event{b, c}},
				{30 * time.Second, []reconcile.Event{d}}},
			want: []apply{{10 * time.Second, []reconcile.Event{a}}, {10*time.Second + 100*ms, []reconcile.Event{b, c}},
				{30 * time.Second, []reconcile.Event{d}}},
		},
		{
			name:       "no window by default: changes that arrive during an apply form the next batch",
			applyTakes: 2 * time.Second,
			signals: []signal{{10 * time.Second, []reconcile.Event{a}}, {10*time.Second + 500*ms, []reconcile.Event{b}},
				{11 * time.Second, []reconcile.Event{c, d}}, {20 * time.Second, []reconcile.Event{e}}},
			// (the mock records an apply when it returns, 2s after it began)
			want: []apply{{12 * time.Second, []reconcile.Event{a}}, {14 * time.Second, []reconcile.Event{b, c, d}},
				{22 * time.Second, []reconcile.Event{e}}},
		},
		{
			name:   "window of 200ms",
			window: 200 * ms,
			signals: []signal{{10 * time.Second, []reconcile.Event{a}}, {10*time.Second + 100*ms, []reconcile.Event{b}},
				{30 * time.Second, []reconcile.Event{c}}},
			want: []apply{{10*time.Second + 200*ms, []reconcile.Event{a, b}}, {30*time.Second + 200*ms, []reconcile.Event{c}}},
		},
		{
			name:   "window of 5s",
			window: 5 * time.Second,
			signals: []signal{{10 * time.Second, []reconcile.Event{a}}, {12 * time.Second, []reconcile.Event{b, c}},
				{14*time.Second + 900*ms, []reconcile.Event{d}}, {16 * time.Second, []reconcile.Event{e}}},
			want: []apply{{15 * time.Second, []reconcile.Event{a, b, c, d}}, {21 * time.Second, []reconcile.Event{e}}},
		},
		{
			name:    "large batches are split in order",
			signals: []signal{{10 * time.Second, big}},
			want: []apply{{10 * time.Second, big[:500]}, {10 * time.Second, big[500:1000]},
				{10 * time.Second, big[1000:]}},
		},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			// workday polls every 15 minutes: no poll during the test
			state := ruleState("workday", func(c *RuleConfig) { c.BatchWindow = tc.window })
			s.mockApply(nil).After(tc.applyTakes)
			for _, sig := range tc.signals {
				s.signalAt(sig.at, sig.events...)
			}
			s.runToDelete(state, time.Minute)

			applies := s.rec.allApplies()
			s.Require().Len(applies, len(tc.want))
			for i, w := range tc.want {
				s.Equal(t0.Add(w.at), applies[i].At, "apply %d", i)
				s.Equal(w.events, applies[i].Events, "apply %d", i)
			}
		})
	}
}

// TestFailedApplyKeepsChanges: changes whose apply fails stay pending and
// are tried again after the backoff, with what arrived meanwhile.
func (s *ruleSuite) TestFailedApplyKeepsChanges() {
	state := ruleState("workday")
	s.mockApply(func(n int, in activities.ApplyInput) (reconcile.Result, error) {
		if n == 0 {
			return reconcile.Result{}, temporal.NewNonRetryableApplicationError("scim: target unreachable", activities.ErrTypeConfig, nil)
		}
		return reconcile.Result{Users: reconcile.Counts{Updated: len(in.Events)}}, nil
	})
	a, b := userEvent("a"), userEvent("b")
	s.signalAt(10*time.Second, a)
	s.signalAt(20*time.Second, b)
	kept := s.statusAt(30 * time.Second)
	s.runToDelete(state, time.Minute)

	s.Equal(2, kept.PendingChanges)
	s.Contains(kept.LastError, "apply changes: ")
	s.Contains(kept.LastError, "target unreachable")
	applies := s.rec.allApplies()
	s.Require().Len(applies, 2)
	s.Equal(t0.Add(10*time.Second), applies[0].At)
	s.Equal([]reconcile.Event{a}, applies[0].Events)
	s.Equal(t0.Add(40*time.Second), applies[1].At, "after the 30s backoff")
	s.Equal([]reconcile.Event{a, b}, applies[1].Events)
}

// TestDeleteFlushesPendingChanges: a rule deleted with changes still in
// their batch window applies them before it ends; one deleted while the
// breaker is open ends without trying.
func (s *ruleSuite) TestDeleteFlushesPendingChanges() {
	tests := []struct {
		name        string
		breakerOpen bool
		wantApplies int
	}{
		{"flushed on delete", false, 1},
		{"kept when the breaker is open", true, 0},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			state := ruleState("workday", func(c *RuleConfig) { c.BatchWindow = 10 * time.Second })
			if tc.breakerOpen {
				state.ConsecutiveFailures = 5
				state.BreakerOpenUntil = t0.Add(12 * time.Hour)
			} else {
				s.mockApply(nil)
			}
			s.signalAt(time.Second, userEvent("a"))
			s.runToDelete(state, 2*time.Second)

			applies := s.rec.allApplies()
			s.Require().Len(applies, tc.wantApplies)
			if tc.wantApplies > 0 {
				s.Equal(t0.Add(2*time.Second), applies[0].At, "at once, not at the end of the window")
			}
		})
	}
}

// TestPendingCompactedWhenFull: past maxPending buffered changes (while the
// breaker is open), only the last change of each object is kept, in the
// order of those last changes, and nothing else is dropped.
func (s *ruleSuite) TestPendingCompactedWhenFull() {
	state := ruleState("workday")
	state.ConsecutiveFailures = 5
	state.BreakerOpenUntil = t0.Add(time.Hour)
	s.mockResync(resyncTaking(time.Minute, "after"))
	s.mockApply(nil)
	s.mockPoll(okPoll) // once the breaker has closed
	upserts := make([]reconcile.Event, 3000)
	for i := range upserts {
		upserts[i] = userEvent(fmt.Sprintf("u%d", i))
	}
	deletes := make([]reconcile.Event, 2001) // 3000+2001 > maxPending
	for i := range deletes {
		deletes[i] = reconcile.Event{Kind: reconcile.KindUser, Op: reconcile.OpDelete, ID: fmt.Sprintf("u%d", i)}
	}
	s.signalAt(time.Minute, upserts...)
	s.signalAt(2*time.Minute, deletes...)
	kept := s.statusAt(3 * time.Minute)
	s.runToDelete(state, time.Hour+2*time.Minute)

	want := append(append([]reconcile.Event(nil), upserts[2001:]...), deletes...)
	s.Equal(len(want), kept.PendingChanges)
	var applied []reconcile.Event
	for _, a := range s.rec.allApplies() {
		s.LessOrEqual(len(a.Events), maxApplyBatch)
		applied = append(applied, a.Events...)
	}
	s.Equal(want, applied)
}

// TestChangesOverflow: real-time changes that would grow the rule's state
// past maxPendingBytes are dropped, never carried into continue-as-new,
// and a full resync finds them: the breaker's when it is open, else one
// for reason "overflow" — queued once, however often it overflows while
// one waits.
func (s *ruleSuite) TestChangesOverflow() {
	// ~600 bytes an event: 1,000 make a batch of ~600 KB, two overflow.
	batch := func(prefix string) []reconcile.Event {
		events := make([]reconcile.Event, 1000)
		for i := range events {
			u := connectors.User{UserName: fmt.Sprintf("%s%d", prefix, i), DisplayName: strings.Repeat("x", 500)}
			events[i] = reconcile.Event{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: u.UserName, User: &u}
		}
		return events
	}
	tests := []struct {
		name        string
		breakerOpen bool
		wantReasons []string
	}{
		{name: "breaker open: its resync finds them", breakerOpen: true, wantReasons: []string{ReasonBreaker}},
		// a+b overflow at 7m: a resync runs 7m–17m; c+d at 9m: one queued;
		// e+f at 11m: that one still waits.
		{name: "paused: overflow resyncs, one queued at a time", wantReasons: []string{ReasonOverflow, ReasonOverflow}},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			state := ruleState("events", func(c *RuleConfig) { c.FailureThreshold = 1 })
			if tc.breakerOpen {
				s.mockPoll(failingPolls("F", errUnauthorized))
			} else {
				s.mockPoll(okPoll).Maybe()
				state.Paused = true
			}
			s.mockResync(resyncTaking(10*time.Minute, "after-resync"))
			s.mockApply(nil).Maybe()
			s.signalAt(5*time.Minute, batch("a")...)
			kept := s.statusAt(6 * time.Minute)
			s.signalAt(7*time.Minute, batch("b")...)
			s.signalAt(8*time.Minute, batch("c")...)
			s.signalAt(9*time.Minute, batch("d")...)
			s.signalAt(10*time.Minute, batch("e")...)
			s.signalAt(11*time.Minute, batch("f")...)
			over := s.statusAt(12 * time.Minute)
			s.runToDelete(state, 45*time.Minute)

			s.Equal(1000, kept.PendingChanges, "one batch fits")
			s.Equal(0, over.PendingChanges, "past the bound, dropped")
			s.Equal(6000, over.ChangesOverflowed)
			var reasons []string
			for _, r := range s.rec.allResyncs() {
				reasons = append(reasons, r.In.Reason)
			}
			s.Equal(tc.wantReasons, reasons)
			for _, a := range s.rec.allApplies() {
				s.Empty(a.Events, "dropped changes are never applied one by one")
			}
		})
	}
}
