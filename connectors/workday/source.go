package workday

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
)

// list calls fn for each Worker_ID in the source, with the record that
// stands for it, read as of today. A record active today is passed on as
// its page arrives (no other record of its Worker_ID can beat it); the
// others wait for the end of the listing, since a better record of the
// same Worker_ID (a rehire, a conversion) may come on a later page.
func (c *conn) list(ctx context.Context, fn func(chosen) error) error {
	now, err := c.now(ctx)
	if err != nil {
		return err
	}
	today := c.today(now)
	done := map[string]bool{}
	held := map[string]chosen{}
	page := func(recs []record) error {
		var ready []chosen
		for _, r := range recs {
			ch := chosen{r, c.rank(r, today)}
			switch {
			case ch.rank == rankOut || done[r.WorkerID]:
			case ch.rank == rankActive:
				done[r.WorkerID] = true
				delete(held, r.WorkerID)
				ready = append(ready, ch)
			default:
				if cur, ok := held[r.WorkerID]; !ok || better(ch, cur) {
					held[r.WorkerID] = ch
				}
			}
		}
		if err := c.complete(ctx, ready); err != nil {
			return err
		}
		for _, ch := range ready {
			if err := fn(ch); err != nil {
				return err
			}
		}
		return nil
	}
	if c.reportURL != "" {
		err = c.readReport(ctx, page)
	} else {
		err = c.getWorkers(ctx, workersQuery{asOf: today}, page)
	}
	if err != nil {
		return err
	}
	rest := make([]chosen, 0, len(held))
	for _, id := range slices.Sorted(maps.Keys(held)) {
		rest = append(rest, held[id])
	}
	for start := 0; start < len(rest); start += c.cfg.PageSize {
		part := rest[start:min(start+c.cfg.PageSize, len(rest))]
		if err := c.complete(ctx, part); err != nil {
			return err
		}
		for _, ch := range part {
			if err := fn(ch); err != nil {
				return err
			}
		}
	}
	return nil
}

// ListUsers implements connectors.Source.
func (c *conn) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	if err := c.list(ctx, func(ch chosen) error { return fn(c.user(ch)) }); err != nil {
		return fmt.Errorf("workday: list workers: %w", err)
	}
	return nil
}

// readUsers reads the workers with these Worker_IDs as of today: each
// one's chosen record, completed; a Worker_ID out of the source is
// absent.
func (c *conn) readUsers(ctx context.Context, ids []string, today string) (map[string]chosen, error) {
	recs, err := c.readIDs(ctx, ids, today, time.Time{})
	if err != nil {
		return nil, err
	}
	byID := c.choose(recs, today)
	chs := make([]chosen, 0, len(byID))
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		chs = append(chs, byID[id])
	}
	if err := c.complete(ctx, chs); err != nil {
		return nil, err
	}
	for _, ch := range chs {
		byID[ch.rec.WorkerID] = ch
	}
	return byID, nil
}

// GetUser implements connectors.Source: ExternalID is a Worker_ID.
func (c *conn) GetUser(ctx context.Context, externalID string) (connectors.User, bool, error) {
	if externalID == "" {
		return connectors.User{}, false, nil
	}
	var got map[string]chosen
	err := c.atToday(func(today string) (err error) {
		got, err = c.readUsers(ctx, []string{externalID}, today)
		return err
	})
	if err != nil {
		return connectors.User{}, false, fmt.Errorf("workday: read worker %s: %w", externalID, err)
	}
	ch, ok := got[externalID]
	if !ok {
		return connectors.User{}, false, nil
	}
	return c.user(ch), true, nil
}

// ListGroups implements connectors.GroupSource: one listing of the
// workers, their orgs gathered.
func (g *groupSource) ListGroups(ctx context.Context, fn func(connectors.Group) error) error {
	groups := map[string]*connectors.Group{}
	err := g.list(ctx, func(ch chosen) error {
		for _, id := range g.groupIDs(ch) {
			gr := groups[id]
			if gr == nil {
				gr = &connectors.Group{ExternalID: id, DisplayName: ch.rec.Memberships[id]}
				groups[id] = gr
			}
			gr.Members = append(gr.Members, ch.rec.WorkerID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("workday: list org groups: %w", err)
	}
	for _, id := range slices.Sorted(maps.Keys(groups)) {
		if err := fn(*groups[id]); err != nil {
			return err
		}
	}
	return nil
}

// GetGroup implements connectors.GroupSource: the workers of the org
// active today.
func (g *groupSource) GetGroup(ctx context.Context, externalID string) (connectors.Group, bool, error) {
	var gr connectors.Group
	var found bool
	err := g.atToday(func(today string) (err error) {
		gr, found, err = g.readGroup(ctx, externalID, today)
		return err
	})
	if err != nil {
		return connectors.Group{}, false, fmt.Errorf("workday: read org group %s: %w", externalID, err)
	}
	return gr, found, nil
}

func (c *conn) readGroup(ctx context.Context, externalID, today string) (connectors.Group, bool, error) {
	typ, orgID, ok := strings.Cut(externalID, "/")
	if !ok || orgID == "" || !slices.Contains(c.cfg.Groups, typ) {
		return connectors.Group{}, false, nil
	}
	gr := connectors.Group{ExternalID: externalID}
	seen := map[string]bool{}
	err := c.getWorkers(ctx, workersQuery{asOf: today, org: orgID, excludeInactive: true}, func(recs []record) error {
		for _, r := range recs {
			name, in := r.Memberships[externalID]
			if !in || c.rank(r, today) != rankActive || seen[r.WorkerID] {
				continue
			}
			seen[r.WorkerID] = true
			gr.DisplayName = name
			gr.Members = append(gr.Members, r.WorkerID)
		}
		return nil
	})
	if isInvalidID(err) {
		return connectors.Group{}, false, nil
	}
	if err != nil || len(gr.Members) == 0 {
		return connectors.Group{}, false, err
	}
	slices.Sort(gr.Members)
	return gr, true, nil
}
