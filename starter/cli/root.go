// Package cli implements the starter command line, one file per noun, in
// the manner of gh: each verb has an options struct and a run function that
// tests can call without the flags.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/all"
	"github.com/idsync/idsync/internal/buildinfo"
	"github.com/idsync/idsync/workflows"
)

// Factory carries what every command needs: where Temporal is, the output
// streams, and the connector registry.
type Factory struct {
	Address   string
	Namespace string
	Timeout   time.Duration
	Out       io.Writer
	ErrOut    io.Writer
	Registry  connectors.Registry

	names  func(ctx context.Context, kind string) ([]string, error)
	client client.Client
}

// Client dials Temporal once, with a bounded wait, so that an unreachable
// server is one clear line rather than a hang.
func (f *Factory) Client(ctx context.Context) (workflows.Client, error) {
	if f.client == nil {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		c, err := client.DialContext(dctx, client.Options{HostPort: f.Address, Namespace: f.Namespace, Logger: quietLogger{}})
		if err != nil {
			return workflows.Client{}, fmt.Errorf("cannot reach Temporal at %s (namespace %s): %w; is `make run` running?", f.Address, f.Namespace, err)
		}
		f.client = c
	}
	return workflows.Client{Temporal: f.client}, nil
}

func (f *Factory) close() {
	if f.client != nil {
		f.client.Close()
	}
}

// FlagError marks a usage mistake: exit code 2.
type FlagError struct{ error }

func flagErrorf(format string, args ...any) error { return FlagError{fmt.Errorf(format, args...)} }

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "starter",
		Short: "Create idsync connections and rules, trigger syncs, show sync status",
		Long: `starter drives idsync through Temporal.

A connection is a configured identity store (an LDAP directory, a SCIM
service, …). A rule provisions users, groups and memberships from a source
connection to a target connection: it polls the source on its interval,
applies webhook changes in real time, and runs full resyncs on demand.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Cobra's own check of the verb words its suggestions for a
		// terminal, on several lines; this one says them in one.
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(c, args[0])
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	root.PersistentFlags().StringVar(&f.Address, "address", envOr("TEMPORAL_ADDRESS", client.DefaultHostPort), "Temporal frontend host:port (env TEMPORAL_ADDRESS)")
	root.PersistentFlags().StringVar(&f.Namespace, "namespace", envOr("TEMPORAL_NAMESPACE", client.DefaultNamespace), "Temporal namespace (env TEMPORAL_NAMESPACE)")
	root.PersistentFlags().DurationVar(&f.Timeout, "timeout", 30*time.Second, "how long a command waits for Temporal")
	root.SetFlagErrorFunc(flagError)
	// --version prints what `starter version` does.
	root.Version = buildinfo.Version()
	root.SetVersionTemplate("starter {{.Version}}\n")
	root.AddCommand(newConnectionCmd(f), newRuleCmd(f), newSyncCmd(f, nil), newStatusCmd(f, nil), newVersionCmd(f))
	f.completeNames(root)
	return root
}

// flagError makes cobra's own flag parsing errors usage errors.
func flagError(_ *cobra.Command, err error) error { return FlagError{err} }

// Main runs the command line and returns the exit code.
func Main(args []string, out, errOut io.Writer) int {
	f := &Factory{Out: out, ErrOut: errOut, Registry: all.Registry()}
	defer f.close()
	return f.execute(args)
}

// execute runs the command tree on args, prints any error as one
// "starter: " line and returns the exit code.
func (f *Factory) execute(args []string) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	root.SetOut(f.Out)
	root.SetErr(f.ErrOut)
	err := root.Execute()
	if err != nil {
		// One line, so that scripts and people read one reason per failure.
		fmt.Fprintln(f.ErrOut, "starter:", oneLine(err.Error()))
	}
	return exitCode(err)
}

// cobraSuggestions is how cobra appends its suggestions to an unknown
// command's error: a paragraph, then one tab-indented name a line.
const cobraSuggestions = "\n\nDid you mean this?\n"

// oneLine makes an error message one line: cobra's suggestions become a
// question, other line breaks "; ".
func oneLine(msg string) string {
	if head, names, ok := strings.Cut(msg, cobraSuggestions); ok {
		msg = head + didYouMean(strings.Fields(names))
	}
	return strings.ReplaceAll(strings.TrimRight(msg, "\n"), "\n", "; ")
}

// didYouMean is the end of an unknown command's message: the commands
// whose names are close, or where to find the others.
func didYouMean(names []string) string {
	if len(names) == 0 {
		return ""
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = strconv.Quote(n)
	}
	return "; did you mean " + strings.Join(quoted, " or ") + "?"
}

// unknownCommand is the usage error for an unknown verb of c.
func unknownCommand(c *cobra.Command, arg string) error {
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, which it sets only on its own path
	}
	if s := didYouMean(c.SuggestionsFor(arg)); s != "" {
		return flagErrorf("unknown command %q for %q%s", arg, c.CommandPath(), s)
	}
	return flagErrorf("unknown command %q for %q; see %s --help", arg, c.CommandPath(), c.CommandPath())
}

// exitCode is 0 for success, 2 for a usage mistake and 1 otherwise.
func exitCode(err error) int {
	var fe FlagError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &fe), strings.HasPrefix(err.Error(), "unknown command"):
		return 2
	}
	return 1
}

// groupCmd is a noun that only holds verbs: a missing or unknown verb is a
// usage error, not a silent help page.
func groupCmd(cmd *cobra.Command) *cobra.Command {
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return flagErrorf("%s needs a subcommand: see %s --help", c.CommandPath(), c.CommandPath())
		}
		return unknownCommand(c, args[0])
	}
	cmd.RunE = func(*cobra.Command, []string) error { return nil }
	return cmd
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			// The arguments are not echoed: a stray one may be a secret
			// that lost its flag (--set bindPassword s3cret).
			got := fmt.Sprintf("%d arguments", len(args))
			if len(args) == 1 {
				got = "1 argument"
			}
			return flagErrorf("want %s, got %s", what, got)
		}
		return nil
	}
}

func (f *Factory) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), f.Timeout)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// outputFlag adds -o/--output.
func outputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", "text", "output format: text or json")
}

func checkOutput(o string) error {
	if o != "text" && o != "json" {
		return flagErrorf("--output %q: want text or json", o)
	}
	return nil
}

// quietLogger keeps the SDK's logging off the terminal.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
