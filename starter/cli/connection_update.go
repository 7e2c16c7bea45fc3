package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/workflows"
)

func newConnectionUpdateCmd(f *Factory, runF func(*ConnectionCreateOptions) error) *cobra.Command {
	o := &ConnectionCreateOptions{}
	cmd := &cobra.Command{
		Use:   "update NAME [--set key=value]... [--unset key]... [--settings-file FILE]",
		Short: "Change a connection's settings; rules use them from their next activity on",
		Long: `Change a connection's settings; rules use them from their next activity on.

The settings named (--set, the setting flags) change and the others stay;
--unset removes one. --settings or --settings-file replaces them all
(--set and --unset then apply on top). The type cannot change: --type,
when given, must be the connection's.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			o.WebhookSecretGiven = cmd.Flags().Changed("webhook-secret")
			if err := workflows.ValidateName(o.Name); err != nil {
				return FlagError{err}
			}
			if o.Type != "" {
				if _, ok := f.Registry[o.Type]; !ok {
					return flagErrorf("unknown connection type %q (known: %v)", o.Type, f.Registry.Types())
				}
			}
			// Usage mistakes before anything is read from the server.
			if _, _, err := o.flagSettings(f.Registry, o.Type); err != nil {
				return err
			}
			if err := o.checkWebhookSecret(); err != nil {
				return err
			}
			for _, k := range o.Unset {
				if k == "" {
					return flagErrorf("--unset: want a settings key")
				}
			}
			if runF != nil {
				return runF(o)
			}
			return runConnectionUpdate(cmd, f, o)
		},
	}
	connectionFlags(cmd, o, f.Registry)
	cmd.Flags().StringArrayVar(&o.Unset, "unset", nil, "remove one setting, by its key, so that its default applies (repeatable)")
	return cmd
}

// patchConnection applies the options to the stored connection: the
// settings not named stay, --unset removes one, and --settings (or
// --settings-file) replaces all of them first.
func (o ConnectionCreateOptions) patchConnection(reg connectors.Registry, stored connectors.Connection) (connectors.Connection, error) {
	if o.Type != "" && o.Type != stored.Type {
		// Rules copied the type when they were created, and it chose
		// their defaults: a new type is a new connection.
		return connectors.Connection{}, flagErrorf("cannot change the type of connection %q from %s to %s: create a new connection", stored.Name, stored.Type, o.Type)
	}
	base, over, err := o.flagSettings(reg, stored.Type)
	if err != nil {
		return connectors.Connection{}, err
	}
	if base == nil {
		if len(stored.Settings) > 0 {
			if err := json.Unmarshal(stored.Settings, &base); err != nil {
				return connectors.Connection{}, fmt.Errorf("stored settings of connection %q: %w", stored.Name, err)
			}
		}
		if base == nil {
			base = map[string]json.RawMessage{}
		}
	}
	for _, k := range o.Unset {
		if _, ok := base[k]; !ok {
			return connectors.Connection{}, flagErrorf("--unset %s: connection %q has no such setting (it has %s)", k, stored.Name, strings.Join(slices.Sorted(maps.Keys(base)), ", "))
		}
		if _, ok := over[k]; ok {
			return connectors.Connection{}, flagErrorf("--unset %s: the setting is also given a value", k)
		}
		delete(base, k)
	}
	maps.Copy(base, over)
	conn := connectors.Connection{Name: stored.Name, Type: stored.Type, WebhookSecret: stored.WebhookSecret}
	if o.WebhookSecretGiven {
		conn.WebhookSecret = o.WebhookSecret
	}
	return parseConnection(reg, conn, base)
}

func runConnectionUpdate(cmd *cobra.Command, f *Factory, o *ConnectionCreateOptions) error {
	ctx, cancel := f.ctx(cmd)
	defer cancel()
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	stored, err := c.Connection(ctx, o.Name)
	if err != nil {
		return err
	}
	conn, err := o.patchConnection(f.Registry, stored)
	if err != nil {
		return err
	}
	note, err := checkSecrets(ctx, f, c, conn, o.SkipSecretCheck, "updated")
	if err != nil {
		return err
	}
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.ConnectionWorkflowID(conn.Name), UpdateName: workflows.UpdateNameConnection,
		Args: []any{conn}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("update connection %q: %w", conn.Name, err)
	}
	fmt.Fprintf(f.Out, "updated connection %s%s\n", conn.Name, note)
	return nil
}

// secretCheckWait bounds how long create and update wait for a worker to
// resolve the secret references: a worker that polls answers in well
// under a second.
const secretCheckWait = 10 * time.Second

// checkSecrets asks a worker whether conn's secret references resolve
// there (the CLI has neither the worker's environment nor its files). It
// returns a note for the success line, or an error naming each reference
// that does not resolve. With no worker to ask, the note says the
// references were not checked and the connection is stored anyway: a
// worker may be started later with the environment they name.
func checkSecrets(ctx context.Context, f *Factory, c workflows.Client, conn connectors.Connection, skip bool, action string) (string, error) {
	cfg, err := f.Registry.ParseStrict(conn.Type, conn.Settings)
	if err != nil {
		return "", FlagError{err}
	}
	n := len(connectors.SecretRefs(cfg))
	if conn.WebhookSecret != "" {
		n++
	}
	switch {
	case n == 0:
		return "", nil
	case skip:
		return "; secret references not checked (--skip-secret-check)", nil
	}
	notChecked := func(why string) string {
		return fmt.Sprintf("; secret references not checked: %s (`starter connection test %s` checks them from a worker)", why, conn.Name)
	}
	if ok, err := workerPolling(ctx, c); err != nil {
		return notChecked(fmt.Sprintf("cannot tell whether a worker runs: %v", err)), nil
	} else if !ok {
		return notChecked(fmt.Sprintf("no worker is polling task queue %q", workflows.TaskQueue)), nil
	}
	cctx, cancel := context.WithTimeout(ctx, secretCheckWait)
	defer cancel()
	run, err := c.Temporal.ExecuteWorkflow(cctx, client.StartWorkflowOptions{
		ID:                       workflows.ConnectionWorkflowID(conn.Name) + "/check",
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionTimeout: secretCheckWait,
	}, workflows.ConnectionCheckWorkflow, conn)
	if err != nil {
		return notChecked(fmt.Sprintf("start the check: %v", err)), nil
	}
	var res activities.SecretCheck
	if err := run.Get(cctx, &res); err != nil {
		return notChecked(fmt.Sprintf("no worker answered within %s", secretCheckWait)), nil
	}
	return secretCheckResult(conn.Name, action, res)
}

// secretCheckResult turns a worker's check into the success line's note
// or the error that refuses the connection (action: "created", "updated").
func secretCheckResult(name, action string, res activities.SecretCheck) (string, error) {
	if res.Error != "" {
		return "", fmt.Errorf("the worker refuses the settings of connection %q: %s", name, res.Error)
	}
	if failed := res.Failed(); len(failed) > 0 {
		msgs := make([]string, len(failed))
		for i, r := range failed {
			msgs[i] = fmt.Sprintf("%s: %s", r.Setting, r.Error)
		}
		return "", fmt.Errorf("connection %q not %s: %s (fix the reference, or give the worker the variable or file and restart it; --skip-secret-check stores it unchecked)",
			name, action, strings.Join(msgs, "; "))
	}
	refs := make([]string, len(res.Refs))
	for i, r := range res.Refs {
		refs[i] = r.Setting
	}
	return fmt.Sprintf("; secret references resolve on the worker (%s)", strings.Join(refs, ", ")), nil
}

// workerPolling says whether a worker polls idsync's activity task queue.
// A worker that stopped a moment ago may still be listed: the check then
// waits out secretCheckWait.
func workerPolling(ctx context.Context, c workflows.Client) (bool, error) {
	resp, err := c.Temporal.DescribeTaskQueue(ctx, workflows.TaskQueue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
	if err != nil {
		return false, fmt.Errorf("describe task queue %s: %w", workflows.TaskQueue, err)
	}
	return len(resp.GetPollers()) > 0, nil
}
