// Package activities holds the Temporal activities of idsync: the only code
// that talks to identity stores. Activities open connectors from stored
// connection configs (resolving secret references here, on the worker),
// run the reconcile package, heartbeat progress and return counts, never
// bulk data. Errors are classified once, here: retryable or not, and with
// the delay a rate-limited target asked for.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/activity"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/httpx"
	"github.com/idsync/idsync/reconcile"
)

// ConnectionGetter reads a stored connection by name.
type ConnectionGetter interface {
	Connection(ctx context.Context, name string) (connectors.Connection, error)
}

// RecordReader reads a rule's record of the users it manages in its
// target; nil and no error when the rule keeps none yet.
type RecordReader interface {
	ManagedSet(ctx context.Context, rule string) (reconcile.ManagedSet, error)
}

// Activities are registered on the worker with their dependencies; workflows
// call them through a nil *Activities.
type Activities struct {
	Connections ConnectionGetter
	Registry    connectors.Registry
	Logger      *slog.Logger
	// Budgets are the request budgets of the targets, shared by every
	// activity of this worker (see connectors/httpx).
	Budgets *httpx.Budgets
	// Pool, when set, keeps connectors open from one activity to the next.
	Pool *Pool
	// Records, when set, reads a rule's record of the users it manages,
	// which --on-missing report needs (reconcile.ManagedSet).
	Records RecordReader

	// attempts runs one attempt at a time per rule (see attempt.go).
	attempts attempts
}

// RuleSpec is what an activity needs to know of a rule.
type RuleSpec struct {
	Name             string `json:"name"`
	SourceConnection string `json:"sourceConnection"`
	TargetConnection string `json:"targetConnection"`
	reconcile.Policy
	reconcile.Decisions
}

func (r RuleSpec) options() reconcile.Options {
	return reconcile.Options{
		Policy:    r.Policy,
		Decisions: r.Decisions,
		// Each rule owns what it writes: rules that share a target never
		// touch each other's objects (reconcile/owner.go).
		Owner: r.Name,
	}
}

func (a *Activities) baseLogger() *slog.Logger {
	if a.Logger == nil {
		return slog.Default()
	}
	return a.Logger
}

func (a *Activities) logger(ctx context.Context, rule string) *slog.Logger {
	info := activity.GetInfo(ctx)
	return a.baseLogger().With("rule", rule, "activity", info.ActivityType.Name, "attempt", info.Attempt)
}

// open reads a connection and opens its connector, unpooled.
func (a *Activities) open(ctx context.Context, name string, logger *slog.Logger) (connectors.Connector, error) {
	c, err := a.Connections.Connection(ctx, name)
	if err != nil {
		return nil, err
	}
	return a.openConn(ctx, c, logger)
}

func (a *Activities) openConn(ctx context.Context, c connectors.Connection, logger *slog.Logger) (connectors.Connector, error) {
	ctx = httpx.WithBudgets(ctx, a.Budgets, c.Name)
	return a.Registry.Open(ctx, c.Name, c.Type, c.Settings, logger)
}

// openSource opens a rule's source through the pool; pass the error of
// the work done with it to release.
func (a *Activities) openSource(ctx context.Context, r RuleSpec) (connectors.Source, func(error), error) {
	sc, release, err := a.openPooled(ctx, r.SourceConnection)
	if err != nil {
		return nil, nil, openError("source", err)
	}
	src, err := connectors.AsSource(sc)
	if err != nil {
		release(nil)
		return nil, nil, configError(fmt.Errorf("connection %q: %w", r.SourceConnection, err))
	}
	return src, release, nil
}

// openPair opens a rule's source and target through the pool; pass the
// error of the work done with them to release.
func (a *Activities) openPair(ctx context.Context, r RuleSpec) (connectors.Source, connectors.Target, func(error), error) {
	src, releaseSrc, err := a.openSource(ctx, r)
	if err != nil {
		return nil, nil, nil, err
	}
	tc, releaseTgt, err := a.openPooled(ctx, r.TargetConnection)
	if err != nil {
		releaseSrc(nil)
		return nil, nil, nil, openError("target", err)
	}
	tgt, err := connectors.AsTarget(tc)
	if err != nil {
		releaseSrc(nil)
		releaseTgt(nil)
		return nil, nil, nil, configError(fmt.Errorf("connection %q: %w", r.TargetConnection, err))
	}
	return src, tgt, func(err error) { releaseSrc(err); releaseTgt(err) }, nil
}

func closeAll(logger *slog.Logger, cs ...connectors.Connector) {
	for _, c := range cs {
		if c == nil {
			continue
		}
		if err := c.Close(); err != nil {
			logger.Warn("close connection", "error", err)
		}
	}
}

// syncer builds a Syncer that heartbeats its progress through the attempt.
func (a *Activities) syncer(at *attempt, src connectors.Source, tgt connectors.Target, rule string, opts reconcile.Options) *reconcile.Syncer {
	s := &reconcile.Syncer{Source: src, Target: tgt, Opts: opts, Progress: at.set, Tally: at.tally,
		Named: logObject(at.logger, opts.DryRun)}
	if a.Records != nil && opts.OnMissing == reconcile.MissingReport {
		s.Record = func(ctx context.Context) (reconcile.ManagedSet, error) { return a.Records.ManagedSet(ctx, rule) }
	}
	return s
}

