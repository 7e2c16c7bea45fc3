package cli

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/workflows"
)

func TestNewCmdSync(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		want    SyncOptions
		wantErr string
	}{
		{
			name: "neither scope flag: both",
			argv: []string{"corp-to-app"},
			want: SyncOptions{Rule: "corp-to-app", Request: workflows.SyncRequest{Scope: workflows.ScopeBoth}, Output: "text"},
		},
		{
			name: "--members",
			argv: []string{"corp-to-app", "--members"},
			want: SyncOptions{Rule: "corp-to-app", Members: true, Request: workflows.SyncRequest{Scope: workflows.ScopeMembers}, Output: "text"},
		},
		{
			name: "--groups",
			argv: []string{"corp-to-app", "--groups"},
			want: SyncOptions{Rule: "corp-to-app", Groups: true, Request: workflows.SyncRequest{Scope: workflows.ScopeGroups}, Output: "text"},
		},
		{
			name: "--members --groups: both",
			argv: []string{"corp-to-app", "--members", "--groups"},
			want: SyncOptions{Rule: "corp-to-app", Members: true, Groups: true, Request: workflows.SyncRequest{Scope: workflows.ScopeBoth}, Output: "text"},
		},
		{
			name: "dry run, guard lifted, wait",
			argv: []string{"corp-to-app", "--dry-run", "--allow-deprovision", "--wait"},
			want: SyncOptions{Rule: "corp-to-app", Wait: true, Output: "text",
				Request: workflows.SyncRequest{Scope: workflows.ScopeBoth, DryRun: true, AllowMassDeprovision: true}},
		},
		{
			name: "-o json with --wait",
			argv: []string{"corp-to-app", "--groups", "--wait", "-o", "json"},
			want: SyncOptions{Rule: "corp-to-app", Groups: true, Wait: true, Output: "json", Request: workflows.SyncRequest{Scope: workflows.ScopeGroups}},
		},
		{
			name: "--output=text without --wait",
			argv: []string{"corp-to-app", "--output=text"},
			want: SyncOptions{Rule: "corp-to-app", Output: "text", Request: workflows.SyncRequest{Scope: workflows.ScopeBoth}},
		},
		{name: "-o json needs --wait", argv: []string{"corp-to-app", "-o", "json"}, wantErr: "-o json needs --wait"},
		{name: "-o yaml", argv: []string{"corp-to-app", "--wait", "-o", "yaml"}, wantErr: `--output "yaml": want text or json`},
		{name: "no rule", argv: []string{"--members"}, wantErr: "want RULE, got 0 arguments"},
		{name: "two rules", argv: []string{"a", "b"}, wantErr: "want RULE, got 2 arguments"},
		{name: "--scope is not a flag", argv: []string{"a", "--scope", "members"}, wantErr: "unknown flag: --scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := newTestFactory()
			var got *SyncOptions
			cmd := newSyncCmd(f, func(o *SyncOptions) error {
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

// TestReportProgress: while `sync --wait` waits, a long resync's progress
// is printed as it changes: the phase, how many so far of about how many
// the rule manages, the rate and the time left.
func TestReportProgress(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)
	steps := []struct {
		at time.Duration
		p  activities.Progress
		ok bool
	}{
		{5 * time.Second, activities.Progress{}, false}, // not started: nothing
		{10 * time.Second, activities.Progress{Phase: "target users", Done: 500}, true},
		{15 * time.Second, activities.Progress{Phase: "target users", Done: 1500}, true},
		{20 * time.Second, activities.Progress{Phase: "target users", Done: 1500}, true}, // unchanged: nothing
		{25 * time.Second, activities.Progress{Phase: "users", Done: 100}, true},
		{30 * time.Second, activities.Progress{Phase: "users", Done: 1100}, true},
		{35 * time.Second, activities.Progress{Phase: "users", Done: 2500}, true}, // past the estimate: no total
	}
	tick := make(chan time.Time)
	i := 0
	read := func(context.Context) (activities.Progress, bool, error) {
		s := steps[i]
		i++
		return s.p, s.ok, nil
	}
	var b bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		reportProgress(context.Background(), &b, tick, read, map[string]int{"users": 2100, "groups": 0})
	}()
	for _, s := range steps {
		select {
		case tick <- t0.Add(s.at):
		case <-done:
			t.Fatal("reportProgress returned before the resync ended")
		case <-time.After(5 * time.Second):
			t.Fatal("reportProgress does not take its ticks")
		}
	}
	close(tick)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reportProgress did not return when its ticks ended")
	}
	assert.Equal(t, ""+
		"  … reading the target's users: 500\n"+
		"  … reading the target's users: 1500 (200/s)\n"+
		"  … users: 100 of about 2100\n"+
		"  … users: 1100 of about 2100 (200/s, about 5s left)\n"+
		"  … users: 2500 (280/s)\n", b.String())
}
