// Package reconcile makes a target match a source. It holds the rules that
// keep resyncs safe: objects are matched by the source's immutable id,
// existing accounts are adopted rather than duplicated, only managed objects
// are ever deprovisioned, and a run that would deprovision too much refuses.
//
// It works on the connector interfaces alone, so activities stay thin and
// the same code serves full resyncs, incremental polls and webhook changes.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/idsync/idsync/connectors"
)

// Options tune a reconciliation.
type Options struct {
	// Policy is the rule's stored settings.
	Policy
	// Decisions are what the rule decided so far about held
	// deprovisions and claimed objects.
	Decisions
	// AllowMassDeprovision lifts the guard for one run, on purpose.
	AllowMassDeprovision bool
	// DryRun computes and counts every change without applying any.
	DryRun bool
	// Owner is the name of the rule the Syncer works for: it writes the
	// objects it manages as the rule's (see owner.go) and touches no
	// object of another rule. Empty: every object with an ExternalID is
	// the Syncer's.
	Owner string
}

// Policy is how a rule reconciles, as the operator set it: stored with
// the rule (workflows.RuleConfig embeds it) and passed to each run
// (activities.RuleSpec embeds it). A new setting is one field here.
type Policy struct {
	// MatchAttributes rank the attributes used to adopt an existing,
	// unmanaged target user: the first that finds exactly one wins.
	// Default: userName, then email.
	MatchAttributes []string `json:"matchAttributes,omitempty"`
	// MaxDeprovisionFraction is the largest share of the managed objects
	// (of users, the active ones) that one full resync may deprovision
	// (default 0.2). Below MinDeprovisionGuard objects the guard does not
	// apply.
	MaxDeprovisionFraction float64 `json:"maxDeprovisionFraction,omitempty"`
	// Concurrency bounds the writes in flight to the target (default 4).
	Concurrency int `json:"concurrency,omitempty"`
	// Deprovision is what happens to a managed user that left the source:
	// DeprovisionTarget (the default) does what the target connection is
	// configured to; DeprovisionDisable and DeprovisionDelete override it
	// (for targets that can); DeprovisionNone keeps the user as it is and
	// counts it as Kept.
	Deprovision string `json:"deprovision,omitempty"`
	// OnMissing is what an update does when the managed object is gone
	// from the target (deleted there by someone): MissingRecreate (the
	// default) creates it again, MissingReport counts it as failed.
	OnMissing string `json:"onMissing,omitempty"`
}

// Decisions are what a rule decided so far, passed to each run.
type Decisions struct {
	// HoldRefused makes a full resync that the guard refuses go on without
	// the refused deprovisions and report them in Result.Held, instead of
	// failing with a *MassDeprovisionError (see hold.go).
	HoldRefused bool `json:"holdRefused,omitempty"`
	// ApprovedHolds and RejectedHolds are fingerprints of held sets an
	// operator approved (deprovisioned when the same set comes again) or
	// rejected (kept, and not held again).
	ApprovedHolds []string `json:"approvedHolds,omitempty"`
	RejectedHolds []string `json:"rejectedHolds,omitempty"`
	// DeprovisionBudget, when set, is how many users and groups an
	// incremental run may deprovision; the others are held back and
	// reported in Result.HeldChanges.
	DeprovisionBudget *int `json:"deprovisionBudget,omitempty"`
	// LegacyClaimed says a complete full resync of the rule has claimed
	// the objects written before ownership that its source has: a lookup
	// by ExternalID then asks for the rule's own form only, one request
	// instead of two for an object the target does not have.
	LegacyClaimed bool `json:"legacyClaimed,omitempty"`
}

// Values of Options.Deprovision and Options.OnMissing.
const (
	DeprovisionTarget  = ""
	DeprovisionNone    = "none"
	DeprovisionDisable = connectors.DeprovisionDisable
	DeprovisionDelete  = connectors.DeprovisionDelete
	MissingRecreate    = "recreate"
	MissingReport      = "report"
)

// MinDeprovisionGuard is the number of deprovisions always allowed, so
// that small directories are not blocked by the fraction.
const MinDeprovisionGuard = 10

// maxFailureSamples bounds the failures a result carries: results go into
// workflow history, which must stay small.
const maxFailureSamples = 10

