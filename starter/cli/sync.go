package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/idsync/idsync/workflows"
)

// SyncOptions are the inputs of `sync`.
type SyncOptions struct {
	Rule    string
	Members bool
	Groups  bool
	Request workflows.SyncRequest
	Wait    bool
	Output  string
}

// scope turns --members/--groups into a sync scope: both when neither or
// both are given.
func (o *SyncOptions) scope() string {
	switch {
	case o.Members && !o.Groups:
		return workflows.ScopeMembers
	case o.Groups && !o.Members:
		return workflows.ScopeGroups
	}
	return workflows.ScopeBoth
}

func newSyncCmd(f *Factory, runF func(*SyncOptions) error) *cobra.Command {
	o := &SyncOptions{}
	cmd := &cobra.Command{
		Use:   "sync RULE [--members] [--groups] [--dry-run] [--wait]",
		Short: "Run a full resync of a rule now: members (users), groups, or both",
		Long: `Run a full resync now. It reads the whole scoped source and the whole
target, adopts existing accounts, creates, updates and deprovisions so that
the target matches the source. Only objects idsync manages are ever
deprovisioned, and a run that would deprovision more than the rule's
--max-deprovision share refuses unless --allow-deprovision is given.`,
		Example: `  starter sync corp-to-app                 # members and groups
  starter sync corp-to-app --groups --wait  # groups and memberships, wait for the result
  starter sync corp-to-app --dry-run --wait # what would change`,
		Args: exactArgs(1, "RULE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Rule = args[0]
			o.Request.Scope = o.scope()
			if err := checkOutput(o.Output); err != nil {
				return err
			}
			if o.Output == "json" && !o.Wait {
				return flagErrorf("-o json needs --wait")
			}
			if runF != nil {
				return runF(o)
			}
			return runSync(cmd, f, o)
		},
	}
	cmd.Flags().BoolVar(&o.Members, "members", false, "sync users")
	cmd.Flags().BoolVar(&o.Groups, "groups", false, "sync groups and memberships")
	cmd.Flags().BoolVar(&o.Request.DryRun, "dry-run", false, "compute and count the changes without applying them")
	cmd.Flags().BoolVar(&o.Request.AllowMassDeprovision, "allow-deprovision", false, "lift the deprovisioning guard for this run")
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "wait for the resync to finish and print what it did")
	outputFlag(cmd, &o.Output)
	return cmd
}

func runSync(cmd *cobra.Command, f *Factory, o *SyncOptions) error {
	var resp workflows.SyncResponse
	if err := f.updateRule(cmd, o.Rule, workflows.UpdateNameSync, o.Request, &resp); err != nil {
		return err
	}
	if o.Output != "json" {
		fmt.Fprintln(f.Out, startedText(o, resp.WorkflowID))
	}
	if !o.Wait {
		return nil
	}
	ctx := cmd.Context()
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	var res workflows.ResyncResult
	if err := c.Temporal.GetWorkflow(ctx, resp.WorkflowID, "").Get(ctx, &res); err != nil {
		return fmt.Errorf("resync %s failed: %w", resp.WorkflowID, unwrapApp(err))
	}
	if o.Output == "json" {
		return printJSON(f.Out, syncJSON(resp.WorkflowID, res))
	}
	if res.DryRun {
		fmt.Fprintln(f.Out, "dry run: nothing was changed; this is what would be done")
	}
	fmt.Fprint(f.Out, countsText(res.Result.Users, res.Result.Groups))
	for _, fl := range res.Result.Failures {
		fmt.Fprintf(f.Out, "  failed: %s\n", fl)
	}
	return nil
}
