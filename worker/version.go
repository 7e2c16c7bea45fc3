package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// versionString says which build this is, from what the Go toolchain
// stamped in: the module version, and the commit it was built from. It is
// starter's (starter/cli/version.go) too: the binaries share no package
// of their own to hold it.
func versionString(bi *debug.BuildInfo) string {
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

// buildVersion is this binary's versionString.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return versionString(nil)
	}
	return versionString(bi)
}
