package workflows

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/suite"
)

func TestRuleSuite(t *testing.T) { suite.Run(t, new(ruleSuite)) }

// TestPollCadence measures, with time skipping, the time between Poll
// activity calls for each source type, and checks that each poll carries
// the cursor the previous one returned.
func (s *ruleSuite) TestPollCadence() {
	tests := []struct {
		name       string
		sourceType string
		override   time.Duration
		// the gap between polls must be in [min, max]
		min, max time.Duration
	}{
		{"ldap polls every 2 to 3 minutes", "ldap", 0, 2 * time.Minute, 3*time.Minute - time.Second},
		{"workday polls every 15 minutes", "workday", 0, 15 * time.Minute, 15 * time.Minute},
		{"workos polls every minute", "workos", 0, time.Minute, time.Minute},
		{"events polls every minute", "events", 0, time.Minute, time.Minute},
		{"a rule without a cadence polls as ldap did", "csv", 0, 2 * time.Minute, 3*time.Minute - time.Second},
		{"a cadence without a jitter has none", "partial", 0, 7 * time.Minute, 7 * time.Minute},
		{"override wins over ldap's jitter", "ldap", 45 * time.Second, 45 * time.Second, 45 * time.Second},
		{"override wins over workday", "workday", 2 * time.Hour, 2 * time.Hour, 2 * time.Hour},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			state := ruleState(tc.sourceType, func(c *RuleConfig) { c.PollInterval = tc.override })
			s.mockPoll(okPoll)
			s.runToDelete(state, 4*tc.max+tc.min/2)

			polls := s.rec.firstPolls()
			s.Require().GreaterOrEqual(len(polls), 4, "polls at %v", s.rec.pollTimes())
			gap := polls[0].At.Sub(t0) // the first poll is one interval after the start
			s.GreaterOrEqual(gap, tc.min)
			s.LessOrEqual(gap, tc.max)
			s.Equal(gap.Truncate(time.Second), gap, "whole seconds")
			s.Equal(state.Config.EffectivePollInterval(), gap)
			for i, p := range polls {
				s.Equal(t0.Add(time.Duration(i+1)*gap), p.At, "poll %d", i)
				want := "c0"
				if i > 0 {
					want = fmt.Sprintf("c%d", i)
				}
				s.Equal(want, p.Cursor, "poll %d reads from the previous cursor", i)
			}
		})
	}
}

// ldapRuleGap runs an ldap rule with the given name in a fresh environment
// and returns the time between its first two polls.
func (s *ruleSuite) ldapRuleGap(name string) time.Duration {
	s.newEnv(false)
	defer s.env.AssertExpectations(s.T())
	s.mockPoll(okPoll)
	s.runToDelete(ruleState("ldap", func(c *RuleConfig) { c.Name = name }), 7*time.Minute)
	polls := s.rec.firstPolls()
	s.Require().GreaterOrEqual(len(polls), 2)
	return polls[1].At.Sub(polls[0].At)
}

// TestLDAPJitterIsDeterministic checks that an ldap rule's jitter comes
// from its name: the same rule polls at the same offset every run, and
// rules with different names do not all poll in step.
func (s *ruleSuite) TestLDAPJitterIsDeterministic() {
	names := []string{"hr-ldap", "corp-directory", "eu.ldap", "us_ldap", "lab"}
	distinct := map[time.Duration]bool{}
	for _, name := range names {
		first := s.ldapRuleGap(name)
		second := s.ldapRuleGap(name)
		s.Equal(first, second, "rule %q polls with the same jitter every run", name)
		s.GreaterOrEqual(first, 2*time.Minute, name)
		s.Less(first, 3*time.Minute, name)
		distinct[first] = true
	}
	s.Greater(len(distinct), 1, "rules with different names got the same jitter: %v", distinct)
}

