// Package buildinfo says which build a binary is, for the worker's and
// starter's version command: the module version, and the commit it was
// built from (a checkout's version alone, "(devel)", does not name it).
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Describe formats what the Go toolchain stamped into a binary.
func Describe(bi *debug.BuildInfo) string {
	if bi == nil {
		return "unknown version"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	var vcs []string
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

// Version describes the running binary.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Describe(nil)
	}
	return Describe(bi)
}
