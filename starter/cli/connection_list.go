package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/workflows"
)

func newConnectionListCmd(f *Factory) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List connections (without a worker, from what the Temporal server keeps)",
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
			conns, reason, err := liveConnections(ctx, c)
			if err != nil {
				return err
			}
			if reason != "" {
				return f.printStaleConnections(ctx, c, reason, output)
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

// liveConnections reads every connection's settings from its workflow;
// reason says why none could be read when no worker answers.
func liveConnections(ctx context.Context, c workflows.Client) ([]connectors.Connection, string, error) {
	reason, lastPoll := workerAbsent(ctx, c)
	if reason != "" {
		return nil, reason, nil
	}
	names, err := c.Connections(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("list connections: %w", err)
	}
	conns := make([]connectors.Connection, 0, len(names))
	for _, n := range names {
		var conn connectors.Connection
		stale, err := ask(ctx, lastPoll, func(qctx context.Context) (err error) {
			conn, err = c.Connection(qctx, n)
			return err
		})
		switch {
		case errors.Is(err, workflows.ErrNotFound):
			continue // deleted since listed
		case err != nil:
			return nil, "", err // says which connection
		case stale != "":
			return nil, stale, nil
		}
		conns = append(conns, conn)
	}
	return conns, "", nil
}

// printStaleConnections lists the connections from their search
// attributes: names and types; the settings are known only to a worker.
func (f *Factory) printStaleConnections(ctx context.Context, c workflows.Client, reason, output string) error {
	infos, asOf, err := f.records(ctx, c, fmt.Sprintf(`%s = %q`, workflows.SAKind.GetName(), workflows.KindConnection))
	if err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	recs := make([]connectionRecord, len(infos))
	for i, in := range infos {
		recs[i] = connectionRecord{
			Name:  strings.TrimPrefix(in.GetExecution().GetWorkflowId(), workflows.ConnectionIDPrefix),
			Type:  saValue[string](in.GetSearchAttributes(), workflows.SAConnectionType.GetName()),
			Stale: Staleness{AsOf: asOf[i], Reason: reason},
		}
	}
	slices.SortFunc(recs, func(a, b connectionRecord) int { return strings.Compare(a.Name, b.Name) })
	// With no connection nothing is stale: no notice, as a worker that has
	// just started may not have polled yet.
	if len(recs) > 0 {
		fmt.Fprintln(f.ErrOut, oldest(reason, asOf).notice())
	}
	if output == "json" {
		return printJSON(f.Out, recs)
	}
	tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tWEBHOOK")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Type, unknown)
	}
	return tw.Flush()
}
