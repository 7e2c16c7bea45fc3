package cli

// The run tests drive the CLI through Main, as a user does, against the
// real Temporal dev server and an in-process worker whose activities use
// the real connectors: slapd as the source and the SCIM test server as the
// target.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/all"
	"github.com/idsync/idsync/internal/devserver"
	"github.com/idsync/idsync/internal/peers"
	"github.com/idsync/idsync/internal/syncbuf"
	"github.com/idsync/idsync/workflows"
)

// engine is a dev server with a worker, and the peers a rule works with.
type engine struct {
	t       *testing.T
	address string
	slapd   *peers.Slapd
	scim    *peers.SCIM
	// startWorker starts a worker and returns its stop; stopWorker stops
	// the one running.
	startWorker func() func()
	stopWorker  func()
}

func startEngine(t *testing.T) *engine {
	t.Helper()
	e := &engine{t: t, slapd: peers.SlapdForTest(t, peers.SlapdOptions{}), scim: peers.SCIMForTest(t)}
	srv := devserver.Start(t)
	e.address = srv.FrontendHostPort()
	c := srv.Client()

	// The worker resolves the connections' secret references from its
	// environment, which is this process's.
	t.Setenv("CLITEST_LDAP_PASSWORD", e.slapd.AdminPassword)
	t.Setenv("CLITEST_SCIM_TOKEN", e.scim.Token)
	t.Setenv("CLITEST_HOOK_KEY", "clitest-hook-key")

	var logs syncbuf.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.String())
		}
	})
	e.startWorker = workerStarter(t, c, &logs)
	e.stopWorker = e.startWorker()
	// Before the dev server stops: cleanups run last-in first-out.
	t.Cleanup(func() { e.stopWorker() })
	return e
}

// workerStarter returns what starts a worker on c as the worker binary
// wires it, logging to logs; what it returns stops that worker.
func workerStarter(t *testing.T, c client.Client, logs io.Writer) func() func() {
	return func() func() {
		w := worker.New(c, workflows.TaskQueue, worker.Options{})
		workflows.Register(w)
		w.RegisterActivity(&activities.Activities{
			Connections: workflows.Client{Temporal: c},
			Records:     workflows.Client{Temporal: c},
			Registry:    all.Registry(),
			Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		})
		if err := w.Start(); err != nil {
			t.Fatalf("start worker: %v", err)
		}
		return w.Stop
	}
}

// restartWorker stops the worker and starts a new one, which knows
// nothing but what Temporal holds.
func (e *engine) restartWorker() {
	e.stopWorker()
	e.stopWorker = e.startWorker()
}

// starter runs the command line against the dev server and returns its
// stdout, stderr and exit code.
func (e *engine) starter(argv ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	code := Main(append(argv, "--address", e.address, "--namespace", "default", "--timeout", "30s"), &out, &errOut)
	return out.String(), errOut.String(), code
}

// ok runs the command line and fails the test unless it succeeds.
func (e *engine) ok(argv ...string) string {
	e.t.Helper()
	out, errOut, code := e.starter(argv...)
	if code != 0 {
		e.t.Fatalf("starter %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(argv, " "), code, out, errOut)
	}
	if errOut != "" {
		e.t.Errorf("starter %s: stderr %q on success", strings.Join(argv, " "), errOut)
	}
	return out
}

// fails runs the command line and fails the test unless it exits 1 with
// one line on stderr that holds want.
func (e *engine) fails(want string, argv ...string) string {
	e.t.Helper()
	out, errOut, code := e.starter(argv...)
	if code != 1 || !strings.HasPrefix(errOut, "starter: ") || !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 1 {
		e.t.Fatalf("starter %s: exit %d, stderr %q; want exit 1 and one line holding %q\nstdout: %s",
			strings.Join(argv, " "), code, errOut, want, out)
	}
	return errOut
}

// eventually retries check until it passes: listing goes through
// Temporal's visibility store, which lags the workflows a little.
func (e *engine) eventually(what string, check func() error) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *engine) ruleStatus(name string) workflows.RuleStatus {
	e.t.Helper()
	var st workflows.RuleStatus
	out := e.ok("status", name, "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		e.t.Fatalf("status %s -o json: %v\n%s", name, err, out)
	}
	return st
}

