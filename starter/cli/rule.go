package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/idsync/idsync/workflows"
)

func newRuleCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rule",
		Aliases: []string{"rules"},
		Short:   "Create, list, show, change, pause, resume and delete provisioning rules",
	}
	groupCmd(cmd)
	cmd.AddCommand(newRuleCreateCmd(f, nil), newRuleListCmd(f), newRuleShowCmd(f), newRuleUpdateCmd(f, nil),
		newRulePauseCmd(f, workflows.UpdateNamePause, "pause", "Stop polling and applying changes; changes keep being received"),
		newRuleResumeCmd(f),
		newRuleDecisionCmd(f, workflows.UpdateNameApprove, "approve",
			"Apply the deprovisions the guard held back",
			"The rule deprovisions what it held: held polls' and real-time deletions at once, a full resync's\n"+
				"set by one more full resync, which deprovisions exactly that set (if the set changed meanwhile,\n"+
				"it is held again). See what is held with `starter status NAME`."),
		newRuleDecisionCmd(f, workflows.UpdateNameReject, "reject",
			"Drop the deprovisions the guard held back",
			"The held objects stay as they are: held deletions are forgotten, and a full resync's held set\n"+
				"is kept from now on (counted as kept) until it changes."),
		newRuleDeleteCmd(f))
	return cmd
}

// RuleCreateOptions are the inputs of `rule create`.
type RuleCreateOptions struct {
	Config workflows.RuleConfig
}

// ruleTuningFlags binds the flags of the settings a rule can change to
// c's fields; each flag names its RuleConfig key (annotation settingKey),
// so that `rule update` sends exactly the settings given.
func ruleTuningFlags(cmd *cobra.Command, c *workflows.RuleConfig) {
	fs := cmd.Flags()
	fs.DurationVar(&c.PollInterval, "poll-interval", 0, "polling interval (default: the source connection type's, such as ldap 2–3m)")
	fs.IntVar(&c.FailureThreshold, "failure-threshold", 0, "consecutive failed polls that open the circuit breaker (default 5)")
	fs.DurationVar(&c.BreakerReset, "breaker-reset", 0, "how long the breaker stays open before a full resync (default: the source connection type's, such as ldap 30m)")
	fs.DurationVar(&c.BatchWindow, "batch-window", 0, "how long real-time changes wait to be batched (default 0: at once; bursts batch themselves)")
	fs.StringSliceVar(&c.MatchAttributes, "match", nil, "ranked attributes that adopt existing target users (default userName,email)")
	fs.Float64Var(&c.MaxDeprovisionFraction, "max-deprovision", 0, "largest share of managed objects one full resync, or polls and real-time changes within an hour, may deprovision (default 0.2); more waits for approval")
	fs.IntVar(&c.MaxDeprovisionPerHour, "max-deprovision-per-hour", 0, "users and groups polls and real-time changes may deprovision within an hour, instead of the --max-deprovision share; more waits for approval")
	fs.IntVar(&c.Concurrency, "concurrency", 0, "writes in flight to the target (default 4)")
	fs.StringVar(&c.Deprovision, "deprovision", "", `what happens to managed users that leave the source: disable, delete or none (keep them); default: the target connection's setting`)
	fs.StringVar(&c.OnMissing, "on-missing", "", "when a user the rule manages was deleted in the target: recreate (default) or report (by name, from the rule's record of managed users)")
	fs.Var((*resyncInterval)(&c.ResyncInterval), "resync-interval",
		"how often a scheduled full resync repairs drift in the target, or off (default 24h)")
	for flag, key := range map[string]string{
		"poll-interval": "pollInterval", "failure-threshold": "failureThreshold", "breaker-reset": "breakerReset",
		"batch-window": "batchWindow", "match": "matchAttributes", "max-deprovision": "maxDeprovisionFraction",
		"max-deprovision-per-hour": "maxDeprovisionPerHour", "concurrency": "concurrency", "deprovision": "deprovision",
		"on-missing": "onMissing", "resync-interval": "resyncInterval",
	} {
		_ = fs.SetAnnotation(flag, settingKey, []string{key})
	}
}

// settingKey annotates a rule flag with its RuleConfig JSON key.
const settingKey = "idsync/setting"

// patchOf is the patch of the setting flags given, with their values as
// c holds them after parsing.
func patchOf(fs *pflag.FlagSet, c workflows.RuleConfig) (workflows.ConfigPatch, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	p := workflows.ConfigPatch{}
	var ferr error
	fs.Visit(func(fl *pflag.Flag) {
		key := fl.Annotations[settingKey]
		if len(key) == 0 {
			return
		}
		v, ok := all[key[0]]
		if !ok {
			// Left out of the JSON as empty: set it empty, which restores
			// the default.
			v, ok = zeroJSON[fl.Value.Type()]
			if !ok {
				ferr = fmt.Errorf("--%s: no empty value for a %s", fl.Name, fl.Value.Type())
			}
		}
		p[key[0]] = v
	})
	return p, ferr
}

