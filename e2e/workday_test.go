package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/workdayfake"
	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

// workdayWorkers is the tenant's size in TestWorkdayToSCIM.
const workdayWorkers = 1000

// TestWorkdayToSCIM runs a Workday → SCIM rule through the dev server
// and the worker binary, against a fake tenant that is slow and lags
// (its transaction log shows an entry seconds late, as Workday's does an
// hour late) and a SCIM target that is slow too: 1,000 workers converge;
// a hire, a termination on its effective date (not before), a rehire
// (the same target account) and a manager change each reach the target
// after one poll; an outage past the failure threshold opens the breaker,
// and its timer ends in a child full resync that converges.
func TestWorkdayToSCIM(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 workers through the dev server")
	}
	wd := workdayfake.ForTest(t, workdayfake.Options{Lag: 2 * time.Second,
		Knobs: workdayfake.Knobs{Latency: 5 * time.Millisecond, LatencyMax: 40 * time.Millisecond}})
	ids := wd.Populate(workdayWorkers)
	e := setup(t, "WORKDAY_PASSWORD="+wd.Password())
	pickySCIM(t, e)

	e.starter(false, "connection", "create", "hr", "--type", "workday", "--url", wd.URL(), "--tenant", wd.Tenant(),
		"--username", wd.Username(), "--password", "env:WORKDAY_PASSWORD", "--set", "timeZone="+wd.TimeZone(),
		"--set", "windowOverlap=10s", "--set", "maxRetryWait=0s")
	e.starter(false, "connection", "create", "app", "--type", "scim",
		"--set", "baseUrl="+e.scim.URL, "--set", "token=env:SCIM_TOKEN")
	if out := e.starter(false, "connection", "test", "hr"); !strings.Contains(out, "ok") {
		t.Errorf("connection test hr: %q", out)
	}
	// The rule takes Workday's cadence (15 min, breaker 12 h) unless told.
	e.starter(false, "rule", "create", "hr-to-app", "--source", "hr", "--target", "app",
		"--poll-interval", "3s", "--breaker-reset", "20s", "--resync-interval", "off", "--concurrency", "8")

	began := time.Now()
	mark := began
	phase := func(what string) {
		t.Logf("%s: %s", what, time.Since(mark).Round(100*time.Millisecond))
		mark = time.Now()
	}
	e.eventually("1,000 workers converge", 4*time.Minute, func() error {
		users, groups := e.targetState()
		if len(users) != workdayWorkers || len(groups) != 20 {
			return fmt.Errorf("%d users and %d groups", len(users), len(groups))
		}
		return nil
	})
	phase(fmt.Sprintf("initial sync of %d workers", workdayWorkers))
	users, _ := e.targetState()
	first := users["user0"]
	if first.ExternalID != ids[0] || first.Email != "user0@acme.example" || !first.Active {
		t.Errorf("worker %s in the target: %+v", ids[0], first)
	}
	// A report written before its manager gets it when the manager is
	// created (the SCIM connector settles it right after): every worker
	// but the first has its manager (Populate: worker i reports to i/8).
	e.eventually("every worker's manager", time.Minute, func() error {
		users, _ := e.targetState()
		var wrong []string
		for i := 1; i < workdayWorkers; i++ {
			name := fmt.Sprintf("user%d", i)
			if got := users[name].Attributes["manager"]; !strings.HasSuffix(got, ids[i/8]) {
				wrong = append(wrong, fmt.Sprintf("%s: %q", name, got))
			}
		}
		if len(wrong) > 0 {
			return fmt.Errorf("%d workers without their manager (want worker i/8's id): %s", len(wrong), strings.Join(wrong[:min(len(wrong), 5)], ", "))
		}
		return nil
	})

	phase("reads of the converged target")

	// A hire today reaches the target after one poll.
	hire := wd.Hire(workdayfake.Hire{UserID: "newhire", FirstName: "Nora", LastName: "New", Email: "nora@acme.example",
		ManagerID: ids[0], Orgs: map[string]string{"SUPERVISORY": "SUP-03"}})
	e.eventually("the hire", time.Minute, func() error {
		if got := e.userNamed("newhire"); got.ExternalID != hire || !got.Active || !hasMember(e.groupNamed("Team 03"), got.ID) {
			return fmt.Errorf("newhire: %+v", got)
		}
		return nil
	})

	phase("hire")

	// A termination effective tomorrow: active until then, inactive on
	// the day. The fake's clock moves to tomorrow; the connector reads
	// the tenant's clock from its answers.
	leaver := ids[5]
	wd.Terminate(leaver, workdayfake.AddDays(wd.Today(), 1))
	e.waitPolls(t, "hr-to-app", 2)
	if !e.userNamed("user5").Active {
		t.Fatalf("user5 is inactive before the termination's effective date")
	}
	wd.Advance(24 * time.Hour)
	e.eventually("the termination on its date", time.Minute, func() error {
		if e.userNamed("user5").Active {
			return fmt.Errorf("user5 still active on %s", wd.Today())
		}
		return nil
	})
	before := e.userNamed("user5")
	phase("termination")

	// A rehire: the same Worker_ID with a new WID, and the same account.
	wd.Rehire(leaver, "")
	e.eventually("the rehire", time.Minute, func() error {
		if !e.userNamed("user5").Active {
			return fmt.Errorf("user5 inactive after the rehire")
		}
		return nil
	})
	if after := e.userNamed("user5"); after.ID != before.ID {
		t.Errorf("rehire: target id %s → %s: want the same account", before.ID, after.ID)
	}

	phase("rehire")

	// A manager change.
	wd.ChangeManager(ids[30], ids[1], "")
	e.eventually("the manager change", time.Minute, func() error {
		if got := e.userNamed("user30").Attributes["manager"]; !strings.HasSuffix(got, ids[1]) {
			return fmt.Errorf("user30's manager is %q", got)
		}
		return nil
	})

	phase("manager change")

	// An outage past 5 polls opens the breaker; its timer (20 s here,
	// 12 h by default) ends in a child full resync, which converges and
	// finds the change made during the outage.
	wd.SetOutage(true)
	e.eventually("the breaker opens", 3*time.Minute, func() error {
		if st := e.ruleStatus(t, "hr-to-app"); st.State != workflows.StateCircuitOpen {
			return fmt.Errorf("state %s, %d failures: %s", st.State, st.ConsecutiveFailures, st.LastError)
		}
		return nil
	})
	phase("breaker open")
	wd.Change(ids[40], "", func(w *workdayfake.Worker) { w.Title = "Chief Engineer" })
	wd.SetOutage(false)
	e.eventually("the resync after the breaker", 4*time.Minute, func() error {
		st := e.ruleStatus(t, "hr-to-app")
		if st.State != workflows.StateIdle || st.LastResync == nil || st.LastResync.Reason != workflows.ReasonBreaker {
			return fmt.Errorf("state %s, last resync %+v", st.State, st.LastResync)
		}
		return nil
	})
	phase("resync after the breaker")
	// It writes what changed and nothing else: Workday's attributes that
	// SCIM has no place for (hireDate, location, …) made all 1,001 differ
	// before targets said what they keep (connectors.AttributeKeeper),
	// and (most likely the second user a run in two wrote here) a report
	// left without its manager by a create race
	// (TestManagerCreatedDuringCreate).
	st := e.ruleStatus(t, "hr-to-app")
	if st.LastResync.Error != "" || st.ConsecutiveFailures != 0 {
		t.Errorf("the resync after the breaker: %+v", st.LastResync)
	}
	var written []string
	for _, o := range st.RecentObjects {
		if o.Run == workflows.RunResync && o.Kind == reconcile.KindUser && !o.At.Before(st.LastResync.Started) {
			written = append(written, o.Action+" "+o.Name)
		}
	}
	t.Logf("the resync after the breaker wrote: %s", strings.Join(written, ", "))
	if u := st.LastResync.Result.Users; u.Updated != 1 || u.Created+u.Deprovisioned != 0 || !slices.Contains(written, "updated user40") {
		t.Errorf("the resync after the breaker wrote users %+v (%s); want user40 updated, nothing else", u, strings.Join(written, ", "))
	}
	u, _ := e.targetState()
	if got := u["user40"].Attributes["title"]; got != "Chief Engineer" {
		t.Errorf("user40's title after the resync: %q", got)
	}
	if len(u) != workdayWorkers+1 {
		t.Errorf("%d users after the resync, want %d", len(u), workdayWorkers+1)
	}
}

