package cli

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionString says which build this is, from what the Go toolchain
// stamped in: the module version, and the commit it was built from (a
// checkout's version alone does not name it when it is "(devel)").
// The worker has the same function (worker/version.go): the two binaries
// share no package but their dependencies.
func versionString(bi *debug.BuildInfo) string {
	if bi == nil {
		return "unknown version"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var vcs []string
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		vcs = append(vcs, "commit "+rev[:min(len(rev), 12)])
	}
	if t := settings["vcs.time"]; t != "" {
		vcs = append(vcs, t)
	}
	if settings["vcs.modified"] == "true" {
		vcs = append(vcs, "modified")
	}
	if len(vcs) == 0 {
		return fmt.Sprintf("%s (%s)", v, bi.GoVersion)
	}
	return fmt.Sprintf("%s (%s; %s)", v, strings.Join(vcs, ", "), bi.GoVersion)
}

// buildVersion is this binary's versionString.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return versionString(nil)
	}
	return versionString(bi)
}

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print starter's version: the module version and the commit it was built from",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(f.Out, "starter", buildVersion())
			return nil
		},
	}
}
