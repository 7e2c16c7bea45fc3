// Package e2e drives idsync end to end as a user does: the real Temporal
// dev server, the worker and starter binaries, OpenLDAP (slapd) as the
// source, the scimmy SCIM server as the target, and the change webhook.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/scim"
	"github.com/idsync/idsync/internal/devserver"
	"github.com/idsync/idsync/internal/peers"
	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/webhook"
	"github.com/idsync/idsync/workflows"
)

type env struct {
	t       *testing.T
	bin     string
	address string
	hookURL string
	hookKey string
	vars    []string
	slapd   *peers.Slapd
	scim    *peers.SCIM
	target  fullTarget
}

// build compiles the worker and starter as a user would run them.
func build(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, cmd := range []string{"worker", "starter"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, cmd), "../"+cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", cmd, err, out)
		}
	}
	return dir
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// setup starts the dev server, slapd, scimmy and the worker; vars are
// "NAME=value" pairs the worker's environment gets besides the secrets of
// those peers (a fake's password for a connection's secret reference).
func setup(t *testing.T, vars ...string) *env {
	srv := devserver.Start(t)
	e := &env{
		t: t, bin: build(t), address: srv.FrontendHostPort(),
		slapd: peers.SlapdForTest(t, peers.SlapdOptions{}),
		scim:  peers.SCIMForTest(t),
	}
	e.hookKey = randomHex(t)
	e.vars = append(os.Environ(),
		"LDAP_PASSWORD="+e.slapd.AdminPassword,
		"SCIM_TOKEN="+e.scim.Token,
		"HOOK_KEY="+e.hookKey,
		"TEMPORAL_ADDRESS="+e.address,
	)
	e.vars = append(e.vars, vars...)
	hookAddr := freeAddr(t)
	e.hookURL = "http://" + hookAddr

	ctx, cancel := context.WithCancel(context.Background())
	worker := exec.CommandContext(ctx, filepath.Join(e.bin, "worker"), "--webhook-addr", hookAddr, "--log-level", "warn", "--realtime-refresh", "1s")
	worker.Env = e.vars
	var logs bytes.Buffer
	worker.Stdout, worker.Stderr = &logs, &logs
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = worker.Wait()
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.String())
		}
	})
	e.eventually("webhook listener up", 30*time.Second, func() error {
		resp, err := http.Get(e.hookURL + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})

	// The test reads the target with the SCIM connector, as the worker does.
	t.Setenv("E2E_SCIM_TOKEN", e.scim.Token)
	cfg := &scim.Config{BaseURL: e.scim.URL, Token: "env:E2E_SCIM_TOKEN"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Open(context.Background(), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	e.target = c.(fullTarget)
	return e
}

// starter runs the CLI and returns its output; it fails the test on a
// non-zero exit unless wantErr.
func (e *env) starter(wantErr bool, args ...string) string {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, "starter"), args...)
	cmd.Env = e.vars
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if (err != nil) != wantErr {
		e.t.Fatalf("starter %s: err=%v, want error %t\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, wantErr, stdout.String(), stderr.String())
	}
	if wantErr {
		return stderr.String()
	}
	return stdout.String()
}

func (e *env) eventually(what string, timeout time.Duration, check func() error) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("%s: not within %s: %v", what, timeout, err)
}

