package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
)

var _ connectors.Incremental = (*graphSource)(nil)

// deltaCursor is a source cursor: the deltaLinks of the user and group
// delta queries (https://learn.microsoft.com/en-us/graph/delta-query-overview).
type deltaCursor struct {
	Users  string `json:"users"`
	Groups string `json:"groups"`
}

// deltaItem is what a delta page says of one object.
type deltaItem struct {
	ID      string          `json:"id"`
	Removed json.RawMessage `json:"@removed"`
}

// round follows a delta query from link through its @odata.nextLinks to
// its @odata.deltaLink, calling fn with each item, and returns the
// deltaLink. When full says, after a page, that the poll has read
// enough, it stops there and returns that page's nextLink instead,
// with more set: the next poll goes on from it (a nextLink is a state
// token too, and a delta page is taken whole or not at all).
func (s *graphSource) round(ctx context.Context, link string, fn func(deltaItem) error, full func() bool) (next string, more bool, err error) {
	for {
		var pg struct {
			Value     []deltaItem `json:"value"`
			NextLink  string      `json:"@odata.nextLink"`
			DeltaLink string      `json:"@odata.deltaLink"`
		}
		if err := s.t.do(ctx, http.MethodGet, link, nil, &pg); err != nil {
			return "", false, err
		}
		for _, it := range pg.Value {
			if err := fn(it); err != nil {
				return "", false, err
			}
		}
		switch {
		case pg.DeltaLink != "":
			return pg.DeltaLink, false, nil
		case pg.NextLink == "":
			return "", false, errors.New("graph: a delta page with neither @odata.nextLink nor @odata.deltaLink")
		case full != nil && full():
			return pg.NextLink, true, nil
		}
		link = pg.NextLink
	}
}

// Cursor starts both delta queries from now ($deltatoken=latest). The
// $select names every property read, the manager and the members: a
// delta query with $select reports an object only when a selected
// property changed (delta-query-overview, "Optional query
// parameters"), so "$select=id" would miss every update.
func (s *graphSource) Cursor(ctx context.Context) (string, error) {
	var c deltaCursor
	var err error
	none := func(deltaItem) error { return nil }
	users := query(url.Values{"$select": {s.t.userSelect() + ",manager"}, "$deltatoken": {"latest"}})
	if c.Users, _, err = s.round(ctx, "/users/delta"+users, none, nil); err != nil {
		return "", fmt.Errorf("graph: start the user delta query: %w", err)
	}
	groups := query(url.Values{"$select": {s.t.groupSelect() + ",members"}, "$deltatoken": {"latest"}})
	if c.Groups, _, err = s.round(ctx, "/groups/delta"+groups, none, nil); err != nil {
		return "", fmt.Errorf("graph: start the group delta query: %w", err)
	}
	b, _ := json.Marshal(c)
	return string(b), nil
}

// resyncCodes are the delta errors that say the token is no good: the
// caller must list everything again (delta-query-overview,
// "Synchronization reset").
var resyncCodes = []string{"syncStateNotFound", "syncStateInvalid", "resyncRequired"}

func needsResync(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusGone || slices.Contains(resyncCodes, e.Code))
}

