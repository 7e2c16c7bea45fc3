package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/testsuite"

	"github.com/idsync/idsync/internal/devserver"
	"github.com/idsync/idsync/internal/peers"
	"github.com/idsync/idsync/webhook"
	"github.com/idsync/idsync/workflows"
)

// harness is what the scenarios through Temporal share, as a user runs
// idsync (and as e2e does): the dev server, the worker and starter binaries
// built from this module, one worker process with its webhook listener, the
// counting LDAP proxy in front of the source slapd and a watched SCIM
// target. The connections corp (LDAP, through the proxy) and app (SCIM)
// exist; the rule is the scenarios' to create.
type harness struct {
	b       *testing.B
	ctx     context.Context
	srv     *testsuite.DevServer
	wc      workflows.Client
	slapd   *peers.Slapd
	proxy   *peers.LDAPProxy
	target  *watchedTarget
	bin     string
	env     []string
	hookURL string
	hookKey string
	worker  *exec.Cmd
	hc      *http.Client
}

const hookKey = "bench-hook-key"

func newHarness(b *testing.B, slapd *peers.Slapd) *harness {
	h := &harness{b: b, ctx: context.Background(), slapd: slapd, hookKey: hookKey, bin: b.TempDir()}
	// Stopped at cleanup after the worker: cleanups run last-registered first.
	h.srv = devserver.Start(b)
	h.wc = workflows.Client{Temporal: h.srv.Client()}
	for _, c := range []string{"worker", "starter"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(h.bin, c), "../"+c).CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", c, err, out)
		}
	}
	proxy, err := peers.StartLDAPProxy(strings.TrimPrefix(slapd.URL, "ldap://"))
	if err != nil {
		b.Fatal(err)
	}
	h.proxy = proxy
	b.Cleanup(func() { _ = proxy.Close() })
	h.target = startWatchedTarget()
	b.Cleanup(h.target.Close)
	h.env = append(os.Environ(), "LDAP_PASSWORD="+slapd.AdminPassword, "SCIM_TOKEN="+scimToken,
		"HOOK_KEY="+h.hookKey, "TEMPORAL_ADDRESS="+h.srv.FrontendHostPort())
	// Webhook bursts send many requests at once: keep the connections.
	h.hc = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

	hookAddr := freeAddr(b)
	h.hookURL = "http://" + hookAddr
	wctx, cancel := context.WithCancel(h.ctx)
	h.worker = exec.CommandContext(wctx, filepath.Join(h.bin, "worker"), "--webhook-addr", hookAddr, "--log-level", "warn")
	h.worker.Env = h.env
	var logs bytes.Buffer
	h.worker.Stdout, h.worker.Stderr = &logs, &logs
	if err := h.worker.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cancel()
		_ = h.worker.Wait()
		if b.Failed() {
			b.Logf("worker log:\n%s", logs.String())
			return
		}
		// Its warnings explain outliers (retries, slow workflow tasks).
		if lines := strings.Split(strings.TrimSpace(logs.String()), "\n"); len(lines) > 0 && lines[0] != "" {
			b.Logf("worker log, %d lines; the first ones:\n%s", len(lines), strings.Join(lines[:min(len(lines), 10)], "\n"))
		}
	})
	h.waitFor("webhook listener up", 30*time.Second, func() (bool, string) {
		resp, err := http.Get(h.hookURL + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return true, ""
	})

	h.starter("connection", "create", "corp", "--type", "ldap", "--set", "url=ldap://"+proxy.Addr(),
		"--set", "baseDn="+slapd.BaseDN, "--set", "bindDn="+slapd.AdminDN, "--set", "bindPassword=env:LDAP_PASSWORD",
		"--webhook-secret", "env:HOOK_KEY")
	h.starter("connection", "create", "app", "--type", "scim", "--set", "baseUrl="+h.target.URL, "--set", "token=env:SCIM_TOKEN")
	return h
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// starter runs the CLI and returns its output; a non-zero exit is fatal.
func (h *harness) starter(args ...string) string {
	h.b.Helper()
	cmd := exec.Command(filepath.Join(h.bin, "starter"), args...)
	cmd.Env = h.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.b.Fatalf("starter %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// status is the rule's status query; the zero value while it cannot be
// read (not started yet).
func (h *harness) status() workflows.RuleStatus {
	st, err := h.wc.RuleStatus(h.ctx, ruleName)
	if err != nil {
		return workflows.RuleStatus{}
	}
	return st
}

// history returns the rule's history length and the current run's id.
func (h *harness) history() (int64, string) {
	h.b.Helper()
	d, err := h.srv.Client().DescribeWorkflowExecution(h.ctx, workflows.RuleWorkflowID(ruleName), "")
	if err != nil {
		h.b.Fatal(err)
	}
	return d.WorkflowExecutionInfo.HistoryLength, d.WorkflowExecutionInfo.Execution.RunId
}

// eventsSince counts the rule's history events after a snapshot of
// history(), across continue-as-new: a new run's own first events are part
// of the cost of what made the history grow.
func (h *harness) eventsSince(length int64, run string) int64 {
	h.b.Helper()
	id := workflows.RuleWorkflowID(ruleName)
	total := -length
	for {
		d, err := h.srv.Client().DescribeWorkflowExecution(h.ctx, id, run)
		if err != nil {
			h.b.Fatal(err)
		}
		info := d.WorkflowExecutionInfo
		total += info.HistoryLength
		if info.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return total
		}
		iter := h.srv.Client().GetWorkflowHistory(h.ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
		ev, err := iter.Next()
		if err != nil {
			h.b.Fatal(err)
		}
		can := ev.GetWorkflowExecutionContinuedAsNewEventAttributes()
		if can == nil {
			h.b.Fatalf("run %s of the rule closed with %s, not by continue-as-new", run, ev.GetEventType())
		}
		run = can.NewExecutionRunId
	}
}

// runsStarted returns the start times of the rule's runs that started
// after t: when it continued as new.
func (h *harness) runsStarted(t time.Time) []time.Time {
	h.b.Helper()
	resp, err := h.srv.Client().ListWorkflow(h.ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = %q AND StartTime > %q", workflows.RuleWorkflowID(ruleName), t.UTC().Format(time.RFC3339Nano)),
	})
	if err != nil {
		h.b.Fatal(err)
	}
	var out []time.Time
	for _, e := range resp.Executions {
		out = append(out, e.StartTime.AsTime())
	}
	return out
}

// waitFor polls cond every 50 ms; it is fatal when cond is not true within
// timeout, with cond's last word on why.
func (h *harness) waitFor(what string, timeout time.Duration, cond func() (bool, string)) {
	h.b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.b.Fatalf("%s: not within %s: %s", what, timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// quiet waits until the rule runs no activity and holds no changes, and
// its last poll stays the same for a second: then nothing it does is in
// flight. It returns that status.
func (h *harness) quiet() workflows.RuleStatus {
	h.b.Helper()
	var st workflows.RuleStatus
	h.waitFor("rule quiet", 2*time.Minute, func() (bool, string) {
		st = h.status()
		if st.State != workflows.StateIdle || st.PendingChanges > 0 {
			return false, fmt.Sprintf("state %q, %d pending", st.State, st.PendingChanges)
		}
		time.Sleep(time.Second)
		again := h.status()
		if again.State != workflows.StateIdle || again.PendingChanges > 0 || !again.LastPoll.Equal(st.LastPoll) {
			return false, "it polled or applied meanwhile"
		}
		st = again
		return true, ""
	})
	return st
}

// postChanges signs body as the connection's webhook secret does and posts
// it to the worker's webhook for the corp connection. It returns the time
// the 202 arrived.
func (h *harness) postChanges(body []byte) (time.Time, error) {
	req, err := http.NewRequest(http.MethodPost, h.hookURL+"/v1/connections/corp/changes", bytes.NewReader(body))
	if err != nil {
		return time.Time{}, fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(body, []byte(h.hookKey), time.Now()))
	resp, err := h.hc.Do(req)
	if err != nil {
		return time.Time{}, fmt.Errorf("webhook: %w", err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	at := time.Now()
	if resp.StatusCode != http.StatusAccepted {
		return at, fmt.Errorf("webhook: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return at, nil
}

// counters is a snapshot of what the scenarios count around a measurement.
type counters struct {
	ldapRequests, ldapConns int
	targetRequests          int
	history                 int64
	run                     string
	ops                     map[string]int
	targetMix               map[string]int // "METHOD /Kind[/{id}]" → count
}

func (h *harness) counters() counters {
	reqs := h.target.Requests()
	c := counters{targetRequests: len(reqs), ops: h.proxy.Ops(), targetMix: map[string]int{}}
	for _, r := range reqs {
		c.targetMix[requestKind(r.Method, r.Path)]++
	}
	c.ldapRequests, c.ldapConns = h.proxy.Counts()
	c.history, c.run = h.history()
	return c
}

// since is what happened between two snapshots: the counts, the history
// events across continue-as-new, the LDAP operations and the target's
// requests by kind.
func (h *harness) since(c0 counters) counters {
	c := h.counters()
	d := counters{ldapRequests: c.ldapRequests - c0.ldapRequests, ldapConns: c.ldapConns - c0.ldapConns,
		targetRequests: c.targetRequests - c0.targetRequests, history: h.eventsSince(c0.history, c0.run),
		ops: diff(c.ops, c0.ops), targetMix: diff(c.targetMix, c0.targetMix)}
	if c.run != c0.run {
		d.run = "continued as new"
	}
	return d
}

func diff(now, then map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range now {
		if v -= then[k]; v != 0 {
			d[k] = v
		}
	}
	return d
}

// requestKind is a SCIM request without its resource id: "PATCH /Groups/{id}".
func requestKind(method, path string) string {
	for _, kind := range []string{"/Users", "/Groups"} {
		if i := strings.LastIndex(path, kind); i >= 0 {
			if len(path) > i+len(kind) {
				return method + " " + kind + "/{id}"
			}
			return method + " " + kind
		}
	}
	return method + " " + path
}
