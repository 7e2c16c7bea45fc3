package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/devserver"
	"github.com/idsync/idsync/workflows"
)

// countingRule stands in for a rule workflow: it receives the changes
// signal under the rule's workflow ID, as the real one does, and keeps the
// keys of the events in the order they arrived, with the number of
// signals, for the "seen" query.
func countingRule(ctx workflow.Context) error {
	var seen countedEvents
	if err := workflow.SetQueryHandler(ctx, "seen", func() (countedEvents, error) { return seen, nil }); err != nil {
		return err
	}
	ch := workflow.GetSignalChannel(ctx, workflows.SignalNameChanges)
	for {
		var b workflows.ChangeBatch
		ch.Receive(ctx, &b)
		seen.Signals++
		for _, e := range b.Events {
			seen.Keys = append(seen.Keys, e.Key())
		}
	}
}

type countedEvents struct {
	Signals int
	Keys    []string
}

// temporalBackend signals the real Temporal; the connection and its rules
// are given, so that the test measures the signals alone.
type temporalBackend struct {
	workflows.Client
	rules []string
}

func (b temporalBackend) Connection(_ context.Context, name string) (connectors.Connection, error) {
	return connectors.Connection{Name: name, Type: "ldap", WebhookSecret: "env:HR_HOOK"}, nil
}

func (b temporalBackend) Rules(context.Context, string, string) ([]string, error) {
	return b.rules, nil
}

// TestBurstTemporal sends 200 signed webhook calls at once, each of two
// events, to a connection with two rules, through the real dev server:
// every call is accepted and every event reaches each rule exactly once,
// after the events of the same call that precede it.
func TestBurstTemporal(t *testing.T) {
	const calls = 200
	srv := devserver.Start(t)
	c := srv.Client()
	rules := startCountingRules(t, c, "burst-a", "burst-b")

	h := &Handler{Backend: temporalBackend{Client: workflows.Client{Temporal: c}, rules: rules},
		ResolveSecret: func(string) (string, error) { return testKey, nil },
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	ts := httptest.NewServer(h.Routes())
	t.Cleanup(func() {
		ts.Close()
		if err := h.Drain(context.Background()); err != nil {
			t.Error(err)
		}
	})
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: calls}}

	// One call first, so that the burst finds the client connected.
	if err := postSigned(hc, ts.URL+"/v1/connections/hr/changes", burstBody(calls)); err != nil {
		t.Fatal(err)
	}
	lat := make([]time.Duration, calls)
	errs := make([]error, calls)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range calls {
		wg.Go(func() {
			errs[i] = postSigned(hc, ts.URL+"/v1/connections/hr/changes", burstBody(i))
			lat[i] = time.Since(start)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(lat)
	t.Logf("%d concurrent calls answered 202 after p50 %s, p95 %s, p99 %s, max %s", calls,
		lat[calls/2-1].Round(time.Millisecond), lat[calls*95/100-1].Round(time.Millisecond),
		lat[calls*99/100-1].Round(time.Millisecond), lat[calls-1].Round(time.Millisecond))

	for _, rule := range rules {
		seen := waitForEvents(t, c, rule, 2*calls+2)
		checkBurstEvents(t, rule, seen.Keys, calls+1)
		t.Logf("rule %s: %d events in %d signals", rule, len(seen.Keys), seen.Signals)
	}
}

func startCountingRules(t *testing.T, c client.Client, rules ...string) []string {
	t.Helper()
	const queue = "webhook-burst-test"
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(countingRule, workflow.RegisterOptions{Name: "webhookCountingRule"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	for _, rule := range rules {
		_, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
			ID: workflows.RuleWorkflowID(rule), TaskQueue: queue}, "webhookCountingRule")
		if err != nil {
			t.Fatal(err)
		}
	}
	return rules
}

// burstBody is call i's batch: a user upsert, then a membership of that
// user, so that the order within a call can be checked.
func burstBody(i int) []byte {
	return fmt.Appendf(nil, `{"changes":[{"kind":"user","op":"upsert","id":"u%d"},`+
		`{"kind":"membership","op":"upsert","groupId":"g","userId":"u%d"}]}`, i, i)
}

func postSigned(hc *http.Client, url string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(body, []byte(testKey), time.Now()))
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%s: %s", resp.Status, msg)
	}
	return nil
}

func waitForEvents(t *testing.T, c client.Client, rule string, want int) countedEvents {
	t.Helper()
	var seen countedEvents
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := c.QueryWorkflow(context.Background(), workflows.RuleWorkflowID(rule), "", "seen")
		if err == nil {
			err = v.Get(&seen)
		}
		if err == nil && len(seen.Keys) >= want {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("rule %s: %d of %d events after 20 s (%v)", rule, len(seen.Keys), want, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkBurstEvents checks that every call's two events arrived once, the
// user before its membership.
func checkBurstEvents(t *testing.T, rule string, keys []string, calls int) {
	t.Helper()
	at := map[string]int{}
	for i, k := range keys {
		if _, dup := at[k]; dup {
			t.Errorf("rule %s: %s arrived twice", rule, k)
		}
		at[k] = i
	}
	for i := range calls {
		u, okU := at[fmt.Sprintf("user/u%d", i)]
		m, okM := at[fmt.Sprintf("membership/g/u%d", i)]
		if !okU || !okM {
			t.Errorf("rule %s: call %d's events missing", rule, i)
		} else if m < u {
			t.Errorf("rule %s: call %d's membership arrived before its user", rule, i)
		}
	}
	if len(keys) != 2*calls {
		t.Errorf("rule %s: %d events, want %d", rule, len(keys), 2*calls)
	}
}