// logObject logs each object a run writes, one line each, so that the
// worker's log says who was created, changed or deprovisioned (status
// keeps only the last few hundred).
func logObject(logger *slog.Logger, dryRun bool) func(reconcile.Object) {
	return func(o reconcile.Object) {
		msg := o.Kind + " " + o.Action
		if dryRun {
			msg = "dry run: " + msg
		}
		switch o.Action {
		case reconcile.ActionFailed, reconcile.ActionConflict:
			logger.Warn(msg, "what", o.Name, "error", o.Error)
		default:
			logger.Info(msg, "name", o.Name, "external_id", o.ID)
		}
	}
}

// PollInput asks for the changes since Cursor to be applied.
type PollInput struct {
	Rule   RuleSpec `json:"rule"`
	Cursor string   `json:"cursor"`
}

// PollResult says what a poll did.
type PollResult struct {
	Cursor         string           `json:"cursor"`
	Changes        int              `json:"changes"`
	ResyncRequired bool             `json:"resyncRequired,omitempty"`
	Result         reconcile.Result `json:"result"`
	// More: the source has more changes after Cursor; poll again now.
	More bool `json:"more,omitempty"`
}

// Poll reads what changed at the source since the cursor and applies it to
// the target. It is safe to retry: it starts again from the same cursor and
// every write is idempotent.
func (a *Activities) Poll(ctx context.Context, in PollInput) (_ PollResult, err error) {
	logger := a.logger(ctx, in.Rule.Name)
	at, err := a.begin(ctx, logger, in.Rule.Name, "")
	if err != nil {
		return PollResult{}, err
	}
	defer at.end()
	src, tgt, release, err := a.openPair(ctx, in.Rule)
	if err != nil {
		return PollResult{}, err
	}
	defer func() { release(err) }()
	if in.Cursor == "" {
		return PollResult{ResyncRequired: true}, nil
	}
	cs, err := connectors.Incrementally(src).Changes(ctx, in.Cursor)
	if err != nil {
		return PollResult{}, classify(fmt.Errorf("read changes from %s: %w", in.Rule.SourceConnection, err))
	}
	if cs.ResyncRequired {
		logger.Info("source cannot say what changed since the cursor; a full resync is needed")
		return PollResult{Cursor: in.Cursor, ResyncRequired: true}, nil
	}
	n := len(cs.Users) + len(cs.Groups) + len(cs.DeletedIDs)
	res, err := a.syncer(at, src, tgt, in.Rule.Name, in.Rule.options()).ApplyChangeSet(ctx, cs)
	if err != nil {
		return PollResult{}, classify(fmt.Errorf("apply %d changes to %s: %w", n, in.Rule.TargetConnection, err))
	}
	// A retry sees what the attempts before it wrote as unchanged.
	res = at.afterResult(res)
	if n > 0 {
		logger.Info("poll applied changes", "changes", n, "users", res.Users, "groups", res.Groups)
	}
	return PollResult{Cursor: cs.Cursor, Changes: n, Result: res, More: cs.More}, nil
}

// ChangeCheck says whether the source changed since a cursor.
type ChangeCheck struct {
	// Changed: something changed, or the source cannot say; run Poll.
	Changed bool `json:"changed,omitempty"`
	// Cursor is the source's new position when nothing changed.
	Cursor string `json:"cursor,omitempty"`
}

// NameCheckChanges is CheckChanges's activity type name.
const NameCheckChanges = "CheckChanges"

// CheckChanges reads what changed at the source since the cursor and
// applies nothing. Rules run it as a local activity before each poll: when
// nothing changed, which is most polls, the poll is done with one source
// request and a few history events; otherwise the rule runs Poll, which
// reads the changes again from the same cursor and applies them.
func (a *Activities) CheckChanges(ctx context.Context, in PollInput) (_ ChangeCheck, err error) {
	if in.Cursor == "" {
		return ChangeCheck{Changed: true}, nil
	}
	src, release, err := a.openSource(ctx, in.Rule)
	if err != nil {
		return ChangeCheck{}, err
	}
	defer func() { release(err) }()
	cs, err := connectors.Incrementally(src).Changes(ctx, in.Cursor)
	if err != nil {
		return ChangeCheck{}, classify(fmt.Errorf("read changes from %s: %w", in.Rule.SourceConnection, err))
	}
	if cs.ResyncRequired || len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) > 0 || cs.Cursor == "" {
		return ChangeCheck{Changed: true}, nil
	}
	return ChangeCheck{Cursor: cs.Cursor}, nil
}

// ApplyInput carries buffered change events.
type ApplyInput struct {
	Rule   RuleSpec          `json:"rule"`
	Events []reconcile.Event `json:"events"`
}

