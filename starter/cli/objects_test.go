package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

// TestPrintObjects: `status RULE --objects` names what the last runs
// wrote, newest first, failures with their error, and says where the
// unnamed rest went.
func TestPrintObjects(t *testing.T) {
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	st := workflows.RuleStatus{Name: "corp-to-app", RecentObjects: []workflows.RecentObject{
		{At: at, Run: workflows.RunResync, Object: reconcile.Object{Action: reconcile.ActionCreated, Kind: "user", Name: "ada", ID: "u-1"}},
		{At: at, Run: workflows.RunResync, More: 1950},
		{At: at.Add(time.Minute), Run: workflows.RunPoll, Object: reconcile.Object{Action: reconcile.ActionFailed, Kind: "user",
			Name: "update user bob (source id u-2)", Error: "400 invalid email"}},
		{At: at.Add(2 * time.Minute), Run: workflows.RunChange, Object: reconcile.Object{Action: reconcile.ActionDeprovisioned, Kind: "user", Name: "carol", ID: "u-3"}},
	}}
	var b bytes.Buffer
	printObjects(&b, st)
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 {
		t.Fatalf("want a heading, a header and 5 lines, got:\n%s", out)
	}
	for i, want := range []string{"TIME", "deprovisioned  user  carol", "failed", "error: 400 invalid email", "1950 more of this run", "created        user  ada"} {
		if !strings.Contains(lines[i+1], want) {
			t.Errorf("line %d = %q, want it to hold %q", i+1, lines[i+1], want)
		}
	}
	if !strings.Contains(lines[2], "2026-12-05 10:02:00 UTC  change") {
		t.Errorf("newest first, with time and run: %q", lines[2])
	}

	b.Reset()
	printObjects(&b, workflows.RuleStatus{Name: "idle"})
	if !strings.Contains(b.String(), "has written no object yet") {
		t.Errorf("no objects: %q", b.String())
	}
}

// TestPrintNamed: `sync --dry-run --wait` says what would be done to
// whom.
func TestPrintNamed(t *testing.T) {
	res := reconcile.Result{ObjectsDropped: 3, Objects: []reconcile.Object{
		{Action: reconcile.ActionCreated, Kind: "user", Name: "ada", ID: "u-1"},
		{Action: reconcile.ActionDeprovisioned, Kind: "user", Name: "bob", ID: "u-2"},
		{Action: reconcile.ActionConflict, Kind: "user", Name: "create user eve (source id u-5)", Error: "userName taken"},
	}}
	var b bytes.Buffer
	printNamed(&b, res, true)
	for _, want := range []string{"would create       user  ada", "would deprovision  user  bob", "(source id u-2)",
		"conflict           user  create user eve (source id u-5): userName taken", "and 3 more, not listed"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("dry run: want %q in\n%s", want, b.String())
		}
	}
	b.Reset()
	printNamed(&b, res, false)
	if !strings.Contains(b.String(), "  created  ") || strings.Contains(b.String(), "would") {
		t.Errorf("applied run:\n%s", b.String())
	}
}
