package workflows_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/idsync/idsync/connectors/httpx"
	"github.com/idsync/idsync/internal/devserver"
	"github.com/idsync/idsync/workflows"
)

// TestBudgetSharedAcrossWorkers: two workers' budgets for one target,
// leasing through a real dev server, together stay under the limit. The
// bound is a lower bound on time, which a busy machine cannot break.
func TestBudgetSharedAcrossWorkers(t *testing.T) {
	srv := devserver.Start(t)
	c := srv.Client()
	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflow(workflows.BudgetWorkflow)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	limit := httpx.Limit{Requests: 20, Per: time.Second, Burst: 4}
	workerA := &httpx.Budgets{Leaser: workflows.BudgetLeaser{Temporal: c}}
	workerB := &httpx.Budgets{Leaser: workflows.BudgetLeaser{Temporal: c}}
	a, b := workerA.For("app", limit), workerB.For("app", limit)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 40 // 20 per worker
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			budget := a
			if i%2 == 1 {
				budget = b
			}
			if err := budget.Wait(ctx, http.MethodGet); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// 40 tokens at 20/s with a burst of 4 need at least 1.8 s; each worker
	// alone (had they not shared) would have been done in under 1 s.
	if elapsed := time.Since(start); elapsed < 1800*time.Millisecond {
		t.Errorf("40 requests took %s: the two workers did not share one budget of 20/s", elapsed)
	}
	desc, err := c.DescribeWorkflowExecution(ctx, workflows.BudgetWorkflowID("app"), "")
	if err != nil {
		t.Fatalf("no budget workflow: %v", err)
	}
	if desc.WorkflowExecutionInfo.Status.String() != "Running" {
		t.Errorf("budget workflow %s", desc.WorkflowExecutionInfo.Status)
	}
}
