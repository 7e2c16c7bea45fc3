package workflows

import (
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/idsync/idsync/connectors/httpx"
)

// TestBudgetLeases: the budget grants what its buckets hold, refills them
// in workflow time, keeps writes apart, says when to come back, and takes
// a changed limit.
func TestBudgetLeases(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	perMinute := httpx.Limit{Requests: 60, Writes: 30, Per: time.Minute, Burst: 6} // 1/s, writes 0.5/s
	type step struct {
		at   time.Duration
		req  LeaseRequest
		want Lease
	}
	steps := []step{
		{0, LeaseRequest{Limit: perMinute, Want: 10}, Lease{Granted: 6}}, // the whole burst
		{time.Millisecond, LeaseRequest{Limit: perMinute, Want: 1}, Lease{RetryAfter: 999 * time.Millisecond}},
		{3 * time.Second, LeaseRequest{Limit: perMinute, Want: 10}, Lease{Granted: 3}}, // 3 s at 1/s
		{10 * time.Second, LeaseRequest{Limit: perMinute, Write: true, Want: 10}, Lease{Granted: 6}},
		{11 * time.Second, LeaseRequest{Limit: perMinute, Write: true, Want: 10}, Lease{Granted: 0, RetryAfter: time.Second}},
		{15 * time.Second, LeaseRequest{Limit: perMinute, Write: true, Want: 10}, Lease{Granted: 2}}, // writes: 0.5/s
		{16 * time.Second, LeaseRequest{Limit: httpx.Limit{Requests: 600, Per: time.Minute, Burst: 50}, Want: 100}, Lease{Granted: 50}},
	}
	got := make([]*Lease, len(steps))
	for i, st := range steps {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(UpdateNameLease, "", &testsuite.TestUpdateCallback{
				OnAccept: func() {},
				OnReject: func(err error) { t.Errorf("step %d rejected: %v", i, err) },
				OnComplete: func(v any, err error) {
					if err != nil {
						t.Errorf("step %d: %v", i, err)
						return
					}
					l := v.(Lease)
					got[i] = &l
				},
			}, st.req)
		}, st.at)
	}
	var rejected error
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateNameLease, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { rejected = err }, OnComplete: func(any, error) {},
		}, LeaseRequest{Limit: perMinute, Want: 0})
	}, 20*time.Second)
	env.ExecuteWorkflow(BudgetWorkflow, BudgetState{Connection: "app"})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("the budget did not end cleanly when idle: %v", env.GetWorkflowError())
	}
	for i, st := range steps {
		if got[i] == nil || *got[i] != st.want {
			t.Errorf("step %d at %s: lease %+v, want %+v", i, st.at, got[i], st.want)
		}
	}
	if rejected == nil {
		t.Error("a lease of 0 tokens was accepted")
	}
}