// Changes reads what changed since cursor through both delta queries,
// the users' first, at most about maxChanges objects (whole delta pages)
// in one call: a poll cut short keeps the nextLink it stopped at in
// the cursor and sets More, so that the rule polls again at once.
// The delta answers only say which objects changed (an update may carry
// only the changed properties): each changed user and group is read
// again, a request each (see reread). A deleted object ("@removed",
// soft or hard) is a DeletedID; an expired or unknown delta token asks
// for a resync.
func (s *graphSource) Changes(ctx context.Context, cursor string) (connectors.ChangeSet, error) {
	var cur deltaCursor
	if err := json.Unmarshal([]byte(cursor), &cur); err != nil || cur.Users == "" || cur.Groups == "" {
		s.t.logger.InfoContext(ctx, "not a graph delta cursor; a resync is required")
		return s.resync(ctx)
	}
	// The links are followed with the bearer token: only below the
	// connection's Graph base, never to a host a garbled or forged
	// cursor names.
	for _, l := range []string{cur.Users, cur.Groups} {
		if !strings.HasPrefix(l, "/") && !strings.HasPrefix(l, s.t.base+"/") {
			s.t.logger.InfoContext(ctx, "a delta link of the cursor is not below the Graph base; a resync is required", "graph_url", s.t.base)
			return s.resync(ctx)
		}
	}
	var cs connectors.ChangeSet
	var users, groups []string
	collect := func(ids *[]string) func(deltaItem) error {
		return func(it deltaItem) error {
			switch {
			case it.ID == "":
			case len(it.Removed) > 0 && string(it.Removed) != "null":
				cs.DeletedIDs = append(cs.DeletedIDs, it.ID)
				*ids = slices.DeleteFunc(*ids, func(id string) bool { return id == it.ID })
			case !slices.Contains(*ids, it.ID):
				*ids = append(*ids, it.ID)
			}
			return nil
		}
	}
	full := func() bool { return len(users)+len(groups)+len(cs.DeletedIDs) >= s.t.maxChanges }
	next := cur
	var err error
	if next.Users, cs.More, err = s.round(ctx, cur.Users, collect(&users), full); err != nil {
		if needsResync(err) {
			s.t.logger.InfoContext(ctx, "the user delta token is no longer valid; a resync is required", "error", err.Error())
			return s.resync(ctx)
		}
		return connectors.ChangeSet{}, fmt.Errorf("graph: user delta query: %w", err)
	}
	// Users first: a group's new members are users. A poll cut short in
	// the users leaves the groups' cursor where it was.
	if !cs.More {
		if next.Groups, cs.More, err = s.round(ctx, cur.Groups, collect(&groups), full); err != nil {
			if needsResync(err) {
				s.t.logger.InfoContext(ctx, "the group delta token is no longer valid; a resync is required", "error", err.Error())
				return s.resync(ctx)
			}
			return connectors.ChangeSet{}, fmt.Errorf("graph: group delta query: %w", err)
		}
	}
	for _, id := range users {
		var u connectors.User
		err := s.reread(ctx, "user", id, func() (found bool, err error) {
			u, found, err = s.GetUser(ctx, id)
			return found, err
		})
		if err != nil {
			return connectors.ChangeSet{}, err
		}
		cs.Users = append(cs.Users, u)
	}
	for _, id := range groups {
		var g connectors.Group
		err := s.reread(ctx, "group", id, func() (found bool, err error) {
			g, found, err = s.GetGroup(ctx, id)
			return found, err
		})
		if err != nil {
			return connectors.ChangeSet{}, err
		}
		cs.Groups = append(cs.Groups, g)
	}
	b, _ := json.Marshal(next)
	cs.Cursor = string(b)
	return cs, nil
}

// reread reads an object the delta query says changed (and not
// removed). A 404 then is the replication delay (the delta query saw a
// create that the replica answering the read has not): it is retried
// with backoff for up to replicationWait, and then the poll fails, to be
// retried from the same cursor, so that nothing is lost and nothing is
// taken for deleted: a deletion comes as "@removed".
func (s *graphSource) reread(ctx context.Context, kind, id string, read func() (bool, error)) error {
	deadline := time.Now().Add(s.t.replicationWait)
	wait := 50 * time.Millisecond
	for {
		found, err := read()
		if err != nil || found {
			return err
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("graph: %s %s changed, by the delta query, but reads as not found for %s: polling again from the same cursor", kind, id, s.t.replicationWait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// resync is the ChangeSet of a delta token that is no good: a resync,
// and a cursor from now.
func (s *graphSource) resync(ctx context.Context) (connectors.ChangeSet, error) {
	cur, err := s.Cursor(ctx)
	if err != nil {
		return connectors.ChangeSet{}, err
	}
	return connectors.ChangeSet{ResyncRequired: true, Cursor: cur}, nil
}
