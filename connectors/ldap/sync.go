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

// cursorVersion is the version of the cursor encoding. Version 2 added
// Both, the cookie of the one sync search over users and groups; Changes
// still takes a version 1 cursor (see changes).
const cursorVersion = 2

// matchNothing is the filter of the sync search that takes a cookie: the
// nil UUID is never an entry's entryUUID, and with an equality index on
// entryUUID the server finds that without reading any entry.
const matchNothing = "(entryUUID=00000000-0000-0000-0000-000000000000)"

// syncTimeoutFactor widens the request timeout for a sync refresh, which
// returns every change since the cookie in one response.
const syncTimeoutFactor = 10

// cursor is what Cursor returns and Changes takes, as JSON: the sync
// cookie of the search over users and groups (Both) when one search
// covers both bases, else one cookie for the user search and one for the
// group search; and a digest of the settings the cookies are only valid
// for.
type cursor struct {
	Version int    `json:"v"`
	Scope   string `json:"scope"`
	Users   []byte `json:"users,omitempty"`
	Groups  []byte `json:"groups,omitempty"`
	Both    []byte `json:"both,omitempty"`
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

// commonBase returns whichever of the DNs a and b holds the other (either
// when they are equal), or "" when neither does.
func commonBase(a, b string) string {
	da, errA := ldap.ParseDN(a)
	db, errB := ldap.ParseDN(b)
	switch {
	case errA != nil || errB != nil:
		return ""
	case da.EqualFold(db) || da.AncestorOfFold(db):
		return a
	case db.AncestorOfFold(da):
		return b
	}
	return ""
}

// combinedFilter is the filter of the one sync search over users and
// groups. 389-ds syncs every entry (see syncAll); the entries come back
// without attributes either way, and are read back by kind.
func (c *ldapConnector) combinedFilter() string {
	if c.tracking == sync389 {
		return syncAll
	}
	return "(|" + c.cfg.UserFilter + c.cfg.GroupFilter + ")"
}

// Cursor returns the current position as sync cookies: one, or one each
// for users and groups when their base DNs are apart. Each comes from a
// refreshOnly sync search without a cookie whose filter matches no entry:
// the server answers with no entry and the cookie of its current state (on
// OpenLDAP, the contextCSN), so no entry is transferred.
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
	var err error
	if c.syncBase != "" {
		cur.Both, err = c.takeCookie(ctx, conn, "users and groups", c.syncBase)
	} else {
		cur.Users, err = c.takeCookie(ctx, conn, "users", c.cfg.UserBaseDN)
		if err == nil {
			cur.Groups, err = c.takeCookie(ctx, conn, "groups", c.cfg.GroupBaseDN)
		}
	}
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return "", fmt.Errorf("ldap: encode cursor: %w", err)
	}
	return string(b), nil
}

// takeCookie returns the server's current sync cookie for the searches
// under base.
func (c *ldapConnector) takeCookie(ctx context.Context, conn *ldap.Conn, what, base string) ([]byte, error) {
	// 389-ds binds a cookie to the base and filter it was taken with,
	// so its cookie comes from the search Changes makes, which returns
	// every entry (without attributes).
	filter := matchNothing
	if c.tracking == sync389 {
		filter = syncAll
	}
	res, err := c.syncSearch(ctx, conn, base, filter, []string{"1.1"}, nil)
	if err == nil && len(res.cookie) == 0 {
		err = errors.New("the server sent no sync cookie")
	}
	if err != nil {
		return nil, fmt.Errorf("ldap: take a sync cookie for %s under %q: %w", what, base, err)
	}
	return res.cookie, nil
}

// Changes returns what changed in scope since cur. Changed users and
// groups come back whole, and with each changed user every group it is a
// member of: a user that comes back into scope thus regains memberships
// whose groups did not change. DeletedIDs holds the ids of entries that
// were deleted, moved out of their base DN or stopped matching their
// filter; it may also hold ids of entries that were never in scope (the
// server's change log does not know the filter, and the one search over
// users and groups sees entries of its base that are neither), which
// callers ignore as unknown ids. ResyncRequired is set, with a fresh
// cursor, when the server cannot list deletions since cur, when cur was
// taken under other scope settings, when cur is empty, or when idAttribute
// is not the profile's (entryUUID, nsUniqueId) and something was deleted.
// Active Directory is followed with DirSync instead (activedirectory.go).
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
	if err := json.Unmarshal([]byte(s), &cur); err != nil || cur.Version < 1 || cur.Version > cursorVersion {
		return connectors.ChangeSet{}, fmt.Errorf("ldap: changes: not a cursor of this connector (version %d): %q", cursorVersion, s)
	}
	if cur.Scope != c.scopeDigest() {
		c.logger.Info("scope settings changed since the cursor was taken; a full resync is required")
		return c.resync(ctx, conn)
	}
	if c.tracking == dirSync {
		return c.dirSyncChanges(ctx, conn, cur)
	}
	var users, groups syncResult
	switch perKind := len(cur.Users) > 0 && len(cur.Groups) > 0; {
	case c.syncBase != "" && len(cur.Both) > 0:
		var err error
		users, groups, err = c.combinedSync(ctx, conn, cur.Both)
		if err != nil {
			return c.syncFailed(ctx, conn, fmt.Errorf("ldap: sync users and groups under %q: %w", c.syncBase, err))
		}
		cur.Both = orOld(users.cookie, cur.Both)
	case c.syncBase != "" && perKind:
		// A cursor of version 1, which synced users and groups apart
		// even under one base. Its cookies still say what changed; the
		// cookie of the one search is taken before their syncs, so that
		// nothing that changes meanwhile is missed (some of it is
		// reported twice, which is harmless).
		c.logger.Info("moving a cursor of version 1 to one sync search for users and groups", "base_dn", c.syncBase)
		both, err := c.takeCookie(ctx, conn, "users and groups", c.syncBase)
		if err != nil {
			return connectors.ChangeSet{}, err
		}
		if users, groups, err = c.perKindSync(ctx, conn, &cur); err != nil {
			return c.syncFailed(ctx, conn, err)
		}
		cur.Users, cur.Groups, cur.Both = nil, nil, both
	case c.syncBase == "" && perKind:
		var err error
		if users, groups, err = c.perKindSync(ctx, conn, &cur); err != nil {
			return c.syncFailed(ctx, conn, err)
		}
	default:
		// Not a cursor that Cursor would give with these settings.
		c.logger.Info("the cursor holds no sync cookie for this connection's searches; a full resync is required")
		return c.resync(ctx, conn)
	}
	cur.Version = cursorVersion
	b, err := json.Marshal(cur)
	if err != nil {
		return connectors.ChangeSet{}, fmt.Errorf("ldap: encode cursor: %w", err)
	}
	cs := connectors.ChangeSet{Cursor: string(b)}
	if users.present || groups.present {
		c.logger.Info("the server answered with a present phase (the cookie is older than its change log); a full resync is required")
		cs.ResyncRequired = true
		return cs, nil
	}
	// An entry that one result reports changed is not deleted: with the
	// searches apart, the bases do not overlap, but this keeps a modified
	// entry from ever being reported deleted.
	deleted := without(append(users.deleted, groups.deleted...), append(users.changed, groups.changed...))
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

