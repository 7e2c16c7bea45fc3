package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

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
	// Unset are the settings keys `connection update` removes.
	Unset []string
	// WebhookSecretGiven: --webhook-secret was given (update: "" clears it).
	WebhookSecretGiven bool
	// SkipSecretCheck: store the connection without asking a worker
	// whether its secret references resolve.
	SkipSecretCheck bool

	// Connection is built from the flags above and validated before the
	// command runs (create; update builds it on the stored one).
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
	base, over, err := o.flagSettings(reg, o.Type)
	if err != nil {
		return connectors.Connection{}, err
	}
	if base == nil {
		base = map[string]json.RawMessage{}
	}
	maps.Copy(base, over)
	if err := o.checkWebhookSecret(); err != nil {
		return connectors.Connection{}, err
	}
	return parseConnection(reg, connectors.Connection{Name: o.Name, Type: o.Type, WebhookSecret: o.WebhookSecret}, base)
}

// parseConnection sets conn's settings and checks them strictly, as a
// connection being created or changed is: a key must be exactly one of
// the type's settings.
func parseConnection(reg connectors.Registry, conn connectors.Connection, settings map[string]json.RawMessage) (connectors.Connection, error) {
	b, err := json.Marshal(settings)
	if err != nil {
		return connectors.Connection{}, fmt.Errorf("encode settings: %w", err)
	}
	if _, err := reg.ParseStrict(conn.Type, b); err != nil {
		return connectors.Connection{}, FlagError{err}
	}
	conn.Settings = b
	return conn, nil
}

func (o ConnectionCreateOptions) checkWebhookSecret() error {
	if o.WebhookSecret != "" {
		if err := connectors.ValidateSecretRef(o.WebhookSecret); err != nil {
			return flagErrorf("--webhook-secret: %v", err)
		}
	}
	return nil
}

// flagSettings reads the settings the flags give: base is the --settings
// or --settings-file object (nil when neither is given), over the --set
// and named flags that go over it. A --set value is typed as JSON (100,
// true) unless the setting takes a string, which it then stays.
func (o ConnectionCreateOptions) flagSettings(reg connectors.Registry, connType string) (base, over map[string]json.RawMessage, err error) {
	if o.Settings != "" && o.SettingsFile != "" {
		return nil, nil, flagErrorf("--settings and --settings-file cannot be used together")
	}
	raw := []byte(o.Settings)
	if o.SettingsFile != "" {
		b, err := os.ReadFile(o.SettingsFile)
		if err != nil {
			return nil, nil, flagErrorf("--settings-file: %w", err)
		}
		raw = b
	}
	if o.Settings != "" || o.SettingsFile != "" {
		if len(bytes.TrimSpace(raw)) == 0 {
			raw = []byte("{}")
		}
		if err := json.Unmarshal(raw, &base); err != nil || base == nil {
			if err == nil {
				err = errors.New("null")
			}
			return nil, nil, flagErrorf("settings must be a JSON object: %v", err)
		}
	}
	over = map[string]json.RawMessage{}
	for _, kv := range o.Set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, nil, flagErrorf("--set %q: want key=value", kv)
		}
		var parsed any
		if err := json.Unmarshal([]byte(v), &parsed); err == nil && !isString(parsed) && !reg.StringSetting(connType, k) {
			over[k] = json.RawMessage(v)
		} else {
			over[k] = jsonString(v)
		}
	}
	for k, v := range o.Named {
		over[k] = jsonString(v)
	}
	return base, over, nil
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

func isString(v any) bool { _, ok := v.(string); return ok }

// settingFlag is a connection setting with a flag of its own, as the
// connection types that have it describe it.
type settingFlag struct {
	name, key string
	types     []string
	help      []string // by type, in the order of types
}

// settingFlags gathers the types' named settings (connectors.Type.Flags),
// one flag per name: a flag that several types share sets the same key.
func settingFlags(reg connectors.Registry) []*settingFlag {
	var out []*settingFlag
	byName := map[string]*settingFlag{}
	for _, t := range reg.Types() {
		for _, fl := range reg[t].Flags {
			sf := byName[fl.Name]
			if sf == nil {
				sf = &settingFlag{name: fl.Name, key: fl.Key}
				byName[fl.Name] = sf
				out = append(out, sf)
			}
			if sf.key != fl.Key {
				panic(fmt.Sprintf("connection types disagree on the key of --%s: %s and %s", fl.Name, sf.key, fl.Key))
			}
			sf.types = append(sf.types, t)
			sf.help = append(sf.help, fl.Help)
		}
	}
	return out
}

