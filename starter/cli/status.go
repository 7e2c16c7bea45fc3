package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

// StatusOptions are the inputs of `status`.
type StatusOptions struct {
	Rule       string
	Connection string
	Output     string
	// Objects lists the objects the rule's last runs wrote.
	Objects bool
}

func newStatusCmd(f *Factory, runF func(*StatusOptions) error) *cobra.Command {
	o := &StatusOptions{}
	cmd := &cobra.Command{
		Use:   "status [RULE [--objects]] [--connection NAME] [-o json]",
		Short: "Show sync status: of every rule, of one rule, or of a connection",
		Long: `Show sync status.

With no argument, one line per rule. With a rule name, that rule in full.
With --connection, the status of a provisioning connection: the sum over
the rules that use it as source or target. With a rule name and
--objects, the objects the rule's last runs created, updated, adopted,
deprovisioned or failed on, newest first, by name and source id.

A running worker answers. Without one, status answers from what the
Temporal server keeps (each rule's search attributes), says on stderr that
the figures are stale, why and as of when, and marks with ? what only a
worker knows.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return flagErrorf("want at most one RULE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Rule = args[0]
			}
			if o.Rule != "" && o.Connection != "" {
				return flagErrorf("give a RULE or --connection, not both")
			}
			if o.Objects && o.Rule == "" {
				return flagErrorf("--objects lists one rule's objects: give a RULE")
			}
			if err := checkOutput(o.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			if o.Rule != "" {
				return f.showRule(cmd, o.Rule, o.Output, ruleView{objects: o.Objects})
			}
			l, err := f.ruleListing(cmd, o.Connection)
			if err != nil {
				return err
			}
			if l.Stale != nil {
				return f.printStaleListing(l, o)
			}
			if o.Connection != "" {
				cs := summarize(o.Connection, l.Live)
				if o.Output == "json" {
					return printJSON(f.Out, connectionJSON(cs))
				}
				printConnectionStatus(f.Out, cs)
				return nil
			}
			if o.Output == "json" {
				return printJSON(f.Out, rulesJSON(l.Live))
			}
			printRuleTable(f.Out, l.Live)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Connection, "connection", "", "status of a provisioning connection: its rules summed")
	cmd.Flags().BoolVar(&o.Objects, "objects", false, "list the objects the rule's last runs wrote, by name")
	outputFlag(cmd, &o.Output)
	return cmd
}

// ruleListing is what status and rule list show: the status of every
// running rule (of one connection, if given) from its worker or, when no
// worker answers, the records the server keeps of every one.
type ruleListing struct {
	Live []workflows.RuleStatus
	// Stale, when set, replaces Live: no worker answered.
	Stale *staleListing
}

type staleListing struct {
	Staleness
	Rules []ruleRecord
}

// ruleListing queries every running rule (optionally of one connection);
// the first query no worker answers makes the whole listing the server's
// records, rather than wait for the others in turn.
func (f *Factory) ruleListing(cmd *cobra.Command, connection string) (ruleListing, error) {
	ctx, cancel := f.ctx(cmd)
	defer cancel()
	c, err := f.Client(ctx)
	if err != nil {
		return ruleListing{}, err
	}
	if connection != "" {
		if err := connectionExists(ctx, c, connection); err != nil {
			return ruleListing{}, err
		}
	}
	reason, lastPoll := workerAbsent(ctx, c)
	if reason == "" {
		sts, stale, err := liveStatuses(ctx, c, connection, lastPoll)
		if err != nil || stale == "" {
			return ruleListing{Live: sts}, err
		}
		reason = stale
	}
	recs, err := f.ruleRecords(ctx, c, connection, reason)
	if err != nil {
		return ruleListing{}, err
	}
	if len(recs) == 0 {
		// No rule: nothing a worker would add, and nothing stale (a worker
		// that has just started may not have polled yet).
		return ruleListing{Live: []workflows.RuleStatus{}}, nil
	}
	return ruleListing{Stale: &staleListing{Staleness: oldest(reason, recordTimes(recs)), Rules: recs}}, nil
}

// liveStatuses asks each rule's worker for its status; stale says why
// not, when one did not answer.
func liveStatuses(ctx context.Context, c workflows.Client, connection string, lastPoll time.Time) ([]workflows.RuleStatus, string, error) {
	names, err := c.Rules(ctx, connection, "")
	if err != nil {
		return nil, "", fmt.Errorf("list rules: %w", err)
	}
	sts := make([]workflows.RuleStatus, 0, len(names))
	for _, n := range names {
		var st workflows.RuleStatus
		stale, err := ask(ctx, lastPoll, func(qctx context.Context) (err error) {
			st, err = c.RuleStatus(qctx, n)
			return err
		})
		switch {
		case errors.Is(err, workflows.ErrNotFound):
			continue // deleted since listed
		case err != nil:
			return nil, "", err // says which rule
		case stale != "":
			return nil, stale, nil
		}
		sts = append(sts, st)
	}
	return sts, "", nil
}

// printStaleListing prints status from the rules' records, after the
// stale notice on stderr.
func (f *Factory) printStaleListing(l ruleListing, o *StatusOptions) error {
	fmt.Fprintln(f.ErrOut, l.Stale.notice())
	switch {
	case o.Output == "json" && o.Connection != "":
		return printJSON(f.Out, struct {
			Connection   string       `json:"connection"`
			Rules        int          `json:"rules"`
			RuleStatuses []ruleRecord `json:"ruleStatuses"`
			Stale        Staleness    `json:"stale"`
		}{o.Connection, len(l.Stale.Rules), l.Stale.Rules, l.Stale.Staleness})
	case o.Output == "json":
		return printJSON(f.Out, l.Stale.Rules)
	case o.Connection != "":
		printStaleConnection(f.Out, o.Connection, l.Stale.Rules)
	default:
		printStaleRuleTable(f.Out, l.Stale.Rules)
	}
	return nil
}

// ruleView is what showRule shows besides the status.
type ruleView struct {
	settings bool // the rule's settings (`rule show`)
	objects  bool // the objects of its last runs instead of the status
}

// showRule prints a rule's status, and with settings its settings too
// (-o json has both always); without a worker, what the server keeps.
func (f *Factory) showRule(cmd *cobra.Command, name, output string, view ruleView) error {
	ctx, cancel := f.ctx(cmd)
	defer cancel()
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	reason, lastPoll := workerAbsent(ctx, c)
	if reason == "" {
		var st workflows.RuleStatus
		reason, err = ask(ctx, lastPoll, func(qctx context.Context) (err error) {
			st, err = c.RuleStatus(qctx, name)
			return err
		})
		switch {
		case err != nil:
			return err
		case reason == "" && view.objects && output == "json":
			return printJSON(f.Out, nonNil(st.RecentObjects))
		case reason == "" && view.objects:
			printObjects(f.Out, st)
			return nil
		case reason == "" && output == "json":
			return printJSON(f.Out, ruleJSON(st))
		case reason == "":
			printRuleStatus(f.Out, st, view.settings)
			return nil
		}
	}
	if view.objects {
		// The server keeps counts in search attributes and the memo; the
		// objects live in the rule's state, which a worker reads.
		return fmt.Errorf("the objects of %s's last runs are known to its worker, and none answers: %s; "+
			"start the worker (make run) and ask again; `starter status %s` shows what the server keeps", name, reason, name)
	}
	rec, err := f.ruleRecord(ctx, c, name, reason)
	if err != nil {
		return err
	}
	fmt.Fprintln(f.ErrOut, rec.Stale.notice())
	if output == "json" {
		return printJSON(f.Out, rec)
	}
	printStaleRule(f.Out, rec)
	return nil
}

// printRuleStatus prints a rule's status in full, and with settings its
// settings.
func printRuleStatus(w io.Writer, st workflows.RuleStatus, settings bool) {
	fmt.Fprintf(w, "Rule %s: %s\n", st.Name, st.State)
	fmt.Fprintf(w, "  %s (%s) → %s (%s), polling every %s\n", st.SourceConnection, st.SourceType, st.TargetConnection, st.TargetType, st.PollInterval)
	fmt.Fprintf(w, "  managed in target: %d users, %d groups\n", st.ManagedUsers, st.ManagedGroups)
	poll := fmtWhen(st.LastPoll)
	if st.LastPollResult != "" {
		poll += " (" + st.LastPollResult + ")"
	}
	fmt.Fprintf(w, "  last poll: %s; last success: %s; next poll: %s\n", poll, fmtWhen(st.LastSuccess), fmtWhen(st.NextPoll))
	if !st.NextResync.IsZero() {
		fmt.Fprintf(w, "  next scheduled full resync: %s\n", fmtWhen(st.NextResync))
	}
	if st.ConsecutiveFailures > 0 {
		fmt.Fprintf(w, "  consecutive failures: %d\n", st.ConsecutiveFailures)
	}
	if !st.BreakerOpenUntil.IsZero() {
		fmt.Fprintf(w, "  circuit breaker open until %s, then a full resync\n", fmtWhen(st.BreakerOpenUntil))
	}
	if st.PendingChanges > 0 {
		fmt.Fprintf(w, "  real-time changes pending: %d\n", st.PendingChanges)
	}
	if st.ActiveResync != "" {
		fmt.Fprintf(w, "  resync running: %s\n", st.ActiveResync)
	}
	if h := st.Hold; h != nil {
		fmt.Fprintf(w, "  AWAITING APPROVAL since %s: deprovisions held by the guard (starter rule approve|reject %s)\n", fmtWhen(h.Since), st.Name)
		for _, held := range h.Resync {
			fmt.Fprintf(w, "    full resync: %d of %d managed %s (the guard allows %d), e.g. %s\n",
				held.Would, held.Managed, held.Kind, held.Allowed, strings.Join(held.Sample, ", "))
		}
		if len(h.Changes) > 0 {
			names := make([]string, 0, 20)
			for _, c := range h.Changes[:min(len(h.Changes), 20)] {
				names = append(names, cmp.Or(c.Name, c.Event.ID))
			}
			fmt.Fprintf(w, "    polls and real-time changes: %d (%d more not listed): %s\n", len(h.Changes), h.ChangesDropped, strings.Join(names, ", "))
		}
	}
	if st.RetryingCount > 0 {
		fmt.Fprintf(w, "  failed changes to retry: %d\n", st.RetryingCount)
		printRetries(w, st.Retrying)
	}
	if len(st.FailedForGood) > 0 {
		fmt.Fprintf(w, "  failed for good (every retry failed; a full resync tries again): %d\n", len(st.FailedForGood))
		printRetries(w, st.FailedForGood)
	}
	if r := st.LastResync; r != nil {
		res := "running"
		switch {
		case r.Error != "":
			res = "failed: " + r.Error
		case !r.Finished.IsZero():
			res = "done " + fmtWhen(r.Finished)
		}
		dry := ""
		if r.DryRun {
			dry = ", dry run"
		}
		fmt.Fprintf(w, "  last resync: %s (%s, %s%s) %s\n", r.WorkflowID, r.Scope, r.Reason, dry, res)
		if r.DryRun && !r.Finished.IsZero() && r.Error == "" {
			fmt.Fprint(w, indent(countsText(r.Result.Users, r.Result.Groups), "  "))
			var named strings.Builder
			printNamed(&named, r.Result, true)
			fmt.Fprint(w, indent(named.String(), "  "))
		}
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "  last error (%s): %s\n", cmp.Or(st.LastErrorClass, workflows.ErrorClassOther), st.LastError)
	}
	if st.Config.OnMissing == reconcile.MissingReport {
		if st.RecordKept {
			fmt.Fprintf(w, "  --on-missing report: the rule's record of managed users holds %d; a user deleted in the target is reported, not created\n", st.RecordedUsers)
		} else {
			fmt.Fprintf(w, "  --on-missing report: no record of managed users yet (the next full resync keeps one); until then a user deleted in the target is told only while the worker remembers it\n")
		}
	}
	if n := len(st.RecentObjects); n > 0 {
		last := st.RecentObjects[n-1]
		fmt.Fprintf(w, "  last object written: %s %s %s (%s, %s); `starter status %s --objects` lists the last %d\n",
			last.Action, last.Kind, short(cmp.Or(last.Name, last.ID), 60), last.Run, fmtWhen(last.At), st.Name, n)
	}
	fmt.Fprintln(w, "Totals since the rule was created, every poll and full resync added up"+
		" (an object checked and found unchanged counts each time):")
	fmt.Fprint(w, countsText(st.Totals.Users, st.Totals.Groups))
	if settings {
		printSettings(w, st)
	}
}

// printRetries lists failed objects, one line each, with their error.
func printRetries(w io.Writer, entries []workflows.RetryEntry) {
	for _, en := range entries {
		next := ""
		if !en.NextAt.IsZero() {
			next = ", next try " + fmtWhen(en.NextAt)
		}
		fmt.Fprintf(w, "    %s %s (%d attempts%s): %s\n", en.Event.Op, en.Event.Key(), en.Attempts, next, short(en.Error, 200))
	}
}

func countsText(users, groups reconcile.Counts) string {
	row := func(name string, c reconcile.Counts) string {
		kept := ""
		if c.Kept > 0 {
			kept = fmt.Sprintf(", kept %d (the rule deprovisions nothing)", c.Kept)
		}
		if c.Conflicts > 0 {
			kept += fmt.Sprintf(", conflicts %d (collide with objects the rule may not take over)", c.Conflicts)
		}
		return fmt.Sprintf("  %-7s created %d, updated %d, adopted %d, deprovisioned %d, unchanged %d, failed %d%s\n",
			name, c.Created, c.Updated, c.Adopted, c.Deprovisioned, c.Unchanged, c.Failed, kept)
	}
	return row("users", users) + row("groups", groups)
}

func printRuleTable(w io.Writer, sts []workflows.RuleStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSTATE\tSOURCE → TARGET\tUSERS\tGROUPS\tFAILED\tLAST SUCCESS\tLAST ERROR")
	for _, st := range sts {
		fmt.Fprintf(tw, "%s\t%s\t%s → %s\t%d\t%d\t%d\t%s\t%s\n", st.Name, st.State, st.SourceConnection, st.TargetConnection,
			st.ManagedUsers, st.ManagedGroups, st.Totals.Users.Failed+st.Totals.Groups.Failed, fmtWhen(st.LastSuccess), errorCell(st))
	}
	_ = tw.Flush()
}

// ConnectionStatus is the sync status of a provisioning connection: the
// sum over the rules that use it.
type ConnectionStatus struct {
	Connection    string                 `json:"connection"`
	Rules         int                    `json:"rules"`
	States        map[string]int         `json:"states"`
	ManagedUsers  int                    `json:"managedUsers"`
	ManagedGroups int                    `json:"managedGroups"`
	Totals        reconcile.Result       `json:"totals"`
	RuleStatuses  []workflows.RuleStatus `json:"ruleStatuses"`
}

func summarize(conn string, sts []workflows.RuleStatus) ConnectionStatus {
	cs := ConnectionStatus{Connection: conn, Rules: len(sts), States: map[string]int{}, RuleStatuses: sts}
	for _, st := range sts {
		cs.States[st.State]++
		cs.ManagedUsers += st.ManagedUsers
		cs.ManagedGroups += st.ManagedGroups
		cs.Totals.Users = cs.Totals.Users.Add(st.Totals.Users)
		cs.Totals.Groups = cs.Totals.Groups.Add(st.Totals.Groups)
	}
	return cs
}

func printConnectionStatus(w io.Writer, cs ConnectionStatus) {
	plural := "s"
	if cs.Rules == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "Connection %s: %d rule%s", cs.Connection, cs.Rules, plural)
	for _, s := range []string{workflows.StateIdle, workflows.StatePolling, workflows.StateApplying,
		workflows.StateResyncing, workflows.StateFailing, workflows.StateCircuitOpen, workflows.StatePaused} {
		if n := cs.States[s]; n > 0 {
			fmt.Fprintf(w, ", %d %s", n, s)
		}
	}
	fmt.Fprintf(w, "\n  managed: %d users, %d groups\n", cs.ManagedUsers, cs.ManagedGroups)
	fmt.Fprintln(w, "  totals since each rule was created, every poll and full resync added up:")
	fmt.Fprint(w, countsText(cs.Totals.Users, cs.Totals.Groups))
	printRuleTable(w, cs.RuleStatuses)
}

// short cuts s to n characters, never inside a UTF-8 sequence: errors
// hold "→" and "–".
// indent puts prefix before each line of s.
func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	return prefix + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+prefix) + "\n"
}

func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
