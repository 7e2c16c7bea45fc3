package workflows

import (
	"time"

	"github.com/idsync/idsync/reconcile"
)

// RecentObject is an object a run of the rule named (see
// reconcile.Object): when, and by which kind of run. An entry with More
// set stands for that many objects of the run that were not named.
type RecentObject struct {
	At  time.Time `json:"at"`
	Run string    `json:"run"`
	reconcile.Object
	More int `json:"more,omitempty"`
}

// Kinds of run, in RecentObject.Run.
const (
	RunPoll     = "poll"
	RunChange   = "change"   // real-time changes from a webhook
	RunRetry    = "retry"    // failed objects applied again
	RunApproved = "approved" // held deprovisions an operator approved
	RunResync   = "resync"
)

// MaxRecentObjects bounds what a rule keeps of its runs' objects: they go
// into every status answer and continue-as-new input. A full resync names
// at most 100 (reconcile's bound), so the last runs stay visible.
const MaxRecentObjects = 200

// noteManaged changes the record of managed users by what an incremental
// run did. A record past reconcile.MaxManagedSet is dropped: the next
// full resync says whether one can be kept.
func (r *rule) noteManaged(res reconcile.Result) {
	if r.state.Managed == nil {
		return
	}
	r.state.Managed = r.state.Managed.Apply(res.ManagedAdded, res.ManagedRemoved)
	if len(r.state.Managed) > reconcile.MaxManagedSet {
		r.logger.Warn("the record of managed users is too large to keep; --on-missing report relies on the target connection", "users", len(r.state.Managed))
		r.state.Managed = nil
	}
}

// noteObjects keeps the objects a run named, the newest MaxRecentObjects.
func (r *rule) noteObjects(run string, res reconcile.Result) {
	if len(res.Objects) == 0 && res.ObjectsDropped == 0 {
		return
	}
	now := r.now()
	for _, o := range res.Objects {
		r.state.Recent = append(r.state.Recent, RecentObject{At: now, Run: run, Object: o})
	}
	if res.ObjectsDropped > 0 {
		r.state.Recent = append(r.state.Recent, RecentObject{At: now, Run: run, More: res.ObjectsDropped})
	}
	if n := len(r.state.Recent) - MaxRecentObjects; n > 0 {
		r.state.Recent = append([]RecentObject(nil), r.state.Recent[n:]...)
	}
}
