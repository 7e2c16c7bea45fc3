package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

func TestNewCmdRuleCreate(t *testing.T) {
	base := []string{"corp-to-app", "--source", "corp-ldap", "--target", "app"}
	tests := []struct {
		name    string
		argv    []string
		want    workflows.RuleConfig
		wantErr string
	}{
		{
			name: "source and target",
			argv: base,
			want: workflows.RuleConfig{Name: "corp-to-app", SourceConnection: "corp-ldap", TargetConnection: "app"},
		},
		{
			name: "every tuning flag",
			argv: append(base[:len(base):len(base)], "--skip-initial-sync", "--poll-interval", "10m", "--failure-threshold", "3",
				"--breaker-reset", "1h", "--batch-window", "5s", "--match", "email,userName", "--max-deprovision", "0.05", "--concurrency", "8",
				"--deprovision", "none", "--on-missing", "report"),
			want: workflows.RuleConfig{
				Name:             "corp-to-app",
				SourceConnection: "corp-ldap",
				TargetConnection: "app",
				SkipInitialSync:  true,
				PollInterval:     10 * time.Minute,
				FailureThreshold: 3,
				BreakerReset:     time.Hour,
				BatchWindow:      5 * time.Second,
				Policy:           reconcile.Policy{MatchAttributes: []string{"email", "userName"}, MaxDeprovisionFraction: 0.05, Concurrency: 8, Deprovision: "none", OnMissing: "report"},
			},
		},
		{
			name: "bounds are allowed",
			argv: append(base[:len(base):len(base)], "--poll-interval", "1s", "--batch-window", "1m", "--max-deprovision", "1", "--concurrency", "64"),
			want: workflows.RuleConfig{
				Name:             "corp-to-app",
				SourceConnection: "corp-ldap",
				TargetConnection: "app",
				PollInterval:     time.Second,
				BatchWindow:      time.Minute,
				Policy:           reconcile.Policy{MaxDeprovisionFraction: 1, Concurrency: 64},
			},
		},
		{
			name: "scheduled resync every 12h",
			argv: append(base[:len(base):len(base)], "--resync-interval", "12h"),
			want: workflows.RuleConfig{Name: "corp-to-app", SourceConnection: "corp-ldap", TargetConnection: "app", ResyncInterval: 12 * time.Hour},
		},
		{
			name: "scheduled resync off",
			argv: append(base[:len(base):len(base)], "--resync-interval", "off"),
			want: workflows.RuleConfig{Name: "corp-to-app", SourceConnection: "corp-ldap", TargetConnection: "app", ResyncInterval: -1},
		},
		{name: "resync interval not a duration", argv: append(base[:len(base):len(base)], "--resync-interval", "daily"), wantErr: `invalid argument "daily" for "--resync-interval" flag: want a duration such as 24h, or off`},
		{name: "negative deprovisions per hour", argv: append(base[:len(base):len(base)], "--max-deprovision-per-hour", "-1"), wantErr: "max deprovision per hour -1: must not be negative"},
		{name: "resync interval below 1m", argv: append(base[:len(base):len(base)], "--resync-interval", "30s"), wantErr: "resync interval 30s: must be at least 1m (or off)"},
		{name: "no name", argv: base[1:], wantErr: "want NAME, got 0 arguments"},
		{name: "no --source", argv: []string{"r", "--target", "app"}, wantErr: "source connection is required"},
		{name: "no --target", argv: []string{"r", "--source", "corp-ldap"}, wantErr: "target connection is required"},
		{name: "neither", argv: []string{"r"}, wantErr: "source connection is required\ntarget connection is required"},
		{name: "source is target", argv: []string{"r", "--source", "app", "--target", "app"}, wantErr: "source and target must be different connections"},
		{name: "upper-case name", argv: []string{"Corp", "--source", "a", "--target", "b"}, wantErr: `name "Corp": use 1–63 lower-case letters`},
		{name: "name with a space", argv: []string{"corp app", "--source", "a", "--target", "b"}, wantErr: `name "corp app"`},
		{name: "name of 64 characters", argv: []string{strings.Repeat("r", 64), "--source", "a", "--target", "b"}, wantErr: "1–63"},
		{name: "poll interval without a unit", argv: append(base[:len(base):len(base)], "--poll-interval", "10"), wantErr: `invalid argument "10" for "--poll-interval" flag`},
		{name: "poll interval not a duration", argv: append(base[:len(base):len(base)], "--poll-interval", "soon"), wantErr: `invalid argument "soon" for "--poll-interval"`},
		{name: "poll interval below 1s", argv: append(base[:len(base):len(base)], "--poll-interval", "500ms"), wantErr: "poll interval 500ms: must be at least 1s"},
		{name: "negative poll interval", argv: append(base[:len(base):len(base)], "--poll-interval", "-1m"), wantErr: "poll interval -1m0s: must be at least 1s"},
		{name: "negative breaker reset", argv: append(base[:len(base):len(base)], "--breaker-reset", "-1s"), wantErr: "breaker reset -1s: must not be negative"},
		{name: "batch window over 1m", argv: append(base[:len(base):len(base)], "--batch-window", "61s"), wantErr: "batch window 1m1s: must be between 0 and 1m"},
		{name: "failure threshold not a number", argv: append(base[:len(base):len(base)], "--failure-threshold", "many"), wantErr: `invalid argument "many" for "--failure-threshold"`},
		{name: "negative failure threshold", argv: append(base[:len(base):len(base)], "--failure-threshold", "-1"), wantErr: "failure threshold -1: must not be negative"},
		{name: "deprovision mode unknown", argv: append(base[:len(base):len(base)], "--deprovision", "erase"), wantErr: `deprovision "erase": want disable, delete or none`},
		{name: "on missing unknown", argv: append(base[:len(base):len(base)], "--on-missing", "ignore"), wantErr: `on missing "ignore": want recreate or report`},
		{name: "max deprovision above 1", argv: append(base[:len(base):len(base)], "--max-deprovision", "1.5"), wantErr: "max deprovision fraction 1.5: must be between 0 and 1"},
		{name: "max deprovision negative", argv: append(base[:len(base):len(base)], "--max-deprovision", "-0.1"), wantErr: "max deprovision fraction -0.1: must be between 0 and 1"},
		{name: "max deprovision as a percentage", argv: append(base[:len(base):len(base)], "--max-deprovision", "20%"), wantErr: `invalid argument "20%" for "--max-deprovision"`},
		{name: "concurrency above 64", argv: append(base[:len(base):len(base)], "--concurrency", "65"), wantErr: "concurrency 65: must be between 0 and 64"},
		{name: "empty match attribute", argv: append(base[:len(base):len(base)], "--match", "email,"), wantErr: "match attributes must not be empty strings"},
		{
			name:    "every problem is reported",
			argv:    []string{"R", "--source", "a", "--target", "a", "--max-deprovision", "2"},
			wantErr: "name \"R\": use 1–63 lower-case letters, digits, '.', '_' or '-', starting and ending with a letter or digit\nsource and target must be different connections\nmax deprovision fraction 2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := newTestFactory()
			var got *RuleCreateOptions
			cmd := newRuleCreateCmd(f, func(o *RuleCreateOptions) error {
				got = o
				return nil
			})
			code, err := execVerb(t, f, "rule", cmd, tt.argv)
			checkErr(t, code, err, tt.wantErr, 0)
			if tt.wantErr != "" {
				assert.Nil(t, got, "runF was called despite the error")
				return
			}
			if got == nil {
				t.Fatal("runF was not called")
			}
			assert.Equal(t, tt.want, got.Config)
		})
	}
}

