package connectors

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
)

// Incrementally is src as an Incremental: its own when it has one, else a
// snapshot that lists the source in full and compares a digest of what
// it read. Nothing changed: an empty ChangeSet, so a poll writes nothing
// and reads nothing of the target. Something changed: ResyncRequired,
// since a digest cannot say what; the full resync that follows finds it
// by comparison.
func Incrementally(src Source) Incremental {
	if inc, ok := src.(Incremental); ok {
		return inc
	}
	return snapshot{src}
}

// snapshotPrefix marks a cursor made by snapshot.
const snapshotPrefix = "snapshot:v1:"

type snapshot struct{ src Source }

func (s snapshot) Cursor(ctx context.Context) (string, error) {
	return s.digest(ctx)
}

func (s snapshot) Changes(ctx context.Context, cursor string) (ChangeSet, error) {
	d, err := s.digest(ctx)
	if err != nil {
		return ChangeSet{}, err
	}
	if d == cursor {
		return ChangeSet{Cursor: d}, nil
	}
	return ChangeSet{Cursor: d, ResyncRequired: true}, nil
}

// digest hashes every user and group, sorts the hashes so that the
// source's listing order does not matter, and hashes them again: 8 bytes
// an object in memory, a few hundred kilobytes for a large directory.
func (s snapshot) digest(ctx context.Context) (string, error) {
	var sums []uint64
	add := func(kind string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		h := sha256.Sum256(append([]byte(kind), b...))
		sums = append(sums, binary.BigEndian.Uint64(h[:8]))
		return nil
	}
	if err := s.src.ListUsers(ctx, func(u User) error { return add("u", u) }); err != nil {
		return "", fmt.Errorf("list users for a snapshot: %w", err)
	}
	if gs, ok := s.src.(GroupSource); ok {
		err := gs.ListGroups(ctx, func(g Group) error {
			g.Members = slices.Clone(g.Members)
			slices.Sort(g.Members)
			return add("g", g)
		})
		if err != nil {
			return "", fmt.Errorf("list groups for a snapshot: %w", err)
		}
	}
	slices.Sort(sums)
	h := sha256.New()
	for _, v := range sums {
		_ = binary.Write(h, binary.BigEndian, v)
	}
	return snapshotPrefix + fmt.Sprintf("%d:", len(sums)) + hex.EncodeToString(h.Sum(nil)[:16]), nil
}