func (o Options) withDefaults() Options {
	if len(o.MatchAttributes) == 0 {
		o.MatchAttributes = []string{connectors.MatchUserName, connectors.MatchEmail}
	}
	if o.MaxDeprovisionFraction <= 0 {
		o.MaxDeprovisionFraction = 0.2
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.OnMissing == "" {
		o.OnMissing = MissingRecreate
	}
	return o
}

// Counts of what a run did to one kind of object.
type Counts struct {
	Created       int `json:"created"`
	Updated       int `json:"updated"`
	Adopted       int `json:"adopted"`
	Deprovisioned int `json:"deprovisioned"`
	Unchanged     int `json:"unchanged"`
	Failed        int `json:"failed"`
	// Kept counts managed users that left the source and were kept
	// because the rule deprovisions nothing.
	Kept int `json:"kept,omitempty"`
	// Conflicts counts source objects that collide with a target object
	// the rule may not take over (another rule's, or a userName taken by
	// another account); nothing is written for them.
	Conflicts int `json:"conflicts,omitempty"`
	// Foreign counts the target objects of other rules (and, in a full
	// resync, objects written before ownership that no rule claimed), which
	// the run left alone.
	Foreign int `json:"foreign,omitempty"`
	// Unmatched counts source users for whom an update-only target
	// (connectors.UpdateOnly) has no record: nothing is created for them.
	Unmatched int `json:"unmatched,omitempty"`
}

// Add returns the sum of c and o.
func (c Counts) Add(o Counts) Counts {
	return Counts{
		Created:       c.Created + o.Created,
		Updated:       c.Updated + o.Updated,
		Adopted:       c.Adopted + o.Adopted,
		Deprovisioned: c.Deprovisioned + o.Deprovisioned,
		Unchanged:     c.Unchanged + o.Unchanged,
		Failed:        c.Failed + o.Failed,
		Kept:          c.Kept + o.Kept,
		Conflicts:     c.Conflicts + o.Conflicts,
		Foreign:       c.Foreign + o.Foreign,
		Unmatched:     c.Unmatched + o.Unmatched,
	}
}

// After is what a retried full resync phase reports, c, adjusted by what
// the attempts before it did, prev (their last Tally): the retry sees the
// objects they created, updated or adopted as unchanged, and those they
// deprovisioned not at all, so that counts stay true across attempts (a
// run of 2,001 creates retried after 180 is not "created 180, unchanged
// 1,821").
func (c Counts) After(prev Counts) Counts {
	move := func(n int) int {
		m := min(n, c.Unchanged)
		c.Unchanged -= m
		return m
	}
	c.Created += move(prev.Created)
	c.Updated += move(prev.Updated)
	c.Adopted += move(prev.Adopted)
	c.Deprovisioned += prev.Deprovisioned
	return c
}

// Changed reports whether anything was written.
func (c Counts) Changed() int { return c.Created + c.Updated + c.Adopted + c.Deprovisioned }

// Result is what a run reports: counts, a bounded sample of failures and
// a bounded list of the objects it wrote, never the objects themselves.
type Result struct {
	Users  Counts `json:"users"`
	Groups Counts `json:"groups"`
	// Managed is how many users and groups idsync manages in the target
	// after a full pass (zero for incremental runs).
	ManagedUsers  int      `json:"managedUsers,omitempty"`
	ManagedGroups int      `json:"managedGroups,omitempty"`
	Failures      []string `json:"failures,omitempty"`
	// Retry holds the objects of an incremental run that failed, as the
	// events that apply them again (at most 500; RetryDropped counts the
	// rest): the rule keeps them and retries them with backoff, so that a
	// failed change is never dropped until the next full resync.
	Retry        []Retry `json:"retry,omitempty"`
	RetryDropped int     `json:"retryDropped,omitempty"`
	// Held are the deprovisioning passes of a full resync that the guard
	// refused (with Options.HoldRefused); nothing of them was applied.
	Held []Held `json:"held,omitempty"`
	// HeldChanges are the deprovisions of an incremental run held back by
	// Options.DeprovisionBudget (at most 1,000; HeldDropped counts more).
	HeldChanges []HeldChange `json:"heldChanges,omitempty"`
	HeldDropped int          `json:"heldDropped,omitempty"`
	// Objects name what the run created, updated, adopted, deprovisioned
	// and failed, in the order it did (at most 100; ObjectsDropped counts
	// the rest). Unchanged objects are not named.
	Objects        []Object `json:"objects,omitempty"`
	ObjectsDropped int      `json:"objectsDropped,omitempty"`
	// ManagedAdded and ManagedRemoved change the rule's record of the
	// users it manages (ManagedSet) by what an incremental run did;
	// ManagedSet is the whole record as a full users pass leaves it (nil:
	// none, a dry run or one past MaxManagedSet).
	ManagedAdded   []uint64   `json:"managedAdded,omitempty"`
	ManagedRemoved []uint64   `json:"managedRemoved,omitempty"`
	ManagedSet     ManagedSet `json:"managedSet,omitzero"`
}

// Retry is one failed object of an incremental run: the event that applies
// it again (without a payload, the object is read from the source again)
// and why it failed.
type Retry struct {
	Event Event  `json:"event"`
	Error string `json:"error,omitempty"`
}

// Merge adds o into r.
func (r *Result) Merge(o Result) {
	r.Users = r.Users.Add(o.Users)
	r.Groups = r.Groups.Add(o.Groups)
	if o.ManagedUsers > 0 {
		r.ManagedUsers = o.ManagedUsers
	}
	if o.ManagedGroups > 0 {
		r.ManagedGroups = o.ManagedGroups
	}
	for _, f := range o.Failures {
		if len(r.Failures) >= maxFailureSamples {
			break
		}
		r.Failures = append(r.Failures, f)
	}
	r.Held = append(r.Held, o.Held...)
	r.addObjects(o.Objects, o.ObjectsDropped)
	if o.ManagedSet != nil {
		r.ManagedSet = o.ManagedSet
	}
}

// MassDeprovisionError is returned when a full resync would deprovision more
// than the guard allows. Nothing was deprovisioned.
type MassDeprovisionError struct {
	Kind      string // "users" or "groups"
	Would     int
	Managed   int
	Allowed   int
	SampleIDs []string
}

func (e *MassDeprovisionError) Error() string {
	return fmt.Sprintf("refusing to deprovision %d of %d managed %s (the guard allows %d); "+
		"check the source's scope, then rerun with --allow-deprovision if this is intended (sample: %s)",
		e.Would, e.Managed, e.Kind, e.Allowed, strings.Join(e.SampleIDs, ", "))
}

// Permanent reports whether err is one that retrying will not cure for this
// object (the target rejected the data), as opposed to a transient failure
// (network, rate limit, server error) that must fail the whole run so that
// it is retried and no change is lost.
type Permanent interface {
	Permanent() bool
}

// IsTransient reports whether err should abort and retry the run rather
// than be counted as a failed object.
func IsTransient(err error) bool {
	var rl *connectors.RateLimitError
	if errors.As(err, &rl) {
		return true
	}
	if errors.Is(err, connectors.ErrUnauthorized) {
		// Credentials refused: every object would fail the same way; abort.
		return true
	}
	if errors.Is(err, connectors.ErrRejected) || errors.Is(err, connectors.ErrNotFound) ||
		errors.Is(err, connectors.ErrAlreadyExists) {
		return false
	}
	var p Permanent
	if errors.As(err, &p) {
		return !p.Permanent()
	}
	// Unknown errors (network, timeouts, 5xx) are transient.
	return true
}

// tally counts outcomes from concurrent workers.
type tally struct {
	mu       sync.Mutex
	kind     string       // KindUser or KindGroup: what objects names
	named    func(Object) // Syncer.Named
	counts   Counts
	failures []string
	// objects name what the run did (see Object), objectsDropped counts
	// those past maxObjects.
	objects        []Object
	objectsDropped int
	// added and removed are the source ids of users the run began or
	// stopped managing (record.go).
	added, removed []string
	fatal          error
	// missing counts the failed objects that are MissingErrors: reported,
	// not retried.
	missing int
}

func (t *tally) add(f func(*Counts)) {
	t.mu.Lock()
	f(&t.counts)
	t.mu.Unlock()
}

// fail records a failed object, or a fatal error when it is transient.
func (t *tally) fail(what string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if IsTransient(err) {
		if t.fatal == nil {
			t.fatal = fmt.Errorf("%s: %w", what, err)
		}
		return
	}
	var conflict *ConflictError
	var missing *MissingError
	action := ActionFailed
	switch {
	case errors.As(err, &conflict):
		t.counts.Conflicts++
		action = ActionConflict
	case errors.As(err, &missing):
		t.counts.Failed++
		t.missing++
	default:
		t.counts.Failed++
	}
	if len(t.failures) < maxFailureSamples {
		t.failures = append(t.failures, fmt.Sprintf("%s: %v", what, err))
	}
	t.name(Object{Action: action, Kind: t.kind, Name: what, Error: clip(err.Error())})
}

func (s *Syncer) newTally(kind string) *tally { return &tally{kind: kind, named: s.Named} }

func (t *tally) snapshot() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts
}

