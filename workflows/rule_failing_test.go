package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/activities"
)

// TestFailingStateAndErrorClass: a rule whose poll failed says so at once
// (state failing, in the status and the SyncState search attribute), long
// before the breaker opens, with the error in full and its class; the next
// successful poll makes it idle again.
func (s *ruleSuite) TestFailingStateAndErrorClass() {
	long := "scim: list users: GET https://app.example/scim/v2/Users?filter=" + strings.Repeat("x", 1500) + ": 401 Unauthorized"
	tests := []struct {
		name      string
		err       error
		wantClass string
		wantIn    string // the last error must hold this
	}{
		{"auth", temporal.NewNonRetryableApplicationError(long, activities.ErrTypeUnauthorized, nil), ErrorClassAuth, "401 Unauthorized"},
		{"network", temporal.NewApplicationError("ldap: dial tcp 10.0.0.5:636: connect: connection refused", activities.ErrTypeNetwork), ErrorClassNetwork, "connection refused"},
		{"rate limit", temporal.NewApplicationError("scim: 429 Too Many Requests", activities.ErrTypeRateLimited), ErrorClassRateLimit, "429"},
		{"config", temporal.NewNonRetryableApplicationError("source: connection \"hr\" not found", activities.ErrTypeConfig, nil), ErrorClassConfig, "not found"},
		{"other", errors.New("scim: 500 Internal Server Error"), ErrorClassOther, "500"},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			state := ruleState("events")
			s.mockPoll(failingPolls("FS", tc.err))
			// Polls are a minute apart: the first fails at 1 min (with
			// its retries, up to ~15 s later), the second succeeds at 2.
			failing := s.statusAt(time.Minute + 50*time.Second)
			recovered := s.statusAt(2*time.Minute + 30*time.Second)
			s.runToDelete(state, 3*time.Minute)

			s.Equal(StateFailing, failing.State, "after one failed poll")
			s.Equal(1, failing.ConsecutiveFailures)
			s.True(failing.BreakerOpenUntil.IsZero())
			s.Equal(tc.wantClass, failing.LastErrorClass)
			s.Contains(failing.LastError, tc.wantIn, "the cause is kept")
			s.LessOrEqual(len(failing.LastError), maxErrorLen+len("poll: "))
			s.Equal(StateFailing, s.rec.stateAtTime(t0.Add(time.Minute+50*time.Second)), "SyncState search attribute")
			s.Equal(StateIdle, recovered.State, "after a successful poll")
		})
	}
}

// TestBoundErrorKeepsCause: an error longer than maxErrorLen keeps its
// head (what was done) and its tail (the cause), never a cut UTF-8
// sequence.
func TestBoundErrorKeepsCause(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"short", "poll: scim: 401 Unauthorized"},
		{"long", "scim: list users → " + strings.Repeat("é", 3000) + ": 401 Unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := boundError(tc.in)
			if len(got) > maxErrorLen {
				t.Errorf("%d bytes, want at most %d", len(got), maxErrorLen)
			}
			if !strings.HasSuffix(got, "401 Unauthorized") || !strings.HasPrefix(got, tc.in[:10]) {
				t.Errorf("head or cause lost: %.40s … %s", got, got[max(0, len(got)-40):])
			}
			if !utf8.ValidString(got) {
				t.Error("invalid UTF-8")
			}
		})
	}
}

// TestNoCursorIsNotTheSourceAsking: a rule whose first full resync failed
// (the target refused its credentials) has no cursor; its next poll runs
// the first resync again and says so, instead of claiming that the
// source asked for one.
func (s *ruleSuite) TestNoCursorIsNotTheSourceAsking() {
	state := ruleState("events")
	state.Cursor = ""
	s.mockPoll(okPoll)
	s.mockResync(func(ctx workflow.Context, n int, in ResyncInput) (ResyncResult, error) {
		if n == 0 {
			return ResyncResult{}, temporal.NewNonRetryableApplicationError("resync users: scim: list users: 401 Unauthorized", activities.ErrTypeUnauthorized, nil)
		}
		return resyncTaking(time.Minute, "c1")(ctx, n, in)
	})
	after := s.statusAt(time.Minute + 30*time.Second)
	s.runToDelete(state, 4*time.Minute)

	resyncs := s.rec.allResyncs()
	s.Require().GreaterOrEqual(len(resyncs), 2)
	s.Equal(ReasonInitial, resyncs[1].In.Reason, "the first resync, again")
	s.NotContains(after.LastPollResult, "source asked")
	s.Contains(after.LastPollResult, "first full resync")
	s.Equal(ErrorClassAuth, after.LastErrorClass)
	s.Contains(after.LastError, "401 Unauthorized")
}

// TestResumeClosesOpenBreaker: `rule resume` on a rule whose breaker is
// open starts the breaker's full resync now instead of at the end of the
// reset period, answers once it has started (state resyncing, its
// workflow id), and the rule polls again when it succeeds.
func (s *ruleSuite) TestResumeClosesOpenBreaker() {
	state := ruleState("events", func(c *RuleConfig) { c.FailureThreshold = 1 })
	s.mockPoll(failingPolls("F", errUnauthorized))
	s.mockResync(resyncTaking(time.Minute, "after-resync"))
	var st RuleStatus
	u := s.updateAt(5*time.Minute, UpdateNameResume, nil, &st)
	after := s.statusAt(8 * time.Minute)
	s.runToDelete(state, 10*time.Minute)

	s.Require().True(u.done, "the resume update completed")
	s.Require().NoError(u.err)
	resyncs := s.rec.allResyncs()
	s.Require().Len(resyncs, 1)
	s.Equal(t0.Add(5*time.Minute), resyncs[0].Start, "the resync starts at the resume, not after the 30-minute reset")
	s.Equal(ReasonBreaker, resyncs[0].In.Reason)
	s.Equal(StateResyncing, st.State)
	s.Equal(resyncs[0].ID, st.ActiveResync)
	s.Equal(StateIdle, after.State)
	s.True(after.BreakerOpenUntil.IsZero())
	s.Equal(0, after.ConsecutiveFailures)
	var after5 []string
	for _, p := range s.rec.allPolls() {
		if p.At.After(t0.Add(5 * time.Minute)) {
			after5 = append(after5, p.Cursor)
		}
	}
	s.Require().NotEmpty(after5, "polling resumed")
	s.Equal("after-resync", after5[0], "from the resync's cursor")
}
