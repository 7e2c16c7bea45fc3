package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/connectors"
)

// ConnectionCheckWorkflow resolves a connection's secret references on a
// worker, where the environment and files they name are, before
// `starter connection create` or `update` stores it. Its history holds the
// references and whether each resolved, never a value.
func ConnectionCheckWorkflow(ctx workflow.Context, conn connectors.Connection) (activities.SecretCheck, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		// The caller waits; it reports a worker that does not answer.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var res activities.SecretCheck
	err := workflow.ExecuteActivity(actx, (*activities.Activities).CheckSecrets, conn).Get(ctx, &res)
	return res, err
}
