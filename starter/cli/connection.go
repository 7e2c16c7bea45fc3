package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/workflows"
)

func newConnectionCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "connection",
		Aliases: []string{"connections", "conn"},
		Short:   "Create, list, show, test and delete connections",
	}
	groupCmd(cmd)
	cmd.AddCommand(newConnectionCreateCmd(f, nil), newConnectionUpdateCmd(f, nil), newConnectionListCmd(f),
		newConnectionShowCmd(f), newConnectionTestCmd(f), newConnectionDeleteCmd(f))
	return cmd
}

// ConnectionCreateOptions are the inputs of `connection create` and
// `connection update`.
type ConnectionCreateOptions struct {
	Name          string
	Type          string
	Settings      string   // JSON object
	SettingsFile  string   // path to a JSON object
	Set           []string // key=value, value parsed as JSON when it is JSON
	WebhookSecret string
	// Named holds the named setting flags given (--base-url, --token, …),
	// by settings key; they win over --settings and --set.
	Named map[string]string

	// Connection is built from the flags above and validated before the
	// command runs.
	Connection connectors.Connection
}

// buildConnection turns the options into a validated connection.
func (o ConnectionCreateOptions) buildConnection(reg connectors.Registry) (connectors.Connection, error) {
	if err := workflows.ValidateName(o.Name); err != nil {
		return connectors.Connection{}, FlagError{err}
	}
	if o.Type == "" {
		return connectors.Connection{}, flagErrorf("--type is required (one of %s)", strings.Join(reg.Types(), ", "))
	}
	settings := map[string]any{}
	if o.Settings != "" && o.SettingsFile != "" {
		return connectors.Connection{}, flagErrorf("--settings and --settings-file cannot be used together")
	}
	raw := []byte(o.Settings)
	if o.SettingsFile != "" {
		b, err := os.ReadFile(o.SettingsFile)
		if err != nil {
			return connectors.Connection{}, flagErrorf("--settings-file: %w", err)
		}
		raw = b
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &settings); err != nil {
			return connectors.Connection{}, flagErrorf("settings must be a JSON object: %v", err)
		}
	}
	for _, kv := range o.Set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return connectors.Connection{}, flagErrorf("--set %q: want key=value", kv)
		}
		var parsed any
		if err := json.Unmarshal([]byte(v), &parsed); err == nil && !isString(parsed) {
			settings[k] = parsed
		} else {
			settings[k] = v
		}
	}
	for k, v := range o.Named {
		settings[k] = v
	}
	if o.WebhookSecret != "" {
		if err := connectors.ValidateSecretRef(o.WebhookSecret); err != nil {
			return connectors.Connection{}, flagErrorf("--webhook-secret: %v", err)
		}
	}
	b, err := json.Marshal(settings)
	if err != nil {
		return connectors.Connection{}, err
	}
	if _, err := reg.Parse(o.Type, b); err != nil {
		return connectors.Connection{}, FlagError{err}
	}
	return connectors.Connection{Name: o.Name, Type: o.Type, Settings: b, WebhookSecret: o.WebhookSecret}, nil
}

func isString(v any) bool { _, ok := v.(string); return ok }

// namedSettings are the settings common enough to have a flag of their
// own: flag, settings key, and help. Any other setting goes by --set.
var namedSettings = []struct{ flag, key, help string }{
	{"url", "url", "ldap: ldap:// or ldaps:// URL of the directory"},
	{"base-dn", "baseDn", "ldap: the naming context to read"},
	{"bind-dn", "bindDn", "ldap: the service account's DN"},
	{"bind-password", "bindPassword", "ldap: secret reference (env:NAME or file:PATH) to the bind password"},
	{"base-url", "baseUrl", "scim, aquera (required); slack, zoom, github-emu (to reach a proxy): the SCIM base URL"},
	{"token", "token", "scim, slack, github-emu, aquera: secret reference to the bearer token"},
	{"enterprise", "enterprise", "github-emu: the enterprise's slug"},
	{"account-id", "accountId", "zoom: the Server-to-Server OAuth app's account id"},
	{"client-id", "clientId", "zoom, scim with --set auth=oauth2: the OAuth client id"},
	{"client-secret", "clientSecret", "zoom, scim with --set auth=oauth2: secret reference to the OAuth client secret"},
	{"deprovision", "deprovision", "scim types: disable (default) or delete"},
}

