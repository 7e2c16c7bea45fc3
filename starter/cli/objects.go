package cli

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

// printObjects lists the objects a rule's last runs named, newest first:
// what `status RULE --objects` shows.
func printObjects(w io.Writer, st workflows.RuleStatus) {
	if len(st.RecentObjects) == 0 {
		fmt.Fprintf(w, "Rule %s has written no object yet (objects found unchanged are not listed).\n", st.Name)
		return
	}
	fmt.Fprintf(w, "Objects the last runs of %s wrote, newest first (%d kept, at most %d; the worker's log has every one):\n",
		st.Name, len(st.RecentObjects), workflows.MaxRecentObjects)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tRUN\tACTION\tKIND\tNAME\tSOURCE ID")
	for _, o := range slices.Backward(st.RecentObjects) {
		if o.More > 0 {
			// The last cell of a line is no column's: it widens none.
			fmt.Fprintf(tw, "%s\t%s\t…\t\t%d more of this run, not named\n", fmtWhen(o.At), o.Run, o.More)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", fmtWhen(o.At), o.Run, o.Action, o.Kind, short(o.Name, 60), o.ID)
		if o.Error != "" {
			fmt.Fprintf(tw, "\t\t\t\t  error: %s\n", short(o.Error, 200))
		}
	}
	_ = tw.Flush()
}

// printNamed lists the objects of one result, as `sync --wait` shows
// what a resync did or, in a dry run, would do ("would create").
func printNamed(w io.Writer, res reconcile.Result, dryRun bool) {
	if len(res.Objects) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, o := range res.Objects {
		action := o.Action
		if dryRun {
			action = wouldText[o.Action]
		}
		switch o.Action {
		case reconcile.ActionFailed, reconcile.ActionConflict:
			fmt.Fprintf(tw, "  %s\t%s\t%s: %s\n", action, o.Kind, short(o.Name, 80), short(o.Error, 200))
		default:
			fmt.Fprintf(tw, "  %s\t%s\t%s\t(source id %s)\n", action, o.Kind, o.Name, o.ID)
		}
	}
	_ = tw.Flush()
	if res.ObjectsDropped > 0 {
		fmt.Fprintf(w, "  … and %d more, not listed (the counts above have them all; the worker's log names every one)\n", res.ObjectsDropped)
	}
}

// wouldText is what a dry run says of an action.
var wouldText = map[string]string{
	reconcile.ActionCreated:       "would create",
	reconcile.ActionUpdated:       "would update",
	reconcile.ActionAdopted:       "would adopt",
	reconcile.ActionDeprovisioned: "would deprovision",
	reconcile.ActionFailed:        "would fail",
	reconcile.ActionConflict:      "conflict",
}
