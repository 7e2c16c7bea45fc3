package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/reconcile"
)

// Approval: the deprovisioning guard covers every path. A full resync that
// would deprovision more than the rule's share holds those deprovisions
// back (and still applies creates and updates, and runs its groups
// phase); polls and real-time changes deprovision at most the rule's share
// within a sliding hour and hold the rest back. Either way the rule is
// awaiting_approval, keeps polling, and neither fails nor loops, until
// `starter rule approve` applies what is held or `starter rule reject`
// drops it.

const (
	// deprovisionWindow is the sliding window of the incremental guard.
	deprovisionWindow = time.Hour
	// maxHeldChanges bounds the held incremental deprovisions kept.
	maxHeldChanges = 1000
	// maxRejectedHolds bounds the rejected resync sets remembered.
	maxRejectedHolds = 20
)

// Hold is what awaits an operator's approval.
type Hold struct {
	Since time.Time `json:"since"`
	// Resync holds the refused deprovisioning passes of the last full
	// resync, by kind, with a sample of names.
	Resync []reconcile.Held `json:"resync,omitempty"`
	// Changes are deprovisions of polls and real-time changes held back by
	// the sliding-window guard.
	Changes        []reconcile.HeldChange `json:"changes,omitempty"`
	ChangesDropped int                    `json:"changesDropped,omitempty"`
}

// DeprovisionMark counts deprovisions done by incremental runs at a time.
type DeprovisionMark struct {
	At time.Time `json:"at"`
	N  int       `json:"n"`
}

var errNothingHeld = errors.New("nothing awaits approval")

// spec is the rule as activities need it, with the decisions taken on
// held deprovisions.
func (r *rule) spec() activities.RuleSpec {
	s := r.state.Config.spec()
	s.ApprovedHolds = r.state.ApprovedHolds
	s.RejectedHolds = r.state.RejectedHolds
	s.LegacyClaimed = r.state.LegacyClaimed
	return s
}

// incrementalSpec is spec with the deprovisions the sliding window allows.
func (r *rule) incrementalSpec() activities.RuleSpec {
	s := r.spec()
	n := r.deprovisionAllowance()
	s.DeprovisionBudget = &n
	return s
}

// deprovisionAllowance is what incremental runs may still deprovision in
// the current window: the rule's share of its managed users (at least
// reconcile.MinDeprovisionGuard), or its MaxDeprovisionPerHour, less what
// was done within the window.
func (r *rule) deprovisionAllowance() int {
	frac := r.state.Config.MaxDeprovisionFraction
	if frac <= 0 {
		frac = 0.2
	}
	allowed := max(int(float64(r.state.ManagedUsers)*frac), reconcile.MinDeprovisionGuard)
	if n := r.state.Config.MaxDeprovisionPerHour; n > 0 {
		allowed = n
	}
	since := r.now().Add(-deprovisionWindow)
	for _, m := range r.state.DeprovisionLog {
		if m.At.After(since) {
			allowed -= m.N
		}
	}
	return max(allowed, 0)
}

// noteIncremental records what an incremental run deprovisioned and held.
func (r *rule) noteIncremental(res reconcile.Result) {
	now := r.now()
	since := now.Add(-deprovisionWindow)
	keep := r.state.DeprovisionLog[:0]
	for _, m := range r.state.DeprovisionLog {
		if m.At.After(since) {
			keep = append(keep, m)
		}
	}
	r.state.DeprovisionLog = keep
	if n := res.Users.Deprovisioned + res.Groups.Deprovisioned; n > 0 {
		r.state.DeprovisionLog = append(r.state.DeprovisionLog, DeprovisionMark{At: now, N: n})
	}
	if len(res.HeldChanges) == 0 && res.HeldDropped == 0 {
		return
	}
	h := r.hold()
	seen := map[string]bool{}
	for _, c := range h.Changes {
		seen[c.Event.Key()] = true
	}
	for _, c := range res.HeldChanges {
		switch {
		case seen[c.Event.Key()]:
		case len(h.Changes) < maxHeldChanges:
			seen[c.Event.Key()] = true
			h.Changes = append(h.Changes, c)
		default:
			h.ChangesDropped++
		}
	}
	h.ChangesDropped += res.HeldDropped
	r.logger.Warn("deprovisions held for approval", "held", len(h.Changes), "dropped", h.ChangesDropped)
}

