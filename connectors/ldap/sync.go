package ldap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
)

// cursorVersion is the version of the cursor encoding.
const cursorVersion = 1

// matchNothing is the filter of the sync search that takes a cookie: the
// nil UUID is never an entry's entryUUID, and with an equality index on
// entryUUID the server finds that without reading any entry.
const matchNothing = "(entryUUID=00000000-0000-0000-0000-000000000000)"

// syncTimeoutFactor widens the request timeout for a sync refresh, which
// returns every change since the cookie in one response.
const syncTimeoutFactor = 10

// cursor is what Cursor returns and Changes takes, as JSON: one sync
// cookie for the user search and one for the group search, and a digest of
// the settings the cookies are only valid for.
type cursor struct {
	Version int    `json:"v"`
	Scope   string `json:"scope"`
	Users   []byte `json:"users"`
	Groups  []byte `json:"groups"`
	// With Active Directory: the naming context and the DirSync cookie.
	NC      string `json:"nc,omitempty"`
	DirSync []byte `json:"dirSync,omitempty"`
}

// scopeDigest changes when a setting changes what the searches return, so
// that a cursor taken under other settings asks for a full resync: a
// changed filter would otherwise never report the entries it newly
// selects or drops.
func (c *ldapConnector) scopeDigest() string {
	b, _ := json.Marshal([]any{
		strings.ToLower(c.cfg.UserBaseDN), c.cfg.UserFilter,
		strings.ToLower(c.cfg.GroupBaseDN), c.cfg.GroupFilter,
		strings.ToLower(c.cfg.IDAttribute), c.cfg.UserAttributes, c.cfg.GroupAttributes,
		c.cfg.DirectorySettings,
	})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Cursor returns the current position as a pair of sync cookies. Each one
// comes from a refreshOnly sync search without a cookie whose filter
// matches no entry: the server answers with no entry and the cookie of its
// current state (on OpenLDAP, the contextCSN), so no entry is transferred.
func (c *ldapConnector) Cursor(ctx context.Context) (string, error) {
	var cur string
	err := c.withConn(ctx, func(conn *ldap.Conn) (err error) {
		cur, err = c.cursor(ctx, conn)
		return err
	})
	return cur, err
}

func (c *ldapConnector) cursor(ctx context.Context, conn *ldap.Conn) (string, error) {
	if c.tracking == dirSync {
		return c.dirSyncCursor(ctx, conn)
	}
	cur := cursor{Version: cursorVersion, Scope: c.scopeDigest()}
	// 389-ds binds a cookie to the filter it was taken with, so its
	// cookie comes from a search with the filter Changes uses, which
	// returns every entry (without attributes).
	filter := matchNothing
	if c.tracking == sync389 {
		filter = syncAll
	}
	for _, s := range []struct {
		what, base string
		cookie     *[]byte
	}{{"users", c.cfg.UserBaseDN, &cur.Users}, {"groups", c.cfg.GroupBaseDN, &cur.Groups}} {
		res, err := c.syncSearch(ctx, conn, s.base, filter, []string{"1.1"}, nil)
		if err == nil && len(res.cookie) == 0 {
			err = errors.New("the server sent no sync cookie")
		}
		if err != nil {
			return "", fmt.Errorf("ldap: take a sync cookie for %s under %q: %w", s.what, s.base, err)
		}
		*s.cookie = res.cookie
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return "", fmt.Errorf("ldap: encode cursor: %w", err)
	}
	return string(b), nil
}

// Changes returns what changed in scope since cur. Changed users and
// groups come back whole, and with each changed user every group it is a
// member of: a user that comes back into scope thus regains memberships
// whose groups did not change. DeletedIDs holds the ids of entries that
// were deleted, moved out of their base DN or stopped matching their
// filter; it may also hold ids of deleted entries that were never in scope
// (the server's change log does not know the filter), which callers
// ignore as unknown ids. ResyncRequired is set, with a fresh cursor, when
// the server cannot list deletions since cur, when cur was taken under
// other scope settings, when cur is empty, or when idAttribute is not the
// profile's (entryUUID, nsUniqueId) and something was deleted. Active
// Directory is followed with DirSync instead (activedirectory.go).
func (c *ldapConnector) Changes(ctx context.Context, cur string) (connectors.ChangeSet, error) {
	var cs connectors.ChangeSet
	err := c.withConn(ctx, func(conn *ldap.Conn) (err error) {
		cs, err = c.changes(ctx, conn, cur)
		return err
	})
	return cs, err
}

func (c *ldapConnector) changes(ctx context.Context, conn *ldap.Conn, s string) (connectors.ChangeSet, error) {
	if s == "" {
		return c.resync(ctx, conn)
	}
	var cur cursor
	if err := json.Unmarshal([]byte(s), &cur); err != nil || cur.Version != cursorVersion {
		return connectors.ChangeSet{}, fmt.Errorf("ldap: changes: not a cursor of this connector (version %d): %q", cursorVersion, s)
	}
	if cur.Scope != c.scopeDigest() {
		c.logger.Info("scope settings changed since the cursor was taken; a full resync is required")
		return c.resync(ctx, conn)
	}
	if c.tracking == dirSync {
		return c.dirSyncChanges(ctx, conn, cur)
	}
	users, err := c.scopedSync(ctx, conn, c.cfg.UserBaseDN, c.cfg.UserFilter, c.userAttrs, cur.Users)
	if err != nil {
		return c.syncFailed(ctx, conn, "users", c.cfg.UserBaseDN, err)
	}
	groups, err := c.scopedSync(ctx, conn, c.cfg.GroupBaseDN, c.cfg.GroupFilter, c.groupAttributeNames(), cur.Groups)
	if err != nil {
		return c.syncFailed(ctx, conn, "groups", c.cfg.GroupBaseDN, err)
	}
	cur.Users, cur.Groups = orOld(users.cookie, cur.Users), orOld(groups.cookie, cur.Groups)
	b, err := json.Marshal(cur)
	if err != nil {
		return connectors.ChangeSet{}, fmt.Errorf("ldap: encode cursor: %w", err)
	}
	cs := connectors.ChangeSet{Cursor: string(b)}
	// With both bases at one DN, each sync sees the other kind's modified
	// entries leave its filter and reports them as deletions: an entry
	// that one sync reports changed is not deleted.
	deleted := without(append(users.deleted, groups.deleted...), append(users.changed, groups.changed...))
	if users.present || groups.present {
		c.logger.Info("the server answered with a present phase (the cookie is older than its change log); a full resync is required")
		cs.ResyncRequired = true
		return cs, nil
	}
	for _, key := range dedupe(deleted) {
		id, ok := c.syncIDOf(key)
		if !ok {
			c.logger.Info("entries were deleted, but the sync control does not name them by idAttribute; a full resync is required",
				"id_attribute", c.cfg.IDAttribute, "deleted", len(deleted))
			return connectors.ChangeSet{Cursor: cs.Cursor, ResyncRequired: true}, nil
		}
		cs.DeletedIDs = append(cs.DeletedIDs, id)
	}
	if err := c.mapChanges(ctx, conn, users, groups, &cs); err != nil {
		return connectors.ChangeSet{}, err
	}
	return cs, nil
}

// mapChanges maps the changed entries of the two syncs into cs.
func (c *ldapConnector) mapChanges(ctx context.Context, conn *ldap.Conn, users, groups syncResult, cs *connectors.ChangeSet) error {
	for _, e := range users.entries {
		if u, ok := c.toUser(e); ok {
			cs.Users = append(cs.Users, u)
		}
	}
	if len(users.entries) > 0 {
		// A user that came back into scope (filter, move, re-add) is a
		// member of groups that did not change: report them too, so that
		// the user regains its memberships.
		more, err := c.groupsOf(ctx, conn, users.entries, groups.entries)
		if err != nil {
			return err
		}
		groups.entries = append(groups.entries, more...)
	}
	if len(groups.entries) == 0 {
		return nil
	}
	for _, e := range groups.entries {
		if err := completeRanges(e, c.fetchRange(ctx, conn)); err != nil {
			return err
		}
	}
	ids, err := c.resolveGroupMembers(ctx, conn, groups.entries)
	if err != nil {
		return err
	}
	for _, e := range groups.entries {
		if g, ok := c.toGroup(e, ids); ok {
			cs.Groups = append(cs.Groups, g)
		}
	}
	return nil
}

// syncFailed turns e-syncRefreshRequired into a resync and wraps any other
// error.
func (c *ldapConnector) syncFailed(ctx context.Context, conn *ldap.Conn, what, base string, err error) (connectors.ChangeSet, error) {
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSyncRefreshRequired) {
		c.logger.Info("the server asked for a full refresh (e-syncRefreshRequired); a full resync is required", "search", what)
		return c.resync(ctx, conn)
	}
	return connectors.ChangeSet{}, fmt.Errorf("ldap: sync %s under %q: %w", what, base, err)
}