func connectionFlags(cmd *cobra.Command, o *ConnectionCreateOptions, reg connectors.Registry) {
	values := make([]string, len(namedSettings))
	for i, n := range namedSettings {
		cmd.Flags().StringVar(&values[i], n.flag, "", n.help)
	}
	// Collected before RunE; only flags given count.
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		for i, n := range namedSettings {
			if c.Flags().Changed(n.flag) {
				if o.Named == nil {
					o.Named = map[string]string{}
				}
				o.Named[n.key] = values[i]
			}
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
	cmd.Flags().StringVar(&o.Type, "type", "", "connection type: "+strings.Join(reg.Types(), ", "))
	cmd.Flags().StringVar(&o.Settings, "settings", "", "settings as a JSON object")
	cmd.Flags().StringVar(&o.SettingsFile, "settings-file", "", "read settings from a JSON file")
	cmd.Flags().StringArrayVar(&o.Set, "set", nil, "set one setting, key=value (repeatable; JSON values such as 100 or true are typed)")
	cmd.Flags().StringVar(&o.WebhookSecret, "webhook-secret", "", "secret reference (env:NAME or file:PATH) of the key that signs change webhooks")
}

func newConnectionCreateCmd(f *Factory, runF func(*ConnectionCreateOptions) error) *cobra.Command {
	o := &ConnectionCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create NAME --type TYPE [--set key=value]... [--settings-file FILE]",
		Short: "Create a connection",
		Long: `Create a connection to an identity store.

Secrets are never stored: settings that are secrets (passwords, tokens)
take a reference, env:NAME or file:PATH, that the worker resolves.`,
		Example: `  starter connection create corp-ldap --type ldap --url ldap://127.0.0.1:3389 \
    --base-dn dc=example,dc=org --bind-dn cn=admin,dc=example,dc=org --bind-password env:LDAP_PASSWORD \
    --webhook-secret env:CORP_LDAP_WEBHOOK_KEY
  starter connection create app --type scim --base-url http://127.0.0.1:8999/scim/v2 --token env:SCIM_TOKEN
  starter connection create chat --type slack --token env:SLACK_SCIM_TOKEN
  starter connection create meet --type zoom --account-id ACCOUNT --client-id CLIENT --client-secret env:ZOOM_SECRET
  starter connection create gh --type github-emu --enterprise octo --token env:GITHUB_SCIM_TOKEN
  starter connection create hr-apps --type aquera --base-url https://TENANT.example/scim/v2 --token env:AQUERA_TOKEN
  starter connection create app2 --type scim --base-url https://app.example.com/scim/v2 --set auth=oauth2 \
    --set tokenUrl=https://app.example.com/oauth/token --client-id idsync --client-secret env:APP_SECRET`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			conn, err := o.buildConnection(f.Registry)
			if err != nil {
				return err
			}
			o.Connection = conn
			if runF != nil {
				return runF(o)
			}
			return runConnectionCreate(cmd, f, o)
		},
	}
	connectionFlags(cmd, o, f.Registry)
	return cmd
}

func runConnectionCreate(cmd *cobra.Command, f *Factory, o *ConnectionCreateOptions) error {
	conn := o.Connection
	ctx, cancel := f.ctx(cmd)
	defer cancel()
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	_, err = c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       workflows.ConnectionWorkflowID(conn.Name),
		TaskQueue:                                workflows.TaskQueue,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes:                    connectionSearchAttributes(conn),
	}, workflows.ConnectionWorkflow, conn)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return fmt.Errorf("connection %q already exists", conn.Name)
	}
	if err != nil {
		return fmt.Errorf("create connection %q: %w", conn.Name, err)
	}
	fmt.Fprintf(f.Out, "created connection %s (%s)\n", conn.Name, conn.Type)
	return nil
}

func newConnectionUpdateCmd(f *Factory, runF func(*ConnectionCreateOptions) error) *cobra.Command {
	o := &ConnectionCreateOptions{}
	cmd := &cobra.Command{
		Use:   "update NAME --type TYPE [--set key=value]... [--settings-file FILE]",
		Short: "Replace a connection's settings; rules use them from their next activity on",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			conn, err := o.buildConnection(f.Registry)
			if err != nil {
				return err
			}
			o.Connection = conn
			if runF != nil {
				return runF(o)
			}
			ctx, cancel := f.ctx(cmd)
			defer cancel()
			c, err := f.Client(ctx)
			if err != nil {
				return err
			}
			if _, err := c.Connection(ctx, conn.Name); err != nil {
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
			fmt.Fprintf(f.Out, "updated connection %s\n", conn.Name)
			return nil
		},
	}
	connectionFlags(cmd, o, f.Registry)
	return cmd
}

