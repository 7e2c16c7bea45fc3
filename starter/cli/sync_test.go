package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"

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
