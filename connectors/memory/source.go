package memory

import (
	"context"
	"strconv"
	"strings"

	"github.com/idsync/idsync/connectors"
)

// The source role. Which of GroupSource and Incremental a connection has
// is decided by its settings; Go finds capabilities by type assertion, so
// each combination is a type of its own, built from the parts below.
type (
	source        struct{ *conn } // Connector, Source, TargetRole, Tester
	sourceGroups  struct{ b *conn }
	sourceChanges struct{ b *conn }

	usersOnly  struct{ source }
	withGroups struct {
		source
		sourceGroups
	}
	withChanges struct {
		source
		sourceChanges
	}
	withBoth struct {
		source
		sourceGroups
		sourceChanges
	}
)

var (
	_ connectors.Source      = usersOnly{}
	_ connectors.TargetRole  = usersOnly{}
	_ connectors.Tester      = usersOnly{}
	_ connectors.GroupSource = withGroups{}
	_ connectors.Incremental = withChanges{}
	_ interface {
		connectors.Source
		connectors.GroupSource
		connectors.Incremental
	} = withBoth{}
)

func newSource(b *conn) connectors.Connector {
	s := source{b}
	switch groups, changes := on(b.cfg.Groups), on(b.cfg.Incremental); {
	case groups && changes:
		return withBoth{s, sourceGroups{b}, sourceChanges{b}}
	case groups:
		return withGroups{s, sourceGroups{b}}
	case changes:
		return withChanges{s, sourceChanges{b}}
	}
	return usersOnly{s}
}

// asSource is a stored user as a source reads it: its id is its
// ExternalID.
func asSource(tu connectors.TargetUser) connectors.User {
	u := cloneUser(tu.User)
	u.ExternalID = tu.ID
	return u
}

func asSourceGroup(tg connectors.TargetGroup) connectors.Group {
	return connectors.Group{ExternalID: tg.ID, DisplayName: tg.DisplayName, Members: cloneGroup(tg).MemberIDs}
}

// ListUsers implements connectors.Source.
func (s source) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	s.store.mu.Lock()
	users := s.store.sortedUsers()
	s.store.mu.Unlock()
	return pages(ctx, s.conn, "ListUsers", users, func(tu connectors.TargetUser) error { return fn(asSource(tu)) })
}

// GetUser implements connectors.Source.
func (s source) GetUser(ctx context.Context, externalID string) (connectors.User, bool, error) {
	if err := s.call(ctx, "GetUser", false); err != nil {
		return connectors.User{}, false, err
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	tu, ok := s.store.users[externalID]
	if !ok {
		return connectors.User{}, false, nil
	}
	return asSource(tu), true, nil
}

// ListGroups implements connectors.GroupSource.
func (s sourceGroups) ListGroups(ctx context.Context, fn func(connectors.Group) error) error {
	s.b.store.mu.Lock()
	groups := s.b.store.sortedGroups()
	s.b.store.mu.Unlock()
	return pages(ctx, s.b, "ListGroups", groups, func(tg connectors.TargetGroup) error { return fn(asSourceGroup(tg)) })
}

// GetGroup implements connectors.GroupSource.
func (s sourceGroups) GetGroup(ctx context.Context, externalID string) (connectors.Group, bool, error) {
	if err := s.b.call(ctx, "GetGroup", false); err != nil {
		return connectors.Group{}, false, err
	}
	s.b.store.mu.Lock()
	defer s.b.store.mu.Unlock()
	tg, ok := s.b.store.groups[externalID]
	if !ok {
		return connectors.Group{}, false, nil
	}
	return asSourceGroup(tg), true, nil
}

// cursorPrefix marks a cursor of this connector: memory:v1:<epoch>:<seq>.
const cursorPrefix = "memory:v1:"

func (s *Store) cursor() string {
	return cursorPrefix + s.epoch + ":" + strconv.FormatUint(s.seq, 10)
}

// Cursor implements connectors.Incremental.
func (s sourceChanges) Cursor(ctx context.Context) (string, error) {
	if err := s.b.call(ctx, "Cursor", false); err != nil {
		return "", err
	}
	s.b.store.mu.Lock()
	defer s.b.store.mu.Unlock()
	return s.b.store.cursor(), nil
}

// Changes implements connectors.Incremental from the store's change log:
// each object changed since the cursor once, as it is now, or among
// DeletedIDs when it is gone. A cursor the log cannot answer (of another
// store, from before the retained log, not this connector's) gets
// ResyncRequired, as an expired LDAP cookie does.
func (s sourceChanges) Changes(ctx context.Context, cursor string) (connectors.ChangeSet, error) {
	if err := s.b.call(ctx, "Changes", false); err != nil {
		return connectors.ChangeSet{}, err
	}
	st := s.b.store
	st.mu.Lock()
	defer st.mu.Unlock()
	since, ok := st.parseCursor(cursor)
	if !ok {
		s.b.logger.Info("cursor cannot be answered from the change log; a resync is required",
			"cursor", cursor, "log_from", st.dropped)
		return connectors.ChangeSet{Cursor: st.cursor(), ResyncRequired: true}, nil
	}
	groups := on(s.b.cfg.Groups)
	cs := connectors.ChangeSet{Cursor: st.cursor()}
	seen := map[change]bool{}
	// Newest first, so that an object is reported once; then reversed
	// for the order of the changes.
	var changed []change
	for i := len(st.log) - 1; i >= 0 && st.log[i].seq > since; i-- {
		c := change{group: st.log[i].group, id: st.log[i].id}
		if seen[c] || (c.group && !groups) {
			continue
		}
		seen[c] = true
		changed = append(changed, c)
	}
	for i := len(changed) - 1; i >= 0; i-- {
		c := changed[i]
		if c.group {
			if tg, ok := st.groups[c.id]; ok {
				cs.Groups = append(cs.Groups, asSourceGroup(tg))
				continue
			}
		} else if tu, ok := st.users[c.id]; ok {
			cs.Users = append(cs.Users, asSource(tu))
			continue
		}
		cs.DeletedIDs = append(cs.DeletedIDs, c.id)
	}
	return cs, nil
}

// parseCursor returns the seq of a cursor the log can answer.
func (s *Store) parseCursor(cursor string) (uint64, bool) {
	rest, ok := strings.CutPrefix(cursor, cursorPrefix)
	if !ok {
		return 0, false
	}
	epoch, n, ok := strings.Cut(rest, ":")
	if !ok || epoch != s.epoch {
		return 0, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	if err != nil || seq > s.seq || seq < s.dropped {
		return 0, false
	}
	return seq, true
}