// TestPauseAndResume: no polls while paused, and changes are kept, not
// applied; after resume, polling resumes at once (the poll that fell due
// meanwhile) then on the interval, and the kept changes are applied.
func (s *ruleSuite) TestPauseAndResume() {
	s.mockPoll(okPoll)
	s.mockApply(nil)
	s.signalAt(5*time.Minute, userEvent("u1"))
	var paused, resumed RuleStatus
	pause := s.updateAt(150*time.Second, UpdateNamePause, nil, &paused)
	during := s.statusAt(6 * time.Minute)
	resume := s.updateAt(630*time.Second, UpdateNameResume, nil, &resumed)
	s.runToDelete(ruleState("events"), 13*time.Minute+10*time.Second)

	s.True(pause.done, "pause completed")
	s.NoError(pause.err)
	s.Equal(StatePaused, paused.State)
	s.Equal(StatePaused, during.State)
	s.Equal(1, during.PendingChanges)
	applies := s.rec.allApplies()
	s.Require().Len(applies, 1)
	s.Equal(t0.Add(630*time.Second), applies[0].At, "applied on resume")
	s.Equal(StatePaused, s.rec.stateAtTime(t0.Add(6*time.Minute)), "SyncState while paused")
	s.True(resume.done, "resume completed")
	s.NoError(resume.err)
	s.Equal(StateIdle, resumed.State)
	s.Equal(StateIdle, s.rec.stateAtTime(t0.Add(11*time.Minute)), "SyncState after resume")
	s.Equal([]time.Duration{
		1 * time.Minute, 2 * time.Minute, // before the pause
		630 * time.Second, 690 * time.Second, 750 * time.Second, // after resume
	}, s.rec.pollTimes())
}

// TestConfigUpdateChangesInterval: the config update changes the polling
// interval of the running rule, counted from the last poll; an invalid
// patch is rejected and changes nothing.
func (s *ruleSuite) TestConfigUpdateChangesInterval() {
	tests := []struct {
		name     string
		patch    ConfigPatch
		rejected bool
		want     []time.Duration
	}{
		{
			name:  "longer interval",
			patch: patchOf("pollInterval", 5*time.Minute),
			want:  []time.Duration{time.Minute, 2 * time.Minute, 7 * time.Minute, 12 * time.Minute},
		},
		{
			name:  "shorter interval",
			patch: patchOf("pollInterval", 20*time.Second),
			want: []time.Duration{time.Minute, 2 * time.Minute,
				// 2m20s is already past at 2m30s: the poll runs at once.
				150 * time.Second, 170 * time.Second, 190 * time.Second},
		},
		{
			name:     "interval under a second is rejected",
			patch:    patchOf("pollInterval", 500*time.Millisecond),
			rejected: true,
			want:     []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute},
		},
		{
			name:     "a misspelt setting is rejected",
			patch:    patchOf("pollinterval", 5*time.Minute),
			rejected: true,
			want:     []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute},
		},
		{
			name:     "a setting of the wrong type is rejected",
			patch:    patchOf("pollInterval", "5m"),
			rejected: true,
			want:     []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute},
		},
		{
			name:     "the source connection cannot be changed",
			patch:    patchOf("sourceConnection", "other"),
			rejected: true,
			want:     []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute},
		},
	}
	for _, tc := range tests {
		s.Run(tc.name, func() {
			s.mockPoll(okPoll)
			var st RuleStatus
			u := s.updateAt(150*time.Second, UpdateNameConfig, tc.patch, &st)
			end := tc.want[len(tc.want)-1] + 5*time.Second
			s.runToDelete(ruleState("events"), end)

			if tc.rejected {
				s.Error(u.rejected)
				s.False(u.done)
			} else {
				s.NoError(u.rejected)
				s.True(u.done)
				var want time.Duration
				s.Require().NoError(json.Unmarshal(tc.patch["pollInterval"], &want))
				s.Equal(want, st.PollInterval)
			}
			s.Equal(tc.want, s.rec.pollTimes())
		})
	}
}

// patchOf is a patch that sets key to v.
func patchOf(key string, v any) ConfigPatch {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return ConfigPatch{key: b}
}
