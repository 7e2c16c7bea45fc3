package cli

// When no worker answers, status, rule list and connection list fall back
// to what the Temporal server keeps without one: each workflow's search
// attributes and memo (from the listing, or a describe) and the time its
// code last ran (from its history). They say so, and why, on stderr.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/idsync/idsync/workflows"
)

// pollerFresh: a running worker's long poll returns within about a minute
// and it polls again at once, so a poller the server last saw longer ago
// than this has stopped. A var, so that a test need not wait that long.
var pollerFresh = 90 * time.Second

const (
	// queryWait bounds one query: a worker answers in milliseconds, and
	// without one the server holds a query for 10 s or more.
	queryWait = 5 * time.Second
)

// Staleness says that figures come from the server's records, not from a
// worker: as of when, and why.
type Staleness struct {
	AsOf   time.Time `json:"asOf"`
	Reason string    `json:"reason"`
}

// notice is the one stderr line of a command that answers from records.
func (s Staleness) notice() string {
	return fmt.Sprintf("starter: stale: %s; figures as of %s, from what the server keeps (search attributes, memo; ? = known only to a worker)",
		s.Reason, fmtWhen(s.AsOf))
}

// workerAbsent says why no worker can answer a query now, or "" when one
// polls the workflow task queue (then a query decides), and when a worker
// last polled it.
func workerAbsent(ctx context.Context, c workflows.Client) (reason string, lastPoll time.Time) {
	resp, err := c.Temporal.DescribeTaskQueue(ctx, workflows.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return "", time.Time{} // unknown: let the queries find out
	}
	for _, p := range resp.GetPollers() {
		if t := p.GetLastAccessTime().AsTime(); t.After(lastPoll) {
			lastPoll = t
		}
	}
	if !lastPoll.IsZero() && time.Since(lastPoll) < pollerFresh {
		return "", lastPoll
	}
	why := fmt.Sprintf("no worker is polling task queue %q", workflows.TaskQueue)
	if !lastPoll.IsZero() {
		why += " (last poll " + fmtWhen(lastPoll) + ")"
	}
	return why, lastPoll
}

// unanswered tells a query that no worker answered from one that failed:
// the query's own deadline ran out, or the server gave up on it.
func unanswered(qctx context.Context, err error) bool {
	var canceled *serviceerror.Canceled
	var deadline *serviceerror.DeadlineExceeded
	var precond *serviceerror.FailedPrecondition // "no poller seen for task queue recently"
	return errors.Is(err, context.DeadlineExceeded) && qctx.Err() != nil ||
		errors.As(err, &canceled) || errors.As(err, &deadline) || errors.As(err, &precond)
}

// ask runs a query for at most queryWait. When no worker answers it, it
// returns why, for the stale notice, and no error.
func ask(ctx context.Context, lastPoll time.Time, query func(context.Context) error) (stale string, err error) {
	qctx, cancel := context.WithTimeout(ctx, queryWait)
	defer cancel()
	err = query(qctx)
	if err == nil || ctx.Err() != nil || !unanswered(qctx, err) {
		return "", err
	}
	// A worker polled lately, or the query would not have been sent: it
	// stopped since, or it is stuck.
	why := fmt.Sprintf("no worker is answering on task queue %q", workflows.TaskQueue)
	var precond *serviceerror.FailedPrecondition
	switch {
	case errors.As(err, &precond):
		why += ": " + precond.Message
	case qctx.Err() != nil:
		why += fmt.Sprintf(": no answer to a query within %s", queryWait)
	}
	if !lastPoll.IsZero() {
		why += " (last poll " + fmtWhen(lastPoll) + ")"
	}
	return why, nil
}

// ruleRecord is a rule as the server keeps it without a worker.
type ruleRecord struct {
	Name                string    `json:"name"`
	State               string    `json:"state"`
	SourceConnection    string    `json:"sourceConnection"`
	TargetConnection    string    `json:"targetConnection"`
	SourceType          string    `json:"sourceType"`
	TargetType          string    `json:"targetType"`
	LastSuccess         time.Time `json:"lastSuccess"`
	ConsecutiveFailures int64     `json:"consecutiveFailures"`
	FailedObjects       int64     `json:"failedObjects"`
	// LastKnown is what the rule kept in its memo; nil for a rule that
	// has not written one (started before rules kept it).
	LastKnown *lastKnown `json:"lastKnown,omitempty"`
	Stale     Staleness  `json:"stale"`
}

