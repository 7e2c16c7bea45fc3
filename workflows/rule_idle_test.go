package workflows

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/idsync/idsync/activities"
)

// checkFunc answers the n-th change check (0-based).
type checkFunc func(n int, in activities.PollInput) (activities.ChangeCheck, error)

// mockCheck answers the local CheckChanges activity with f and returns the
// cursors it was asked about.
func (s *ruleSuite) mockCheck(f checkFunc) func() []string {
	var mu sync.Mutex
	var cursors []string
	s.env.OnActivity(acts.CheckChanges, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PollInput) (activities.ChangeCheck, error) {
			mu.Lock()
			n := len(cursors)
			cursors = append(cursors, in.Cursor)
			mu.Unlock()
			return f(n, in)
		})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), cursors...)
	}
}

// TestIdlePollIsALocalCheck: when the source says nothing changed, the
// poll is done without the Poll activity and without a "polling" state;
// the new cursor is kept, and a changed source or a failed check still
// goes through Poll from the cursor the check was given.
func (s *ruleSuite) TestIdlePollIsALocalCheck() {
	tests := []struct {
		name string
		// script: per check, 'I' idle, 'C' changed, 'F' failed, 'T' takes
		// longer than checkTimeout (in real time: the test environment
		// times local activities out by the clock).
		script     string
		wantPolls  []string // cursors Poll was called with
		wantChecks []string
		wantResult string
	}{
		{name: "idle", script: "III", wantChecks: []string{"c0", "i1", "i2"}, wantResult: "ok: no changes"},
		{name: "changed", script: "ICI", wantPolls: []string{"i1"}, wantChecks: []string{"c0", "i1", "c1"}, wantResult: "ok: no changes"},
		{name: "check failed", script: "FI", wantPolls: []string{"c0"}, wantChecks: []string{"c0", "c1"}, wantResult: "ok: no changes"},
		// A check out of time: the next slowCheckSkips polls go to Poll
		// without one, then a check again.
		{name: "check too slow", script: "TIIIIIIIIIII", wantPolls: []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10"},
			wantChecks: []string{"c0", "c11"}, wantResult: "ok: no changes"},
	}
	for _, tt := range tests {
		s.Run(tt.name, func() {
			checks := s.mockCheck(func(n int, in activities.PollInput) (activities.ChangeCheck, error) {
				switch tt.script[n%len(tt.script)] {
				case 'I':
					return activities.ChangeCheck{Cursor: fmt.Sprintf("i%d", n+1)}, nil
				case 'C':
					return activities.ChangeCheck{Changed: true}, nil
				case 'T':
					time.Sleep(checkTimeout + time.Second)
					return activities.ChangeCheck{Cursor: "late"}, nil
				}
				return activities.ChangeCheck{}, errors.New("ldap: connection refused")
			})
			if len(tt.wantPolls) > 0 {
				s.mockPoll(okPoll)
			}
			state := ruleState("events") // polls every minute
			var st *RuleStatus
			s.at(time.Duration(len(tt.script))*time.Minute+30*time.Second, func() { v := s.queryStatus(); st = &v })
			s.runToDelete(state, time.Duration(len(tt.script))*time.Minute+45*time.Second)

			s.Equal(tt.wantChecks, checks())
			var polled []string
			for _, p := range s.rec.allPolls() {
				polled = append(polled, p.Cursor)
			}
			s.Equal(tt.wantPolls, polled)
			s.Require().NotNil(st)
			s.Equal(tt.wantResult, st.LastPollResult)
			s.Equal(t0.Add(time.Duration(len(tt.script))*time.Minute), st.LastSuccess.UTC())
			s.Zero(st.ConsecutiveFailures)
			for _, x := range s.rec.stateTimeline() {
				if x.State == StatePolling && len(tt.wantPolls) == 0 {
					s.Failf("idle polls showed the polling state", "at %s", x.At)
				}
			}
		})
	}
}