// checkMetadata checks the summary and details the Web UI shows at the
// top of a workflow's page.
func (e *engine) checkMetadata(workflowID, summary, inDetails string) {
	e.t.Helper()
	c, err := client.Dial(client.Options{HostPort: e.address, Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	d, err := c.DescribeWorkflow(context.Background(), workflowID, "")
	if err != nil {
		e.t.Fatalf("describe %s: %v", workflowID, err)
	}
	gotSummary, err := d.GetStaticSummary()
	if err != nil {
		e.t.Fatal(err)
	}
	gotDetails, err := d.GetStaticDetails()
	if err != nil {
		e.t.Fatal(err)
	}
	if gotSummary != summary || !strings.Contains(gotDetails, inDetails) {
		e.t.Errorf("%s: summary %q, details:\n%s\nwant summary %q and details with %q", workflowID, gotSummary, gotDetails, summary, inDetails)
	}
}

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

// TestRun runs the verbs against one dev server, in order: each step
// builds on the state the previous one left.
func TestRun(t *testing.T) {
	e := startEngine(t)
	t.Run("empty", e.testEmpty)
	if !t.Run("connections", e.testConnections) {
		return
	}
	t.Run("rules", e.testRules)
}

func (e *engine) testEmpty(t *testing.T) {
	e.t = t
	out := e.ok("status")
	if l := lines(out); len(l) != 1 || !strings.HasPrefix(l[0], "RULE") || !strings.Contains(l[0], "LAST ERROR") {
		t.Errorf("status with no rules: %q, want the header only", out)
	}
	if out := e.ok("status", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("status -o json with no rules: %q, want []", out)
	}
	if out := e.ok("rule", "list"); len(lines(out)) != 1 || !strings.HasPrefix(out, "NAME") {
		t.Errorf("rule list with no rules: %q, want the header only", out)
	}
	if out := e.ok("connection", "list"); len(lines(out)) != 1 || !strings.HasPrefix(out, "NAME") {
		t.Errorf("connection list with no connections: %q, want the header only", out)
	}
}

func (e *engine) testConnections(t *testing.T) {
	e.t = t
	out := e.ok("connection", "create", "corp-ldap", "--type", "ldap",
		"--set", "url="+e.slapd.URL, "--set", "baseDn="+e.slapd.BaseDN,
		"--set", "bindDn="+e.slapd.AdminDN, "--set", "bindPassword=env:CLITEST_LDAP_PASSWORD",
		"--set", "pageSize=100", "--webhook-secret", "env:CLITEST_HOOK_KEY")
	if out != "created connection corp-ldap (ldap); secret references resolve on the worker (bindPassword, webhookSecret)\n" {
		t.Errorf("create: %q", out)
	}
	e.ok("connection", "create", "app", "--type", "scim", "--set", "baseUrl="+e.scim.URL, "--set", "token=env:CLITEST_SCIM_TOKEN")
	e.fails(`connection "app" already exists`, "connection", "create", "app", "--type", "scim",
		"--set", "baseUrl="+e.scim.URL, "--set", "token=env:CLITEST_SCIM_TOKEN")

	e.eventually("connection list shows both", func() error {
		out := e.ok("connection", "list")
		var rows [][]string
		for _, l := range lines(out) {
			rows = append(rows, strings.Fields(l))
		}
		want := fmt.Sprint([][]string{{"NAME", "TYPE", "WEBHOOK"}, {"app", "scim", "off"}, {"corp-ldap", "ldap", "on"}})
		if fmt.Sprint(rows) != want {
			return fmt.Errorf("got %v, want %v", rows, want)
		}
		return nil
	})
	var conns []connectors.Connection
	if err := json.Unmarshal([]byte(e.ok("connection", "list", "-o", "json")), &conns); err != nil {
		t.Fatal(err)
	}
	if len(conns) != 2 || conns[0].Name != "app" || conns[0].Type != "scim" || conns[1].Name != "corp-ldap" || conns[1].WebhookSecret != "env:CLITEST_HOOK_KEY" {
		t.Errorf("connection list -o json: %+v", conns)
	}

	// show prints the stored settings: references, never the values.
	out = e.ok("connection", "show", "corp-ldap")
	var shown struct {
		connectors.Connection
		Settings map[string]any `json:"settings"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if shown.Name != "corp-ldap" || shown.Type != "ldap" || shown.WebhookSecret != "env:CLITEST_HOOK_KEY" ||
		shown.Settings["bindPassword"] != "env:CLITEST_LDAP_PASSWORD" || shown.Settings["pageSize"] != float64(100) {
		t.Errorf("show: %s", out)
	}
	if strings.Contains(out, e.slapd.AdminPassword) {
		t.Errorf("show prints the bind password:\n%s", out)
	}
	if out := e.ok("connection", "show", "app"); !strings.Contains(out, `"token": "env:CLITEST_SCIM_TOKEN"`) || strings.Contains(out, e.scim.Token) {
		t.Errorf("show app: %s", out)
	}
	e.fails(`connection "nope": not found`, "connection", "show", "nope")

	// update changes the settings named.
	e.ok("connection", "update", "app", "--set", "pageSize=50")
	if out := e.ok("connection", "show", "app"); !strings.Contains(out, `"pageSize": 50`) {
		t.Errorf("show after update: %s", out)
	}
	e.fails(`connection "nope": not found`, "connection", "update", "nope", "--type", "scim",
		"--set", "baseUrl="+e.scim.URL, "--set", "token=env:CLITEST_SCIM_TOKEN")

	// test runs on the worker, where the references resolve.
	if out := e.ok("connection", "test", "corp-ldap"); !strings.HasPrefix(out, "connection corp-ldap: ok (source: true, target: true)") {
		t.Errorf("test corp-ldap: %q", out)
	}
	if out := e.ok("connection", "test", "app"); !strings.HasPrefix(out, "connection app: ok (source: false, target: true)") {
		t.Errorf("test app: %q", out)
	}
	e.ok("connection", "create", "broken", "--type", "ldap", "--set", "url="+e.slapd.URL, "--set", "baseDn="+e.slapd.BaseDN,
		"--set", "bindDn="+e.slapd.AdminDN, "--set", "bindPassword=env:CLITEST_UNSET", "--skip-secret-check")
	msg := e.fails("connection broken failed at ", "connection", "test", "broken")
	if !strings.Contains(msg, "CLITEST_UNSET is not set on the worker") {
		t.Errorf("test of a connection whose secret does not resolve: %q", msg)
	}

	if out := e.ok("connection", "delete", "broken"); out != "deleted connection broken\n" {
		t.Errorf("delete: %q", out)
	}
	e.fails(`connection "broken": not found`, "connection", "show", "broken")
	e.fails(`connection "broken": not found`, "connection", "delete", "broken")
	e.fails(`connection "nope": not found`, "connection", "delete", "nope")
}

const seedUser = `dn: uid=ada,ou=people,%s
objectClass: inetOrgPerson
uid: ada
cn: Ada Lovelace
givenName: Ada
sn: Lovelace
mail: ada@example.org
`

func (e *engine) testRules(t *testing.T) {
	e.t = t
	e.fails(`--source: connection "nope": not found`, "rule", "create", "r", "--source", "nope", "--target", "app")
	e.fails(`--target: connection "nope": not found`, "rule", "create", "r", "--source", "corp-ldap", "--target", "nope")

	// With --skip-initial-sync the rule starts by taking slapd's cursor,
	// then sleeps for the hour.
	out := e.ok("rule", "create", "corp-to-app", "--source", "corp-ldap", "--target", "app",
		"--skip-initial-sync", "--poll-interval", "1h")
	if out != "created rule corp-to-app: corp-ldap (ldap) → app (scim), polling every 1h0m0s\n" {
		t.Errorf("create: %q", out)
	}
	e.fails(`rule "corp-to-app" already exists`, "rule", "create", "corp-to-app", "--source", "corp-ldap", "--target", "app")
	e.checkMetadata(workflows.RuleWorkflowID("corp-to-app"), "idsync rule corp-to-app: corp-ldap (ldap) → app (scim)", "`starter status corp-to-app --objects`")
	e.checkMetadata(workflows.ConnectionWorkflowID("app"), "idsync connection app (scim)", `"token": "env:CLITEST_SCIM_TOKEN"`)
	e.eventually("the rule takes the source's cursor", func() error {
		st := e.ruleStatus("corp-to-app")
		if st.State != workflows.StateIdle || !strings.HasPrefix(st.LastPollResult, "ok") || st.LastError != "" {
			return fmt.Errorf("state %s, last poll %q, last error %q", st.State, st.LastPollResult, st.LastError)
		}
		return nil
	})
	out = e.ok("rule", "show", "corp-to-app")
	if !strings.HasPrefix(out, "Rule corp-to-app: idle\n  corp-ldap (ldap) → app (scim), polling every 1h0m0s\n") ||
		!strings.Contains(out, "ok: polling from the source's current cursor") {
		t.Errorf("show:\n%s", out)
	}
	for _, want := range []string{"\n  --poll-interval             1h0m0s\n", "\n  --skip-initial-sync         true\n",
		"\n  --concurrency               4 (default)\n", "\n  --breaker-reset             30m0s (default)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("show does not say %q:\n%s", want, out)
		}
	}
	var shown struct {
		Settings map[string]any `json:"settings"`
	}
	if err := json.Unmarshal([]byte(e.ok("rule", "show", "corp-to-app", "-o", "json")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Settings["pollInterval"] != "1h0m0s" || shown.Settings["onMissing"] != "recreate" {
		t.Errorf("show -o json: settings %v", shown.Settings)
	}
	e.fails(`rule "nope": not found`, "rule", "show", "nope")

	e.eventually("rule list shows the rule", func() error {
		out := e.ok("rule", "list", "--connection", "corp-ldap")
		if l := lines(out); len(l) != 2 || fmt.Sprint(strings.Fields(l[1])) != "[corp-to-app corp-ldap (ldap) app (scim) idle 1h0m0s]" {
			return fmt.Errorf("got %q", out)
		}
		return nil
	})
	var sts []workflows.RuleStatus
	out = e.ok("rule", "list", "-o", "json")
	if err := json.Unmarshal([]byte(out), &sts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"pollInterval": "1h0m0s"`) {
		t.Errorf("rule list -o json: the poll interval is not a duration string:\n%s", out)
	}
	if len(sts) != 1 || sts[0].Name != "corp-to-app" || sts[0].SourceType != "ldap" || sts[0].TargetType != "scim" || sts[0].PollInterval != time.Hour {
		t.Errorf("rule list -o json: %+v", sts)
	}
	e.fails(`connection "nope": not found`, "rule", "list", "--connection", "nope")
	e.fails(`connection "corp-ldap" is used by rules corp-to-app: delete them first`, "connection", "delete", "corp-ldap")
	e.fails(`connection "app" is used by rules corp-to-app`, "connection", "delete", "app")

	e.testPauseResume(t)

	// update changes a setting in place; the workflow validates it.
	if out := e.ok("rule", "update", "corp-to-app", "--poll-interval", "2h"); out != "updated rule corp-to-app: polling every 2h0m0s\n" {
		t.Errorf("update: %q", out)
	}
	e.fails(`update rule "corp-to-app": max deprovision fraction 2: must be between 0 and 1`,
		"rule", "update", "corp-to-app", "--max-deprovision", "2")
	e.fails(`rule "nope": not found`, "rule", "update", "nope", "--poll-interval", "2h")

	e.testSync(t)
	e.testOnMissing(t)
	e.testApproval(t)

	if out := e.ok("rule", "delete", "corp-to-app"); out != "deleted rule corp-to-app\n" {
		t.Errorf("delete: %q", out)
	}
	e.fails(`rule "corp-to-app": not found`, "status", "corp-to-app")
	e.fails(`rule "corp-to-app": not found`, "rule", "delete", "corp-to-app")
	e.eventually("the connection is free once its rule is gone", func() error {
		_, errOut, code := e.starter("connection", "delete", "corp-ldap")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, errOut)
		}
		return nil
	})
}

