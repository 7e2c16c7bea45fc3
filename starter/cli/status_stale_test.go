package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/memory"
	"github.com/idsync/idsync/internal/devserver"
	"github.com/idsync/idsync/workflows"
)

// startMemoryEngine is a dev server and a worker, with no peers: the
// rules of these tests run between in-memory stores.
func startMemoryEngine(t *testing.T) *engine {
	t.Helper()
	srv := devserver.Start(t)
	c := srv.Client()
	e := &engine{t: t, address: srv.FrontendHostPort()}
	e.startWorker = workerStarter(t, c, io.Discard)
	e.stopWorker = e.startWorker()
	t.Cleanup(func() { e.stopWorker() })
	return e
}

// TestStatusWithoutWorker: with the server up and no worker, status, rule
// list and connection list answer from what the server keeps, say that it
// is stale and why, and exit 0; what does not exist is still an error; a
// worker back makes them live again.
func TestStatusWithoutWorker(t *testing.T) {
	e := startMemoryEngine(t)
	hr, app := memory.ForTest(t), memory.ForTest(t)
	hr.PutUser(connectors.User{ExternalID: "1", UserName: "ada", Active: true})
	e.ok("connection", "create", "hr", "--type", "memory", "--store", hr.Name())
	e.ok("connection", "create", "app", "--type", "memory", "--store", app.Name())
	e.ok("rule", "create", "hr-to-app", "--source", "hr", "--target", "app", "--poll-interval", "1h")
	e.eventually("the rule's first resync is done", func() error {
		st := e.ruleStatus("hr-to-app")
		if st.State != workflows.StateIdle || st.LastSuccess.IsZero() || st.ManagedUsers != 1 {
			return fmt.Errorf("state %s, last success %s, managed users %d", st.State, st.LastSuccess, st.ManagedUsers)
		}
		return nil
	})
	e.eventually("the listing shows the rule idle", func() error {
		if out := e.ok("rule", "list"); !strings.Contains(out, "idle") {
			return fmt.Errorf("rule list: %q", out)
		}
		return nil
	})
	e.stopWorker()
	e.stopWorker = func() {}

	// First the queries find out, which is at once after the worker
	// stops; then the task queue's pollers, once their polls have aged.
	t.Run("unanswered", func(t *testing.T) {
		e.testStale(t, "starter: stale: no worker is answering on task queue \"idsync\"")
	})
	defer func(d time.Duration) { pollerFresh = d }(pollerFresh)
	pollerFresh = 2 * time.Second
	time.Sleep(pollerFresh)
	t.Run("no pollers", func(t *testing.T) {
		e.testStale(t, "starter: stale: no worker is polling task queue \"idsync\" (last poll 20")
	})
	pollerFresh = 90 * time.Second
	// A worker back: live figures, no notice (ok fails on any stderr).
	e.t = t
	e.stopWorker = e.startWorker()
	e.eventually("status is live again", func() error {
		out, errOut, code := e.starter("status")
		if code != 0 || errOut != "" || !strings.Contains(squeeze(out), squeeze("hr-to-app idle hr → app 1 0 0")) {
			return fmt.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		return nil
	})
	if out := e.ok("connection", "list"); !strings.Contains(squeeze(out), squeeze("hr memory off")) {
		t.Errorf("connection list with a worker:\n%s", out)
	}
}

// testStale runs status, rule list and connection list with no worker:
// each must answer from the server's records after notice, and exit 0.
func (e *engine) testStale(t *testing.T, notice string) {
	e.t = t
	for _, tc := range []struct {
		argv []string
		// want are lines (or their starts) of stdout, in order.
		want []string
	}{
		{[]string{"status"}, []string{"RULE  STATE  SOURCE → TARGET  USERS  GROUPS  FAILED  LAST SUCCESS", "hr-to-app  idle  hr → app  1  0  0  20"}},
		{[]string{"status", "hr-to-app"}, []string{"Rule hr-to-app: idle", "  hr (memory) → app (memory), polling every 1h0m0s",
			"  managed in target: 1 users, 0 groups", "  last success: 20"}},
		{[]string{"rule", "show", "hr-to-app"}, []string{"Rule hr-to-app: idle", "  hr (memory) → app (memory)"}},
		{[]string{"status", "--connection", "app"}, []string{"Connection app: 1 rule, 1 idle", "  managed: 1 users, 0 groups"}},
		{[]string{"rule", "list"}, []string{"NAME  SOURCE  TARGET  STATE  INTERVAL", "hr-to-app  hr (memory)  app (memory)  idle  1h0m0s"}},
		{[]string{"rule", "list", "--connection", "hr"}, []string{"NAME", "hr-to-app  hr (memory)"}},
		{[]string{"connection", "list"}, []string{"NAME  TYPE  WEBHOOK", "app  memory  ?", "hr  memory  ?"}},
	} {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			start := time.Now()
			out, errOut, code := e.starter(tc.argv...)
			// The queries of a live worker would answer at once; one that
			// none answers must not hold the command to its timeout.
			if took := time.Since(start); code != 0 || took > 15*time.Second {
				t.Fatalf("exit %d after %s; want 0 within 15s\nstdout: %s\nstderr: %s", code, took.Round(time.Second), out, errOut)
			}
			if !strings.HasPrefix(errOut, notice) || !strings.Contains(errOut, "; figures as of 20") || strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr %q, want one line: %s … figures as of <time> …", errOut, notice)
			}
			got := lines(squeeze(out))
			for i, w := range tc.want {
				if i >= len(got) || !strings.HasPrefix(got[i], squeeze(w)) {
					t.Errorf("line %d: want it to start %q\n%s", i+1, w, out)
				}
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		out, errOut, code := e.starter("status", "-o", "json")
		var rules []struct {
			Name, State, SourceConnection string
			Stale                         *struct {
				AsOf   time.Time
				Reason string
			}
			LastKnown *struct {
				ManagedUsers int
				PollInterval string
			}
		}
		if err := json.Unmarshal([]byte(out), &rules); code != 0 || err != nil {
			t.Fatalf("exit %d, %v\nstdout: %s\nstderr: %s", code, err, out, errOut)
		}
		if len(rules) != 1 || rules[0].Name != "hr-to-app" || rules[0].State != workflows.StateIdle || rules[0].Stale == nil ||
			rules[0].Stale.AsOf.IsZero() || !strings.Contains(rules[0].Stale.Reason, `task queue "idsync"`) ||
			rules[0].LastKnown == nil || rules[0].LastKnown.ManagedUsers != 1 || rules[0].LastKnown.PollInterval != "1h0m0s" {
			t.Errorf("status -o json: %s", out)
		}
	})

	// What does not exist is an error still, not an empty answer.
	for _, tc := range []struct {
		want string
		argv []string
	}{
		{`rule "nope": not found`, []string{"status", "nope"}},
		{`connection "nope": not found`, []string{"status", "--connection", "nope"}},
		{`connection "nope": not found`, []string{"rule", "list", "--connection", "nope"}},
	} {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			e.t = t
			e.fails(tc.want, tc.argv...)
		})
	}
}

