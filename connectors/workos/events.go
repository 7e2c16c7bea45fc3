package workos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
)

// event is an event of /events.
type event struct {
	ID        string          `json:"id"`
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	CreatedAt string          `json:"created_at"`
}

// eventList is a page of /events: list_metadata has only after, null at
// the end of the stream.
type eventList struct {
	Data         []json.RawMessage `json:"data"`
	ListMetadata struct {
		After *string `json:"after"`
	} `json:"list_metadata"`
}

// tailLookback is how far back Cursor looks for the newest event. With
// none in it, the cursor is its start: no event can have been made
// between it and now (so a later Changes reports only what came after
// Cursor), and a clock ahead of WorkOS's by less than it loses nothing.
const tailLookback = 15 * time.Minute

// parseStamp reads an event's created_at leniently: the docs show
// "2023-04-28 20:05:31.093" beside RFC 3339.
func parseStamp(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("created_at %q is not a timestamp", s)
}

// eventPage reads one page of events from p.
func (c *workosConnector) eventPage(ctx context.Context, p position) (eventList, error) {
	q := url.Values{
		// The spec's form: one parameter, comma-separated (explode false).
		"events": {strings.Join(c.cfg.EventTypes, ",")},
		"limit":  {strconv.Itoa(c.cfg.PageSize)},
	}
	if p.after != "" {
		q.Set("after", p.after)
	} else {
		q.Set("range_start", p.at.Format(time.RFC3339Nano))
	}
	var pg eventList
	err := c.client.get(ctx, "/events", q, &pg)
	return pg, err
}

// Cursor implements connectors.Incremental: the newest event now, found
// by reading the stream from tailLookback ago to its end (the stream is
// oldest first, whatever order asks); with none, the start of that
// window.
func (c *workosConnector) Cursor(ctx context.Context) (string, error) {
	p := position{at: c.now().Add(-tailLookback).UTC().Truncate(time.Millisecond)}
	for {
		pg, err := c.eventPage(ctx, p)
		if err != nil {
			return "", fmt.Errorf("workos: read the events stream for a cursor: %w", err)
		}
		for _, raw := range pg.Data {
			var e event
			if err := json.Unmarshal(raw, &e); err != nil {
				return "", fmt.Errorf("workos: an event of the stream: %w", err)
			}
			at, err := parseStamp(e.CreatedAt)
			if err != nil {
				return "", fmt.Errorf("workos: event %s: %w", e.ID, err)
			}
			p = position{after: e.ID, at: at}
		}
		if pg.ListMetadata.After == nil || len(pg.Data) == 0 {
			return p.String(), nil
		}
	}
}