func connectionSearchAttributes(conn connectors.Connection) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		workflows.SAKind.ValueSet(workflows.KindConnection),
		workflows.SAConnectionType.ValueSet(conn.Type),
	)
}

func newConnectionListCmd(f *Factory) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List connections",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx, cancel := f.ctx(cmd)
			defer cancel()
			c, err := f.Client(ctx)
			if err != nil {
				return err
			}
			names, err := c.Connections(ctx)
			if err != nil {
				return err
			}
			conns := make([]connectors.Connection, 0, len(names))
			for _, n := range names {
				conn, err := c.Connection(ctx, n)
				if err != nil {
					continue // deleted meanwhile
				}
				conns = append(conns, conn)
			}
			if output == "json" {
				return printJSON(f.Out, conns)
			}
			tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tWEBHOOK")
			for _, conn := range conns {
				hook := "off"
				if conn.WebhookSecret != "" {
					hook = "on"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", conn.Name, conn.Type, hook)
			}
			return tw.Flush()
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

func newConnectionShowCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a connection's settings (secret references only, never values)",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := f.ctx(cmd)
			defer cancel()
			c, err := f.Client(ctx)
			if err != nil {
				return err
			}
			conn, err := c.Connection(ctx, args[0])
			if err != nil {
				return err
			}
			return printJSON(f.Out, conn)
		},
	}
	return cmd
}

func newConnectionTestCmd(f *Factory) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "test NAME",
		Short: "Test a connection from a worker: network, TLS, credentials, permissions",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx, cancel := f.ctx(cmd)
			defer cancel()
			c, err := f.Client(ctx)
			if err != nil {
				return err
			}
			if _, err := c.Connection(ctx, args[0]); err != nil {
				return err
			}
			run, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				TaskQueue: workflows.TaskQueue, ID: workflows.ConnectionWorkflowID(args[0]) + "/test",
				WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
				WorkflowExecutionTimeout: f.Timeout,
			}, workflows.ConnectionTestWorkflow, args[0])
			if err != nil {
				return fmt.Errorf("start connection test: %w", err)
			}
			var res activities.TestResult
			if err := run.Get(ctx, &res); err != nil {
				return fmt.Errorf("connection test did not finish (is a worker running?): %w", err)
			}
			if output == "json" {
				if err := printJSON(f.Out, res); err != nil {
					return err
				}
			} else if res.OK {
				fmt.Fprintf(f.Out, "connection %s: ok (source: %t, target: %t)\n", args[0], res.Source, res.Target)
				for _, n := range res.Notes {
					fmt.Fprintf(f.Out, "  %s\n", n)
				}
			}
			if !res.OK {
				return fmt.Errorf("connection %s failed at %s: %s", args[0], res.Stage, res.Error)
			}
			return nil
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

func newConnectionDeleteCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a connection that no rule uses",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := f.ctx(cmd)
			defer cancel()
			c, err := f.Client(ctx)
			if err != nil {
				return err
			}
			if _, err := c.Connection(ctx, args[0]); err != nil {
				return err
			}
			rules, err := c.Rules(ctx, args[0], "")
			if err != nil {
				return err
			}
			if len(rules) > 0 {
				return fmt.Errorf("connection %q is used by rules %s: delete them first", args[0], strings.Join(rules, ", "))
			}
			if err := c.Temporal.SignalWorkflow(ctx, workflows.ConnectionWorkflowID(args[0]), "", workflows.SignalNameDeleteConnection, nil); err != nil {
				return fmt.Errorf("delete connection %q: %w", args[0], err)
			}
			if err := c.Temporal.GetWorkflow(ctx, workflows.ConnectionWorkflowID(args[0]), "").Get(ctx, nil); err != nil {
				return fmt.Errorf("delete connection %q: %w", args[0], err)
			}
			fmt.Fprintf(f.Out, "deleted connection %s\n", args[0])
			return nil
		},
	}
	return cmd
}
