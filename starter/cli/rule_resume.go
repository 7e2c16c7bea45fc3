package cli

import (
	"cmp"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/idsync/idsync/workflows"
)

// newRuleResumeCmd resumes a rule: it un-pauses it, and when its circuit
// breaker is open (the credentials were fixed, say) closes it now through
// the breaker's full resync instead of waiting out the reset. It says
// which of these it did.
func newRuleResumeCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "resume NAME",
		Short: "Resume a paused rule, or close its open circuit breaker now",
		Long: `Resume a rule.

A paused rule polls and applies changes again. A rule whose circuit breaker
is open (after repeated failures: fix the cause first, the credentials, say)
starts the breaker's full resync now instead of at the end of the reset
period; the breaker closes, and polling resumes, when it succeeds. A rule
whose polls are failing polls now.`,
		Example: "  starter status hr-to-app        # why it fails: the last error and its class\n" +
			"  starter rule resume hr-to-app",
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			before, err := f.ruleStatus(cmd, args[0])
			if err != nil {
				return err
			}
			var after workflows.RuleStatus
			if err := f.updateRule(cmd, args[0], workflows.UpdateNameResume, nil, &after); err != nil {
				return err
			}
			fmt.Fprintln(f.Out, describeResume(args[0], before, after))
			return nil
		},
	}
}

func (f *Factory) ruleStatus(cmd *cobra.Command, name string) (workflows.RuleStatus, error) {
	ctx, cancel := f.ctx(cmd)
	defer cancel()
	c, err := f.Client(ctx)
	if err != nil {
		return workflows.RuleStatus{}, err
	}
	return c.RuleStatus(ctx, name)
}

// describeResume says what a resume did, from the rule's status before
// and its answer.
func describeResume(name string, before, after workflows.RuleStatus) string {
	switch {
	case !before.BreakerOpenUntil.IsZero() && after.ActiveResync != "":
		return fmt.Sprintf("rule %s: the circuit breaker was open until %s; full resync %s started now, which closes the breaker "+
			"when it succeeds, and polling resumes then (see `starter status %s`)",
			name, fmtWhen(before.BreakerOpenUntil), after.ActiveResync, name)
	case !before.BreakerOpenUntil.IsZero():
		// A worker from before resume closed breakers, or its resync
		// ended at once: say what the rule says.
		return fmt.Sprintf("rule %s: now %s (the circuit breaker was open until %s; `starter sync %s` runs the full resync that closes it now)",
			name, after.State, fmtWhen(before.BreakerOpenUntil), name)
	case before.State == workflows.StatePaused:
		return fmt.Sprintf("rule %s: resumed; now %s", name, after.State)
	case before.ConsecutiveFailures > 0:
		return fmt.Sprintf("rule %s: polls now (%d failed in a row; last error class %s; see `starter status %s`)",
			name, before.ConsecutiveFailures, cmp.Or(before.LastErrorClass, workflows.ErrorClassOther), name)
	}
	return fmt.Sprintf("rule %s: was neither paused nor failing; now %s", name, after.State)
}

// errorCell is a rule's last error for a table cell: its class and, when
// the error is too long, its end, where wrapping puts the cause ("scim:
// list users: G…" hid a 401).
func errorCell(st workflows.RuleStatus) string {
	if st.LastError == "" {
		return ""
	}
	const n = 60
	msg := st.LastError
	if r := []rune(msg); len(r) > n {
		msg = "…" + string(r[len(r)-n:])
	}
	return cmp.Or(st.LastErrorClass, workflows.ErrorClassOther) + ": " + msg
}

// breakerNote is what `sync` adds when the rule's breaker is open: a
// complete resync of both scopes closes it (the rule's finishResync).
func breakerNote(before workflows.RuleStatus, req workflows.SyncRequest) string {
	if before.BreakerOpenUntil.IsZero() {
		return ""
	}
	until := fmtWhen(before.BreakerOpenUntil)
	switch {
	case req.DryRun:
		return "the circuit breaker is open until " + until + "; a dry run does not close it (`starter rule resume` does)"
	case req.Scope != workflows.ScopeBoth:
		return "the circuit breaker is open until " + until + "; only a resync of users and groups closes it (`starter rule resume` runs one)"
	}
	return "the circuit breaker was open until " + until + ": this resync closes it when it succeeds, and polling resumes"
}