// usage says what the flag is for, by the types that say the same.
func (sf *settingFlag) usage() string {
	var helps []string
	byHelp := map[string][]string{}
	for i, h := range sf.help {
		if byHelp[h] == nil {
			helps = append(helps, h)
		}
		byHelp[h] = append(byHelp[h], sf.types[i])
	}
	parts := make([]string, len(helps))
	for i, h := range helps {
		parts[i] = strings.Join(byHelp[h], ", ") + ": " + h
	}
	return strings.Join(parts, "; ")
}

func (sf *settingFlag) has(connType string) bool { return slices.Contains(sf.types, connType) }

// connectionExamples are every type's examples, for --help.
func connectionExamples(reg connectors.Registry) string {
	var b strings.Builder
	for _, t := range reg.Types() {
		for _, ex := range reg[t].Examples {
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString("  " + ex)
		}
	}
	return b.String()
}

// typeSummaries lists the types with what each is, for --help.
func typeSummaries(reg connectors.Registry) string {
	var b strings.Builder
	for _, t := range reg.Types() {
		fmt.Fprintf(&b, "\n  %-11s %s", t, reg[t].Summary)
	}
	return b.String()
}

func connectionFlags(cmd *cobra.Command, o *ConnectionCreateOptions, reg connectors.Registry) {
	flags := settingFlags(reg)
	values := make([]string, len(flags))
	for i, sf := range flags {
		cmd.Flags().StringVar(&values[i], sf.name, "", sf.usage())
	}
	// Collected before RunE; only flags given count.
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		for i, sf := range flags {
			if !c.Flags().Changed(sf.name) {
				continue
			}
			if o.Type != "" && !sf.has(o.Type) {
				return flagErrorf("--%s is not a setting of type %s (it is one of %s); use --set key=value for others", sf.name, o.Type, strings.Join(sf.types, ", "))
			}
			if o.Named == nil {
				o.Named = map[string]string{}
			}
			o.Named[sf.key] = values[i]
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
	cmd.Flags().BoolVar(&o.SkipSecretCheck, "skip-secret-check", false, "store the connection without a worker checking that its secret references resolve")
}

func newConnectionCreateCmd(f *Factory, runF func(*ConnectionCreateOptions) error) *cobra.Command {
	o := &ConnectionCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create NAME --type TYPE [--set key=value]... [--settings-file FILE]",
		Short: "Create a connection",
		Long: `Create a connection to an identity store.

Secrets are never stored: settings that are secrets (passwords, tokens)
take a reference, env:NAME or file:PATH, that the worker resolves. A
running worker resolves them before the connection is stored, and a
reference that does not resolve is refused; with no worker, the
connection is stored and the output says the references were not checked.
Settings keys are the type's, spelt exactly (see the README's
Configuration reference).

Connection types:` + typeSummaries(f.Registry),
		Example: connectionExamples(f.Registry),
		Args:    exactArgs(1, "NAME"),
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
	// Before the secret check, which would only delay this answer; a
	// describe, unlike the connection's query, needs no worker.
	if d, err := c.Temporal.DescribeWorkflowExecution(ctx, workflows.ConnectionWorkflowID(conn.Name), ""); err == nil &&
		d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return fmt.Errorf("connection %q already exists", conn.Name)
	}
	note, err := checkSecrets(ctx, f, c, conn, o.SkipSecretCheck, "created")
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
		StaticSummary:                            workflows.ConnectionSummary(conn),
		StaticDetails:                            workflows.ConnectionDetails(conn),
	}, workflows.ConnectionWorkflow, conn)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return fmt.Errorf("connection %q already exists", conn.Name)
	}
	if err != nil {
		return fmt.Errorf("create connection %q: %w", conn.Name, err)
	}
	fmt.Fprintf(f.Out, "created connection %s (%s)%s\n", conn.Name, conn.Type, note)
	return nil
}

func connectionSearchAttributes(conn connectors.Connection) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		workflows.SAKind.ValueSet(workflows.KindConnection),
		workflows.SAConnectionType.ValueSet(conn.Type),
	)
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