// userNamed reads the rule's target user with that userName, one
// request, instead of the whole target (a listing of scimmy's 1,000 users
// takes seconds).
func (e *env) userNamed(name string) connectors.TargetUser {
	e.t.Helper()
	found, err := e.target.LookupUsers(context.Background(), connectors.MatchUserName, name)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, u := range found {
		if u.ExternalID != "" {
			u.Owner, u.ExternalID = reconcile.SplitExternalID(u.ExternalID)
			return u
		}
	}
	return connectors.TargetUser{}
}

// groupNamed reads the target group with that displayName.
func (e *env) groupNamed(name string) connectors.TargetGroup {
	e.t.Helper()
	found, err := e.target.LookupGroups(context.Background(), "displayName", name)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, g := range found {
		return g
	}
	return connectors.TargetGroup{}
}

// hasMember says whether a target group has the member id.
func hasMember(g connectors.TargetGroup, id string) bool {
	return id != "" && slices.Contains(g.MemberIDs, id)
}

// ruleStatus is `starter status NAME -o json` as the worker answers it.
func (e *env) ruleStatus(t *testing.T, rule string) workflows.RuleStatus {
	t.Helper()
	var st workflows.RuleStatus
	e.liveStatus(t, &st, "status", rule, "-o", "json")
	return st
}

