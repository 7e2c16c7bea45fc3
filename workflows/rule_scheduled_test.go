package workflows

import (
	"time"
)

// TestScheduledResync: a full resync repairs drift on a schedule (every
// ResyncInterval, 24 h by default), never while another runs; off, none.
func (s *ruleSuite) TestScheduledResync() {
	tests := []struct {
		name  string
		every time.Duration
		want  []time.Duration
	}{
		{"every 2h", 2 * time.Hour, []time.Duration{2 * time.Hour, 4 * time.Hour, 6 * time.Hour}},
		{"by default daily", 0, []time.Duration{24 * time.Hour}},
		{"off", -1, nil},
	}
	for _, tt := range tests {
		s.Run(tt.name, func() {
			state := ruleState("ldap", func(c *RuleConfig) {
				c.PollInterval = time.Hour
				c.ResyncInterval = tt.every
			})
			s.mockPoll(okPoll)
			s.mockResync(resyncTaking(time.Minute, "after"))
			s.runToDelete(state, 25*time.Hour)
			var got []time.Duration
			for _, r := range s.rec.allResyncs() {
				s.Equal("scheduled", r.In.Reason)
				got = append(got, r.Start.Sub(t0))
			}
			if len(tt.want) > 0 && len(got) > len(tt.want) {
				got = got[:len(tt.want)]
			}
			s.Equal(tt.want, got)
		})
	}
}

// TestBreakerResetUpdateAppliesToOpenBreaker: shortening the breaker reset
// while the breaker is open closes it by the new setting, counted from
// when it opened.
func (s *ruleSuite) TestBreakerResetUpdateAppliesToOpenBreaker() {
	state := ruleState("ldap", func(c *RuleConfig) {
		c.FailureThreshold = 1
		c.PollInterval = time.Minute
		c.ResyncInterval = -1
	})
	s.mockPoll(failingPolls("F", errUnauthorized))
	s.mockResync(resyncTaking(time.Minute, "after"))
	open := s.statusAt(5 * time.Minute)
	var st RuleStatus
	s.updateAt(6*time.Minute, UpdateNameConfig, patchOf("breakerReset", 10*time.Minute), &st)
	s.runToDelete(state, 20*time.Minute)

	opened := t0.Add(time.Minute)
	s.Equal(opened.Add(30*time.Minute), open.BreakerOpenUntil.UTC(), "LDAP's default reset")
	s.Equal(opened.Add(10*time.Minute), st.BreakerOpenUntil.UTC(), "the new reset, from when it opened")
	resyncs := s.rec.allResyncs()
	s.Require().Len(resyncs, 1)
	s.Equal(opened.Add(10*time.Minute), resyncs[0].Start)
}
