package workflows_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/devserver"
	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

var generate = flag.Bool("generate", false,
	"record the histories in testdata/ against a Temporal dev server (the CLI in .cache/bin, see `make temporal`)")

// Recorded histories, replayed by TestReplay. Regenerate them with
//
//	go test ./workflows -run TestGenerateHistories -generate
//
// only when a change is meant to be incompatible with running workflows
// (and then, behind workflow.GetVersion, keep the old files too).
const (
	ruleHistory = "testdata/rule_history.json"
	// ruleHistoryV0 was recorded before the idle check (versionIdleCheck).
	ruleHistoryV0 = "testdata/rule_history_v0.json"
	// ruleHistoryV2 was recorded before the failing state, the first
	// resync rerun as such and resume closing the breaker
	// (versionTruthfulState).
	ruleHistoryV2 = "testdata/rule_history_v2.json"
	// ruleHistoryV3 was recorded before the memo's summary line
	// (versionMemoSummary) and named objects.
	ruleHistoryV3 = "testdata/rule_history_v3.json"
	// ruleHistoryV4 was recorded before a slow change check skipped the
	// next checks (versionSlowCheckSkip).
	ruleHistoryV4     = "testdata/rule_history_v4.json"
	resyncHistory     = "testdata/resync_history.json"
	connectionHistory = "testdata/connection_history.json"
)

// Histories recorded before the connector contract (issue 10): the rule
// ran as ProvisioningRuleWorkflow, without a cadence in its config, and
// with the reconcile settings as fields of their own.
const (
	ruleHistoryV1       = "testdata/rule_history_v1.json"
	resyncHistoryV1     = "testdata/resync_history_v1.json"
	connectionHistoryV1 = "testdata/connection_history_v1.json"
)

func newReplayer() worker.WorkflowReplayer {
	r := worker.NewWorkflowReplayer()
	workflows.Register(r)
	return r
}

// TestReplay replays recorded histories against today's workflow code: a
// change that would break running workflows fails here.
func TestReplay(t *testing.T) {
	for _, file := range []string{ruleHistory, ruleHistoryV0, ruleHistoryV1, ruleHistoryV2, ruleHistoryV3, ruleHistoryV4, resyncHistory, resyncHistoryV1, connectionHistory, connectionHistoryV1} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if err := newReplayer().ReplayWorkflowHistoryFromJSONFile(quietLogger(), file); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
}

// TestReplayDetectsChange makes sure the replay test can fail: the rule's
// history replayed against code that starts no initial resync is rejected
// as nondeterministic.
func TestReplayDetectsChange(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(func(ctx workflow.Context, _ workflows.RuleState) error {
		return workflow.Sleep(ctx, time.Hour)
	}, workflow.RegisterOptions{Name: "RuleWorkflow"})
	err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), ruleHistory)
	if err == nil || !strings.Contains(err.Error(), "TMPRL1100") {
		t.Fatalf("replay against other code: got %v, want a nondeterminism error (TMPRL1100)", err)
	}
}

func quietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestHistoriesCoverTheRule checks that the recorded rule history is a
// realistic run: an initial resync, polls, failed polls that open the
// breaker and its resync, a signal with its apply, a manual sync and the
// other updates, and the delete.
func TestHistoriesCoverTheRule(t *testing.T) {
	h := readHistory(t, ruleHistory)
	counts := map[string]int{}
	for _, e := range h.Events {
		switch e.EventType {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			counts["activity "+e.GetActivityTaskScheduledEventAttributes().ActivityType.Name]++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			counts["failed activity"]++
		case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
			counts["child"]++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			counts["signal "+e.GetWorkflowExecutionSignaledEventAttributes().SignalName]++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			counts["update "+e.GetWorkflowExecutionUpdateAcceptedEventAttributes().AcceptedRequest.Input.Name]++
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			counts["upsert"]++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			counts["completed"]++
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			counts["marker "+e.GetMarkerRecordedEventAttributes().MarkerName]++
			if e.GetMarkerRecordedEventAttributes().Failure != nil {
				counts["failed marker"]++
			}
		}
	}
	want := map[string]int{
		"activity Poll": 5, "failed activity": 2, "activity ApplyChanges": 1, "child": 3,
		"signal " + workflows.SignalNameChanges: 1, "signal " + workflows.SignalNameDelete: 1,
		"update " + workflows.UpdateNameSync: 1, "update " + workflows.UpdateNamePause: 1,
		"update " + workflows.UpdateNameResume: 1, "update " + workflows.UpdateNameConfig: 1,
		"upsert": 1, "completed": 1,
		// The idle check: its version, and local activities that found
		// nothing changed and that found changes.
		"marker Version": 1, "marker LocalActivity": 4,
		// A check that ran out of time, and polls after it without one.
		"failed marker": 1,
	}
	for k, n := range want {
		if counts[k] < n {
			t.Errorf("%s: %d in the history, want at least %d (all: %v)", k, counts[k], n, counts)
		}
	}
}

