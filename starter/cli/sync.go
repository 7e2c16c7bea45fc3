package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/idsync/idsync/activities"
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
	// Read before the resync starts: whether it is to close a breaker.
	before, err := f.ruleStatus(cmd, o.Rule)
	if err != nil {
		return err
	}
	if before.ActiveResync != "" {
		// A resync that has just ended (a `sync --wait` a moment ago) is
		// still the rule's until it takes in the end: wait for that
		// rather than refuse.
		if before, err = f.afterEndedResync(cmd, o.Rule, before); err != nil {
			return err
		}
	}
	var resp workflows.SyncResponse
	if err := f.updateRule(cmd, o.Rule, workflows.UpdateNameSync, o.Request, &resp); err != nil {
		return err
	}
	if o.Output != "json" {
		fmt.Fprintln(f.Out, startedText(o, resp.WorkflowID))
		if note := breakerNote(before, o.Request); note != "" {
			fmt.Fprintln(f.Out, note)
		}
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
	stopProgress := func() {}
	if o.Output != "json" {
		// Progress goes to stderr: stdout keeps the result alone.
		pctx, stop := context.WithCancel(ctx)
		ticker := time.NewTicker(progressEvery)
		done := make(chan struct{})
		go func() {
			defer close(done)
			// The users and groups the rule manages: about as many as the
			// resync goes through, unless the source changed much.
			about := map[string]int{"users": before.ManagedUsers, "groups": before.ManagedGroups}
			reportProgress(pctx, f.ErrOut, ticker.C, resyncProgress(c, resp.WorkflowID), about)
		}()
		stopProgress = func() { stop(); ticker.Stop(); <-done }
	}
	err = c.Temporal.GetWorkflow(ctx, resp.WorkflowID, "").Get(ctx, &res)
	stopProgress() // before the result, so that no progress line follows it
	if err != nil {
		return fmt.Errorf("resync %s failed: %w", resp.WorkflowID, unwrapApp(err))
	}
	if o.Output == "json" {
		return printJSON(f.Out, syncJSON(resp.WorkflowID, res))
	}
	if res.DryRun {
		fmt.Fprintln(f.Out, "dry run: nothing was changed; this is what would be done")
	}
	fmt.Fprint(f.Out, countsText(res.Result.Users, res.Result.Groups))
	if len(res.Result.Objects) > 0 {
		printNamed(f.Out, res.Result, res.DryRun)
		return nil
	}
	// From a worker older than named objects: the failure samples.
	for _, fl := range res.Result.Failures {
		fmt.Fprintf(f.Out, "  failed: %s\n", fl)
	}
	return nil
}

// endedResyncWait bounds how long sync waits for a rule to take in the
// end of a resync that has ended.
const endedResyncWait = 5 * time.Second

// afterEndedResync returns the rule's status once it no longer shows the
// resync it showed in st, if that resync has ended; st as it is if the
// resync still runs (the update then says so).
func (f *Factory) afterEndedResync(cmd *cobra.Command, rule string, st workflows.RuleStatus) (workflows.RuleStatus, error) {
	ctx, cancel := f.ctx(cmd)
	defer cancel()
	c, err := f.Client(ctx)
	if err != nil {
		return st, err
	}
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, st.ActiveResync, "")
	if err != nil || d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return st, nil
	}
	deadline := time.Now().Add(endedResyncWait)
	for st.ActiveResync != "" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if st, err = c.RuleStatus(ctx, rule); err != nil {
			return st, err
		}
	}
	return st, nil
}

// progressEvery is how often `sync --wait` looks at a resync's progress.
const progressEvery = 5 * time.Second

// phaseText names a resync phase (reconcile's Progress phases).
var phaseText = map[string]string{
	"target users":  "reading the target's users",
	"target groups": "reading the target's groups",
}

// reportProgress prints the resync's progress at each tick when it has
// changed: the phase, how many objects so far, of about how many (about,
// by phase: what the rule managed before), and the rate since the last
// line of the same phase, with the time left at that rate. It returns
// when ctx ends or the ticks stop.
func reportProgress(ctx context.Context, w io.Writer, tick <-chan time.Time, read func(context.Context) (activities.Progress, bool, error), about map[string]int) {
	var last activities.Progress
	var lastAt time.Time
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case t, ok := <-tick:
			if !ok {
				return
			}
			now = t
		}
		p, ok, err := read(ctx)
		if err != nil || !ok || (p.Phase == last.Phase && p.Done == last.Done) {
			continue // progress is a nicety: a failed look is not worth a line
		}
		total := about[p.Phase]
		of := ""
		if total > 0 && p.Done <= total {
			of = fmt.Sprintf(" of about %d", total)
		}
		rate := ""
		if p.Phase == last.Phase && p.Done > last.Done && now.After(lastAt) {
			perSec := float64(p.Done-last.Done) / now.Sub(lastAt).Seconds()
			rate = fmt.Sprintf(" (%.0f/s", perSec)
			if of != "" {
				left := time.Duration(float64(total-p.Done) / perSec * float64(time.Second)).Round(time.Second)
				rate += fmt.Sprintf(", about %s left", left)
			}
			rate += ")"
		}
		fmt.Fprintf(w, "  … %s: %d%s%s\n", cmp.Or(phaseText[p.Phase], p.Phase), p.Done, of, rate)
		last, lastAt = p, now
	}
}

// resyncProgress reads what the resync's running activity last
// heartbeated; ok is false when none has yet.
func resyncProgress(c workflows.Client, workflowID string) func(context.Context) (activities.Progress, bool, error) {
	return func(ctx context.Context) (activities.Progress, bool, error) {
		var p activities.Progress
		d, err := c.Temporal.DescribeWorkflowExecution(ctx, workflowID, "")
		if err != nil {
			return p, false, fmt.Errorf("describe %s: %w", workflowID, err)
		}
		for _, a := range d.GetPendingActivities() {
			if a.GetHeartbeatDetails() == nil {
				continue
			}
			if err := converter.GetDefaultDataConverter().FromPayloads(a.GetHeartbeatDetails(), &p); err != nil {
				return p, false, fmt.Errorf("read the progress of %s: %w", workflowID, err)
			}
			return p, true, nil
		}
		return p, false, nil
	}
}