// Changes implements connectors.Incremental: the events after the cursor,
// read in order page by page and folded into one ChangeSet, at most
// MaxBatchEvents events (or about 1 MiB of them, or maxBatchGroups
// groups) in one call. The
// ChangeSet's Cursor is the last event read, so that the next call goes
// on from there, and a batch cut short sets More, so that the rule polls
// again at once. A cursor older than the retention or
// refused by the API, and a directory deleted, activated or deactivated, set
// ResyncRequired.
func (c *workosConnector) Changes(ctx context.Context, cursor string) (connectors.ChangeSet, error) {
	p, err := parseCursor(cursor)
	if err != nil {
		c.logger.Info("not a workos cursor; a resync is required", "cursor", cursor)
		return connectors.ChangeSet{Cursor: cursor, ResyncRequired: true}, nil
	}
	// A margin of an hour: a cursor about to expire would expire between
	// this check and the request.
	if age := c.now().Sub(p.at); age > time.Duration(c.cfg.Retention)-time.Hour {
		c.logger.Info("cursor is older than the events retention; a resync is required",
			"cursor", cursor, "age", age.Round(time.Second).String(), "retention", time.Duration(c.cfg.Retention).String())
		return connectors.ChangeSet{Cursor: cursor, ResyncRequired: true}, nil
	}
	f := newFold(c.cfg.Directory)
	read, size := 0, 0
	stopped := false
	for read < c.cfg.MaxBatchEvents && size < maxBatchBytes {
		pg, err := c.eventPage(ctx, p)
		if p.after != "" && refusedCursor(err) {
			c.logger.Info("the events API refused the cursor; a resync is required", "cursor", cursor, "error", err.Error())
			return connectors.ChangeSet{Cursor: cursor, ResyncRequired: true}, nil
		}
		if err != nil {
			return connectors.ChangeSet{}, fmt.Errorf("workos: read events after %s: %w", cursor, err)
		}
		for _, raw := range pg.Data {
			var e event
			if err := json.Unmarshal(raw, &e); err != nil {
				return connectors.ChangeSet{}, fmt.Errorf("workos: an event after %s: %w", p, err)
			}
			at, err := parseStamp(e.CreatedAt)
			if err != nil {
				return connectors.ChangeSet{}, fmt.Errorf("workos: event %s: %w", e.ID, err)
			}
			if g := groupOf(e); g != "" && f.full(g) {
				// The group's members would be one more read from
				// /directory_users: leave the event to the next batch.
				stopped = true
				break
			}
			if err := f.apply(e); err != nil {
				return connectors.ChangeSet{}, fmt.Errorf("workos: event %s (%s): %w", e.ID, e.Event, err)
			}
			if f.resync != "" {
				c.logger.Info("the directory changed as a whole; a resync is required", "event", f.resync, "event_id", e.ID)
				return connectors.ChangeSet{Cursor: cursor, ResyncRequired: true}, nil
			}
			p = position{after: e.ID, at: at}
			read++
			size += len(raw)
			if read >= c.cfg.MaxBatchEvents || size >= maxBatchBytes {
				break
			}
		}
		if stopped || pg.ListMetadata.After == nil || len(pg.Data) == 0 {
			break
		}
	}
	cs, err := c.changeSet(ctx, f)
	if err != nil {
		return connectors.ChangeSet{}, err
	}
	cs.Cursor = p.String()
	// Cut short: the rule polls again at once for the rest (at worst
	// once more than needed, when the stream ended right at the limit).
	cs.More = stopped || read >= c.cfg.MaxBatchEvents || size >= maxBatchBytes
	if read > 0 {
		c.logger.Debug("read events", "events", read, "bytes", size, "users", len(cs.Users),
			"groups", len(cs.Groups), "deleted", len(cs.DeletedIDs), "cursor", cs.Cursor)
	}
	return cs, nil
}

// refusedCursor says whether err is the API refusing an after cursor:
// a 400, 404 or 422 [U: what the live API answers for an expired or
// unknown cursor is not documented; the fake answers 400].
func refusedCursor(err error) bool {
	return isStatus(err, http.StatusBadRequest) || isStatus(err, http.StatusNotFound) ||
		isStatus(err, http.StatusUnprocessableEntity)
}

// changeSet turns a fold into a ChangeSet: each group touched by an event
// (and not deleted) with its members as they are now, read from the
// state API. Reading them beats applying user_added and user_removed to
// a member list: a ChangeSet carries a group's whole member list, which
// would have to be read once anyway, and the list read now is one the
// events after this batch start from.
func (c *workosConnector) changeSet(ctx context.Context, f *fold) (connectors.ChangeSet, error) {
	cs := connectors.ChangeSet{DeletedIDs: f.deleted}
	for _, id := range f.userOrder {
		if u, ok := f.users[id]; ok {
			cs.Users = append(cs.Users, u)
		}
	}
	for _, id := range f.groupOrder {
		name, ok := f.groups[id]
		if !ok {
			continue
		}
		members, found, err := c.members(ctx, id)
		if err != nil {
			return connectors.ChangeSet{}, err
		}
		if !found {
			continue // deleted after this batch; a later one says so
		}
		cs.Groups = append(cs.Groups, connectors.Group{ExternalID: id, DisplayName: name, Members: members})
	}
	return cs, nil
}

