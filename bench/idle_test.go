package bench

import (
	"testing"
	"time"

	"github.com/idsync/idsync/workflows"
)

// --- scenario: idle polls. The rule polls every second and nothing has
// changed at the source since its initial resync.

func idlePoll(b *testing.B, rs *results, h *harness) {
	// waitPolls returns once k more polls have finished (LastPoll moved k
	// times). At 1 s a cycle and 50 ms between looks none is missed.
	waitPolls := func(k int) {
		last := h.status().LastPoll
		h.waitFor("idle polls", time.Duration(k)*10*time.Second, func() (bool, string) {
			if lp := h.status().LastPoll; !lp.Equal(last) {
				last = lp
				k--
			}
			return k <= 0, "LastPoll does not move"
		})
	}
	const cycles = 10
	var d counters
	var st0, st workflows.RuleStatus
	for attempt := 0; ; attempt++ {
		// Start and end right after a poll: the window holds whole cycles.
		waitPolls(2)
		st0 = h.status()
		c0 := h.counters()
		waitPolls(cycles)
		st, d = h.status(), h.since(c0)
		b.Logf("LDAP operations over %d idle cycles: %v", cycles, d.ops)
		// A continue-as-new in the window would add a new run's first
		// events to ten ordinary cycles: measure the steady state.
		if d.run == "" {
			break
		}
		if attempt == 2 {
			b.Fatalf("the rule continued as new during each of 3 measurements")
		}
		b.Logf("the rule continued as new during the measurement; again")
	}
	// The premise: these polls found nothing to do.
	if st.Totals.Users != st0.Totals.Users || st.Totals.Groups != st0.Totals.Groups || st.ConsecutiveFailures > 0 {
		b.Errorf("idle polls did something: totals %+v → %+v, last poll %q, %d failures in a row",
			st0.Totals, st.Totals, st.LastPollResult, st.ConsecutiveFailures)
	}
	sc := "idle poll (1s interval, nothing changed)"
	rs.add(sc, "source LDAP requests per cycle (excl. bind/unbind)", float64(d.ldapRequests)/cycles, "req", "≤ 1")
	rs.add(sc, "source LDAP connections per cycle", float64(d.ldapConns)/cycles, "conn", "")
	rs.add(sc, "target requests per cycle", float64(d.targetRequests)/cycles, "req", "0")
	rs.add(sc, "history events per cycle", float64(d.history)/cycles, "events", "≤ 10")
}