func (e *engine) testPauseResume(t *testing.T) {
	if out := e.ok("rule", "pause", "corp-to-app"); out != "rule corp-to-app: paused\n" {
		t.Errorf("pause: %q", out)
	}
	if out := e.ok("status", "corp-to-app"); !strings.HasPrefix(out, "Rule corp-to-app: paused\n") {
		t.Errorf("status after pause:\n%s", out)
	}
	if l := lines(e.ok("status")); len(l) != 2 || strings.Fields(l[1])[1] != workflows.StatePaused {
		t.Errorf("status table after pause: %q", l)
	}
	if out := e.ok("status", "--connection", "app"); !strings.HasPrefix(out, "Connection app: 1 rule, 1 paused\n") {
		t.Errorf("status --connection after pause:\n%s", out)
	}
	if out := e.ok("rule", "resume", "corp-to-app"); out != "rule corp-to-app: resumed; now idle\n" {
		t.Errorf("resume: %q", out)
	}
	if st := e.ruleStatus("corp-to-app"); st.State != workflows.StateIdle {
		t.Errorf("status after resume: %s", st.State)
	}
	if out := e.ok("status", "--connection", "corp-ldap"); !strings.HasPrefix(out, "Connection corp-ldap: 1 rule, 1 idle\n") {
		t.Errorf("status --connection after resume:\n%s", out)
	}
	e.fails(`rule "nope": not found`, "rule", "pause", "nope")
}