// liveStatus runs a status command with -o json and decodes its answer
// into v. A worker runs throughout these tests, so an answer from the
// server's records instead (marked "stale": the worker did not answer
// within the CLI's query wait, as happens on a loaded machine) is asked
// again, for up to a minute, rather than read as the rule's status.
func (e *env) liveStatus(t *testing.T, v any, args ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out := e.starter(false, args...)
		if !staleAnswer(out) {
			if err := json.Unmarshal([]byte(out), v); err != nil {
				t.Fatalf("starter %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("starter %s: no worker answered within a minute:\n%s", strings.Join(args, " "), out)
		}
		time.Sleep(time.Second)
	}
}

// staleAnswer says whether a status command's JSON came from the server's
// records: a rule's or a connection's object, or a listing's first
// element, has a "stale" field.
func staleAnswer(out string) bool {
	var v any
	if json.Unmarshal([]byte(out), &v) != nil {
		return false // the caller's decode says what is wrong
	}
	if l, ok := v.([]any); ok && len(l) > 0 {
		v = l[0]
	}
	m, ok := v.(map[string]any)
	_, stale := m["stale"]
	return ok && stale
}

// waitPolls waits until the rule has polled n more times successfully.
func (e *env) waitPolls(t *testing.T, rule string, n int) {
	t.Helper()
	start := e.ruleStatus(t, rule).LastSuccess
	seen := 0
	last := start
	e.eventually(fmt.Sprintf("%d polls", n), time.Minute, func() error {
		st := e.ruleStatus(t, rule)
		if s := st.LastSuccess; s.After(last) {
			last = s
			seen++
		}
		if seen < n {
			return fmt.Errorf("%d polls since %s; state %s, last poll %s %q, error %q",
				seen, start.Format(time.TimeOnly), st.State, st.LastPoll.Format(time.TimeOnly), st.LastPollResult, st.LastError)
		}
		return nil
	})
}

func TestStaleAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      bool
	}{
		{"rule from a worker", `{"name":"r","state":"idle","lastError":"stale cursor"}`, false},
		{"rule from records", `{"name":"r","state":"idle","stale":{"asOf":"2026-12-06T00:00:00Z","reason":"no worker"}}`, true},
		{"connection from a worker", `{"connection":"app","rules":1,"ruleStatuses":[{"name":"r"}]}`, false},
		{"connection from records", `{"connection":"app","rules":1,"ruleStatuses":[],"stale":{"reason":"no worker"}}`, true},
		{"listing from records", `[{"name":"r","stale":{"reason":"no worker"}}]`, true},
		{"listing from a worker", `[{"name":"r"}]`, false},
		{"empty listing", `[]`, false},
		{"not JSON", `starter: oops`, false},
	} {
		if got := staleAnswer(tc.out); got != tc.want {
			t.Errorf("%s: staleAnswer = %t, want %t", tc.name, got, tc.want)
		}
	}
}