func TestNewCmdRuleUpdate(t *testing.T) {
	// patch builds the expected patch from key, value pairs.
	patch := func(kv ...any) workflows.ConfigPatch {
		p := workflows.ConfigPatch{}
		for i := 0; i < len(kv); i += 2 {
			b, err := json.Marshal(kv[i+1])
			if err != nil {
				t.Fatal(err)
			}
			p[kv[i].(string)] = b
		}
		return p
	}
	tests := []struct {
		name    string
		argv    []string
		want    workflows.ConfigPatch
		wantErr string
	}{
		{name: "poll interval only", argv: []string{"r", "--poll-interval", "10m"}, want: patch("pollInterval", 10*time.Minute)},
		{
			// An explicit zero is a change (back to the default), not "unset".
			name: "zero values are changes",
			argv: []string{"r", "--poll-interval", "0s", "--max-deprovision", "0", "--concurrency", "0"},
			want: patch("pollInterval", 0, "maxDeprovisionFraction", 0, "concurrency", 0),
		},
		{
			name: "every setting",
			argv: []string{"r", "--poll-interval", "1m", "--failure-threshold", "2", "--breaker-reset", "2h", "--batch-window", "3s",
				"--match", "email", "--max-deprovision", "0.5", "--concurrency", "16"},
			want: patch("pollInterval", time.Minute, "failureThreshold", 2, "breakerReset", 2*time.Hour, "batchWindow", 3*time.Second,
				"matchAttributes", []string{"email"}, "maxDeprovisionFraction", 0.5, "concurrency", 16),
		},
		{
			name: "global flags are not settings",
			argv: []string{"r", "--timeout", "5s", "--address", "127.0.0.1:1", "--batch-window", "2s"},
			want: patch("batchWindow", 2*time.Second),
		},
		{name: "resync interval off", argv: []string{"r", "--resync-interval", "off"}, want: patch("resyncInterval", -1)},
		{name: "deprovisions per hour", argv: []string{"r", "--max-deprovision-per-hour", "25"}, want: patch("maxDeprovisionPerHour", 25)},
		{name: "no flags", argv: []string{"r"}, wantErr: "nothing to change: give at least one setting flag"},
		{name: "only global flags", argv: []string{"r", "--timeout", "5s", "--namespace", "idsync"}, wantErr: "nothing to change"},
		{name: "no name", argv: []string{"--poll-interval", "1m"}, wantErr: "want NAME, got 0 arguments"},
		{name: "bad duration", argv: []string{"r", "--poll-interval", "5"}, wantErr: `invalid argument "5" for "--poll-interval" flag`},
		{name: "source is not a setting", argv: []string{"r", "--source", "x"}, wantErr: "unknown flag: --source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := newTestFactory()
			var got *RuleUpdateOptions
			cmd := newRuleUpdateCmd(f, func(o *RuleUpdateOptions) error {
				got = o
				return nil
			})
			code, err := execVerb(t, f, "rule", cmd, tt.argv)
			checkErr(t, code, err, tt.wantErr, 0)
			if tt.wantErr != "" {
				assert.Nil(t, got, "runF was called despite the error")
				return
			}
			if got == nil {
				t.Fatal("runF was not called")
			}
			assert.Equal(t, "r", got.Name)
			assert.Equal(t, tt.want, got.Patch)
		})
	}
}