// testSync runs a dry run, then a real members resync, of one LDAP user.
func (e *engine) testSync(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.slapd.Add(ctx, fmt.Sprintf(seedUser, e.slapd.BaseDN)); err != nil {
		t.Fatal(err)
	}
	var res struct {
		workflows.ResyncResult
		WorkflowID string `json:"workflowId"`
	}
	out := e.ok("sync", "corp-to-app", "--dry-run", "--wait", "-o", "json")
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("sync -o json: %v\n%s", err, out)
	}
	if !res.DryRun || res.Scope != workflows.ScopeBoth || res.Result.Users.Created != 1 || !strings.HasPrefix(res.WorkflowID, "rule/corp-to-app/resync-") {
		t.Errorf("dry run: %s", out)
	}
	// The dry run names whom it would create. Asked for at once after the
	// first, while the rule may not have taken in that one's end yet:
	// sync waits for it rather than say a resync is running.
	out = e.ok("sync", "corp-to-app", "--dry-run", "--wait")
	if !strings.Contains(out, "\n  would create  user  ada  (source id ") {
		t.Errorf("sync --dry-run --wait does not name ada:\n%s", out)
	}
	e.eventually("status shows what the dry run would do", func() error {
		if out := e.ok("status", "corp-to-app"); !strings.Contains(out, ", dry run) done ") || !strings.Contains(out, "\n    would create  user  ada  ") {
			return fmt.Errorf("status:\n%s", out)
		}
		return nil
	})

	out = e.ok("sync", "corp-to-app", "--members", "--wait")
	if !strings.HasPrefix(out, "started a full resync of corp-to-app (users): rule/corp-to-app/resync-") || !strings.Contains(out, "\n  users   created 1, updated 0") {
		t.Errorf("sync --members --wait:\n%s", out)
	}
	e.eventually("the rule counts the managed user", func() error {
		if st := e.ruleStatus("corp-to-app"); st.ManagedUsers != 1 || st.Totals.Users.Created != 1 || st.State != workflows.StateIdle {
			return fmt.Errorf("managed users %d, users created %d, state %s", st.ManagedUsers, st.Totals.Users.Created, st.State)
		}
		return nil
	})
	// status names what the runs wrote; the dry runs wrote nothing.
	out = e.ok("status", "corp-to-app", "--objects")
	if l := lines(out); len(l) != 3 || !strings.Contains(l[2], "  resync  created  user  ada  ") {
		t.Errorf("status --objects:\n%s", out)
	}
	if out := e.ok("status", "corp-to-app"); !strings.Contains(out, "last object written: created user ada (resync, ") {
		t.Errorf("status does not point to the objects:\n%s", out)
	}
	e.fails(`rule "nope": not found`, "sync", "nope")
}