// maxBatchGroups bounds the groups of one ChangeSet: each costs a read
// of its members from /directory_users (4 requests/s per directory), so
// that a batch ends in seconds, well within a poll's time.
const maxBatchGroups = 40

// full says whether the fold has no room for group id: it holds
// maxBatchGroups others already.
func (f *fold) full(id string) bool {
	_, ok := f.groups[id]
	return !ok && len(f.groups) >= maxBatchGroups
}

// groupOf is the group whose members an event makes the batch read:
// created, updated and membership events of a group; "" for others (a
// deleted group's members are not read).
func groupOf(e event) string {
	var d struct {
		ID    string `json:"id"`
		Group struct {
			ID string `json:"id"`
		} `json:"group"`
	}
	switch e.Event {
	case "dsync.group.created", "dsync.group.updated":
		if json.Unmarshal(e.Data, &d) == nil {
			return d.ID
		}
	case "dsync.group.user_added", "dsync.group.user_removed":
		if json.Unmarshal(e.Data, &d) == nil {
			return d.Group.ID
		}
	}
	return ""
}

// fold is the state of a batch of events, applied in order: the last
// state of each user, the groups touched (by name), the deletions.
type fold struct {
	directory  string
	users      map[string]connectors.User
	userOrder  []string
	groups     map[string]string
	groupOrder []string
	deleted    []string
	// resync names the event that asks for a resync.
	resync string
}

func newFold(directory string) *fold {
	return &fold{directory: directory, users: map[string]connectors.User{}, groups: map[string]string{}}
}

// apply folds one event in. Events of other directories are ignored.
func (f *fold) apply(e event) error {
	switch e.Event {
	case "dsync.user.created", "dsync.user.updated", "dsync.user.deleted":
		var u directoryUser
		if err := json.Unmarshal(e.Data, &u); err != nil {
			return err
		}
		if u.DirectoryID != f.directory {
			return nil
		}
		if e.Event == "dsync.user.deleted" {
			delete(f.users, u.ID)
			f.delete(u.ID)
			return nil
		}
		f.undelete(u.ID)
		if _, ok := f.users[u.ID]; !ok {
			f.userOrder = append(f.userOrder, u.ID)
		}
		f.users[u.ID] = u.user()
	case "dsync.group.created", "dsync.group.updated", "dsync.group.deleted":
		var g directoryGroup
		if err := json.Unmarshal(e.Data, &g); err != nil {
			return err
		}
		if g.DirectoryID != f.directory {
			return nil
		}
		if e.Event == "dsync.group.deleted" {
			delete(f.groups, g.ID)
			f.delete(g.ID)
			return nil
		}
		f.touch(g)
	case "dsync.group.user_added", "dsync.group.user_removed":
		var m struct {
			DirectoryID string         `json:"directory_id"`
			Group       directoryGroup `json:"group"`
		}
		if err := json.Unmarshal(e.Data, &m); err != nil {
			return err
		}
		if m.DirectoryID != f.directory {
			return nil
		}
		f.touch(m.Group)
	case "dsync.activated", "dsync.deactivated", "dsync.deleted":
		var d struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		// A deleted directory sends no user or group deletions, and a
		// directory activated again, or deactivated, may come back with
		// other contents: only a full comparison can say what changed.
		if d.ID == f.directory {
			f.resync = e.Event
		}
	}
	return nil
}

func (f *fold) touch(g directoryGroup) {
	f.undelete(g.ID)
	if _, ok := f.groups[g.ID]; !ok {
		f.groupOrder = append(f.groupOrder, g.ID)
	}
	f.groups[g.ID] = g.Name
}

func (f *fold) delete(id string) {
	if !slices.Contains(f.deleted, id) {
		f.deleted = append(f.deleted, id)
	}
}

// undelete: WorkOS ids are not reused, but a replayed stream may delete
// and then recreate in one batch; the last event wins.
func (f *fold) undelete(id string) {
	f.deleted = slices.DeleteFunc(f.deleted, func(d string) bool { return d == id })
}
