package google

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	admin "google.golang.org/api/admin/directory/v1"
	reports "google.golang.org/api/admin/reports/v1"

	"github.com/idsync/idsync/connectors"
)

// Values of the changes setting.
const (
	ChangesReports  = "reports"
	ChangesSnapshot = "snapshot"
)

// ReportsScope is the scope of the admin activity report; the service
// account's client id must be granted it beside the directory scopes for
// a source connection to poll by reports.
const ReportsScope = reports.AdminReportsAuditReadonlyScope

const (
	// DefaultReportsLag is how far before its cursor a poll reads the
	// admin activity report again. Google: admin log events lag "near
	// real time (couple of minutes)", and "there's a small chance that
	// ... data for some events will be delayed beyond the following
	// specified times. In rare cases, events might not be reported"
	// (Data retention and lag times, support.google.com/a/answer/7061566).
	// Re-reading costs only the report's pages: the events already
	// applied are recognised by the cursor and skipped.
	DefaultReportsLag = 15 * time.Minute
	// DefaultMaxChanges bounds the users and groups one poll re-reads
	// (one request each, more for a group's members): a backlog (a bulk
	// upload in the console) is applied in pieces, the rule polling again
	// at once (ChangeSet.More).
	DefaultMaxChanges = 200
	// activityPage is activities.list's maxResults cap.
	activityPage = 1000
	// maxSeen bounds the activities the cursor remembers, 8 bytes each
	// (about 5 KiB in the cursor): with more in the lag window, the
	// window is shortened to the newest maxSeen (see next), so that a
	// burst of activity cannot keep a poll re-applying the same events.
	maxSeen = 500
	// retryReports is how long after the Reports API refused this
	// connection a poll tries it again instead of the snapshot.
	retryReports = time.Hour
)

// reportsSource is a source that finds what changed through the Admin SDK
// Reports API's admin activity report (see the package doc).
type reportsSource struct {
	source
	rs *reports.Service
	st *reportsState
}

// reportsState is what a connection learned about the Reports API.
type reportsState struct {
	mu        sync.Mutex
	refusedAt time.Time     // when the Reports API last refused this connection
	retry     time.Duration // how long after a refusal to try it again: retryReports
	warned    bool          // the fall back was logged at Warn once
}

var _ connectors.Incremental = reportsSource{}

// cursorPrefix versions the cursor, so that a later form can tell an old
// one and ask for a resync instead of misreading it.
const cursorPrefix = "google:v1:"

// position is where a poll resumes: the time the next poll reads the
// report from (reportsLag before the time this one read up to), and the
// activities from then on that were applied already, as 64-bit hashes of
// their ids (id.time and id.uniqueQualifier), to be skipped.
type position struct {
	from time.Time
	seen []uint64
}

// String is "google:v1:<from, unix ms>:<seen>", seen the hashes'
// big-endian bytes in unpadded base64url.
func (p position) String() string {
	b := make([]byte, 0, 8*len(p.seen))
	for _, h := range p.seen {
		b = binary.BigEndian.AppendUint64(b, h)
	}
	return cursorPrefix + strconv.FormatInt(p.from.UnixMilli(), 10) + ":" + base64.RawURLEncoding.EncodeToString(b)
}

var errCursor = errors.New("not a google reports cursor")

func parseCursor(s string) (position, error) {
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return position{}, errCursor
	}
	ms, seen, ok := strings.Cut(rest, ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || n <= 0 {
		return position{}, errCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(seen)
	if err != nil || len(b)%8 != 0 {
		return position{}, errCursor
	}
	p := position{from: time.UnixMilli(n).UTC()}
	for i := 0; i < len(b); i += 8 {
		p.seen = append(p.seen, binary.BigEndian.Uint64(b[i:]))
	}
	return p, nil
}

// act is an activity of the report, as much as a poll needs.
type act struct {
	at     time.Time
	key    uint64 // hash of id.time and id.uniqueQualifier
	name   string
	params map[string]string
}

func activityKey(a *reports.Activity) (uint64, time.Time, error) {
	if a.Id == nil {
		return 0, time.Time{}, errors.New("an activity without an id")
	}
	at, err := time.Parse(time.RFC3339Nano, a.Id.Time)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("activity time %q: %w", a.Id.Time, err)
	}
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s|%d", a.Id.Time, a.Id.UniqueQualifier)
	return h.Sum64(), at.UTC(), nil
}