// lastKnown is a rule's memo as -o json writes it: the poll interval as
// the flags take it, not nanoseconds.
type lastKnown struct {
	workflows.StatusMemo
	PollInterval jsonDuration `json:"pollInterval"`
}

// connectionRecord is a connection as the server keeps it.
type connectionRecord struct {
	Name  string    `json:"name"`
	Type  string    `json:"type"`
	Stale Staleness `json:"stale"`
}

// records reads what the server keeps of the rules or the connections
// that a visibility query lists: their search attributes, and when each
// one's code last ran.
func (f *Factory) records(ctx context.Context, c workflows.Client, query string) ([]*workflowpb.WorkflowExecutionInfo, []time.Time, error) {
	var infos []*workflowpb.WorkflowExecutionInfo
	var token []byte
	for {
		resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: query + ` AND ExecutionStatus = "Running"`, NextPageToken: token,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("list workflows: %w", err)
		}
		infos = append(infos, resp.Executions...)
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	asOf := make([]time.Time, len(infos))
	for i, in := range infos {
		t, err := f.lastRan(ctx, c, in)
		if err != nil {
			return nil, nil, err
		}
		asOf[i] = t
	}
	return infos, asOf, nil
}

// lastRan is when a workflow's code last ran on a worker (its last
// completed workflow task), which is when it last wrote its search
// attributes; its start when it has not run yet.
func (f *Factory) lastRan(ctx context.Context, c workflows.Client, in *workflowpb.WorkflowExecutionInfo) (time.Time, error) {
	req := &workflowservice.GetWorkflowExecutionHistoryReverseRequest{
		Namespace: f.Namespace, Execution: in.GetExecution(), MaximumPageSize: 20,
	}
	for {
		resp, err := c.Temporal.WorkflowService().GetWorkflowExecutionHistoryReverse(ctx, req)
		if err != nil {
			return time.Time{}, fmt.Errorf("read the history of %s: %w", in.GetExecution().GetWorkflowId(), err)
		}
		for _, ev := range resp.GetHistory().GetEvents() {
			if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
				return ev.GetEventTime().AsTime(), nil
			}
		}
		if req.NextPageToken = resp.GetNextPageToken(); len(req.NextPageToken) == 0 {
			return in.GetStartTime().AsTime(), nil
		}
	}
}

// ruleRecords reads what the server keeps of the running rules (of one
// connection, if given).
func (f *Factory) ruleRecords(ctx context.Context, c workflows.Client, connection, reason string) ([]ruleRecord, error) {
	q := fmt.Sprintf(`%s = %q`, workflows.SAKind.GetName(), workflows.KindRule)
	if connection != "" {
		q += fmt.Sprintf(` AND (%s = %q OR %s = %q)`, workflows.SASourceConnection.GetName(), connection,
			workflows.SATargetConnection.GetName(), connection)
	}
	infos, asOf, err := f.records(ctx, c, q)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	recs := make([]ruleRecord, len(infos))
	for i, in := range infos {
		recs[i] = ruleRecordOf(in, Staleness{AsOf: asOf[i], Reason: reason})
	}
	slices.SortFunc(recs, func(a, b ruleRecord) int { return strings.Compare(a.Name, b.Name) })
	return recs, nil
}

// ruleRecord reads what the server keeps of one running rule.
func (f *Factory) ruleRecord(ctx context.Context, c workflows.Client, name, reason string) (ruleRecord, error) {
	in, err := describe(ctx, c, workflows.RuleWorkflowID(name))
	if err != nil {
		return ruleRecord{}, fmt.Errorf("rule %q: %w", name, err)
	}
	t, err := f.lastRan(ctx, c, in)
	if err != nil {
		return ruleRecord{}, err
	}
	return ruleRecordOf(in, Staleness{AsOf: t, Reason: reason}), nil
}

