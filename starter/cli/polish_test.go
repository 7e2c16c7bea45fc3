package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

// TestUnknownCommandSuggests: cobra's "Did you mean this?" reads as one
// sentence, at the top level and under a noun.
func TestUnknownCommandSuggests(t *testing.T) {
	for _, tt := range []struct {
		argv []string
		want string
	}{
		{[]string{"stauts"}, `starter: unknown command "stauts" for "starter"; did you mean "status"?` + "\n"},
		{[]string{"rule", "shwo"}, `starter: unknown command "shwo" for "starter rule"; did you mean "show"?` + "\n"},
		{[]string{"connection", "tset"}, `starter: unknown command "tset" for "starter connection"; did you mean "test"?` + "\n"},
		{[]string{"frobnicate"}, `starter: unknown command "frobnicate" for "starter"; see starter --help` + "\n"},
		{[]string{"rule", "frobnicate"}, `starter: unknown command "frobnicate" for "starter rule"; see starter rule --help` + "\n"},
	} {
		t.Run(strings.Join(tt.argv, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(tt.argv, &out, &errOut)
			assert.Equal(t, 2, code)
			assert.Equal(t, tt.want, errOut.String())
		})
	}
}

// TestVersionCommand: `starter version` and `starter --version` print the
// same line and exit 0.
func TestVersionCommand(t *testing.T) {
	var outs []string
	for _, argv := range [][]string{{"version"}, {"--version"}} {
		var out, errOut bytes.Buffer
		code := Main(argv, &out, &errOut)
		assert.Equal(t, 0, code, "%v: stderr %s", argv, errOut.String())
		assert.True(t, strings.HasPrefix(out.String(), "starter "), "%v: %q", argv, out.String())
		assert.Equal(t, 1, strings.Count(out.String(), "\n"), "%v: %q", argv, out.String())
		outs = append(outs, out.String())
	}
	assert.Equal(t, outs[0], outs[1])
	assert.Contains(t, outs[0], "(go", "the Go version is part of the line")
}

// TestJSONDurations: -o json writes durations as Go durations ("2m0s"),
// as the flags take them, not nanoseconds.
func TestJSONDurations(t *testing.T) {
	st := workflows.RuleStatus{Name: "corp-to-app", PollInterval: 2*time.Minute + 17*time.Second}
	for _, tt := range []struct {
		name string
		v    any
	}{
		{"a rule", ruleJSON(st)},
		{"rules", rulesJSON([]workflows.RuleStatus{st})},
		{"a connection", connectionJSON(summarize("app", []workflows.RuleStatus{st}))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printJSON(&b, tt.v); err != nil {
				t.Fatal(err)
			}
			assert.Contains(t, b.String(), `"pollInterval": "2m17s"`)
			assert.NotContains(t, b.String(), "137000000000")
			assert.Contains(t, b.String(), `"name": "corp-to-app"`, "the status's other fields are kept")
		})
	}
}

func TestFmtWhen(t *testing.T) {
	for _, tt := range []struct {
		in   time.Time
		want string
	}{
		{time.Time{}, "never"},
		{time.Date(2026, 12, 5, 20, 10, 0, 0, time.UTC), "2026-12-05 20:10:00 UTC"},
		{time.Date(2026, 12, 5, 22, 10, 0, 0, time.FixedZone("CEST", 2*3600)), "2026-12-05 20:10:00 UTC"},
		{time.Date(2026, 12, 5, 15, 10, 0, 0, time.FixedZone("EST", -5*3600)), "2026-12-05 20:10:00 UTC"},
	} {
		assert.Equal(t, tt.want, fmtWhen(tt.in), "%s", tt.in)
	}
}

// TestSyncJSON: `sync --wait -o json` names the resync's workflow, and
// keeps the rule's internal cursor to itself.
func TestSyncJSON(t *testing.T) {
	res := workflows.ResyncResult{Cursor: "opaque-cursor", Scope: workflows.ScopeBoth,
		Result: reconcile.Result{Users: reconcile.Counts{Created: 12}}}
	var b bytes.Buffer
	if err := printJSON(&b, syncJSON("rule/corp-to-app/resync-3", res)); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	assert.Equal(t, "rule/corp-to-app/resync-3", got["workflowId"])
	assert.Equal(t, "both", got["scope"])
	assert.NotContains(t, got, "cursor")
	assert.Contains(t, got, "result")
}

