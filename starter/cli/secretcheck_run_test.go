package cli

// TestSecretCheckRun drives create and update, as a user does, against the
// real Temporal dev server: first with no worker (the references are not
// checked, and the connection is stored), then with an in-process worker
// that resolves them from this process's environment.

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/all"
	"github.com/idsync/idsync/internal/devserver"
	"github.com/idsync/idsync/workflows"
)

func TestSecretCheckRun(t *testing.T) {
	srv := devserver.Start(t)
	address := srv.FrontendHostPort()
	starter := func(argv ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := Main(append(argv, "--address", address, "--namespace", "default", "--timeout", "30s"), &out, &errOut)
		return out.String(), errOut.String(), code
	}
	const secretValue = "the-token-value-1234"
	t.Setenv("SECRETCHECK_TOKEN", secretValue)
	scim := []string{"--type", "scim", "--set", "baseUrl=https://scim.invalid/v2"}

	// No worker: stored, and it says so.
	out, errOut, code := starter(append([]string{"connection", "create", "early"}, append(scim, "--set", "token=env:SECRETCHECK_TOKN")...)...)
	if code != 0 || !strings.Contains(out, `secret references not checked: no worker is polling task queue "idsync"`) {
		t.Fatalf("create with no worker: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// Said at once, with no worker to answer the connection's query.
	start := time.Now()
	if _, errOut, code := starter(append([]string{"connection", "create", "early"}, append(scim, "--set", "token=env:SECRETCHECK_TOKN")...)...); code != 1 ||
		!strings.Contains(errOut, `connection "early" already exists`) || time.Since(start) > 5*time.Second {
		t.Errorf("create of an existing connection with no worker: exit %d, stderr %q after %s", code, errOut, time.Since(start))
	}

	w := worker.New(srv.Client(), workflows.TaskQueue, worker.Options{})
	workflows.Register(w)
	w.RegisterActivity(&activities.Activities{Registry: all.Registry(), Logger: slog.New(slog.DiscardHandler)})
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)

	show := func(name string) connectors.Connection {
		t.Helper()
		out, errOut, code := starter("connection", "show", name)
		if code != 0 {
			t.Fatalf("show %s: exit %d: %s", name, code, errOut)
		}
		var c connectors.Connection
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name    string
		argv    []string
		wantOut string // on stdout, exit 0
		wantErr string // on stderr, exit 1
	}{
		{
			name:    "a mistyped reference is refused",
			argv:    append([]string{"connection", "create", "app"}, append(scim, "--set", "token=env:SECRETCHECK_TOKN")...),
			wantErr: `connection "app" not created: token: secret reference "env:SECRETCHECK_TOKN": environment variable SECRETCHECK_TOKN is not set on the worker`,
		},
		{
			// Also: the refused one was not stored, or this would say
			// it already exists.
			name:    "a reference that resolves",
			argv:    append([]string{"connection", "create", "app"}, append(scim, "--set", "token=env:SECRETCHECK_TOKEN")...),
			wantOut: "created connection app (scim); secret references resolve on the worker (token)\n",
		},
		{
			name:    "a webhook secret is checked too",
			argv:    []string{"connection", "update", "app", "--webhook-secret", "file:/nonexistent/hook"},
			wantErr: `webhookSecret: secret reference "file:/nonexistent/hook": open /nonexistent/hook`,
		},
		{
			name:    "update patches without --type",
			argv:    []string{"connection", "update", "app", "--set", "pageSize=7"},
			wantOut: "updated connection app; secret references resolve on the worker (token)\n",
		},
		{
			name:    "update checks a changed reference",
			argv:    []string{"connection", "update", "app", "--set", "token=env:SECRETCHECK_NOPE"},
			wantErr: "SECRETCHECK_NOPE is not set on the worker",
		},
		{
			name:    "--skip-secret-check stores it unchecked",
			argv:    append([]string{"connection", "create", "later"}, append(scim, "--set", "token=env:SECRETCHECK_NOPE", "--skip-secret-check")...),
			wantOut: "created connection later (scim); secret references not checked (--skip-secret-check)\n",
		},
		{
			name:    "a misspelt setting on update",
			argv:    []string{"connection", "update", "app", "--set", "pagesize=8"},
			wantErr: `unknown setting "pagesize" for type scim; did you mean "pageSize"?`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := starter(tt.argv...)
			if strings.Contains(out+errOut, secretValue) {
				t.Errorf("the output holds the secret's value: %q %q", out, errOut)
			}
			if tt.wantErr != "" {
				if code == 0 || !strings.Contains(errOut, tt.wantErr) {
					t.Errorf("exit %d, stderr %q; want a failure holding %q", code, errOut, tt.wantErr)
				}
				return
			}
			if code != 0 || out != tt.wantOut {
				t.Errorf("exit %d, stdout %q (stderr %q); want %q", code, out, errOut, tt.wantOut)
			}
		})
	}
	c := show("app")
	var settings map[string]any
	if err := json.Unmarshal(c.Settings, &settings); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"baseUrl": "https://scim.invalid/v2", "token": "env:SECRETCHECK_TOKEN", "pageSize": float64(7)}
	if len(settings) != len(want) || settings["token"] != want["token"] || settings["pageSize"] != want["pageSize"] || c.WebhookSecret != "" {
		t.Errorf("app after the updates: %s, webhook %q; want %v", c.Settings, c.WebhookSecret, want)
	}
}