// connectionExists checks from the server alone, worker or not, that a
// connection exists.
func connectionExists(ctx context.Context, c workflows.Client, name string) error {
	if _, err := describe(ctx, c, workflows.ConnectionWorkflowID(name)); err != nil {
		return fmt.Errorf("connection %q: %w", name, err)
	}
	return nil
}

// describe reads a running workflow's record; a closed one was deleted.
func describe(ctx context.Context, c workflows.Client, id string) (*workflowpb.WorkflowExecutionInfo, error) {
	resp, err := c.Temporal.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return nil, workflows.ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("describe workflow %s: %w", id, err)
	case resp.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return nil, workflows.ErrNotFound
	}
	return resp.GetWorkflowExecutionInfo(), nil
}

func ruleRecordOf(in *workflowpb.WorkflowExecutionInfo, stale Staleness) ruleRecord {
	sa := in.GetSearchAttributes()
	return ruleRecord{
		Name:                strings.TrimPrefix(in.GetExecution().GetWorkflowId(), workflows.RuleIDPrefix),
		State:               saValue[string](sa, workflows.SASyncState.GetName()),
		SourceConnection:    saValue[string](sa, workflows.SASourceConnection.GetName()),
		TargetConnection:    saValue[string](sa, workflows.SATargetConnection.GetName()),
		SourceType:          saValue[string](sa, workflows.SASourceType.GetName()),
		TargetType:          saValue[string](sa, workflows.SATargetType.GetName()),
		LastSuccess:         saValue[time.Time](sa, workflows.SALastSyncTime.GetName()),
		ConsecutiveFailures: saValue[int64](sa, workflows.SAConsecutiveFailures.GetName()),
		FailedObjects:       saValue[int64](sa, workflows.SAFailedObjects.GetName()),
		LastKnown:           statusMemo(in),
		Stale:               stale,
	}
}

// statusMemo decodes the status a rule keeps in its memo, if any.
func statusMemo(in *workflowpb.WorkflowExecutionInfo) *lastKnown {
	p, ok := in.GetMemo().GetFields()[workflows.MemoKeyStatus]
	if !ok {
		return nil
	}
	var m workflows.StatusMemo
	if err := converter.GetDefaultDataConverter().FromPayload(p, &m); err != nil {
		return nil // written by another version: as if absent
	}
	return &lastKnown{StatusMemo: m, PollInterval: jsonDuration(m.PollInterval)}
}

// saValue decodes one search attribute; the zero value when it is unset
// (a rule whose code has not run yet has only those set at its start).
func saValue[T any](sa *commonpb.SearchAttributes, name string) T {
	var v T
	if p, ok := sa.GetIndexedFields()[name]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
	}
	return v
}

// oldest is the staleness of a listing: the reason, and the time of its
// oldest figures.
func oldest(reason string, times []time.Time) Staleness {
	s := Staleness{Reason: reason}
	for _, t := range times {
		if s.AsOf.IsZero() || t.Before(s.AsOf) {
			s.AsOf = t
		}
	}
	if s.AsOf.IsZero() {
		s.AsOf = time.Now() // nothing listed: the listing itself is current
	}
	return s
}

func recordTimes(recs []ruleRecord) []time.Time {
	ts := make([]time.Time, len(recs))
	for i, r := range recs {
		ts[i] = r.Stale.AsOf
	}
	return ts
}

// unknown is a figure only a worker knows.
const unknown = "?"

// managed is a managed count from the memo, or unknown.
func (r ruleRecord) managed() (users, groups string) {
	if m := r.LastKnown; m != nil {
		return fmt.Sprint(m.ManagedUsers), fmt.Sprint(m.ManagedGroups)
	}
	return unknown, unknown
}

// lastError is the table's LAST ERROR cell of a record.
func (r ruleRecord) lastError() string {
	switch m := r.LastKnown; {
	case m != nil && m.LastError != "":
		return m.LastErrorClass + ": " + short(m.LastError, 60)
	case m != nil && r.ConsecutiveFailures == 0:
		return ""
	case r.ConsecutiveFailures > 0:
		return fmt.Sprintf("? (%d failed polls in a row)", r.ConsecutiveFailures)
	}
	return unknown
}