// targetState reads the managed users (by userName) and groups of the target.
func (e *env) targetState() (map[string]connectors.TargetUser, map[string]connectors.TargetGroup) {
	ctx := context.Background()
	users := map[string]connectors.TargetUser{}
	if err := e.target.ListUsers(ctx, func(u connectors.TargetUser) error {
		if u.ExternalID != "" {
			// Rules write "<rule>/<source id>" (reconcile/owner.go).
			u.Owner, u.ExternalID = reconcile.SplitExternalID(u.ExternalID)
			users[u.UserName] = u
		}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	groups := map[string]connectors.TargetGroup{}
	if err := e.target.ListGroups(ctx, func(g connectors.TargetGroup) error {
		if g.ExternalID != "" {
			g.Owner, g.ExternalID = reconcile.SplitExternalID(g.ExternalID)
			groups[g.DisplayName] = g
		}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return users, groups
}

const seed = `dn: uid=ada,ou=people,%[1]s
objectClass: inetOrgPerson
uid: ada
cn: Ada Lovelace
givenName: Ada
sn: Lovelace
mail: ada@example.org
title: Analyst

dn: uid=grace,ou=people,%[1]s
objectClass: inetOrgPerson
uid: grace
cn: Grace Hopper
givenName: Grace
sn: Hopper
mail: grace@example.org

dn: uid=linus,ou=people,%[1]s
objectClass: inetOrgPerson
uid: linus
cn: Linus Pauling
givenName: Linus
sn: Pauling
mail: linus@example.org

dn: cn=engineering,ou=groups,%[1]s
objectClass: groupOfNames
cn: engineering
member: uid=ada,ou=people,%[1]s
member: uid=grace,ou=people,%[1]s
`

func TestEndToEnd(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	base := e.slapd.BaseDN
	if err := e.slapd.Add(ctx, fmt.Sprintf(seed, base)); err != nil {
		t.Fatal(err)
	}

	// Connections and a rule, created with the CLI.
	e.starter(false, "connection", "create", "corp", "--type", "ldap",
		"--set", "url="+e.slapd.URL, "--set", "baseDn="+base,
		"--set", "bindDn="+e.slapd.AdminDN, "--set", "bindPassword=env:LDAP_PASSWORD",
		"--webhook-secret", "env:HOOK_KEY")
	e.starter(false, "connection", "create", "app", "--type", "scim",
		"--set", "baseUrl="+e.scim.URL, "--set", "token=env:SCIM_TOKEN")
	if out := e.starter(true, "connection", "create", "app", "--type", "scim",
		"--set", "baseUrl="+e.scim.URL, "--set", "token=env:SCIM_TOKEN"); !strings.Contains(out, "already exists") {
		t.Errorf("duplicate connection: %q", out)
	}
	if out := e.starter(true, "connection", "create", "leaky", "--type", "scim",
		"--set", "baseUrl="+e.scim.URL, "--set", "token="+e.scim.Token); strings.Contains(out, e.scim.Token) || !strings.Contains(out, "secret reference") {
		t.Errorf("a literal token must be refused without echoing it: %q", out)
	}
	for _, conn := range []string{"corp", "app"} {
		if out := e.starter(false, "connection", "test", conn); !strings.Contains(out, "ok") {
			t.Errorf("connection test %s: %q", conn, out)
		}
	}
	e.starter(false, "rule", "create", "corp-to-app", "--source", "corp", "--target", "app",
		"--poll-interval", "2s")

	// The initial full resync provisions users, groups and memberships.
	e.eventually("initial resync", 60*time.Second, func() error {
		users, groups := e.targetState()
		if len(users) != 3 {
			return fmt.Errorf("%d users", len(users))
		}
		g, ok := groups["engineering"]
		if !ok || len(g.MemberIDs) != 2 {
			return fmt.Errorf("groups %+v", groups)
		}
		return nil
	})
	users, _ := e.targetState()
	if users["ada"].Email != "ada@example.org" || users["ada"].Attributes["title"] != "Analyst" {
		t.Errorf("ada in target: %+v", users["ada"])
	}

	// An LDAP change reaches the target after the next poll.
	if err := e.slapd.Modify(ctx, fmt.Sprintf("dn: uid=grace,ou=people,%s\nchangetype: modify\nreplace: mail\nmail: grace.hopper@example.org\n", base)); err != nil {
		t.Fatal(err)
	}
	e.eventually("polled change", 30*time.Second, func() error {
		u, _ := e.targetState()
		if got := u["grace"].Email; got != "grace.hopper@example.org" {
			return fmt.Errorf("grace's email is %q", got)
		}
		return nil
	})

	// With polling an hour away, only the webhook can bring the next change.
	e.starter(false, "rule", "update", "corp-to-app", "--poll-interval", "1h")
	if err := e.slapd.Modify(ctx, fmt.Sprintf("dn: uid=linus,ou=people,%s\nchangetype: modify\nreplace: title\ntitle: Chemist\n", base)); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"changes":[{"kind":"user","op":"upsert","id":%q}]}`, users["linus"].ExternalID)
	req, _ := http.NewRequest("POST", e.hookURL+"/v1/connections/corp/changes", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, webhook.Sign([]byte(body), []byte(e.hookKey), time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	accepted := time.Now()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %s", resp.Status)
	}
	e.eventually("webhook change", 10*time.Second, func() error {
		u, _ := e.targetState()
		if got := u["linus"].Attributes["title"]; got != "Chemist" {
			return fmt.Errorf("linus's title is %q", got)
		}
		return nil
	})
	t.Logf("webhook → target: %s (the real-time target is measured by make bench)", time.Since(accepted))

	// An unsigned webhook is refused.
	resp, err = http.Post(e.hookURL+"/v1/connections/corp/changes", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned webhook: %s", resp.Status)
	}

	// Status, per rule and per connection.
	var st workflows.RuleStatus
	e.eventually("status counts", 20*time.Second, func() error {
		st = e.ruleStatus(t, "corp-to-app")
		if st.ManagedUsers != 3 || st.ManagedGroups != 1 || st.Totals.Users.Created != 3 || st.Totals.Groups.Created != 1 ||
			st.Totals.Users.Updated < 2 || st.PendingChanges != 0 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if st.SourceType != "ldap" || st.TargetType != "scim" {
		t.Errorf("status types: %+v", st)
	}
	var cs struct {
		Rules        int `json:"rules"`
		ManagedUsers int `json:"managedUsers"`
	}
	e.liveStatus(t, &cs, "status", "--connection", "app", "-o", "json")
	if cs.Rules != 1 || cs.ManagedUsers != 3 {
		t.Errorf("connection status: %+v", cs)
	}

	// A second full resync changes nothing.
	var res workflows.ResyncResult
	if err := json.Unmarshal([]byte(e.starter(false, "sync", "corp-to-app", "--wait", "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if n := res.Result.Users.Changed() + res.Result.Groups.Changed(); n != 0 || res.Result.Users.Unchanged != 3 || res.Result.Groups.Unchanged != 1 {
		t.Errorf("second resync changed things: %+v", res.Result)
	}

	// Clear errors for unknown names.
	if out := e.starter(true, "rule", "show", "nope"); !strings.Contains(out, `rule "nope": not found`) {
		t.Errorf("unknown rule: %q", out)
	}
	if out := e.starter(true, "connection", "delete", "corp"); !strings.Contains(out, "used by rules corp-to-app") {
		t.Errorf("deleting a used connection: %q", out)
	}
}

// fullTarget is the SCIM target as these tests read it, groups included.
type fullTarget interface {
	connectors.Target
	connectors.GroupTarget
}