// zeroJSON is the empty value of each flag type, as RuleConfig encodes it.
var zeroJSON = map[string]json.RawMessage{
	"duration": json.RawMessage("0"), "duration|off": json.RawMessage("0"), "int": json.RawMessage("0"),
	"float64": json.RawMessage("0"), "string": json.RawMessage(`""`), "stringSlice": json.RawMessage("[]"),
}

// resyncInterval is the --resync-interval flag: a duration, or "off".
type resyncInterval time.Duration

func (r *resyncInterval) String() string {
	switch d := time.Duration(*r); {
	case d < 0:
		return "off"
	case d == 0:
		return ""
	default:
		return d.String()
	}
}

func (r *resyncInterval) Set(s string) error {
	if s == "off" || s == "0" {
		*r = resyncInterval(-1)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("want a duration such as 24h, or off")
	}
	*r = resyncInterval(d)
	return nil
}

func (r *resyncInterval) Type() string { return "duration|off" }

func newRuleCreateCmd(f *Factory, runF func(*RuleCreateOptions) error) *cobra.Command {
	o := &RuleCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create NAME --source CONNECTION --target CONNECTION",
		Short: "Create a provisioning rule; it starts with a full resync, then polls",
		Example: `  starter rule create corp-to-app --source corp-ldap --target app
  starter rule create hr --source workday --target app --poll-interval 10m --max-deprovision 0.05`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Config.Name = args[0]
			if err := o.Config.Validate(); err != nil {
				return FlagError{err}
			}
			if runF != nil {
				return runF(o)
			}
			ctx, cancel := f.ctx(cmd)
			defer cancel()
			c, err := f.Client(ctx)
			if err != nil {
				return err
			}
			src, err := c.Connection(ctx, o.Config.SourceConnection)
			if err != nil {
				return fmt.Errorf("--source: %w", err)
			}
			tgt, err := c.Connection(ctx, o.Config.TargetConnection)
			if err != nil {
				return fmt.Errorf("--target: %w", err)
			}
			o.Config.SourceType, o.Config.TargetType = src.Type, tgt.Type
			o.Config.Cadence = f.Registry.Cadence(src.Type)
			cfg := o.Config
			_, err = c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:                                       workflows.RuleWorkflowID(cfg.Name),
				TaskQueue:                                workflows.TaskQueue,
				WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
				WorkflowExecutionErrorWhenAlreadyStarted: true,
				WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
				// Set at start so that the rule is listed and filterable at once.
				TypedSearchAttributes: temporal.NewSearchAttributes(
					workflows.SAKind.ValueSet(workflows.KindRule),
					workflows.SASyncState.ValueSet(workflows.StateIdle),
					workflows.SASourceConnection.ValueSet(cfg.SourceConnection),
					workflows.SATargetConnection.ValueSet(cfg.TargetConnection),
					workflows.SASourceType.ValueSet(cfg.SourceType),
					workflows.SATargetType.ValueSet(cfg.TargetType),
				),
				StaticSummary: workflows.RuleSummary(cfg),
				StaticDetails: workflows.RuleDetails(cfg),
			}, workflows.RuleWorkflow, workflows.RuleState{Config: cfg})
			var started *serviceerror.WorkflowExecutionAlreadyStarted
			if errors.As(err, &started) {
				return fmt.Errorf("rule %q already exists", cfg.Name)
			}
			if err != nil {
				return fmt.Errorf("create rule %q: %w", cfg.Name, err)
			}
			fmt.Fprintf(f.Out, "created rule %s: %s (%s) → %s (%s), polling every %s\n", cfg.Name,
				cfg.SourceConnection, cfg.SourceType, cfg.TargetConnection, cfg.TargetType, cfg.EffectivePollInterval())
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Config.SourceConnection, "source", "", "source connection (required)")
	cmd.Flags().StringVar(&o.Config.TargetConnection, "target", "", "target connection (required)")
	cmd.Flags().BoolVar(&o.Config.SkipInitialSync, "skip-initial-sync", false, "start polling from now, without the initial full resync")
	ruleTuningFlags(cmd, &o.Config)
	return cmd
}

// RuleUpdateOptions are the inputs of `rule update`.
type RuleUpdateOptions struct {
	Name  string
	Patch workflows.ConfigPatch
}