func TestStartedText(t *testing.T) {
	for _, tt := range []struct {
		req  workflows.SyncRequest
		want string
	}{
		{workflows.SyncRequest{Scope: workflows.ScopeBoth}, "started a full resync of corp-to-app (users, groups and memberships): rule/corp-to-app/resync-1"},
		{workflows.SyncRequest{Scope: workflows.ScopeMembers}, "started a full resync of corp-to-app (users): rule/corp-to-app/resync-1"},
		{workflows.SyncRequest{Scope: workflows.ScopeGroups}, "started a full resync of corp-to-app (groups and memberships): rule/corp-to-app/resync-1"},
		{workflows.SyncRequest{Scope: workflows.ScopeBoth, DryRun: true}, "started a dry run of a full resync of corp-to-app (users, groups and memberships): rule/corp-to-app/resync-1"},
	} {
		o := &SyncOptions{Rule: "corp-to-app", Request: tt.req}
		assert.Equal(t, tt.want, startedText(o, "rule/corp-to-app/resync-1"))
	}
}

// TestCompletion: rule, connection and type names complete where they go,
// from what the server lists.
func TestCompletion(t *testing.T) {
	names := func(_ context.Context, kind string) ([]string, error) {
		switch kind {
		case "rule":
			return []string{"corp-to-app", "hr-to-app"}, nil
		case "connection":
			return []string{"app", "corp", "hr"}, nil
		}
		t.Fatalf("asked for names of %q", kind)
		return nil, nil
	}
	rules := []string{"corp-to-app", "hr-to-app"}
	conns := []string{"app", "corp", "hr"}
	for _, tt := range []struct {
		argv []string
		want []string
	}{
		{[]string{"status", ""}, rules},
		{[]string{"status", "h"}, []string{"hr-to-app"}},
		{[]string{"status", "corp-to-app", ""}, nil},
		{[]string{"status", "--connection", ""}, conns},
		{[]string{"sync", ""}, rules},
		{[]string{"rule", "show", ""}, rules},
		{[]string{"rule", "update", "c"}, []string{"corp-to-app"}},
		{[]string{"rule", "pause", ""}, rules},
		{[]string{"rule", "resume", ""}, rules},
		{[]string{"rule", "approve", ""}, rules},
		{[]string{"rule", "reject", ""}, rules},
		{[]string{"rule", "delete", ""}, rules},
		{[]string{"rule", "list", "--connection", ""}, conns},
		{[]string{"rule", "create", "x", "--source", ""}, conns},
		{[]string{"rule", "create", "x", "--target", "a"}, []string{"app"}},
		{[]string{"rule", "create", ""}, nil},
		{[]string{"connection", "show", ""}, conns},
		{[]string{"connection", "test", "c"}, []string{"corp"}},
		{[]string{"connection", "update", ""}, conns},
		{[]string{"connection", "delete", ""}, conns},
		{[]string{"connection", "create", "x", "--type", "sc"}, []string{"scim"}},
		{[]string{"connection", "update", "x", "--type", "ld"}, []string{"ldap"}},
	} {
		t.Run(strings.Join(tt.argv, " "), func(t *testing.T) {
			f, out, errOut := newTestFactory()
			f.names = names
			code := f.execute(append([]string{"__complete"}, tt.argv...))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			var got []string
			for _, line := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(line, ":") {
					break
				}
				name, _, _ := strings.Cut(line, "\t") // a description may follow
				got = append(got, name)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestCompletionUnreachable: with no server, completion offers nothing
// (not file names), at once.
func TestCompletionUnreachable(t *testing.T) {
	var out, errOut bytes.Buffer
	start := time.Now()
	code := Main([]string{"__complete", "--address", closedAddr(t), "status", ""}, &out, &errOut)
	assert.Equal(t, 0, code)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, ":4\n", out.String(), "no names, and no file completion")
}