// testOnMissing: with --on-missing report, a user the rule created and
// someone then deleted in the target is reported by name, not created
// again, by a worker that has never seen it — the rule's record says it
// was the rule's. Back to recreate, the next resync creates it.
func (e *engine) testOnMissing(t *testing.T) {
	e.t = t
	e.ok("rule", "update", "corp-to-app", "--on-missing", "report")
	if out := e.ok("status", "corp-to-app"); !strings.Contains(out, "the rule's record of managed users holds 1;") {
		t.Errorf("status does not tell of the record:\n%s", out)
	}
	e.scimDeleteUser("ada")
	e.restartWorker()
	out := e.ok("sync", "corp-to-app", "--members", "--wait")
	if !strings.Contains(out, "\n  users   created 0, updated 0, adopted 0, deprovisioned 0, unchanged 0, failed 1") ||
		!strings.Contains(out, "failed  user  create user ada (source id ") || !strings.Contains(out, "deleted in the target behind idsync's back") {
		t.Errorf("sync with --on-missing report:\n%s", out)
	}
	if e.scimHasUser("ada") {
		t.Error("ada was created again with --on-missing report")
	}
	e.ok("rule", "update", "corp-to-app", "--on-missing", "recreate")
	out = e.ok("sync", "corp-to-app", "--members", "--wait")
	if !strings.Contains(out, "\n  users   created 1, ") || !e.scimHasUser("ada") {
		t.Errorf("sync with --on-missing recreate:\n%s", out)
	}
}