func newRuleUpdateCmd(f *Factory, runF func(*RuleUpdateOptions) error) *cobra.Command {
	o := &RuleUpdateOptions{}
	var c workflows.RuleConfig
	cmd := &cobra.Command{
		Use:   "update NAME [flags]",
		Short: "Change a rule's settings without restarting it",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			p, err := patchOf(cmd.Flags(), c)
			if err != nil {
				return err
			}
			o.Patch = p
			// Only the setting flags count, not global ones such as --timeout.
			if len(o.Patch) == 0 {
				return flagErrorf("nothing to change: give at least one setting flag (see --help)")
			}
			if runF != nil {
				return runF(o)
			}
			var st workflows.RuleStatus
			if err := f.updateRule(cmd, o.Name, workflows.UpdateNameConfig, o.Patch, &st); err != nil {
				return err
			}
			fmt.Fprintf(f.Out, "updated rule %s: polling every %s\n", o.Name, st.PollInterval)
			if o.Patch.Has("breakerReset") && !st.BreakerOpenUntil.IsZero() {
				fmt.Fprintf(f.Out, "the open circuit breaker now closes at %s\n", fmtWhen(st.BreakerOpenUntil))
			}
			return nil
		},
	}
	ruleTuningFlags(cmd, &c)
	return cmd
}

// updateRule sends an update to a rule and waits for its answer.
func (f *Factory) updateRule(cmd *cobra.Command, name, update string, arg, out any) error {
	ctx, cancel := f.ctx(cmd)
	defer cancel()
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	if _, err := c.RuleStatus(ctx, name); err != nil {
		return err
	}
	var args []any
	if arg != nil {
		args = []any{arg}
	}
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.RuleWorkflowID(name), UpdateName: update, Args: args,
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, out)
	}
	if err != nil {
		verb := update
		if update == workflows.UpdateNameConfig {
			verb = "update" // "config rule x: …" reads oddly
		}
		return fmt.Errorf("%s rule %q: %w", verb, name, unwrapApp(err))
	}
	return nil
}

// unwrapApp drops Temporal's wrapping so the user reads the reason.
func unwrapApp(err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return errors.New(app.Message())
	}
	return err
}

func newRulePauseCmd(f *Factory, update, verb, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var st workflows.RuleStatus
			if err := f.updateRule(cmd, args[0], update, nil, &st); err != nil {
				return err
			}
			fmt.Fprintf(f.Out, "rule %s: %s\n", args[0], st.State)
			return nil
		},
	}
}

func newRuleDecisionCmd(f *Factory, update, verb, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:     verb + " NAME",
		Short:   short,
		Long:    short + ".\n\n" + long,
		Example: "  starter status hr-to-app    # what is held, by name\n  starter rule " + verb + " hr-to-app",
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var st workflows.RuleStatus
			if err := f.updateRule(cmd, args[0], update, nil, &st); err != nil {
				return err
			}
			fmt.Fprintf(f.Out, "rule %s: %s; now %s\n", args[0], strings.TrimSuffix(verb, "e")+"ed", st.State)
			return nil
		},
	}
}

func newRuleListCmd(f *Factory) *cobra.Command {
	var output, connection string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List rules",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			l, err := f.ruleListing(cmd, connection)
			if err != nil {
				return err
			}
			if s := l.Stale; s != nil {
				fmt.Fprintln(f.ErrOut, s.notice())
				if output == "json" {
					return printJSON(f.Out, s.Rules)
				}
				return printStaleRuleList(f.Out, s.Rules)
			}
			if output == "json" {
				return printJSON(f.Out, rulesJSON(l.Live))
			}
			tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSOURCE\tTARGET\tSTATE\tINTERVAL")
			for _, st := range l.Live {
				fmt.Fprintf(tw, "%s\t%s (%s)\t%s (%s)\t%s\t%s\n", st.Name, st.SourceConnection, st.SourceType,
					st.TargetConnection, st.TargetType, st.State, st.PollInterval)
			}
			return tw.Flush()
		},
	}
	outputFlag(cmd, &output)
	cmd.Flags().StringVar(&connection, "connection", "", "only rules that use this connection")
	return cmd
}

func newRuleShowCmd(f *Factory) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a rule's status and every setting (the defaults marked)",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return f.showRule(cmd, args[0], output, ruleView{settings: true})
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

func newRuleDeleteCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a rule: it stops; nothing in the target is removed",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := f.ctx(cmd)
			defer cancel()
			c, err := f.Client(ctx)
			if err != nil {
				return err
			}
			if _, err := c.RuleStatus(ctx, args[0]); err != nil {
				return err
			}
			id := workflows.RuleWorkflowID(args[0])
			if err := c.Temporal.SignalWorkflow(ctx, id, "", workflows.SignalNameDelete, nil); err != nil {
				return fmt.Errorf("delete rule %q: %w", args[0], err)
			}
			if err := c.Temporal.GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil {
				return fmt.Errorf("delete rule %q: %w", args[0], err)
			}
			fmt.Fprintf(f.Out, "deleted rule %s\n", args[0])
			return nil
		},
	}
}
