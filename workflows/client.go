package workflows

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/httpx"
	"github.com/idsync/idsync/reconcile"
)

// This file is client-side: the worker, the webhook and the CLI use it to
// read and drive the workflows. Nothing here runs inside a workflow.

// ErrNotFound is returned (wrapped) for a connection or rule that does not
// exist or was deleted. It is connectors.ErrNotFound, so that activities,
// which do not import this package, can tell a missing connection (a
// configuration error) from a lookup that failed (worth a retry).
var ErrNotFound = connectors.ErrNotFound

// Client reads and drives connections and rules through Temporal.
type Client struct {
	Temporal client.Client
}

// query runs a query against a running workflow only.
func (c Client) query(ctx context.Context, workflowID, query string, out any) error {
	var (
		resp *client.QueryWorkflowWithOptionsResponse
		err  error
	)
	// A query sent while the worker that had the workflow cached stops
	// (a restart) can come back cancelled by the server though the caller
	// is not: ask again, a new worker answers from the history.
	for attempt := 1; ; attempt++ {
		resp, err = c.Temporal.QueryWorkflowWithOptions(ctx, &client.QueryWorkflowWithOptionsRequest{
			WorkflowID:           workflowID,
			QueryType:            query,
			QueryRejectCondition: enumspb.QUERY_REJECT_CONDITION_NOT_OPEN,
		})
		var canceled *serviceerror.Canceled
		if !errors.As(err, &canceled) || ctx.Err() != nil || attempt == maxQueryAttempts {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
		}
	}
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return ErrNotFound
	case err != nil:
		return err
	case resp.QueryRejected != nil:
		return ErrNotFound // closed: deleted
	}
	return resp.QueryResult.Get(out)
}

// maxQueryAttempts bounds the queries sent again after a server-side
// cancellation.
const maxQueryAttempts = 4

// Connection reads a connection's settings.
func (c Client) Connection(ctx context.Context, name string) (connectors.Connection, error) {
	var conn connectors.Connection
	if err := c.query(ctx, ConnectionWorkflowID(name), QueryNameConnection, &conn); err != nil {
		return conn, fmt.Errorf("connection %q: %w", name, err)
	}
	return conn, nil
}

// RuleStatus reads a rule's status.
func (c Client) RuleStatus(ctx context.Context, name string) (RuleStatus, error) {
	var st RuleStatus
	if err := c.query(ctx, RuleWorkflowID(name), QueryNameStatus, &st); err != nil {
		return st, fmt.Errorf("rule %q: %w", name, err)
	}
	return st, nil
}

// ManagedSet reads a rule's record of the users it manages, for
// activities (activities.RecordReader).
func (c Client) ManagedSet(ctx context.Context, rule string) (reconcile.ManagedSet, error) {
	var set reconcile.ManagedSet
	if err := c.query(ctx, RuleWorkflowID(rule), QueryNameManagedSet, &set); err != nil {
		return nil, fmt.Errorf("rule %q: %w", rule, err)
	}
	return set, nil
}

// List returns the IDs of running workflows that match a visibility
// query, sorted.
func (c Client) List(ctx context.Context, query string) ([]string, error) {
	var ids []string
	var token []byte
	for {
		resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         query + ` AND ExecutionStatus = "Running"`,
			NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list workflows: %w", err)
		}
		for _, e := range resp.Executions {
			ids = append(ids, e.Execution.WorkflowId)
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			break
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Rules lists running rules; with a connection name, only the rules that
// use it as source ("source"), target ("target") or either ("").
func (c Client) Rules(ctx context.Context, connection, role string) ([]string, error) {
	q := fmt.Sprintf(`%s = %q`, SAKind.GetName(), KindRule)
	if connection != "" {
		switch role {
		case "source":
			q += fmt.Sprintf(` AND %s = %q`, SASourceConnection.GetName(), connection)
		case "target":
			q += fmt.Sprintf(` AND %s = %q`, SATargetConnection.GetName(), connection)
		default:
			q += fmt.Sprintf(` AND (%s = %q OR %s = %q)`, SASourceConnection.GetName(), connection,
				SATargetConnection.GetName(), connection)
		}
	}
	ids, err := c.List(ctx, q)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		names = append(names, id[len(RuleIDPrefix):])
	}
	return names, nil
}

// Connections lists the names of existing connections.
func (c Client) Connections(ctx context.Context) ([]string, error) {
	ids, err := c.List(ctx, fmt.Sprintf(`%s = %q`, SAKind.GetName(), KindConnection))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		names = append(names, id[len(ConnectionIDPrefix):])
	}
	return names, nil
}

// PollNow asks a rule to poll at once.
func (c Client) PollNow(ctx context.Context, rule string) error {
	err := c.Temporal.SignalWorkflow(ctx, RuleWorkflowID(rule), "", SignalNamePollNow, nil)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("rule %q: %w", rule, ErrNotFound)
	}
	return err
}

// SignalChanges sends a batch of change events to a rule.
func (c Client) SignalChanges(ctx context.Context, rule string, batch ChangeBatch) error {
	err := c.Temporal.SignalWorkflow(ctx, RuleWorkflowID(rule), "", SignalNameChanges, batch)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("rule %q: %w", rule, ErrNotFound)
	}
	return err
}

// leaseTimeout bounds one lease request.
const leaseTimeout = 10 * time.Second

// BudgetLeaser leases request tokens from the targets' BudgetWorkflows,
// starting one when it is not running, so that every worker spends from
// the same budget (see connectors/httpx).
type BudgetLeaser struct {
	Temporal client.Client
}

// Lease implements httpx.Leaser.
func (l BudgetLeaser) Lease(ctx context.Context, connection string, limit httpx.Limit, write bool, want int) (int, time.Duration, error) {
	// A lease that does not come quickly is not worth waiting for: the
	// budget falls back to this worker's own limiter.
	ctx, cancel := context.WithTimeout(ctx, leaseTimeout)
	defer cancel()
	id := BudgetWorkflowID(connection)
	op := l.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    temporal.NewSearchAttributes(SAKind.ValueSet(KindBudget), SATargetConnection.ValueSet(connection)),
	}, BudgetWorkflow, BudgetState{Connection: connection})
	h, err := l.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			WorkflowID: id, UpdateName: UpdateNameLease, WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{LeaseRequest{Limit: limit, Write: write, Want: want}},
		},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("lease from the budget of %s: %w", connection, err)
	}
	var lease Lease
	if err := h.Get(ctx, &lease); err != nil {
		return 0, 0, fmt.Errorf("lease from the budget of %s: %w", connection, err)
	}
	return lease.Granted, lease.RetryAfter, nil
}