// noteResyncHolds takes in what a complete full resync held back, and
// forgets the approvals it consumed.
func (r *rule) noteResyncHolds(res reconcile.Result, complete bool) {
	if complete {
		r.state.ApprovedHolds = nil
	}
	if len(res.Held) > 0 {
		r.hold().Resync = res.Held
		r.logger.Warn("full resync held deprovisions for approval", "held", res.Held)
		return
	}
	if r.state.Hold != nil && complete {
		r.state.Hold.Resync = nil
		if len(r.state.Hold.Changes) == 0 && r.state.Hold.ChangesDropped == 0 {
			r.state.Hold = nil
		}
	}
}

func (r *rule) hold() *Hold {
	if r.state.Hold == nil {
		r.state.Hold = &Hold{Since: r.now()}
	}
	return r.state.Hold
}

func (r *rule) validateDecision() error {
	if err := r.validateAlive(); err != nil {
		return err
	}
	if r.state.Hold == nil {
		return errNothingHeld
	}
	return nil
}

// handleApprove applies what is held: held changes at once, without the
// window's limit; held resync sets by a full resync that may deprovision
// exactly those sets (a set that changed meanwhile is held again).
func (r *rule) handleApprove(workflow.Context) (RuleStatus, error) {
	h := r.state.Hold
	r.state.Hold = nil
	for _, c := range h.Changes {
		r.state.ApprovedChanges = append(r.state.ApprovedChanges, c.Event)
	}
	if len(h.Resync) > 0 {
		for _, held := range h.Resync {
			r.state.ApprovedHolds = append(r.state.ApprovedHolds, held.Fingerprint)
		}
		r.enqueueSync(SyncRequest{Scope: ScopeBoth, Reason: ReasonApproved})
	}
	if h.ChangesDropped > 0 && len(h.Resync) == 0 {
		// More were held than kept: a full resync finds them all, under
		// the guard (a set over the share is held again, by name).
		r.enqueueSync(SyncRequest{Scope: ScopeBoth, Reason: ReasonApproved})
	}
	r.logger.Info("held deprovisions approved", "changes", len(h.Changes), "resync_sets", len(h.Resync))
	r.wakeUp()
	return r.status(), nil
}

// handleReject drops what is held: held changes are forgotten (the
// objects stay as they are), held resync sets are kept from now on.
func (r *rule) handleReject(workflow.Context) (RuleStatus, error) {
	h := r.state.Hold
	r.state.Hold = nil
	for _, held := range h.Resync {
		r.state.RejectedHolds = append(r.state.RejectedHolds, held.Fingerprint)
	}
	if n := len(r.state.RejectedHolds); n > maxRejectedHolds {
		r.state.RejectedHolds = append([]string(nil), r.state.RejectedHolds[n-maxRejectedHolds:]...)
	}
	r.logger.Info("held deprovisions rejected", "changes", len(h.Changes), "resync_sets", len(h.Resync))
	r.wakeUp()
	return r.status(), nil
}

// maybeApplyApproved applies approved held changes, without the window's
// limit.
func (r *rule) maybeApplyApproved() {
	if len(r.state.ApprovedChanges) == 0 || r.state.Paused || r.breakerOpen() {
		return
	}
	n := min(len(r.state.ApprovedChanges), maxApplyBatch)
	res, err := r.apply(r.spec(), r.state.ApprovedChanges[:n])
	if err != nil {
		r.setError("apply approved deprovisions", err)
		return
	}
	r.state.ApprovedChanges = append([]reconcile.Event(nil), r.state.ApprovedChanges[n:]...)
	r.record(RunApproved, res)
	r.noteRetries(nil, res)
}
