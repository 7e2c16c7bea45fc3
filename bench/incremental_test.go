package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

// --- scenario: incremental poll with 1 % of the users changed at the source.

// objects is how many objects a run's counts are about.
func objects(c reconcile.Counts) int {
	return c.Created + c.Updated + c.Adopted + c.Deprovisioned + c.Unchanged + c.Failed + c.Kept
}

func incrementalPoll(b *testing.B, rs *results, h *harness, dir Directory) {
	n := len(dir.Users)
	// From now on the rule polls only when asked: an hour is longer than
	// the rest of the run. The poll in flight, if any, finishes first.
	h.starter("rule", "update", ruleName, "--poll-interval", "1h")
	st0 := h.quiet()
	ids := h.externalIDs(dir)
	w := h.sourceWriter()

	k := max(n/100, 1)
	seen := make([]<-chan time.Time, k)
	for j := range k {
		i := j * (n / k) // spread over the directory
		title := fmt.Sprintf("Incremental %d", j)
		seen[j] = h.target.expect(ids[i], title)
		if err := w.setTitle(dir.Users[i], title); err != nil {
			b.Fatal(err)
		}
	}

	c0 := h.counters()
	start := time.Now()
	if err := h.wc.PollNow(h.ctx, ruleName); err != nil {
		b.Fatal(err)
	}
	visible := latest(h.waitVisible("incremental poll", seen, 2*time.Minute)).Sub(start)
	var st workflows.RuleStatus
	h.waitFor("the incremental poll to finish", 2*time.Minute, func() (bool, string) {
		st = h.status()
		return st.LastPoll.After(st0.LastPoll) && st.State == workflows.StateIdle, st.State
	})
	d := h.since(c0)
	// LastPoll is the workflow's clock when the poll activity returned.
	done := st.LastPoll.Sub(start)
	b.Logf("incremental poll: %s; LDAP operations %v; target requests %v", st.LastPollResult, d.ops, d.targetMix)

	// The source reports the changed users and, so that memberships are
	// kept, the groups they are members of: each is one object of the
	// poll's result.
	changes := objects(st.Totals.Users) + objects(st.Totals.Groups) - objects(st0.Totals.Users) - objects(st0.Totals.Groups)
	if !strings.HasPrefix(st.LastPollResult, "ok") || changes < k {
		b.Errorf("incremental poll: %q, %d objects in its result; want ok and at least %d", st.LastPollResult, changes, k)
	}
	if got := st.Totals.Users.Updated - st0.Totals.Users.Updated; got != k {
		b.Errorf("incremental poll: %d users updated, want %d", got, k)
	}
	if f := st.Totals.Users.Failed + st.Totals.Groups.Failed - st0.Totals.Users.Failed - st0.Totals.Groups.Failed; f > 0 {
		b.Errorf("incremental poll: %d failed: %s", f, st.LastError)
	}

	sc := fmt.Sprintf("incremental poll (1%% = %d users changed)", k)
	rs.add(sc, "changes the poll reported (users + their groups)", float64(changes), "obj", "")
	rs.add(sc, "wall time PollNow → all changes in target", visible.Seconds(), "s", "")
	rs.add(sc, "wall time PollNow → poll done", done.Seconds(), "s", "")
	rs.add(sc, "source LDAP requests (excl. bind/unbind)", float64(d.ldapRequests), "req", "")
	rs.add(sc, "source LDAP connections", float64(d.ldapConns), "conn", "")
	rs.add(sc, "target requests", float64(d.targetRequests), "req", "")
	rs.add(sc, "target requests per changed user", float64(d.targetRequests)/float64(k), "req", "")
	rs.add(sc, "history events", float64(d.history), "events", "")
}