func readHistory(t *testing.T, file string) *historypb.History {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return h
}

// TestGenerateHistories records the histories TestReplay replays, from a
// real run against the dev server with fake activities. It only runs with
// -generate.
func TestGenerateHistories(t *testing.T) {
	if !*generate {
		t.Skip("records testdata/*.json against a dev server: run with -generate")
	}
	srv := devserver.Start(t)
	c := srv.Client()
	f := &fakes{}
	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	workflows.Register(w)
	w.RegisterActivityWithOptions(f.Poll, activity.RegisterOptions{Name: "Poll"})
	w.RegisterActivityWithOptions(f.CheckChanges, activity.RegisterOptions{Name: "CheckChanges"})
	w.RegisterActivityWithOptions(f.ApplyChanges, activity.RegisterOptions{Name: "ApplyChanges"})
	w.RegisterActivityWithOptions(f.Resync, activity.RegisterOptions{Name: "Resync"})
	w.RegisterActivityWithOptions(f.SourceCursor, activity.RegisterOptions{Name: "SourceCursor"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	rule, resync := recordRule(ctx, t, c, f)
	conn := recordConnection(ctx, t, c)
	for file, run := range map[string]run{ruleHistory: rule, resyncHistory: resync, connectionHistory: conn} {
		writeHistory(ctx, t, c, run, file)
	}
}

type run struct{ id, runID string }

// recordRule runs a rule through a realistic life, in seconds rather than
// minutes: the initial resync, polls, two failed polls that open the
// breaker, the breaker's resync, a change signal, a manual sync, pause,
// resume, a config change, a change check out of time, and the delete.
func recordRule(ctx context.Context, t *testing.T, c client.Client, f *fakes) (rule, resync run) {
	state := workflows.RuleState{Config: workflows.RuleConfig{
		Name: "hr-to-app", SourceConnection: "hr", TargetConnection: "app", SourceType: "ldap", TargetType: "scim",
		PollInterval: time.Second, FailureThreshold: 2, BreakerReset: 2 * time.Second,
	}}
	f.failPolls(4, 5) // the 4th and 5th polls fail: the breaker opens
	we, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.RuleWorkflowID(state.Config.Name), TaskQueue: workflows.TaskQueue,
	}, workflows.RuleWorkflow, state)
	if err != nil {
		t.Fatal(err)
	}
	status := func() workflows.RuleStatus {
		v, err := c.QueryWorkflow(ctx, we.GetID(), "", workflows.QueryNameStatus)
		if err != nil {
			t.Fatal(err)
		}
		var st workflows.RuleStatus
		if err := v.Get(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	waitFor(t, "the breaker resync and a poll after it", func() bool {
		st := status()
		if f.polls() >= 7 && st.LastResync != nil && st.LastResync.Reason == "breaker" && st.State == workflows.StateIdle {
			resync = run{id: st.LastResync.WorkflowID} // both scopes, with the cursor
			return true
		}
		return false
	})

	if err := c.SignalWorkflow(ctx, we.GetID(), "", workflows.SignalNameChanges, workflows.ChangeBatch{Events: []reconcile.Event{
		{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: "u-1001"},
		{Kind: reconcile.KindMembership, Op: reconcile.OpUpsert, GroupID: "g-eng", UserID: "u-1001"},
	}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the change applied", func() bool { return f.applies() == 1 })

	var resp workflows.SyncResponse
	update(ctx, t, c, we.GetID(), workflows.UpdateNameSync, workflows.SyncRequest{Scope: workflows.ScopeMembers}, &resp)
	if err := c.GetWorkflow(ctx, resp.WorkflowID, "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the manual resync taken in", func() bool { return status().ActiveResync == "" })

	update(ctx, t, c, we.GetID(), workflows.UpdateNamePause, nil, nil)
	update(ctx, t, c, we.GetID(), workflows.UpdateNameResume, nil, nil)
	interval, _ := json.Marshal(2 * time.Second)
	update(ctx, t, c, we.GetID(), workflows.UpdateNameConfig, workflows.ConfigPatch{"pollInterval": interval}, nil)
	n := f.polls()
	waitFor(t, "a poll at the new interval", func() bool { return f.polls() > n })
	f.slowCheck()
	n = f.polls()
	waitFor(t, "two polls after a slow check", func() bool { return f.polls() > n+1 })

	if err := c.SignalWorkflow(ctx, we.GetID(), "", workflows.SignalNameDelete, nil); err != nil {
		t.Fatal(err)
	}
	if err := we.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	return run{id: we.GetID(), runID: we.GetRunID()}, resync
}

// recordConnection creates a connection, reads it, updates it, has a
// rename rejected, and deletes it.
func recordConnection(ctx context.Context, t *testing.T, c client.Client) run {
	conn := connectors.Connection{Name: "corp-ldap", Type: "ldap",
		Settings: []byte(`{"url":"ldaps://ldap.corp.example:636","bindPassword":"env:LDAP_PASSWORD"}`)}
	we, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.ConnectionWorkflowID(conn.Name), TaskQueue: workflows.TaskQueue,
	}, workflows.ConnectionWorkflow, conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueryWorkflow(ctx, we.GetID(), "", workflows.QueryNameConnection); err != nil {
		t.Fatal(err)
	}
	conn.Settings = []byte(`{"url":"ldaps://ldap2.corp.example:636","bindPassword":"env:LDAP_PASSWORD"}`)
	update(ctx, t, c, we.GetID(), workflows.UpdateNameConnection, conn, nil)
	renamed := conn
	renamed.Name = "other"
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: we.GetID(),
		UpdateName: workflows.UpdateNameConnection, Args: []any{renamed}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err == nil {
		t.Fatal("the rename was accepted")
	}
	if err := c.SignalWorkflow(ctx, we.GetID(), "", workflows.SignalNameDeleteConnection, nil); err != nil {
		t.Fatal(err)
	}
	if err := we.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	return run{id: we.GetID(), runID: we.GetRunID()}
}

func update(ctx context.Context, t *testing.T, c client.Client, id, name string, arg, out any) {
	t.Helper()
	var args []any
	if arg != nil {
		args = []any{arg}
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: name, Args: args, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatalf("update %s: %v", name, err)
	}
	if err := h.Get(ctx, out); err != nil {
		t.Fatalf("update %s: %v", name, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeHistory(ctx context.Context, t *testing.T, c client.Client, r run, file string) {
	t.Helper()
	h := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, r.id, r.runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d events", file, len(h.Events))
}

// fakes stand in for the activities when recording histories: they return
// what connectors would, without any.
type fakes struct {
	mu       sync.Mutex
	nPolls   int
	nApplies int
	failing  map[int]bool
	nChecks  int
	slow     bool // the next check takes longer than the rule waits
}

func (f *fakes) slowCheck() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slow = true
}

func (f *fakes) failPolls(ns ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = map[int]bool{}
	for _, n := range ns {
		f.failing[n] = true
	}
}

func (f *fakes) polls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nPolls
}

func (f *fakes) applies() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nApplies
}

func (f *fakes) Poll(_ context.Context, in activities.PollInput) (activities.PollResult, error) {
	f.mu.Lock()
	f.nPolls++
	n := f.nPolls
	fail := f.failing[n]
	f.mu.Unlock()
	if fail {
		return activities.PollResult{}, temporal.NewNonRetryableApplicationError(
			"ldap: bind: LDAP Result Code 49 \"Invalid Credentials\"", activities.ErrTypeUnauthorized, nil)
	}
	if in.Cursor == "" {
		return activities.PollResult{ResyncRequired: true}, nil
	}
	return activities.PollResult{Cursor: fmt.Sprintf("csn-%03d", n), Changes: n % 2,
		Result: reconcile.Result{Users: reconcile.Counts{Updated: n % 2}}}, nil
}

// CheckChanges finds nothing changed on every third check, unless the
// last poll failed: its changes are still there to be read.
func (f *fakes) CheckChanges(_ context.Context, in activities.PollInput) (activities.ChangeCheck, error) {
	f.mu.Lock()
	f.nChecks++
	n := f.nChecks
	pending := f.failing[f.nPolls]
	slow := f.slow
	f.slow = false
	f.mu.Unlock()
	if slow {
		time.Sleep(4 * time.Second) // the rule's checkTimeout is 3 s
	}
	if n%3 == 0 && in.Cursor != "" && !pending {
		return activities.ChangeCheck{Cursor: fmt.Sprintf("csn-idle-%03d", n)}, nil
	}
	return activities.ChangeCheck{Changed: true}, nil
}

func (f *fakes) ApplyChanges(_ context.Context, in activities.ApplyInput) (reconcile.Result, error) {
	f.mu.Lock()
	f.nApplies++
	f.mu.Unlock()
	return reconcile.Result{Users: reconcile.Counts{Updated: 1}, Groups: reconcile.Counts{Updated: len(in.Events) - 1}}, nil
}

func (f *fakes) Resync(_ context.Context, in activities.ResyncInput) (reconcile.Result, error) {
	if in.Phase == activities.PhaseUsers {
		return reconcile.Result{Users: reconcile.Counts{Created: 3, Unchanged: 120}, ManagedUsers: 123}, nil
	}
	return reconcile.Result{Groups: reconcile.Counts{Updated: 1, Unchanged: 11}, ManagedGroups: 12}, nil
}

func (f *fakes) SourceCursor(context.Context, activities.RuleSpec) (string, error) {
	return "csn-000", nil
}
