package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

var ldapCadence = connectors.Cadence{PollInterval: 2 * time.Minute, BreakerReset: 30 * time.Minute, ResyncInterval: 24 * time.Hour}

// TestRuleShowSettings: `rule show` prints every setting `rule update`
// takes, by its flag, the defaults marked, in text and in -o json.
func TestRuleShowSettings(t *testing.T) {
	defaults := workflows.RuleConfig{Name: "corp-to-app", SourceConnection: "corp", TargetConnection: "app",
		SourceType: "ldap", TargetType: "scim", Cadence: ldapCadence}
	given := defaults
	given.PollInterval = 10 * time.Second
	given.ResyncInterval = -1
	given.FailureThreshold = 3
	given.BreakerReset = 5 * time.Minute
	given.BatchWindow = 2 * time.Second
	given.MaxDeprovisionPerHour = 25
	given.SkipInitialSync = true
	given.Policy = reconcile.Policy{MatchAttributes: []string{"email"}, MaxDeprovisionFraction: 0.05, Concurrency: 8,
		Deprovision: reconcile.DeprovisionDelete, OnMissing: reconcile.MissingReport}

	for _, tt := range []struct {
		name     string
		cfg      workflows.RuleConfig
		wantText []string
		wantJSON map[string]any
	}{
		{"defaults", defaults, []string{
			"--poll-interval             2m0s (default)",
			"--resync-interval           24h0m0s (default)",
			"--failure-threshold         5 (default)",
			"--breaker-reset             30m0s (default)",
			"--batch-window              0s, at once (default)",
			"--match                     userName,email (default)",
			"--concurrency               4 (default)",
			"--max-deprovision           0.2 (default)",
			"--max-deprovision-per-hour  none: the --max-deprovision share (default)",
			"--deprovision               as the target connection is set (default)",
			"--on-missing                recreate (default)",
			"--skip-initial-sync         false",
		}, map[string]any{
			"pollInterval": "2m0s", "resyncInterval": "24h0m0s", "failureThreshold": 5.0, "breakerReset": "30m0s",
			"batchWindow": "0s", "matchAttributes": []any{"userName", "email"}, "concurrency": 4.0,
			"maxDeprovisionFraction": 0.2, "maxDeprovisionPerHour": 0.0, "deprovision": "", "onMissing": "recreate",
			"skipInitialSync": false,
			"defaults": []any{"pollInterval", "resyncInterval", "failureThreshold", "breakerReset", "batchWindow",
				"matchAttributes", "concurrency", "maxDeprovisionFraction", "maxDeprovisionPerHour", "deprovision", "onMissing"},
		}},
		{"all given", given, []string{
			"--poll-interval             10s\n",
			"--resync-interval           off\n",
			"--failure-threshold         3\n",
			"--breaker-reset             5m0s\n",
			"--batch-window              2s\n",
			"--match                     email\n",
			"--concurrency               8\n",
			"--max-deprovision           0.05\n",
			"--max-deprovision-per-hour  25\n",
			"--deprovision               delete\n",
			"--on-missing                report\n",
			"--skip-initial-sync         true\n",
		}, map[string]any{
			"pollInterval": "10s", "resyncInterval": "off", "failureThreshold": 3.0, "breakerReset": "5m0s",
			"batchWindow": "2s", "matchAttributes": []any{"email"}, "concurrency": 8.0,
			"maxDeprovisionFraction": 0.05, "maxDeprovisionPerHour": 25.0, "deprovision": "delete", "onMissing": "report",
			"skipInitialSync": true, "defaults": []any{},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := workflows.RuleStatus{Name: "corp-to-app", Config: tt.cfg}
			var b bytes.Buffer
			printSettings(&b, st)
			for _, want := range tt.wantText {
				assert.Contains(t, b.String(), "  "+want)
			}
			b.Reset()
			if err := printJSON(&b, ruleJSON(st)); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Config map[string]any `json:"settings"`
			}
			if err := json.Unmarshal(b.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			assert.Equal(t, tt.wantJSON, got.Config)
		})
	}
}

// TestRuleShowSettingsOldWorker: a worker that does not report settings
// is named as the reason, not shown as defaults.
func TestRuleShowSettingsOldWorker(t *testing.T) {
	var b bytes.Buffer
	printSettings(&b, workflows.RuleStatus{Name: "corp-to-app"})
	assert.Contains(t, b.String(), "not reported")
	assert.False(t, strings.Contains(b.String(), "(default)"), b.String())
	b.Reset()
	if err := printJSON(&b, ruleJSON(workflows.RuleStatus{Name: "corp-to-app"})); err != nil {
		t.Fatal(err)
	}
	assert.NotContains(t, b.String(), `"settings"`)
}
