package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestDescribe(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tt := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "unknown version"},
		{"a release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}},
			"v1.4.0 (go1.26.8)"},
		{"a checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261205200000-2d24d8212345+dirty"},
			Settings: vcs("vcs", "git", "vcs.revision", "2d24d8212345aaaabbbbccccddddeeeeffff0000", "vcs.time", "2026-12-05T20:00:00Z", "vcs.modified", "true")},
			"v0.0.0-20261205200000-2d24d8212345+dirty (commit 2d24d8212345, 2026-12-05T20:00:00Z, modified; go1.26.8)"},
		{"a short revision", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", "2d24d82")},
			"(devel) (commit 2d24d82; go1.26.8)"},
		{"go run", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{}},
			"(devel) (go1.26.8)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Describe(tt.bi); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
