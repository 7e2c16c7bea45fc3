package workflows

import (
	"context"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/connectors"
)

// TestConnectionCheckWorkflow: the check runs CheckSecrets once and
// returns what it found.
func TestConnectionCheckWorkflow(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	calls := 0
	env.RegisterActivityWithOptions(func(_ context.Context, c connectors.Connection) (activities.SecretCheck, error) {
		calls++
		return activities.SecretCheck{Refs: []activities.SecretStatus{{SecretRef: connectors.SecretRef{Setting: "token", Ref: "env:T"}, Error: c.Name}}}, nil
	}, activity.RegisterOptions{Name: "CheckSecrets"})
	env.ExecuteWorkflow(ConnectionCheckWorkflow, connectors.Connection{Name: "app", Type: "scim"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res activities.SecretCheck
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || len(res.Failed()) != 1 || res.Refs[0].Error != "app" {
		t.Errorf("calls %d, result %+v", calls, res)
	}
}