// perKindSync runs the refreshOnly syncs of users and of groups from
// cur's cookies, and moves cur's cookies on.
func (c *ldapConnector) perKindSync(ctx context.Context, conn *ldap.Conn, cur *cursor) (users, groups syncResult, err error) {
	users, err = c.scopedSync(ctx, conn, c.cfg.UserBaseDN, c.cfg.UserFilter, c.userAttrs, cur.Users)
	if err != nil {
		return users, groups, fmt.Errorf("ldap: sync users under %q: %w", c.cfg.UserBaseDN, err)
	}
	groups, err = c.scopedSync(ctx, conn, c.cfg.GroupBaseDN, c.cfg.GroupFilter, c.groupAttributeNames(), cur.Groups)
	if err != nil {
		return users, groups, fmt.Errorf("ldap: sync groups under %q: %w", c.cfg.GroupBaseDN, err)
	}
	cur.Users, cur.Groups = orOld(users.cookie, cur.Users), orOld(groups.cookie, cur.Groups)
	return users, groups, nil
}

// combinedSync runs the one refreshOnly sync over syncBase that follows
// users and groups, from cookie, and sorts what it reports into users and
// groups. The search returns changed entries without attributes; they are
// read back by sync UUID with each kind's base DN and filter, so that the
// server, not a re-implementation of its filter matching (matching rules,
// object class inheritance, attributes not requested), decides what is a
// user and what a group, on one state of each entry. A changed entry that
// is neither (moved out of its kind's base while still under syncBase, or
// changed into something else) is out of scope now, so deleted. Deletions
// are reported by sync UUID, of either kind: DeletedIDs does not say which.
// An idle poll is thus one search; one with changes adds one read of each
// kind per rescopeBatch changed entries. The users result carries the
// cookie, the deletions and the present flag.
func (c *ldapConnector) combinedSync(ctx context.Context, conn *ldap.Conn, cookie []byte) (users, groups syncResult, err error) {
	r, err := c.syncSearch(ctx, conn, c.syncBase, c.combinedFilter(), []string{"1.1"}, cookie)
	if err != nil {
		return users, groups, err
	}
	users = syncResult{deleted: r.deleted, present: r.present, cookie: r.cookie}
	if r.present || len(r.changed) == 0 {
		return users, groups, nil
	}
	users.entries, users.changed, err = c.readBack(ctx, conn, c.cfg.UserBaseDN, c.cfg.UserFilter, c.userAttrs, r.changed)
	if err != nil {
		return users, groups, fmt.Errorf("read back the changed users under %q: %w", c.cfg.UserBaseDN, err)
	}
	groups.entries, groups.changed, err = c.readBack(ctx, conn, c.cfg.GroupBaseDN, c.cfg.GroupFilter, c.groupAttributeNames(), r.changed)
	if err != nil {
		return users, groups, fmt.Errorf("read back the changed groups under %q: %w", c.cfg.GroupBaseDN, err)
	}
	users.deleted = append(users.deleted, without(r.changed, append(slices.Clone(users.changed), groups.changed...))...)
	return users, groups, nil
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

// syncFailed turns e-syncRefreshRequired into a resync and returns any
// other error, which says which sync failed.
func (c *ldapConnector) syncFailed(ctx context.Context, conn *ldap.Conn, err error) (connectors.ChangeSet, error) {
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSyncRefreshRequired) {
		c.logger.Info("the server asked for a full refresh (e-syncRefreshRequired); a full resync is required", "error", err)
		return c.resync(ctx, conn)
	}
	return connectors.ChangeSet{}, err
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
	done          bool // the syncDone control came: the refresh is complete
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
		// Syncrepl ends without an error when ctx ends, and when the
		// connection was closed before it started: without its syncDone
		// the refresh is incomplete, and its cookie must not be used.
		if err := ctx.Err(); err != nil {
			return err
		}
		if !r.done && conn.IsClosing() {
			return ldap.NewError(ldap.ErrorNetwork, errors.New("the connection closed before the sync search ended"))
		}
		return nil
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
		r.done = true
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
