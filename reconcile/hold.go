package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
)

// Holding deprovisions: when a run would deprovision more than the guard
// allows, a rule does not fail and does not loop. With Options.HoldRefused
// the run applies every create and update, deprovisions nothing the guard
// refused, and reports what it held back; the rule then waits for an
// operator to approve (the next full resync may deprovision exactly that
// set, recognised by its fingerprint) or to reject (that set is kept).

// Held is a full resync's deprovisioning pass that the guard refused.
type Held struct {
	Kind    string `json:"kind"` // "users" or "groups"
	Would   int    `json:"would"`
	Managed int    `json:"managed"`
	Allowed int    `json:"allowed"`
	// Fingerprint names the exact set of objects (a digest of their source
	// ids): an approval or a rejection holds for this set only.
	Fingerprint string `json:"fingerprint"`
	// Sample names some of them (userName or group displayName).
	Sample []string `json:"sample,omitempty"`
}

// HeldChange is an incremental deprovision held back by the rule's budget.
type HeldChange struct {
	Event Event  `json:"event"`
	Name  string `json:"name,omitempty"`
}

// maxHeldSample bounds the names a Held carries.
const maxHeldSample = 20

// maxHeldChanges bounds the held changes a result carries.
const maxHeldChanges = 1000

// Fingerprint is the digest of a set of source ids of one kind.
func Fingerprint(kind string, ids []string) string {
	s := slices.Clone(ids)
	slices.Sort(s)
	h := sha256.Sum256([]byte(kind + "\n" + strings.Join(s, "\n")))
	return hex.EncodeToString(h[:8])
}

// decide is the guard of a full resync's deprovisioning pass: it returns
// whether to deprovision ids, and the Held to report when it holds them.
// Without HoldRefused, a refusal is a *MassDeprovisionError.
func decide(kind string, ids, names []string, managed int, o Options) (apply bool, held *Held, err error) {
	if len(ids) == 0 || o.AllowMassDeprovision {
		return true, nil, nil
	}
	allowed := max(int(float64(managed)*o.MaxDeprovisionFraction), MinDeprovisionGuard)
	if len(ids) <= allowed {
		return true, nil, nil
	}
	fp := Fingerprint(kind, ids)
	switch {
	case slices.Contains(o.ApprovedHolds, fp):
		return true, nil, nil
	case slices.Contains(o.RejectedHolds, fp):
		return false, nil, nil
	case !o.HoldRefused:
		return false, nil, &MassDeprovisionError{Kind: kind, Would: len(ids), Managed: managed, Allowed: allowed, SampleIDs: ids[:min(len(ids), 5)]}
	}
	h := &Held{Kind: kind, Would: len(ids), Managed: managed, Allowed: allowed, Fingerprint: fp}
	h.Sample = slices.Clone(names[:min(len(names), maxHeldSample)])
	return false, h, nil
}

// budget is what an incremental run may still deprovision; nil: no limit.
type budget struct {
	mu   sync.Mutex
	left int
	held []HeldChange
	lost int
}

func newBudget(n *int) *budget {
	if n == nil {
		return nil
	}
	return &budget{left: *n}
}

// take reports whether one more deprovision is allowed, and holds the
// change back when it is not.
func (b *budget) take(e Event, name string) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.left > 0 {
		b.left--
		return true
	}
	if len(b.held) < maxHeldChanges {
		b.held = append(b.held, HeldChange{Event: e, Name: name})
	} else {
		b.lost++
	}
	return false
}