// activities reads the admin activity report from start, all pages, and
// returns its events oldest first (the API gives newest first).
func (s reportsSource) activities(ctx context.Context, start time.Time) ([]act, int, error) {
	var out []act
	pages := 0
	token := ""
	for {
		var page *reports.Activities
		err := s.call(ctx, "read the admin activity report from "+start.UTC().Format(time.RFC3339), func() error {
			call := s.rs.Activities.List("all", "admin").StartTime(start.UTC().Format("2006-01-02T15:04:05.000Z")).
				MaxResults(activityPage).Fields("nextPageToken", "items(id,events(name,parameters(name,value)))").Context(ctx)
			if s.cfg.Customer != DefaultCustomer {
				call = call.CustomerId(s.cfg.Customer)
			}
			if token != "" {
				call = call.PageToken(token)
			}
			var err error
			page, err = call.Do()
			return err
		})
		if err != nil {
			return nil, pages, err
		}
		pages++
		for _, a := range page.Items {
			key, at, err := activityKey(a)
			if err != nil {
				return nil, pages, fmt.Errorf("google: read the admin activity report: %w", err)
			}
			for _, e := range a.Events {
				params := map[string]string{}
				for _, p := range e.Parameters {
					params[p.Name] = p.Value
				}
				out = append(out, act{at: at, key: key, name: e.Name, params: params})
			}
		}
		if token = page.NextPageToken; token == "" {
			slices.Reverse(out)
			// Stable: the events of one activity keep their order.
			slices.SortStableFunc(out, func(a, b act) int { return a.at.Compare(b.at) })
			return out, pages, nil
		}
	}
}

// refused says whether err is the Reports API (or its token) refusing
// this connection: the scope not granted to the client id
// (unauthorized_client), the subject not allowed to read reports (403).
func refused(err error) bool {
	var rl *connectors.RateLimitError
	return errors.Is(err, connectors.ErrUnauthorized) && !errors.As(err, &rl)
}

// fallBack notes that the Reports API refused this connection; the first
// time, it says so at Warn.
func (s reportsSource) fallBack(err error) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.refusedAt = time.Now()
	level := slog.LevelDebug
	if !s.st.warned {
		s.st.warned = true
		level = slog.LevelWarn
	}
	s.logger.Log(context.Background(), level,
		"the Reports API refused this connection: polls list every user and group and compare a digest instead (no target read when nothing changed); grant the service account's client id the scope "+ReportsScope+" and give the subject the Reports privilege, or set changes to snapshot",
		"error", err.Error(), "retry_after", s.st.retry.String())
}

// useSnapshot says whether a poll should skip the Reports API: it refused
// this connection less than retryReports ago.
func (s reportsSource) useSnapshot() bool {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return !s.st.refusedAt.IsZero() && time.Since(s.st.refusedAt) < s.st.retry
}

func (s reportsSource) recovered() {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if !s.st.refusedAt.IsZero() {
		s.st.refusedAt = time.Time{}
		s.logger.Info("the Reports API answers this connection again: polls read the admin activity report")
	}
}

// window reads the report from lag before now and returns the position
// with those activities seen.
func (s reportsSource) window(ctx context.Context) (position, error) {
	from := time.Now().UTC().Truncate(time.Millisecond).Add(-s.cfg.reportsLag)
	acts, _, err := s.activities(ctx, from)
	if err != nil {
		return position{}, err
	}
	return next(acts, from), nil
}

// next is the position from from (or later) with the activities of acts
// (applied, oldest first) at or after it seen. Past maxSeen of them, from
// moves up to the oldest of the newest maxSeen: a shorter look back for
// late events (the periodic resync's to find) rather than a cursor that
// forgets what it applied.
func next(acts []act, from time.Time) position {
	var out []uint64
	var oldest time.Time
	for i := len(acts) - 1; i >= 0; i-- {
		a := acts[i]
		if a.at.Before(from) || slices.Contains(out, a.key) {
			continue
		}
		if len(out) == maxSeen {
			from = oldest
			break
		}
		out = append(out, a.key)
		oldest = a.at
	}
	slices.Sort(out)
	return position{from: from, seen: out}
}

// Cursor implements connectors.Incremental: now, with the activities of
// the last reportsLag seen (so that the first poll does not re-read what
// changed before it); a snapshot digest when the Reports API refuses
// this connection.
func (s reportsSource) Cursor(ctx context.Context) (string, error) {
	if !s.useSnapshot() {
		p, err := s.window(ctx)
		if err == nil {
			s.recovered()
			return p.String(), nil
		}
		if !refused(err) {
			return "", err
		}
		s.fallBack(err)
	}
	return connectors.Incrementally(s.source).Cursor(ctx)
}

