package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Kinds of names that complete.
const (
	kindRule       = "rule"
	kindConnection = "connection"
)

// completionTimeout bounds how long a shell waits for names: completion
// that hangs on an unreachable server is worse than none.
const completionTimeout = 3 * time.Second

// completeNames makes the shell complete rule and connection names from
// the server, and connection types from the registry, where the command
// tree takes them.
func (f *Factory) completeNames(root *cobra.Command) {
	args := map[string][]string{
		kindRule: {"status", "sync", "rule show", "rule update", "rule pause", "rule resume",
			"rule approve", "rule reject", "rule delete"},
		kindConnection: {"connection show", "connection test", "connection update", "connection delete"},
	}
	for kind, paths := range args {
		for _, path := range paths {
			find(root, path).ValidArgsFunction = f.firstArgCompletion(kind)
		}
	}
	flags := []struct{ path, flag, kind string }{
		{"status", "connection", kindConnection},
		{"rule list", "connection", kindConnection},
		{"rule create", "source", kindConnection},
		{"rule create", "target", kindConnection},
	}
	for _, fl := range flags {
		mustRegister(find(root, fl.path), fl.flag, f.nameCompletion(fl.kind))
	}
	for _, path := range []string{"connection create", "connection update"} {
		mustRegister(find(root, path), "type", func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
			return withPrefix(f.Registry.Types(), prefix), cobra.ShellCompDirectiveNoFileComp
		})
	}
}

// find is the command at path ("rule show"); the table above names only
// commands the tree has, which TestCompletion checks.
func find(root *cobra.Command, path string) *cobra.Command {
	c, rest, err := root.Find(strings.Fields(path))
	if err != nil || len(rest) > 0 || c.CommandPath() != root.Name()+" "+path {
		panic(fmt.Sprintf("completion: no command %q", path))
	}
	return c
}

func mustRegister(c *cobra.Command, flag string, fn cobra.CompletionFunc) {
	if err := c.RegisterFlagCompletionFunc(flag, fn); err != nil {
		panic(fmt.Sprintf("completion of %s --%s: %v", c.CommandPath(), flag, err))
	}
}

// firstArgCompletion completes a command's one positional argument.
func (f *Factory) firstArgCompletion(kind string) cobra.CompletionFunc {
	names := f.nameCompletion(kind)
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return names(cmd, args, prefix)
	}
}

// nameCompletion lists the names of kind that start with the prefix;
// none, quietly, when the server cannot say.
func (f *Factory) nameCompletion(kind string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		names, err := f.listNames(ctx, kind)
		if err != nil {
			cobra.CompDebugln(fmt.Sprintf("list %s names: %v", kind, err), false)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(names, prefix), cobra.ShellCompDirectiveNoFileComp
	}
}

// listNames lists the rules or connections the server has (f.names in
// tests).
func (f *Factory) listNames(ctx context.Context, kind string) ([]string, error) {
	if f.names != nil {
		return f.names(ctx, kind)
	}
	c, err := f.Client(ctx)
	if err != nil {
		return nil, err
	}
	if kind == kindRule {
		return c.Rules(ctx, "", "")
	}
	return c.Connections(ctx)
}

func withPrefix(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}
