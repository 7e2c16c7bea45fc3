package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/activities"

	"github.com/idsync/idsync/connectors"
)

// maxConnectionUpdates bounds a connection workflow's history.
const maxConnectionUpdates = 500

// ConnectionWorkflow is the entity that holds one connection's settings:
// Temporal is idsync's system of record. It answers a query with the
// settings, takes updates, and ends when deleted. Settings hold secret
// references only, never secret values (the CLI refuses literals).
func ConnectionWorkflow(ctx workflow.Context, conn connectors.Connection) error {
	logger := workflow.GetLogger(ctx)
	updates := 0
	if err := workflow.SetQueryHandler(ctx, QueryNameConnection, func() (connectors.Connection, error) {
		return conn, nil
	}); err != nil {
		return fmt.Errorf("register connection query: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateNameConnection,
		func(_ workflow.Context, c connectors.Connection) (connectors.Connection, error) {
			conn = c
			updates++
			workflow.SetCurrentDetails(ctx, ConnectionDetails(conn))
			logger.Info("connection updated", "connection", c.Name)
			return conn, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(c connectors.Connection) error {
			if c.Name != conn.Name {
				return fmt.Errorf("cannot rename connection %q to %q", conn.Name, c.Name)
			}
			if c.Type != conn.Type {
				// Rules copied the type when they were created, and it chose
				// their defaults: a new type is a new connection.
				return fmt.Errorf("cannot change the type of connection %q from %s to %s: create a new connection", conn.Name, conn.Type, c.Type)
			}
			return nil
		}}); err != nil {
		return fmt.Errorf("register connection update: %w", err)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		SAKind.ValueSet(KindConnection), SAConnectionType.ValueSet(conn.Type)); err != nil {
		logger.Warn("upsert search attributes", "error", err)
	}
	workflow.SetCurrentDetails(ctx, ConnectionDetails(conn))

	deleted := workflow.GetSignalChannel(ctx, SignalNameDeleteConnection)
	if err := workflow.Await(ctx, func() bool {
		return deleted.Len() > 0 || updates >= maxConnectionUpdates || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
	}); err != nil {
		return err
	}
	if !deleted.ReceiveAsync(nil) {
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
			return err
		}
		return workflow.NewContinueAsNewError(ctx, ConnectionWorkflow, conn)
	}
	logger.Info("connection deleted", "connection", conn.Name)
	return nil
}

// ConnectionTestWorkflow runs a connection test on a worker, where the
// connection's secrets resolve, for `starter connection test`.
func ConnectionTestWorkflow(ctx workflow.Context, name string) (activities.TestResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var res activities.TestResult
	err := workflow.ExecuteActivity(actx, (*activities.Activities).TestConnection, name).Get(ctx, &res)
	return res, err
}