// Changes implements connectors.Incremental: the admin activities since
// the cursor (less reportsLag, those the cursor has seen skipped), folded
// into the users and groups they name, each read again by a direct get.
// A cursor that is a snapshot digest (the Reports API refused this
// connection) is compared as connectors.Incrementally does, and becomes
// a reports cursor again once the API answers and nothing changed.
func (s reportsSource) Changes(ctx context.Context, cursor string) (connectors.ChangeSet, error) {
	if strings.HasPrefix(cursor, "snapshot:") {
		return s.fromSnapshot(ctx, cursor)
	}
	p, err := parseCursor(cursor)
	if err != nil {
		s.logger.Info("not a google reports cursor; a resync is required", "cursor", cursor[:min(len(cursor), 40)])
		return connectors.ChangeSet{Cursor: cursor, ResyncRequired: true}, nil
	}
	if s.useSnapshot() {
		return connectors.ChangeSet{Cursor: cursor, ResyncRequired: true}, nil
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	since := p.from
	acts, pages, err := s.activities(ctx, since)
	if refused(err) {
		// What changed since the cursor cannot be told without the
		// report: a resync, after which Cursor gives a snapshot digest.
		s.fallBack(err)
		return connectors.ChangeSet{Cursor: cursor, ResyncRequired: true}, nil
	}
	if err != nil {
		return connectors.ChangeSet{}, err
	}
	s.recovered()
	f := newFold()
	more := false
	upTo := now
	for i, a := range acts {
		if slices.Contains(p.seen, a.key) {
			continue
		}
		if f.full(a, s.cfg.MaxChanges) {
			// Cut before this activity (and any other event of its
			// activity): the next poll reads from it.
			more = true
			upTo = a.at
			acts = acts[:i]
			for len(acts) > 0 && acts[len(acts)-1].key == a.key {
				acts = acts[:len(acts)-1]
			}
			break
		}
		f.apply(a)
	}
	if more {
		f = newFold()
		for _, a := range acts {
			if !slices.Contains(p.seen, a.key) {
				f.apply(a)
			}
		}
	}
	cs, err := s.changeSet(ctx, f)
	if err != nil {
		return connectors.ChangeSet{}, err
	}
	if cs.ResyncRequired {
		return connectors.ChangeSet{Cursor: cursor, ResyncRequired: true}, nil
	}
	// Seen: every activity read from the next poll's start on, whether
	// this poll or an earlier one applied it.
	from := upTo.Add(-s.cfg.reportsLag)
	if from.Before(p.from) {
		from = p.from
	}
	cs.Cursor = next(acts, from).String()
	cs.More = more
	if f.events > 0 {
		s.logger.Debug("read admin activities", "events", f.events, "pages", pages, "users", len(cs.Users),
			"groups", len(cs.Groups), "deleted", len(cs.DeletedIDs), "more", more)
	}
	return cs, nil
}

// fromSnapshot polls with a snapshot cursor: by digest while the Reports
// API refuses this connection; once it answers, the report's window is
// read first, then the digest compared, so that a reports cursor from
// before the comparison misses nothing.
func (s reportsSource) fromSnapshot(ctx context.Context, cursor string) (connectors.ChangeSet, error) {
	snap := connectors.Incrementally(s.source)
	if s.useSnapshot() {
		return snap.Changes(ctx, cursor)
	}
	p, err := s.window(ctx)
	if err != nil {
		if !refused(err) {
			return connectors.ChangeSet{}, err
		}
		s.fallBack(err)
		return snap.Changes(ctx, cursor)
	}
	s.recovered()
	cs, err := snap.Changes(ctx, cursor)
	if err != nil || cs.ResyncRequired {
		return cs, err
	}
	return connectors.ChangeSet{Cursor: p.String()}, nil
}

// fold is what a batch of admin events names, by address, in order.
type fold struct {
	users, groups, deleted []string // addresses, lower case
	groupDeleted           string   // the address of a group deleted, if any
	events                 int
}

func newFold() *fold { return &fold{} }

func addOnce(list []string, v string) []string {
	if v == "" || slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// size is the number of objects the fold will read.
func (f *fold) size() int { return len(f.users) + len(f.groups) + len(f.deleted) }

// full says whether applying a would make the fold read more than limit
// objects (one at least is always taken).
func (f *fold) full(a act, limit int) bool {
	if f.size() == 0 {
		return false
	}
	g := *f
	g.users, g.groups, g.deleted = slices.Clone(f.users), slices.Clone(f.groups), slices.Clone(f.deleted)
	g.apply(a)
	return g.size() > limit
}

// apply folds one admin event in. Events name objects by address: a
// group event has GROUP_EMAIL (ADD_GROUP_MEMBER and REMOVE_GROUP_MEMBER
// also USER_EMAIL, the member: the group is what changed), a user event
// USER_EMAIL; RENAME_USER and CHANGE_GROUP_EMAIL give the new address in
// NEW_VALUE, and both addresses are read. Any other event naming a user or a group (CREATE_USER,
// CHANGE_FIRST_NAME, CHANGE_USER_ORGANIZATION, SUSPEND_USER,
// CHANGE_GROUP_NAME, …) makes it read again; events naming neither
// (domain settings) are ignored.
func (f *fold) apply(a act) {
	f.events++
	lower := func(k string) string { return strings.ToLower(strings.TrimSpace(a.params[k])) }
	if g := lower("GROUP_EMAIL"); g != "" {
		switch a.name {
		case "DELETE_GROUP":
			f.groupDeleted = g
		case "CHANGE_GROUP_EMAIL":
			// The new address, and the old one, which Google keeps as
			// an alias: an event without NEW_VALUE still reads the group.
			f.groups = addOnce(addOnce(f.groups, g), lower("NEW_VALUE"))
		default:
			f.groups = addOnce(f.groups, g)
		}
		return
	}
	u := lower("USER_EMAIL")
	if u == "" {
		return
	}
	switch a.name {
	case "DELETE_USER":
		f.deleted = addOnce(f.deleted, u)
	case "RENAME_USER":
		// As CHANGE_GROUP_EMAIL: the old address is an alias.
		f.users = addOnce(addOnce(f.users, u), lower("NEW_VALUE"))
	default:
		f.users = addOnce(f.users, u)
	}
}

// changeSet reads what the fold names: each user and group by a direct
// get of its current address (not a search: Google's search index lags
// writes), a group with its members; deleted users' ids from the listing
// of deleted users (the report names them by address, and the source's
// ExternalID is the id). An address that reads 404 was renamed or
// deleted since, which an event of this or a later poll says (a rename
// names the new address): it is skipped; at Google, an old address is
// an alias, whose get reads the renamed user. A deleted group, or a deleted user not in that listing, can
// only be found by comparison: ResyncRequired.
func (s reportsSource) changeSet(ctx context.Context, f *fold) (connectors.ChangeSet, error) {
	var cs connectors.ChangeSet
	if f.groupDeleted != "" {
		s.logger.Info("a group was deleted; the report names it by address only, so a resync finds it", "group_email", f.groupDeleted)
		return connectors.ChangeSet{ResyncRequired: true}, nil
	}
	alive := map[string]bool{}
	for _, addr := range f.users {
		au, found, err := s.get(ctx, addr)
		if err != nil {
			return cs, err
		}
		if !found || alive[au.Id] {
			continue
		}
		alive[au.Id] = true
		cs.Users = append(cs.Users, s.toUser(au))
	}
	for _, addr := range f.groups {
		g, found, err := s.GetGroup(ctx, addr)
		if err != nil {
			return cs, err
		}
		if found && !slices.ContainsFunc(cs.Groups, func(o connectors.Group) bool { return o.ExternalID == g.ExternalID }) {
			cs.Groups = append(cs.Groups, g)
		}
	}
	if len(f.deleted) > 0 {
		ids, err := s.deletedIDs(ctx, f.deleted)
		if err != nil {
			return cs, err
		}
		for _, addr := range f.deleted {
			if len(ids[addr]) == 0 {
				s.logger.Info("a deleted user is not among the deleted users; a resync finds it", "user_email", addr)
				return connectors.ChangeSet{ResyncRequired: true}, nil
			}
			for _, id := range ids[addr] {
				if !alive[id] && !slices.Contains(cs.DeletedIDs, id) {
					cs.DeletedIDs = append(cs.DeletedIDs, id)
				}
			}
		}
	}
	return cs, nil
}

// deletedIDs lists the users deleted (users.list showDeleted, Google's
// documented way from a deleted user's address to its id) and returns
// the ids of those at addrs.
func (s reportsSource) deletedIDs(ctx context.Context, addrs []string) (map[string][]string, error) {
	out := map[string][]string{}
	token := ""
	for {
		var page *admin.Users
		err := s.call(ctx, "list deleted users", func() error {
			call := s.svc.Users.List().Customer(s.cfg.Customer).ShowDeleted("true").MaxResults(int64(s.cfg.PageSize)).
				Fields("nextPageToken", "users(id,primaryEmail)").Context(ctx)
			if token != "" {
				call = call.PageToken(token)
			}
			var err error
			page, err = call.Do()
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, u := range page.Users {
			if addr := strings.ToLower(u.PrimaryEmail); slices.Contains(addrs, addr) {
				out[addr] = append(out[addr], u.Id)
			}
		}
		if token = page.NextPageToken; token == "" {
			return out, nil
		}
	}
}
