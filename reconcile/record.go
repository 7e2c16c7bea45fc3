package reconcile

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"

	"github.com/idsync/idsync/connectors"
)

// ManagedSet is a rule's durable record of the users it manages in its
// target: the 64-bit hashes (HashID) of their source ids, sorted. A
// target connector forgets what it created when it is closed, and a user
// deleted in the target leaves no trace there; the record is what tells
// "deleted behind idsync's back" (reported, with --on-missing report)
// from "new at the source" (created). Hashes keep it at 8 bytes a user,
// so that the rule can keep it in its workflow state; two source ids of
// one rule sharing a hash are as likely as a random 64-bit collision.
type ManagedSet []uint64

// MarshalJSON writes the record compactly, as it goes into workflow
// histories and continue-as-new inputs: the base64 of the gaps between
// its sorted hashes as unsigned varints, about 7 bytes a user (JSON
// numbers would take 20).
func (m ManagedSet) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("null"), nil
	}
	buf := make([]byte, 0, len(m)*8)
	var prev uint64
	for _, h := range m {
		buf = binary.AppendUvarint(buf, h-prev)
		prev = h
	}
	return json.Marshal(buf) // []byte: a base64 string
}

// UnmarshalJSON reads what MarshalJSON writes.
func (m *ManagedSet) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = nil
		return nil
	}
	var buf []byte
	if err := json.Unmarshal(b, &buf); err != nil {
		return fmt.Errorf("managed set: %w", err)
	}
	out := make(ManagedSet, 0, len(buf)/7)
	var prev uint64
	for len(buf) > 0 {
		gap, n := binary.Uvarint(buf)
		if n <= 0 {
			return errors.New("managed set: a malformed varint")
		}
		prev += gap
		out = append(out, prev)
		buf = buf[n:]
	}
	if !slices.IsSorted(out) {
		return errors.New("managed set: not sorted")
	}
	*m = out
	return nil
}

// HashID is the hash of a source id in a ManagedSet (FNV-1a, 64 bits).
func HashID(ext string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(ext))
	return h.Sum64()
}

// Has says whether the record holds the source id ext.
func (m ManagedSet) Has(ext string) bool {
	_, ok := slices.BinarySearch(m, HashID(ext))
	return ok
}

// Apply returns the record with the hashes of added in and removed out.
func (m ManagedSet) Apply(added, removed []uint64) ManagedSet {
	if len(added) == 0 && len(removed) == 0 {
		return m
	}
	out := append(slices.Clone(m), added...)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(removed) > 0 {
		gone := slices.Clone(removed)
		slices.Sort(gone)
		out = slices.DeleteFunc(out, func(h uint64) bool {
			_, ok := slices.BinarySearch(gone, h)
			return ok
		})
	}
	return out
}

// managedSet is the record a full users pass leaves: the users the rule
// managed when it began, with those it began and stopped managing; nil
// past MaxManagedSet.
func managedSet(before map[string]connectors.TargetUser, t *tally) ManagedSet {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(before)+len(t.added) > MaxManagedSet {
		return nil
	}
	set := make(ManagedSet, 0, len(before))
	for ext := range before {
		set = append(set, HashID(ext))
	}
	slices.Sort(set)
	set = set.Apply(hashes(t.added), hashes(t.removed))
	if set == nil {
		set = ManagedSet{} // a record of none, not no record
	}
	return set
}

// hashes hashes source ids.
func hashes(exts []string) []uint64 {
	if len(exts) == 0 {
		return nil
	}
	out := make([]uint64, len(exts))
	for i, e := range exts {
		out[i] = HashID(e)
	}
	return out
}

// MaxManagedSet bounds the record a rule keeps (800 KB): past it, a full
// resync returns none and --on-missing report relies on the target
// connector's memory alone, as before the record.
const MaxManagedSet = 100_000

// recordLoader loads the rule's record once per run, when a decision
// needs it (Syncer.Record).
type recordLoader struct {
	once sync.Once
	set  ManagedSet
	err  error
}

// recorded says whether the rule's record holds ext; with no record (a
// rule whose first full resync has not completed since the record
// exists), false.
func (s *Syncer) recorded(ctx context.Context, l *recordLoader, ext string) (bool, error) {
	if s.Record == nil {
		return false, nil
	}
	l.once.Do(func() { l.set, l.err = s.Record(ctx) })
	if l.err != nil {
		return false, l.err
	}
	return l.set.Has(ext), nil
}

// noteManaged and noteUnmanaged keep what the run changed in the record;
// t.mu is held.
func (t *tally) noteManaged(ext string) {
	if t.kind == KindUser && ext != "" {
		t.added = append(t.added, ext)
	}
}

func (t *tally) noteUnmanaged(ext string) {
	if t.kind == KindUser && ext != "" {
		t.removed = append(t.removed, ext)
	}
}

// forget takes ext out of the record.
func (t *tally) forget(ext string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.noteUnmanaged(ext)
}

// keepManaged keeps a user the run reported missing in the record, so
// that it is reported again, not created, until an operator decides.
func (t *tally) keepManaged(ext string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.noteManaged(ext)
}