// scimDeleteUser deletes a user from scimmy behind idsync's back.
func (e *engine) scimDeleteUser(userName string) {
	e.t.Helper()
	id := e.scimUserID(userName)
	if id == "" {
		e.t.Fatalf("no SCIM user %s", userName)
	}
	resp := e.scimDo(http.MethodDelete, "/Users/"+url.PathEscape(id))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		e.t.Fatalf("delete SCIM user %s: %s", userName, resp.Status)
	}
}

// scimDo sends an authorized request to scimmy.
func (e *engine) scimDo(method, path string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.scim.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.scim.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func (e *engine) scimHasUser(userName string) bool { return e.scimUserID(userName) != "" }

// scimUserID finds a SCIM user's id by userName; "" when there is none.
func (e *engine) scimUserID(userName string) string {
	e.t.Helper()
	q := url.Values{"filter": {fmt.Sprintf("userName eq %q", userName)}}
	resp := e.scimDo(http.MethodGet, "/Users?"+q.Encode())
	defer resp.Body.Close()
	var list struct {
		Resources []struct {
			ID string `json:"id"`
		} `json:"Resources"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("find SCIM user %s: %s, %v", userName, resp.Status, err)
	}
	if len(list.Resources) == 0 {
		return ""
	}
	return list.Resources[0].ID
}

// testApproval: a full resync that would deprovision more than the guard
// allows holds those deprovisions and leaves the rule awaiting_approval,
// shown by name in status; reject keeps them (the same set is not held
// again); approve of a new set deprovisions it with one more resync.
func (e *engine) testApproval(t *testing.T) {
	e.t = t
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.fails("nothing awaits approval", "rule", "approve", "corp-to-app")

	var ldif strings.Builder
	var dns []string
	for i := range 14 {
		dn := fmt.Sprintf("uid=temp%02d,ou=people,%s", i, e.slapd.BaseDN)
		dns = append(dns, dn)
		fmt.Fprintf(&ldif, "dn: %s\nobjectClass: inetOrgPerson\nuid: temp%02d\ncn: Temp\nsn: Temp\n\n", dn, i)
	}
	if err := e.slapd.Add(ctx, ldif.String()); err != nil {
		t.Fatal(err)
	}
	e.ok("sync", "corp-to-app", "--members", "--wait")
	e.waitResyncNoted()
	if err := e.slapd.Delete(ctx, dns...); err != nil {
		t.Fatal(err)
	}
	out := e.ok("sync", "corp-to-app", "--members", "--wait")
	if !strings.Contains(out, "deprovisioned 0") {
		t.Errorf("held resync:\n%s", out)
	}
	e.eventually("the rule awaits approval", func() error {
		if st := e.ruleStatus("corp-to-app"); st.State != workflows.StateAwaitingApproval {
			return fmt.Errorf("state %s", st.State)
		}
		return nil
	})
	// What is held is durable: a new worker (an empty cache) shows it too.
	e.restartWorker()
	if out := e.ok("status", "corp-to-app"); !strings.Contains(out, "AWAITING APPROVAL") || !strings.Contains(out, "14 of 15 managed users") || !strings.Contains(out, "temp00") {
		t.Errorf("status while held, after a worker restart:\n%s", out)
	}

	e.waitResyncNoted()
	if out := e.ok("rule", "reject", "corp-to-app"); !strings.HasPrefix(out, "rule corp-to-app: rejected; now ") {
		t.Errorf("reject: %q", out)
	}
	e.waitResyncNoted()
	out = e.ok("sync", "corp-to-app", "--members", "--wait")
	if !strings.Contains(out, "kept 14") {
		t.Errorf("resync after reject, want the 14 kept:\n%s", out)
	}
	if st := e.ruleStatus("corp-to-app"); st.Hold != nil {
		t.Errorf("held again after reject: %+v", st.Hold)
	}

	// A new set (ada leaves too): held again, then approved.
	e.waitResyncNoted()
	if err := e.slapd.Delete(ctx, "uid=ada,ou=people,"+e.slapd.BaseDN); err != nil {
		t.Fatal(err)
	}
	e.ok("sync", "corp-to-app", "--members", "--wait")
	e.eventually("the new set is held", func() error {
		if st := e.ruleStatus("corp-to-app"); st.Hold == nil || len(st.Hold.Resync) != 1 || st.Hold.Resync[0].Would != 15 {
			return fmt.Errorf("hold %+v", st.Hold)
		}
		return nil
	})
	e.ok("rule", "approve", "corp-to-app")
	e.eventually("the approved set is deprovisioned", func() error {
		st := e.ruleStatus("corp-to-app")
		if st.Hold != nil || st.LastResync == nil || st.LastResync.Reason != "approved" || st.LastResync.Finished.IsZero() ||
			st.LastResync.Result.Users.Deprovisioned != 15 {
			return fmt.Errorf("state %s, hold %+v, last resync %+v", st.State, st.Hold, st.LastResync)
		}
		return nil
	})
}

// waitResyncNoted waits until the rule has taken in its last resync:
// `sync --wait` returns when the resync ends, a moment before that.
func (e *engine) waitResyncNoted() {
	e.eventually("the rule takes in its resync", func() error {
		if st := e.ruleStatus("corp-to-app"); st.ActiveResync != "" {
			return fmt.Errorf("resync %s still running", st.ActiveResync)
		}
		return nil
	})
}
