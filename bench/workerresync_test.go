package bench

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// --- scenario: full resync LDAP → SCIM through the worker and Temporal: the
// initial full resync of a new rule.

func fullResyncWorker(b *testing.B, rs *results, h *harness, dir Directory) {
	n, groups := len(dir.Users), len(dir.Groups)
	start := time.Now()
	// 1 s polling is for the idle poll scenario that follows.
	h.starter("rule", "create", ruleName, "--source", "corp", "--target", "app", "--poll-interval", "1s",
		"--concurrency", strconv.Itoa(concurrency))
	h.waitFor("initial resync through the worker", 20*time.Minute, func() (bool, string) {
		st := h.status()
		return st.ManagedUsers >= n && st.ManagedGroups >= groups && !st.LastSuccess.IsZero(), fmt.Sprintf("%+v", st)
	})
	wall := time.Since(start)
	st := h.status()
	if st.ManagedUsers != n || st.ManagedGroups != groups || st.Totals.Users.Failed+st.Totals.Groups.Failed > 0 {
		b.Errorf("after the initial resync: %d managed users, %d managed groups, %d+%d failed; want %d, %d, 0",
			st.ManagedUsers, st.ManagedGroups, st.Totals.Users.Failed, st.Totals.Groups.Failed, n, groups)
	}
	if got := len(h.target.Users()); got != n {
		b.Errorf("SCIM target has %d users, want %d", got, n)
	}
	hl, _ := h.history()
	sc := "full resync via worker+Temporal"
	rs.add(sc, "objects/s (users+groups)", float64(n+groups)/wall.Seconds(), "obj/s", "≥ 2000 at N=100000")
	rs.add(sc, "wall time (rule create → managed=N)", wall.Seconds(), "s", "")
	rs.add(sc, "rule history events after resync", float64(hl), "events", "")
	rs.add(sc, "worker peak RSS (VmHWM)", float64(vmHWM(fmt.Sprintf("/proc/%d/status", h.worker.Process.Pid)))/1024, "MB", "≤ 256 at N=100000")
}
