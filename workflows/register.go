package workflows

import "go.temporal.io/sdk/workflow"

// legacyRuleWorkflowName is the type name rules started before
// RuleWorkflow had its name run under; they take the new one at their
// next continue-as-new.
const legacyRuleWorkflowName = "ProvisioningRuleWorkflow"

// Registry is what workflows are registered with: a worker or a replayer.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Register registers every idsync workflow with r, RuleWorkflow also
// under its legacy name.
func Register(r Registry) {
	for _, w := range []any{RuleWorkflow, FullResyncWorkflow, ConnectionWorkflow, ConnectionTestWorkflow, ConnectionCheckWorkflow, BudgetWorkflow} {
		r.RegisterWorkflowWithOptions(w, workflow.RegisterOptions{})
	}
	r.RegisterWorkflowWithOptions(RuleWorkflow, workflow.RegisterOptions{Name: legacyRuleWorkflowName})
}
