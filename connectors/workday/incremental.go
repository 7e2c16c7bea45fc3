package workday

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
)

const (
	cursorPrefix = "workday:v1:"
	// maxCursorAge: past it a poll asks for a full resync rather than
	// read a month of transaction log.
	maxCursorAge = 30 * 24 * time.Hour
	// maxSeen bounds the digests a cursor keeps; past it, some workers in
	// the overlap may be reported twice, which costs a comparison.
	maxSeen = 2000
	// deletedDigest is the digest of a worker out of the source.
	deletedDigest = "-"
)

// cursorState is what a cursor holds.
type cursorState struct {
	// End is the last Updated window's end (an entry moment).
	End time.Time `json:"end"`
	// Floor, set by Cursor, is where Updated windows start at the
	// earliest: what was entered before it was read by the full resync
	// that follows Cursor (reads of data do not lag, only the log does),
	// so the first polls need not reach back past it. Dropped once the
	// overlap no longer reaches it.
	Floor time.Time `json:"floor,omitzero"`
	// Date is the last tenant-local date whose effective changes were
	// read (and, with preHireDays, the hires up to Date+preHireDays).
	Date string `json:"date"`
	// Seen are the digests of the workers reported while they may still
	// come back in the next Updated window (the overlap), so that a
	// worker read again unchanged is not reported again.
	Seen map[string]seen `json:"seen,omitempty"`
}

type seen struct {
	Digest string `json:"d"`
	At     int64  `json:"t"` // the window end when it was reported, Unix seconds
}

func (s cursorState) encode() string {
	b, _ := json.Marshal(s)
	return cursorPrefix + string(b)
}

func decodeCursor(cur string) (cursorState, error) {
	raw, ok := strings.CutPrefix(cur, cursorPrefix)
	if !ok {
		return cursorState{}, errors.New("not a workday:v1 cursor")
	}
	var s cursorState
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return cursorState{}, fmt.Errorf("unreadable cursor: %w", err)
	}
	if s.End.IsZero() || len(s.Date) != len(dateLayout) {
		return cursorState{}, errors.New("cursor without end or date")
	}
	if _, err := time.Parse(dateLayout, s.Date); err != nil {
		return cursorState{}, fmt.Errorf("cursor date: %w", err)
	}
	return s, nil
}

// Cursor implements connectors.Incremental: the tenant's now, without
// reading any worker.
func (c *conn) Cursor(ctx context.Context) (string, error) {
	now, err := c.now(ctx)
	if err != nil {
		return "", fmt.Errorf("workday: cursor: %w", err)
	}
	end := now.Add(-c.settle)
	return cursorState{End: end, Floor: end, Date: c.today(now)}.encode(), nil
}