// ApplyChanges applies change events (from webhooks) in order.
func (a *Activities) ApplyChanges(ctx context.Context, in ApplyInput) (_ reconcile.Result, err error) {
	at, err := a.begin(ctx, a.logger(ctx, in.Rule.Name), in.Rule.Name, "")
	if err != nil {
		return reconcile.Result{}, err
	}
	defer at.end()
	src, tgt, release, err := a.openPair(ctx, in.Rule)
	if err != nil {
		return reconcile.Result{}, err
	}
	defer func() { release(err) }()
	res, err := a.syncer(at, src, tgt, in.Rule.Name, in.Rule.options()).ApplyEvents(ctx, in.Events)
	if err != nil {
		return reconcile.Result{}, classify(fmt.Errorf("apply %d events to %s: %w", len(in.Events), in.Rule.TargetConnection, err))
	}
	return at.afterResult(res), nil
}

// Phases of a full resync.
const (
	PhaseUsers  = "users"
	PhaseGroups = "groups"
)

// ResyncInput asks for one phase of a full resync.
type ResyncInput struct {
	Rule                 RuleSpec `json:"rule"`
	Phase                string   `json:"phase"`
	DryRun               bool     `json:"dryRun,omitempty"`
	AllowMassDeprovision bool     `json:"allowMassDeprovision,omitempty"`
}

// Resync runs one phase of a full resync. A retry recomputes the
// difference from scratch rather than replaying writes.
func (a *Activities) Resync(ctx context.Context, in ResyncInput) (_ reconcile.Result, err error) {
	logger := a.logger(ctx, in.Rule.Name).With("phase", in.Phase)
	at, err := a.begin(ctx, logger, in.Rule.Name, in.Phase)
	if err != nil {
		return reconcile.Result{}, err
	}
	defer at.end()
	src, tgt, release, err := a.openPair(ctx, in.Rule)
	if err != nil {
		return reconcile.Result{}, err
	}
	defer func() { release(err) }()
	opts := in.Rule.options()
	opts.DryRun = in.DryRun
	opts.AllowMassDeprovision = in.AllowMassDeprovision
	s := a.syncer(at, src, tgt, in.Rule.Name, opts)
	var res reconcile.Result
	switch in.Phase {
	case PhaseUsers:
		res, err = s.SyncUsers(ctx)
	case PhaseGroups:
		res, err = s.SyncGroups(ctx)
	default:
		return res, configError(fmt.Errorf("unknown resync phase %q", in.Phase))
	}
	if err != nil {
		return res, classify(fmt.Errorf("resync %s: %w", in.Phase, err))
	}
	// A retry sees what the attempts before it wrote as unchanged.
	if in.Phase == PhaseUsers {
		res.Users = at.after(res.Users)
	} else {
		res.Groups = at.after(res.Groups)
	}
	logger.Info("resync phase done", "users", res.Users, "groups", res.Groups, "dry_run", in.DryRun)
	return res, nil
}

// SourceCursor returns the source's current cursor, taken before a full
// resync reads anything so that nothing changed during it is missed.
func (a *Activities) SourceCursor(ctx context.Context, rule RuleSpec) (_ string, err error) {
	src, release, err := a.openSource(ctx, rule)
	if err != nil {
		return "", err
	}
	defer func() { release(err) }()
	cur, err := connectors.Incrementally(src).Cursor(ctx)
	if err != nil {
		return "", classify(fmt.Errorf("read cursor of %s: %w", rule.SourceConnection, err))
	}
	return cur, nil
}

// TestResult is the outcome of a connection test.
type TestResult struct {
	OK     bool     `json:"ok"`
	Stage  string   `json:"stage,omitempty"`
	Error  string   `json:"error,omitempty"`
	Source bool     `json:"source"`
	Target bool     `json:"target"`
	Notes  []string `json:"notes,omitempty"`
}

// TestConnection opens a connection on the worker, where secrets resolve,
// and checks it. A failed check is a result, not an activity error.
func (a *Activities) TestConnection(ctx context.Context, name string) (TestResult, error) {
	logger := a.logger(ctx, "").With("connection", name)
	c, err := a.open(ctx, name, logger)
	if err != nil {
		stage := connectors.StageConfig
		var te *connectors.TestError
		if errors.As(err, &te) {
			stage = te.Stage
		}
		return TestResult{Stage: stage, Error: err.Error()}, nil
	}
	defer closeAll(logger, c)
	_, isSource := c.(connectors.Source)
	res := TestResult{Source: isSource, Target: connectors.CanTarget(c)}
	if t, ok := c.(connectors.Tester); ok {
		if err := t.Test(ctx); err != nil {
			res.Stage = "unknown"
			var te *connectors.TestError
			if errors.As(err, &te) {
				res.Stage = te.Stage
			}
			res.Error = err.Error()
			return res, nil
		}
	} else {
		res.Notes = append(res.Notes, "this connection type has no test beyond opening it")
	}
	if d, ok := c.(connectors.Describer); ok {
		lines, err := d.Describe(ctx)
		if err != nil {
			res.Notes = append(res.Notes, "could not describe the capabilities: "+err.Error())
		}
		res.Notes = append(res.Notes, lines...)
	}
	res.OK = true
	return res, nil
}