// resync answers ResyncRequired with a cursor taken now, before the
// caller's full resync reads the directory.
func (c *ldapConnector) resync(ctx context.Context, conn *ldap.Conn) (connectors.ChangeSet, error) {
	cur, err := c.cursor(ctx, conn)
	if err != nil {
		return connectors.ChangeSet{}, err
	}
	return connectors.ChangeSet{Cursor: cur, ResyncRequired: true}, nil
}

// syncResult is what one refreshOnly sync search returned. Sync UUIDs are
// kept as syncKeys.
type syncResult struct {
	entries []*ldap.Entry // added or modified entries
	deleted []string      // sync UUIDs of deleted entries
	changed []string      // sync UUIDs of the added or modified entries
	present bool          // the server used a present phase
	cookie  []byte        // the new cookie; nil when the server sent none
	// presentOnDone: a syncDone with refreshDeletes false ends a present
	// phase (OpenLDAP). 389-ds sends it so after every refresh.
	presentOnDone bool
}

// syncKey is a sync UUID (or an entryUUID or nsUniqueId) as 32 lower-case
// hex digits, the form in which they are compared.
func syncKey(u string) string {
	return strings.ToLower(strings.ReplaceAll(u, "-", ""))
}

// syncSearch runs a refreshOnly content sync search (RFC 4533) from
// cookie (none: from nothing). Entries come with a sync state control, and
// deletions as entries in the delete state or as syncIdSet messages. A
// present phase (entries in the present state, or a syncIdSet or syncDone
// with refreshDeletes false) means the server cannot list deletions: once
// it shows, the entries are no longer kept.
func (c *ldapConnector) syncSearch(ctx context.Context, conn *ldap.Conn, base, filter string, attrs []string, cookie []byte) (syncResult, error) {
	r := syncResult{presentOnDone: c.tracking == syncOpenLDAP}
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
	err := do(ctx, conn, syncTimeoutFactor*c.timeout, func(ctx context.Context) error {
		resp := conn.Syncrepl(ctx, req, 64, ldap.SyncRequestModeRefreshOnly, cookie, false)
		for resp.Next() {
			if e := resp.Entry(); e != nil {
				r.addEntry(e, resp.Controls())
				continue
			}
			for _, ctl := range resp.Controls() {
				r.addControl(ctl)
			}
		}
		if err := resp.Err(); err != nil {
			return err
		}
		// Syncrepl ends without an error when ctx ends.
		return ctx.Err()
	})
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultUnavailableCriticalExtension) {
			err = fmt.Errorf("the server does not support the content sync control (RFC 4533; on OpenLDAP, the syncprov overlay): %w", err)
		}
		return r, classify(err)
	}
	return r, nil
}