// Changes implements connectors.Incremental (see the package doc).
func (c *conn) Changes(ctx context.Context, cursor string) (connectors.ChangeSet, error) {
	now, err := c.now(ctx)
	if err != nil {
		return connectors.ChangeSet{}, fmt.Errorf("workday: changes: %w", err)
	}
	today := c.today(now)
	through := now.Add(-c.settle)
	fresh := cursorState{End: through, Date: today}.encode()
	st, err := decodeCursor(cursor)
	switch {
	case err != nil:
		c.logger.Warn("workday cursor unreadable: full resync", "error", err)
		return connectors.ChangeSet{Cursor: fresh, ResyncRequired: true}, nil
	case now.Sub(st.End) > maxCursorAge:
		c.logger.Info("workday cursor too old: full resync", "cursor_end", st.End, "max_age", maxCursorAge)
		return connectors.ChangeSet{Cursor: fresh, ResyncRequired: true}, nil
	case through.Before(st.End.Add(-c.cfg.overlap)):
		c.logger.Warn("workday clock is behind the cursor: full resync", "cursor_end", st.End, "tenant_now", now)
		return connectors.ChangeSet{Cursor: fresh, ResyncRequired: true}, nil
	}
	ids, err := c.changedIDs(ctx, st, through, today)
	if err != nil {
		return connectors.ChangeSet{}, fmt.Errorf("workday: changes: %w", err)
	}
	cs, next, err := c.report(ctx, st, ids, today, through)
	if err != nil {
		return connectors.ChangeSet{}, fmt.Errorf("workday: changes: %w", err)
	}
	next2 := cursorState{End: maxTime(through, st.End), Date: max(today, st.Date), Seen: next}
	if st.Floor.After(next2.End.Add(-c.cfg.overlap)) {
		next2.Floor = st.Floor
	}
	cs.Cursor = next2.encode()
	c.logger.Debug("workday poll", "updated_from", maxTime(st.End.Add(-c.cfg.overlap), st.Floor), "updated_through", through,
		"effective_from", st.Date, "effective_through", today, "found", len(ids), "users", len(cs.Users),
		"groups", len(cs.Groups), "deleted", len(cs.DeletedIDs))
	return cs, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// changedIDs runs the windows: the Worker_IDs with a change entered in
// the Updated window, or effective (or hired into the pre-hire window)
// since the cursor's date.
func (c *conn) changedIDs(ctx context.Context, st cursorState, through time.Time, today string) ([]string, error) {
	ids := map[string]bool{}
	collect := func(recs []record) error {
		for _, r := range recs {
			ids[r.WorkerID] = true
		}
		return nil
	}
	from := maxTime(st.End.Add(-c.cfg.overlap), st.Floor)
	if from.After(through) {
		from = through
	}
	if err := c.getWorkers(ctx, workersQuery{updFrom: from, updThrough: through, asOf: today, refsOnly: true}, collect); err != nil {
		return nil, fmt.Errorf("updated window: %w", err)
	}
	if st.Date < today {
		q := workersQuery{effFrom: addDays(st.Date, 1), effThrough: today, asOf: today, refsOnly: true}
		if err := c.getWorkers(ctx, q, collect); err != nil {
			return nil, fmt.Errorf("effective window: %w", err)
		}
		if n := c.cfg.PreHireDays; n > 0 {
			q.effFrom, q.effThrough = addDays(st.Date, n+1), addDays(today, n)
			if err := c.getWorkers(ctx, q, collect); err != nil {
				return nil, fmt.Errorf("pre-hire window: %w", err)
			}
		}
	}
	return slices.Sorted(maps.Keys(ids)), nil
}

// report re-reads the workers found, reports those whose digest changed
// since they were last reported, and the org groups whose membership
// changed. It returns the digests the next cursor keeps.
func (c *conn) report(ctx context.Context, st cursorState, ids []string, today string, through time.Time) (connectors.ChangeSet, map[string]seen, error) {
	var cs connectors.ChangeSet
	next := map[string]seen{}
	keepFrom := through.Add(-c.cfg.overlap).Unix()
	for id, s := range st.Seen {
		if s.At >= keepFrom {
			next[id] = s
		}
	}
	if len(ids) == 0 {
		return cs, trimSeen(next), nil
	}
	now, err := c.readUsers(ctx, ids, today)
	if err != nil {
		return cs, nil, err
	}
	var changed []string
	for _, id := range ids {
		ch, in := now[id]
		d := deletedDigest
		if in {
			d = c.digest(ch)
		}
		if prev, ok := st.Seen[id]; ok && prev.Digest == d {
			continue
		}
		next[id] = seen{Digest: d, At: through.Unix()}
		changed = append(changed, id)
		if in {
			cs.Users = append(cs.Users, c.user(ch))
		} else {
			cs.DeletedIDs = append(cs.DeletedIDs, id)
		}
	}
	if len(c.cfg.Groups) > 0 && len(changed) > 0 {
		groups, gone, err := c.changedGroups(ctx, st, changed, now, today)
		if err != nil {
			return cs, nil, err
		}
		cs.Groups, cs.DeletedIDs = groups, append(cs.DeletedIDs, gone...)
	}
	return cs, trimSeen(next), nil
}

// changedGroups compares the changed workers' groups at the cursor (read
// as of its date and its end moment) with today's, and reads the groups
// they entered or left.
func (c *conn) changedGroups(ctx context.Context, st cursorState, changed []string, now map[string]chosen, today string) ([]connectors.Group, []string, error) {
	oldRecs, err := c.readIDs(ctx, changed, st.Date, st.End)
	if err != nil {
		return nil, nil, fmt.Errorf("read workers as of the cursor: %w", err)
	}
	old := c.choose(oldRecs, st.Date)
	touched := map[string]bool{}
	for _, id := range changed {
		before, after := c.groupIDs(old[id]), c.groupIDs(now[id])
		for _, g := range before {
			if !slices.Contains(after, g) {
				touched[g] = true
			}
		}
		for _, g := range after {
			if !slices.Contains(before, g) {
				touched[g] = true
			}
		}
	}
	var groups []connectors.Group
	var gone []string
	for _, gid := range slices.Sorted(maps.Keys(touched)) {
		g, found, err := c.readGroup(ctx, gid, today)
		if err != nil {
			return nil, nil, fmt.Errorf("read org group %s: %w", gid, err)
		}
		if found {
			groups = append(groups, g)
		} else {
			gone = append(gone, gid)
		}
	}
	return groups, gone, nil
}

// digest is a short hash of what the source says of a worker: the user
// and its groups.
func (c *conn) digest(ch chosen) string {
	h := fnv.New64a()
	b, _ := json.Marshal(struct {
		U connectors.User
		G []string
	}{c.user(ch), c.groupIDs(ch)})
	_, _ = h.Write(b)
	return strconv.FormatUint(h.Sum64(), 36)
}

// trimSeen keeps the maxSeen newest digests.
func trimSeen(m map[string]seen) map[string]seen {
	if len(m) <= maxSeen {
		return m
	}
	ids := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return cmp.Compare(m[b].At, m[a].At) })
	for _, id := range ids[maxSeen:] {
		delete(m, id)
	}
	return m
}
