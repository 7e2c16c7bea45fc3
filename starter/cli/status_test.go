package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

func TestNewCmdStatus(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		want    StatusOptions
		wantErr string
	}{
		{name: "every rule", argv: nil, want: StatusOptions{Output: "text"}},
		{name: "one rule", argv: []string{"corp-to-app"}, want: StatusOptions{Rule: "corp-to-app", Output: "text"}},
		{name: "one rule as JSON", argv: []string{"corp-to-app", "-o", "json"}, want: StatusOptions{Rule: "corp-to-app", Output: "json"}},
		{name: "a connection", argv: []string{"--connection", "app"}, want: StatusOptions{Connection: "app", Output: "text"}},
		{name: "a connection as JSON", argv: []string{"--connection=app", "--output", "json"}, want: StatusOptions{Connection: "app", Output: "json"}},
		{name: "RULE and --connection", argv: []string{"corp-to-app", "--connection", "app"}, wantErr: "give a RULE or --connection, not both"},
		{name: "two rules", argv: []string{"a", "b"}, wantErr: "want at most one RULE"},
		{name: "-o yaml", argv: []string{"-o", "yaml"}, wantErr: `--output "yaml": want text or json`},
		{name: "-o empty", argv: []string{"-o", ""}, wantErr: `--output "": want text or json`},
		{name: "-o JSON is case-sensitive", argv: []string{"-o", "JSON"}, wantErr: `--output "JSON"`},
		{name: "--connection without a value", argv: []string{"--connection"}, wantErr: "flag needs an argument: --connection"},
		{name: "a rule's objects", argv: []string{"corp-to-app", "--objects"}, want: StatusOptions{Rule: "corp-to-app", Output: "text", Objects: true}},
		{name: "--objects without a rule", argv: []string{"--objects"}, wantErr: "--objects lists one rule's objects: give a RULE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := newTestFactory()
			var got *StatusOptions
			cmd := newStatusCmd(f, func(o *StatusOptions) error {
				got = o
				return nil
			})
			code, err := execVerb(t, f, "", cmd, tt.argv)
			checkErr(t, code, err, tt.wantErr, 0)
			if tt.wantErr != "" {
				assert.Nil(t, got, "runF was called despite the error")
				return
			}
			if got == nil {
				t.Fatal("runF was not called")
			}
			assert.Equal(t, tt.want, *got)
		})
	}
}

// TestSummarize checks the connection status: the sum over its rules.
func TestSummarize(t *testing.T) {
	sts := []workflows.RuleStatus{
		{Name: "a", State: workflows.StateIdle, ManagedUsers: 3, ManagedGroups: 1,
			Totals: reconcile.Result{Users: reconcile.Counts{Created: 3, Failed: 1}}},
		{Name: "b", State: workflows.StatePaused, ManagedUsers: 2,
			Totals: reconcile.Result{Users: reconcile.Counts{Created: 2}, Groups: reconcile.Counts{Updated: 4}}},
		{Name: "c", State: workflows.StateIdle},
	}
	cs := summarize("app", sts)
	assert.Equal(t, 3, cs.Rules)
	assert.Equal(t, map[string]int{workflows.StateIdle: 2, workflows.StatePaused: 1}, cs.States)
	assert.Equal(t, 5, cs.ManagedUsers)
	assert.Equal(t, 1, cs.ManagedGroups)
	assert.Equal(t, reconcile.Counts{Created: 5, Failed: 1}, cs.Totals.Users)
	assert.Equal(t, reconcile.Counts{Updated: 4}, cs.Totals.Groups)

	var b bytes.Buffer
	printConnectionStatus(&b, cs)
	assert.True(t, strings.HasPrefix(b.String(), "Connection app: 3 rules, 2 idle, 1 paused\n  managed: 5 users, 1 groups\n"), b.String())
}

// TestPrintRuleTable checks the one-line-per-rule table, and that a long
// error is cut rather than wrapping the table, keeping its end (the cause)
// after its class.
func TestPrintRuleTable(t *testing.T) {
	var b bytes.Buffer
	printRuleTable(&b, []workflows.RuleStatus{{
		Name: "corp-to-app", State: workflows.StateCircuitOpen, SourceConnection: "corp-ldap", TargetConnection: "app",
		ManagedUsers: 7, Totals: reconcile.Result{Users: reconcile.Counts{Failed: 2}, Groups: reconcile.Counts{Failed: 1}},
		LastSuccess: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), LastError: strings.Repeat("x", 100),
	}})
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a header and one row, got:\n%s", b.String())
	}
	assert.Equal(t, []string{"RULE", "STATE", "SOURCE", "→", "TARGET", "USERS", "GROUPS", "FAILED", "LAST", "SUCCESS", "LAST", "ERROR"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"corp-to-app", "circuit_open", "corp-ldap", "→", "app", "7", "0", "3", "2025-03-01", "12:00:00", "UTC", "other:", "…" + strings.Repeat("x", 60)},
		strings.Fields(lines[1]))
}

func TestShort(t *testing.T) {
	assert.Equal(t, "abc", short("abc", 3))
	assert.Equal(t, "ab…", short("abc", 2))
	// 59 ASCII bytes then "–" (3 bytes): a byte cut would split it.
	s := strings.Repeat("a", 59) + "–63 lower-case letters"
	got := short(s, 60)
	assert.True(t, utf8.ValidString(got), "%q is not valid UTF-8", got)
	assert.Equal(t, strings.Repeat("a", 59)+"–…", got)
}

// TestTotalsExplained: the totals say they add up every run since the
// rule was created, so that "unchanged 49" for 12 users reads right.
func TestTotalsExplained(t *testing.T) {
	st := workflows.RuleStatus{Name: "corp-to-app", State: workflows.StateIdle, ManagedUsers: 12,
		Totals: reconcile.Result{Users: reconcile.Counts{Created: 12, Unchanged: 49}}}
	var b bytes.Buffer
	printRuleStatus(&b, st, false)
	assert.Contains(t, b.String(), "\nTotals since the rule was created, every poll and full resync added up"+
		" (an object checked and found unchanged counts each time):\n  users   created 12,")
	assert.NotContains(t, b.String(), "Settings", "status NAME leaves the settings to rule show")

	b.Reset()
	printConnectionStatus(&b, summarize("app", []workflows.RuleStatus{st}))
	assert.Contains(t, b.String(), "\n  totals since each rule was created, every poll and full resync added up:\n  users   created 12,")
}