// merge adds o's outcome to t.
func (t *tally) merge(o *tally) {
	o.mu.Lock()
	counts, failures, fatal, missing := o.counts, o.failures, o.fatal, o.missing
	objects, dropped := o.objects, o.objectsDropped
	added, removed := o.added, o.removed
	o.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, obj := range objects {
		t.keep(obj)
	}
	t.objectsDropped += dropped
	t.added = append(t.added, added...)
	t.removed = append(t.removed, removed...)
	t.counts = t.counts.Add(counts)
	t.missing += missing
	for _, f := range failures {
		if len(t.failures) < maxFailureSamples {
			t.failures = append(t.failures, f)
		}
	}
	if t.fatal == nil {
		t.fatal = fatal
	}
}

func (t *tally) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fatal
}

// deprovision disables or deletes a target user as the options say.
func (s *Syncer) deprovision(ctx context.Context, id string, o Options) error {
	switch o.Deprovision {
	case DeprovisionDisable, DeprovisionDelete:
		m, ok := s.Target.(connectors.ModeDeprovisioner)
		if !ok {
			return permanentf("the rule asks to %s users, but this target type has no choice of mode", o.Deprovision)
		}
		return m.DeprovisionUserAs(ctx, id, o.Deprovision)
	}
	return s.Target.DeprovisionUser(ctx, id)
}