func printStaleRuleTable(w io.Writer, recs []ruleRecord) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSTATE\tSOURCE → TARGET\tUSERS\tGROUPS\tFAILED\tLAST SUCCESS\tLAST ERROR")
	for _, r := range recs {
		users, groups := r.managed()
		fmt.Fprintf(tw, "%s\t%s\t%s → %s\t%s\t%s\t%d\t%s\t%s\n", r.Name, r.State, r.SourceConnection, r.TargetConnection,
			users, groups, r.FailedObjects, fmtWhen(r.LastSuccess), r.lastError())
	}
	_ = tw.Flush()
}

func printStaleRuleList(w io.Writer, recs []ruleRecord) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tTARGET\tSTATE\tINTERVAL")
	for _, r := range recs {
		interval := unknown
		if r.LastKnown != nil {
			interval = r.LastKnown.StatusMemo.PollInterval.String()
		}
		fmt.Fprintf(tw, "%s\t%s (%s)\t%s (%s)\t%s\t%s\n", r.Name, r.SourceConnection, r.SourceType,
			r.TargetConnection, r.TargetType, r.State, interval)
	}
	return tw.Flush()
}

// printStaleRule prints what the server keeps of one rule.
func printStaleRule(w io.Writer, r ruleRecord) {
	fmt.Fprintf(w, "Rule %s: %s\n", r.Name, r.State)
	fmt.Fprintf(w, "  %s (%s) → %s (%s)", r.SourceConnection, r.SourceType, r.TargetConnection, r.TargetType)
	m := r.LastKnown
	if m != nil {
		fmt.Fprintf(w, ", polling every %s\n  managed in target: %d users, %d groups", m.StatusMemo.PollInterval, m.ManagedUsers, m.ManagedGroups)
	}
	fmt.Fprintf(w, "\n  last success: %s\n", fmtWhen(r.LastSuccess))
	fmt.Fprintf(w, "  consecutive failures: %d\n", r.ConsecutiveFailures)
	fmt.Fprintf(w, "  failed objects, in total: %d\n", r.FailedObjects)
	if m != nil && !m.BreakerOpenUntil.IsZero() {
		fmt.Fprintf(w, "  circuit breaker open until %s, then a full resync\n", fmtWhen(m.BreakerOpenUntil))
	}
	if m != nil && m.LastError != "" {
		fmt.Fprintf(w, "  last error (%s): %s\n", m.LastErrorClass, m.LastError)
	}
	fmt.Fprintf(w, "  as of %s; %s\n", fmtWhen(r.Stale.AsOf), r.Stale.Reason)
	known := "managed objects, polls, errors, totals and settings are"
	if m != nil {
		known = "polls, totals, retries and settings are"
	}
	fmt.Fprintf(w, "  %s known only to a worker: start one (make run, or bin/worker)\n", known)
}

// printStaleConnection prints a connection's status from its rules'
// records.
func printStaleConnection(w io.Writer, conn string, recs []ruleRecord) {
	states := map[string]int{}
	var failed int64
	for _, r := range recs {
		states[r.State]++
		failed += r.FailedObjects
	}
	plural := "s"
	if len(recs) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "Connection %s: %d rule%s", conn, len(recs), plural)
	// Sorted rather than in a fixed order: a rule run by a newer worker
	// may be in a state this starter does not know.
	for _, s := range slices.Sorted(maps.Keys(states)) {
		fmt.Fprintf(w, ", %d %s", states[s], s)
	}
	users, groups, known := 0, 0, true
	for _, r := range recs {
		if r.LastKnown == nil {
			known = false
			break
		}
		users += r.LastKnown.ManagedUsers
		groups += r.LastKnown.ManagedGroups
	}
	if known {
		fmt.Fprintf(w, "\n  managed: %d users, %d groups", users, groups)
	}
	fmt.Fprintf(w, "\n  failed objects, in total: %d; totals are known only to a worker\n", failed)
	printStaleRuleTable(w, recs)
}
