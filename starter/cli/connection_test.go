package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/all"
)

// ldapArgs are the settings of a valid LDAP connection, as --set flags.
var ldapArgs = []string{
	"--type", "ldap",
	"--set", "url=ldap://127.0.0.1:3389",
	"--set", "baseDn=dc=example,dc=org",
	"--set", "bindDn=cn=admin,dc=example,dc=org",
	"--set", "bindPassword=env:LDAP_PASSWORD",
}

func ldapSettings(extra map[string]any) map[string]any {
	m := map[string]any{
		"url":          "ldap://127.0.0.1:3389",
		"baseDn":       "dc=example,dc=org",
		"bindDn":       "cn=admin,dc=example,dc=org",
		"bindPassword": "env:LDAP_PASSWORD",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func args(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestNewCmdConnectionCreate(t *testing.T) {
	dir := t.TempDir()
	settingsFile := filepath.Join(dir, "scim.json")
	if err := os.WriteFile(settingsFile, []byte(`{"baseUrl": "https://app.example.com/scim/v2", "token": "file:/run/secrets/scim"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// A literal secret must be refused without being echoed: it could end
	// up in a terminal scrollback, a CI log or a bug report.
	const literal = "hunter2-Sup3rSecret"

	tests := []struct {
		name         string
		argv         []string
		wantType     string
		wantSettings map[string]any
		wantWebhook  string
		wantErr      string
		wantCode     int    // for wantErr; 0 means 2, a usage error
		notInErr     string // must not appear in the error
	}{
		{
			name:         "ldap with --set",
			argv:         args([]string{"corp-ldap"}, ldapArgs),
			wantType:     "ldap",
			wantSettings: ldapSettings(nil),
		},
		{
			name:         "ldap with named flags",
			argv:         []string{"corp-ldap", "--type", "ldap", "--url", "ldap://h", "--base-dn", "dc=b", "--bind-dn", "cn=a,dc=b", "--bind-password", "env:P"},
			wantType:     "ldap",
			wantSettings: map[string]any{"url": "ldap://h", "bindDn": "cn=a,dc=b", "bindPassword": "env:P", "baseDn": "dc=b"},
		},
		{
			name:         "slack needs only a token",
			argv:         []string{"chat", "--type", "slack", "--token", "env:SLACK_TOKEN"},
			wantType:     "slack",
			wantSettings: map[string]any{"token": "env:SLACK_TOKEN"},
		},
		{
			name:         "github-emu with its enterprise",
			argv:         []string{"gh", "--type", "github-emu", "--enterprise", "octo", "--token", "env:GH"},
			wantType:     "github-emu",
			wantSettings: map[string]any{"enterprise": "octo", "token": "env:GH"},
		},
		{
			name:         "zoom with Server-to-Server OAuth",
			argv:         []string{"zoom", "--type", "zoom", "--account-id", "acc", "--client-id", "cid", "--client-secret", "env:ZS"},
			wantType:     "zoom",
			wantSettings: map[string]any{"accountId": "acc", "clientId": "cid", "clientSecret": "env:ZS"},
		},
		{name: "github-emu without enterprise", argv: []string{"gh", "--type", "github-emu", "--token", "env:GH"}, wantErr: "enterprise is required"},
		{name: "a literal token flag", argv: []string{"chat", "--type", "slack", "--token", literal}, wantErr: "secret reference", notInErr: literal},
		{name: "enterprise on a slack connection", argv: []string{"chat", "--type", "slack", "--token", "env:T", "--enterprise", "octo"}, wantErr: "--enterprise is not a setting of type slack"},
		{name: "enterprise set on a slack connection", argv: []string{"chat", "--type", "slack", "--token", "env:T", "--set", "enterprise=octo"}, wantErr: "enterprise is a github-emu setting"},
		{
			name:         "typed JSON values",
			argv:         args([]string{"corp-ldap"}, ldapArgs, []string{"--set", "pageSize=100", "--set", "startTls=true", "--set", "timeout=45s"}),
			wantType:     "ldap",
			wantSettings: ldapSettings(map[string]any{"pageSize": float64(100), "startTls": true, "timeout": "45s"}),
		},
		{
			name:         "the value keeps everything after the first =",
			argv:         []string{"corp-ldap", "--type", "ldap", "--set", "url=ldap://h", "--set", "bindDn=cn=a,dc=b", "--set", "bindPassword=env:P", "--set", "baseDn=dc=b", "--set", "userFilter=(uid=*)"},
			wantType:     "ldap",
			wantSettings: map[string]any{"url": "ldap://h", "bindDn": "cn=a,dc=b", "bindPassword": "env:P", "baseDn": "dc=b", "userFilter": "(uid=*)"},
		},
		{
			name:         "--set overrides --settings",
			argv:         []string{"app", "--type", "scim", "--settings", `{"baseUrl":"https://a.example/scim/v2","token":"env:A","pageSize":50}`, "--set", "pageSize=200"},
			wantType:     "scim",
			wantSettings: map[string]any{"baseUrl": "https://a.example/scim/v2", "token": "env:A", "pageSize": float64(200)},
		},
		{
			name:         "--settings-file",
			argv:         []string{"app", "--type", "scim", "--settings-file", settingsFile},
			wantType:     "scim",
			wantSettings: map[string]any{"baseUrl": "https://app.example.com/scim/v2", "token": "file:/run/secrets/scim"},
		},
		{
			name:         "webhook secret reference",
			argv:         args([]string{"corp-ldap"}, ldapArgs, []string{"--webhook-secret", "file:/run/secrets/hook"}),
			wantType:     "ldap",
			wantSettings: ldapSettings(nil),
			wantWebhook:  "file:/run/secrets/hook",
		},
		{name: "no name", argv: ldapArgs, wantErr: "want NAME, got 0 arguments"},
		{name: "two names", argv: args([]string{"a", "b"}, ldapArgs), wantErr: "want NAME, got 2 arguments"},
		{name: "upper case name", argv: args([]string{"Corp"}, ldapArgs), wantErr: `name "Corp": use 1–63 lower-case letters`},
		{name: "name with a slash", argv: args([]string{"corp/ldap"}, ldapArgs), wantErr: `name "corp/ldap"`},
		{name: "name ending in a dash", argv: args([]string{"corp-"}, ldapArgs), wantErr: `name "corp-"`},
		{name: "name too long", argv: args([]string{strings.Repeat("a", 64)}, ldapArgs), wantErr: "1–63"},
		{name: "no --type", argv: []string{"corp", "--set", "url=ldap://h"}, wantErr: "--type is required (one of aquera, github-emu, "},
		{name: "unknown --type", argv: []string{"corp", "--type", "ldapp"}, wantErr: `unknown connection type "ldapp" (known: [aquera github-emu `},
		{name: "--set without =", argv: args([]string{"corp"}, ldapArgs, []string{"--set", "startTls"}), wantErr: `--set "startTls": want key=value`},
		{name: "--set without key", argv: args([]string{"corp"}, ldapArgs, []string{"--set", "=x"}), wantErr: "want key=value"},
		{name: "--set of a misspelt key", argv: args([]string{"corp"}, ldapArgs, []string{"--set", "baseDnn=dc=x"}), wantErr: `unknown setting "baseDnn" for type ldap; did you mean "baseDn"?`},
		{
			name:    "--set of a key in the wrong case",
			argv:    []string{"app", "--type", "scim", "--set", "baseUrl=https://a.example/scim/v2", "--set", "token=env:A", "--set", "pagesize=10"},
			wantErr: `unknown setting "pagesize" for type scim; did you mean "pageSize"?`,
		},
		{
			name:    "--set of a key like none",
			argv:    args([]string{"corp"}, ldapArgs, []string{"--set", "colour=blue"}),
			wantErr: `unknown setting "colour" for type ldap (its settings: `,
		},
		{
			name:     "--set of a word where a number is wanted",
			argv:     []string{"app", "--type", "scim", "--set", "baseUrl=https://a.example/scim/v2", "--set", "token=env:A", "--set", "pageSize=abc"},
			wantErr:  `setting pageSize: want a number, got "abc"`,
			notInErr: "cannot unmarshal",
		},
		{
			name:         "--set keeps a string setting a string",
			argv:         []string{"demo", "--type", "memory", "--set", "store=1234"},
			wantType:     "memory",
			wantSettings: map[string]any{"store": "1234"},
		},
		{
			name:     "--set of a number for a secret is refused as a literal, not echoed",
			argv:     args([]string{"corp"}, ldapArgs, []string{"--set", "bindPassword=31415926"}),
			wantErr:  "bindPassword: must be a secret reference",
			notInErr: "31415926",
		},
		{name: "--set of a number where a string is wanted", argv: args([]string{"corp"}, ldapArgs, []string{"--set", "timeout=30"}), wantErr: "ldap settings"},
		{name: "invalid setting value", argv: args([]string{"corp"}, ldapArgs, []string{"--set", "pageSize=-1"}), wantErr: "pageSize: want 1 to 100000, got -1"},
		{name: "missing required settings", argv: []string{"corp", "--type", "ldap"}, wantErr: "url: want ldap://host"},
		{
			name:    "--settings and --settings-file",
			argv:    []string{"app", "--type", "scim", "--settings", "{}", "--settings-file", settingsFile},
			wantErr: "--settings and --settings-file cannot be used together",
		},
		{name: "--settings not an object", argv: []string{"app", "--type", "scim", "--settings", `["x"]`}, wantErr: "settings must be a JSON object"},
		{name: "--settings not JSON", argv: []string{"app", "--type", "scim", "--settings", `baseUrl=x`}, wantErr: "settings must be a JSON object"},
		{name: "--settings-file missing", argv: []string{"app", "--type", "scim", "--settings-file", filepath.Join(dir, "nope.json")}, wantErr: "--settings-file: open "},
		{
			name:     "literal bindPassword",
			argv:     args([]string{"corp"}, ldapArgs, []string{"--set", "bindPassword=" + literal}),
			wantErr:  "bindPassword: must be a secret reference env:NAME or file:PATH, not a literal value",
			notInErr: literal,
		},
		{
			name:     "literal bindPassword with a colon",
			argv:     args([]string{"corp"}, ldapArgs, []string{"--set", "bindPassword=" + literal + ":x"}),
			wantErr:  "bindPassword: must be a secret reference",
			notInErr: literal,
		},
		{
			name:     "literal bindPassword in --settings",
			argv:     []string{"corp", "--type", "ldap", "--settings", `{"url":"ldap://h","baseDn":"dc=x","bindDn":"cn=a,dc=x","bindPassword":"` + literal + `"}`},
			wantErr:  "bindPassword: must be a secret reference",
			notInErr: literal,
		},
		{
			name:     "literal bindPassword that looks like a number",
			argv:     args([]string{"corp"}, ldapArgs, []string{"--set", "bindPassword=31415926"}),
			wantErr:  "ldap settings",
			notInErr: "31415926",
		},
		{
			name:     "literal token",
			argv:     []string{"app", "--type", "scim", "--set", "baseUrl=https://a.example/scim/v2", "--set", "token=" + literal},
			wantErr:  "token: must be a secret reference",
			notInErr: literal,
		},
		{
			name:     "literal webhook secret",
			argv:     args([]string{"corp"}, ldapArgs, []string{"--webhook-secret", literal}),
			wantErr:  "--webhook-secret: must be a secret reference env:NAME or file:PATH, not a literal value",
			notInErr: literal,
		},
		{
			name:     "webhook secret of an unknown kind",
			argv:     args([]string{"corp"}, ldapArgs, []string{"--webhook-secret", "vault:" + literal}),
			wantErr:  "--webhook-secret: must be a secret reference",
			notInErr: literal,
		},
		{
			// --set takes "bindPassword" as its value, and the password
			// becomes a second argument: it must not be echoed either.
			name:     "a secret that lost its flag",
			argv:     args([]string{"corp"}, ldapArgs, []string{"--set", "bindPassword", literal}),
			wantErr:  "want NAME, got 2 arguments",
			notInErr: literal,
		},
		{name: "unknown flag", argv: args([]string{"corp"}, ldapArgs, []string{"--uri", "ldap://h"}), wantErr: "unknown flag: --uri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := newTestFactory()
			var got *ConnectionCreateOptions
			cmd := newConnectionCreateCmd(f, func(o *ConnectionCreateOptions) error {
				got = o
				return nil
			})
			code, err := execVerb(t, f, "connection", cmd, tt.argv)
			checkErr(t, code, err, tt.wantErr, tt.wantCode)
			if tt.notInErr != "" && err != nil && strings.Contains(err.Error(), tt.notInErr) {
				t.Errorf("the error echoes the secret: %v", err)
			}
			if tt.wantErr != "" {
				if got != nil {
					t.Error("runF was called despite the error")
				}
				return
			}
			if got == nil {
				t.Fatal("runF was not called")
			}
			conn := got.Connection
			assert.Equal(t, tt.argv[0], conn.Name)
			assert.Equal(t, tt.wantType, conn.Type)
			assert.Equal(t, tt.wantWebhook, conn.WebhookSecret)
			var settings map[string]any
			if err := json.Unmarshal(conn.Settings, &settings); err != nil {
				t.Fatalf("settings %s: %v", conn.Settings, err)
			}
			assert.Equal(t, tt.wantSettings, settings)
		})
	}
}

// TestNewCmdConnectionUpdate checks update's flags: no --type needed,
// usage mistakes refused before anything is sent.
func TestNewCmdConnectionUpdate(t *testing.T) {
	tests := []struct {
		name      string
		argv      []string
		wantErr   string
		wantSet   []string
		wantUnset []string
	}{
		{name: "a setting, without --type", argv: []string{"corp-ldap", "--set", "pageSize=200"}, wantSet: []string{"pageSize=200"}},
		{name: "with --type", argv: args([]string{"corp-ldap"}, ldapArgs, []string{"--set", "pageSize=200"}), wantSet: []string{
			"url=ldap://127.0.0.1:3389", "baseDn=dc=example,dc=org", "bindDn=cn=admin,dc=example,dc=org", "bindPassword=env:LDAP_PASSWORD", "pageSize=200"}},
		{name: "unset", argv: []string{"corp-ldap", "--unset", "pageSize", "--unset", "timeout"}, wantUnset: []string{"pageSize", "timeout"}},
		{name: "unknown --type", argv: []string{"corp-ldap", "--type", "ldapp"}, wantErr: `unknown connection type "ldapp"`},
		{name: "--set without =", argv: []string{"corp-ldap", "--set", "pageSize"}, wantErr: `--set "pageSize": want key=value`},
		{name: "empty --unset", argv: []string{"corp-ldap", "--unset", ""}, wantErr: "--unset: want a settings key"},
		{name: "literal webhook secret", argv: []string{"corp-ldap", "--webhook-secret", "s3cret"}, wantErr: "--webhook-secret: must be a secret reference"},
		{name: "bad name", argv: []string{"Corp", "--set", "pageSize=1"}, wantErr: `name "Corp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := newTestFactory()
			var got *ConnectionCreateOptions
			cmd := newConnectionUpdateCmd(f, func(o *ConnectionCreateOptions) error {
				got = o
				return nil
			})
			code, err := execVerb(t, f, "connection", cmd, tt.argv)
			checkErr(t, code, err, tt.wantErr, 0)
			if tt.wantErr != "" {
				return
			}
			if got == nil {
				t.Fatal("runF was not called")
			}
			assert.Equal(t, "corp-ldap", got.Name)
			assert.Equal(t, tt.wantSet, got.Set)
			assert.Equal(t, tt.wantUnset, got.Unset)
		})
	}
}

// TestPatchConnection: update changes the settings named and keeps the
// others.
func TestPatchConnection(t *testing.T) {
	stored := connectors.Connection{
		Name: "app", Type: "scim", WebhookSecret: "env:HOOK",
		Settings: json.RawMessage(`{"baseUrl":"https://a.example/scim/v2","token":"env:A","pageSize":50,"timeout":"45s"}`),
	}
	tests := []struct {
		name         string
		opts         ConnectionCreateOptions
		wantSettings string
		wantWebhook  string
		wantErr      string
	}{
		{
			name:         "--set keeps the rest",
			opts:         ConnectionCreateOptions{Set: []string{"pageSize=100"}},
			wantSettings: `{"baseUrl":"https://a.example/scim/v2","token":"env:A","pageSize":100,"timeout":"45s"}`,
			wantWebhook:  "env:HOOK",
		},
		{
			name:         "a named flag",
			opts:         ConnectionCreateOptions{Named: map[string]string{"token": "file:/run/t"}},
			wantSettings: `{"baseUrl":"https://a.example/scim/v2","token":"file:/run/t","pageSize":50,"timeout":"45s"}`,
			wantWebhook:  "env:HOOK",
		},
		{
			name:         "--unset",
			opts:         ConnectionCreateOptions{Unset: []string{"timeout", "pageSize"}},
			wantSettings: `{"baseUrl":"https://a.example/scim/v2","token":"env:A"}`,
			wantWebhook:  "env:HOOK",
		},
		{
			name:         "--settings replaces, --set on top",
			opts:         ConnectionCreateOptions{Settings: `{"baseUrl":"https://b.example/scim/v2","token":"env:B"}`, Set: []string{"maxScan=7"}},
			wantSettings: `{"baseUrl":"https://b.example/scim/v2","token":"env:B","maxScan":7}`,
			wantWebhook:  "env:HOOK",
		},
		{
			name:         "--type of the connection",
			opts:         ConnectionCreateOptions{Type: "scim", Set: []string{"pageSize=100"}},
			wantSettings: `{"baseUrl":"https://a.example/scim/v2","token":"env:A","pageSize":100,"timeout":"45s"}`,
			wantWebhook:  "env:HOOK",
		},
		{
			name:         "--webhook-secret \"\" clears it",
			opts:         ConnectionCreateOptions{WebhookSecretGiven: true},
			wantSettings: string(stored.Settings),
		},
		{
			name:         "--webhook-secret replaces it",
			opts:         ConnectionCreateOptions{WebhookSecretGiven: true, WebhookSecret: "file:/run/hook"},
			wantSettings: string(stored.Settings),
			wantWebhook:  "file:/run/hook",
		},
		{name: "another --type", opts: ConnectionCreateOptions{Type: "slack"}, wantErr: "cannot change the type of connection \"app\" from scim to slack"},
		{name: "misspelt key", opts: ConnectionCreateOptions{Set: []string{"pagesize=10"}}, wantErr: `unknown setting "pagesize" for type scim; did you mean "pageSize"?`},
		{name: "bad value", opts: ConnectionCreateOptions{Set: []string{"pageSize=abc"}}, wantErr: `setting pageSize: want a number, got "abc"`},
		{name: "--unset of a setting not set", opts: ConnectionCreateOptions{Unset: []string{"maxScan"}}, wantErr: "--unset maxScan: connection \"app\" has no such setting"},
		{name: "--unset of a required setting", opts: ConnectionCreateOptions{Unset: []string{"token"}}, wantErr: "token is required"},
		{name: "--unset and --set of one key", opts: ConnectionCreateOptions{Unset: []string{"pageSize"}, Set: []string{"pageSize=1"}}, wantErr: "also given a value"},
		{name: "a literal secret", opts: ConnectionCreateOptions{Set: []string{"token=s3cret-value"}}, wantErr: "token: must be a secret reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tt.opts.patchConnection(all.Registry(), stored)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one holding %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret-value") {
					t.Errorf("the error echoes the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assert.Equal(t, "app", conn.Name)
			assert.Equal(t, "scim", conn.Type)
			assert.Equal(t, tt.wantWebhook, conn.WebhookSecret)
			assert.JSONEq(t, tt.wantSettings, string(conn.Settings))
		})
	}
}

// TestSecretCheckResult: what create and update say of a worker's check.
func TestSecretCheckResult(t *testing.T) {
	ok := func(setting, ref string) activities.SecretStatus {
		return activities.SecretStatus{SecretRef: connectors.SecretRef{Setting: setting, Ref: ref}, OK: true}
	}
	tests := []struct {
		name     string
		res      activities.SecretCheck
		wantNote string
		wantErr  string
	}{
		{name: "all resolve", res: activities.SecretCheck{Refs: []activities.SecretStatus{ok("token", "env:T"), ok("webhookSecret", "env:H")}},
			wantNote: "; secret references resolve on the worker (token, webhookSecret)"},
		{name: "one does not", res: activities.SecretCheck{Refs: []activities.SecretStatus{ok("token", "env:T"), {
			SecretRef: connectors.SecretRef{Setting: "webhookSecret", Ref: "env:HOOK_KY"},
			Error:     `secret reference "env:HOOK_KY": environment variable HOOK_KY is not set on the worker`}}},
			wantErr: `connection "app" not created: webhookSecret: secret reference "env:HOOK_KY": environment variable HOOK_KY is not set on the worker`},
		{name: "settings refused", res: activities.SecretCheck{Error: "no such type"}, wantErr: `the worker refuses the settings of connection "app": no such type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			note, err := secretCheckResult("app", "created", tt.res)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one holding %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assert.Equal(t, tt.wantNote, note)
		})
	}
}