func (r *syncResult) addEntry(e *ldap.Entry, ctls []ldap.Control) {
	state, _ := ldap.FindControl(ctls, ldap.ControlTypeSyncState).(*ldap.ControlSyncState)
	if state == nil {
		// Not a sync answer; keep it as a change, which is safe.
		if !r.present {
			r.entries = append(r.entries, e)
		}
		return
	}
	if len(state.Cookie) > 0 {
		r.cookie = state.Cookie
	}
	switch state.State {
	case ldap.SyncStateDelete:
		r.deleted = append(r.deleted, syncKey(state.EntryUUID.String()))
	case ldap.SyncStatePresent:
		r.setPresent()
	default:
		if !r.present {
			r.entries = append(r.entries, e)
			r.changed = append(r.changed, syncKey(state.EntryUUID.String()))
		}
	}
}

func (r *syncResult) addControl(ctl ldap.Control) {
	switch ctl := ctl.(type) {
	case *ldap.ControlSyncInfo:
		switch {
		case ctl.NewCookie != nil:
			r.cookie = orOld(ctl.NewCookie.Cookie, r.cookie)
		case ctl.RefreshDelete != nil:
			r.cookie = orOld(ctl.RefreshDelete.Cookie, r.cookie)
		case ctl.RefreshPresent != nil:
			r.cookie = orOld(ctl.RefreshPresent.Cookie, r.cookie)
			r.setPresent()
		case ctl.SyncIdSet != nil:
			// Its cookie is an intermediate one (OpenLDAP adds delcsn=);
			// the final one comes with syncDone.
			if !ctl.SyncIdSet.RefreshDeletes {
				r.setPresent()
				return
			}
			for _, u := range ctl.SyncIdSet.SyncUUIDs {
				r.deleted = append(r.deleted, syncKey(u.String()))
			}
		}
	case *ldap.ControlSyncDone:
		r.cookie = orOld(ctl.Cookie, r.cookie)
		if !ctl.RefreshDeletes && r.presentOnDone {
			r.setPresent()
		}
	}
}

func (r *syncResult) setPresent() {
	r.present = true
	r.entries = nil
}

// orOld returns b, or old when b is empty: a server that has nothing new
// may send no cookie.
func orOld(b, old []byte) []byte {
	if len(b) == 0 {
		return old
	}
	return b
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// groupsBatch is how many member DNs one groupsOf search asks about.
const groupsBatch = 50

// groupsOf returns the groups in scope that have one of users as a member,
// except those in have.
func (c *ldapConnector) groupsOf(ctx context.Context, conn *ldap.Conn, users, have []*ldap.Entry) ([]*ldap.Entry, error) {
	seen := make(map[string]bool, len(have))
	for _, e := range have {
		seen[dnKey(e.DN)] = true
	}
	var out []*ldap.Entry
	for batch := range slices.Chunk(users, groupsBatch) {
		f := "(&" + c.cfg.GroupFilter + c.memberFilter(batch) + ")"
		err := c.pagedSearch(ctx, conn, c.cfg.GroupBaseDN, f, c.groupAttributeNames(), func(e *ldap.Entry) error {
			if k := dnKey(e.DN); !seen[k] {
				seen[k] = true
				out = append(out, e)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("ldap: find the groups of changed users under %q: %w", c.cfg.GroupBaseDN, err)
		}
	}
	return out, nil
}

// without returns ids less those in drop, in order.
func without(ids, drop []string) []string {
	skip := make(map[string]bool, len(drop))
	for _, id := range drop {
		skip[id] = true
	}
	var out []string
	for _, id := range ids {
		if !skip[id] {
			out = append(out, id)
		}
	}
	return out
}