// squeeze makes every run of spaces two, so that tables compare by cell
// whatever their widths.
func squeeze(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strings.Join(strings.Fields(l), "  "))
	}
	return b.String()
}

// TestAsk: which failed queries mean that no worker answers (a stale
// answer follows), and which are errors.
func TestAsk(t *testing.T) {
	lastPoll := time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		err       error
		wait      bool // the query waits for its deadline
		wantStale string
		wantErr   bool
	}{
		{name: "answered"},
		{name: "not found", err: fmt.Errorf("rule %q: %w", "r", workflows.ErrNotFound), wantErr: true},
		{name: "other error", err: serviceerror.NewInternal("boom"), wantErr: true},
		{name: "cancelled by the server", err: serviceerror.NewCanceled("stream terminated by RST_STREAM with error code: CANCEL"),
			wantStale: `no worker is answering on task queue "idsync" (last poll 2026-12-05 20:00:00 UTC)`},
		{name: "no poller", err: fmt.Errorf("rule %q: %w", "r", serviceerror.NewFailedPrecondition("no poller seen for task queue recently, worker may be down")),
			wantStale: `no worker is answering on task queue "idsync": no poller seen for task queue recently, worker may be down (last poll 2026-12-05 20:00:00 UTC)`},
		{name: "query timed out", wait: true,
			wantStale: `no worker is answering on task queue "idsync": no answer to a query within 5s (last poll 2026-12-05 20:00:00 UTC)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stale, err := ask(context.Background(), lastPoll, func(qctx context.Context) error {
				if tc.wait {
					<-qctx.Done()
					return qctx.Err()
				}
				return tc.err
			})
			if stale != tc.wantStale || (err != nil) != tc.wantErr {
				t.Errorf("got %q, %v; want %q, error %t", stale, err, tc.wantStale, tc.wantErr)
			}
		})
	}
}
