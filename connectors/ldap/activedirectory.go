package ldap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
)

// Active Directory is followed with the DirSync control
// (LDAP_SERVER_DIRSYNC_OID, MS-ADTS 3.1.1.3.4.1.3). A DirSync search runs
// over a whole naming context: with no cookie it returns every object that
// matches its filter, with a cookie the objects changed since, each with
// its objectGUID and only the requested attributes that changed, and
// deleted objects as tombstones (isDeleted TRUE, lastKnownParent, the DN
// under CN=Deleted Objects). Changes reads the changed objects back with
// the scope's base and filter: what comes back is a changed user or group,
// what does not was moved out of scope or stopped matching the filter.
//
// The bind needs the "Replicating Directory Changes" right on the naming
// context (DS-Replication-Get-Changes).

// dirSyncMaxBytes is the DirSync request's MaxBytes: as much as the server
// will send; it sets the "more" flag when it stops short.
const dirSyncMaxBytes = 0x7FFFFFFF

// dirSyncMaxPages bounds the DirSync searches of one call, as a guard
// against a server that always says there is more.
const dirSyncMaxPages = 100000

// adChange is one object that a DirSync search reported.
type adChange struct {
	guid            string // the objectGUID, as formatGUID renders it
	dn              string
	deleted         bool   // a tombstone: isDeleted TRUE
	lastKnownParent string // where a deleted object lived
}

// dirSyncPage is the answer to one DirSync search.
type dirSyncPage struct {
	changes []adChange
	cookie  []byte
	more    bool // the server has more changes: search again with cookie
}

// parseDirSyncResult reads the answer to one DirSync search: the objects,
// the new cookie and whether more changes wait. An object without a
// 16-byte objectGUID is an error: DirSync always returns objectGUID.
func parseDirSyncResult(res *ldap.SearchResult) (dirSyncPage, error) {
	var p dirSyncPage
	ctl, _ := ldap.FindControl(res.Controls, ldap.ControlTypeDirSync).(*ldap.ControlDirSync)
	if ctl == nil {
		return p, errors.New("the answer has no DirSync control")
	}
	p.cookie, p.more = ctl.Cookie, ctl.Flags != 0
	if len(p.cookie) == 0 {
		return p, errors.New("the answer's DirSync control has no cookie")
	}
	for _, e := range res.Entries {
		ch, err := parseDirSyncEntry(e)
		if err != nil {
			return p, err
		}
		p.changes = append(p.changes, ch)
	}
	return p, nil
}

func parseDirSyncEntry(e *ldap.Entry) (adChange, error) {
	raw := e.GetEqualFoldRawAttributeValue("objectGUID")
	if len(raw) != 16 {
		return adChange{}, fmt.Errorf("DirSync returned %q without a 16-byte objectGUID (%d bytes)", e.DN, len(raw))
	}
	return adChange{
		guid:            formatGUID(raw),
		dn:              e.DN,
		deleted:         strings.EqualFold(e.GetEqualFoldAttributeValue("isDeleted"), "TRUE"),
		lastKnownParent: e.GetEqualFoldAttributeValue("lastKnownParent"),
	}, nil
}

// dirSyncFilter selects what DirSync reports: users and groups, live or
// deleted. Tombstones keep objectClass but lose objectCategory, so the
// filter names object classes only; computers, which are users too, are
// left out.
func (c *ldapConnector) dirSyncFilter() string {
	var f strings.Builder
	f.WriteString("(&(|(objectClass=user)")
	for _, k := range c.cfg.GroupKinds {
		if k.ObjectClass != "" {
			fmt.Fprintf(&f, "(objectClass=%s)", ldap.EscapeFilter(k.ObjectClass))
		}
	}
	f.WriteString(")(!(objectClass=computer)))")
	return f.String()
}

// dirSyncAttributes are the attributes DirSync watches: the list also acts
// as a filter, an object is reported only when one of them changed. They
// are every mapped attribute, the attributes the scope filters test,
// isDeleted and lastKnownParent (for tombstones) and name (which changes
// on a rename or a move).
func (c *ldapConnector) dirSyncAttributes() []string {
	attrs := []string{"objectGUID", "isDeleted", "lastKnownParent", "name"}
	attrs = append(attrs, c.userAttrs...)
	attrs = append(attrs, c.groupAttributeNames()...)
	attrs = append(attrs, filterAttributes(c.cfg.UserFilter)...)
	attrs = append(attrs, filterAttributes(c.cfg.GroupFilter)...)
	attrs = slices.DeleteFunc(attrs, func(a string) bool {
		// objectCategory is not on tombstones and never changes.
		return strings.EqualFold(a, "objectCategory")
	})
	return dedupeFold(attrs)
}

// filterAttributes lists the attributes a filter tests; none if it does
// not compile.
func filterAttributes(filter string) []string {
	p, err := ldap.CompileFilter(filter)
	if err != nil {
		return nil
	}
	var out []string
	var walk func(p *ber.Packet)
	walk = func(p *ber.Packet) {
		switch p.Tag {
		case ldap.FilterAnd, ldap.FilterOr, ldap.FilterNot:
			for _, ch := range p.Children {
				walk(ch)
			}
		case ldap.FilterPresent:
			out = append(out, p.Data.String())
		case ldap.FilterExtensibleMatch:
			for _, ch := range p.Children {
				if ch.Tag == 2 { // type
					out = append(out, ch.Data.String())
				}
			}
		default:
			if len(p.Children) > 0 {
				out = append(out, p.Children[0].Data.String())
			}
		}
	}
	walk(p)
	return out
}

// namingContext returns the naming context that holds both base DNs, from
// the root DSE's namingContexts: DirSync searches a whole one.
func (c *ldapConnector) namingContext(ctx context.Context, conn *ldap.Conn) (string, error) {
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"namingContexts", "defaultNamingContext"}, nil)
	var res *ldap.SearchResult
	err := do(ctx, conn, c.timeout, func(context.Context) (err error) {
		res, err = conn.Search(req)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("ldap: read the root DSE: %w", classify(err))
	}
	if len(res.Entries) == 0 {
		return "", errors.New("ldap: the root DSE is empty")
	}
	root := res.Entries[0]
	ncs := append(root.GetEqualFoldAttributeValues("namingContexts"), root.GetEqualFoldAttributeValue("defaultNamingContext"))
	return pickNamingContext(ncs, c.cfg.UserBaseDN, c.cfg.GroupBaseDN)
}

// pickNamingContext returns the longest of ncs that holds every base.
func pickNamingContext(ncs []string, bases ...string) (string, error) {
	best, bestLen := "", -1
	for _, nc := range ncs {
		ncDN, err := ldap.ParseDN(nc)
		if err != nil || nc == "" {
			continue
		}
		holds := true
		for _, b := range bases {
			bDN, err := ldap.ParseDN(b)
			if err != nil || !(ncDN.EqualFold(bDN) || ncDN.AncestorOfFold(bDN)) {
				holds = false
				break
			}
		}
		if holds && len(ncDN.RDNs) > bestLen {
			best, bestLen = nc, len(ncDN.RDNs)
		}
	}
	if best == "" {
		return "", fmt.Errorf("ldap: no naming context of the server (%s) holds %s: DirSync follows one naming context",
			strings.Join(ncs, "; "), strings.Join(bases, " and "))
	}
	return best, nil
}

// dirSyncSearch runs one DirSync search of nc from cookie (nil: from
// nothing). The Show Deleted control (LDAP_SERVER_SHOW_DELETED_OID) lets
// the tombstones through, as Microsoft advises for the LDAP API.
func (c *ldapConnector) dirSyncSearch(ctx context.Context, conn *ldap.Conn, nc string, cookie []byte) (dirSyncPage, error) {
	req := ldap.NewSearchRequest(nc, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		c.dirSyncFilter(), c.dirSyncAttributes(), []ldap.Control{
			ldap.NewRequestControlDirSync(0, dirSyncMaxBytes, cookie),
			ldap.NewControlMicrosoftShowDeleted(),
		})
	var res *ldap.SearchResult
	err := do(ctx, conn, syncTimeoutFactor*c.timeout, func(context.Context) (err error) {
		res, err = conn.Search(req)
		return err
	})
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			err = fmt.Errorf("DirSync needs the Replicating Directory Changes right on %s: %w", nc, err)
		}
		return dirSyncPage{}, classify(err)
	}
	return parseDirSyncResult(res)
}

// drainDirSync runs DirSync searches from cookie until the server has no
// more, and returns every change and the last cookie.
func (c *ldapConnector) drainDirSync(ctx context.Context, conn *ldap.Conn, nc string, cookie []byte) ([]adChange, []byte, error) {
	var all []adChange
	for range dirSyncMaxPages {
		p, err := c.dirSyncSearch(ctx, conn, nc, cookie)
		if err != nil {
			return nil, nil, err
		}
		all, cookie = append(all, p.changes...), p.cookie
		if !p.more {
			return all, cookie, nil
		}
	}
	return nil, nil, fmt.Errorf("the server still had more changes after %d DirSync searches", dirSyncMaxPages)
}

// dirSyncCursor reads the whole naming context once, without keeping
// anything, for the cookie of its current state: DirSync has no cheaper
// way to one.
func (c *ldapConnector) dirSyncCursor(ctx context.Context, conn *ldap.Conn) (string, error) {
	nc, err := c.namingContext(ctx, conn)
	if err != nil {
		return "", err
	}
	_, cookie, err := c.drainDirSync(ctx, conn, nc, nil)
	if err != nil {
		return "", fmt.Errorf("ldap: take a DirSync cookie of %q: %w", nc, err)
	}
	b, err := json.Marshal(cursor{Version: cursorVersion, Scope: c.scopeDigest(), NC: nc, DirSync: cookie})
	if err != nil {
		return "", fmt.Errorf("ldap: encode cursor: %w", err)
	}
	return string(b), nil
}

// dirSyncChanges returns what DirSync reports since cur.
func (c *ldapConnector) dirSyncChanges(ctx context.Context, conn *ldap.Conn, cur cursor) (connectors.ChangeSet, error) {
	if cur.NC == "" || len(cur.DirSync) == 0 {
		c.logger.Info("the cursor holds no DirSync cookie; a full resync is required")
		return c.resync(ctx, conn)
	}
	changes, cookie, err := c.drainDirSync(ctx, conn, cur.NC, cur.DirSync)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) || ldap.IsErrorWithCode(err, ldap.LDAPResultProtocolError) {
		// What a domain controller answers to a cookie it cannot use.
		c.logger.Info("the server refused the DirSync cookie; a full resync is required", "error", err)
		return c.resync(ctx, conn)
	}
	if err != nil {
		return connectors.ChangeSet{}, fmt.Errorf("ldap: DirSync of %q: %w", cur.NC, err)
	}
	cur.DirSync = cookie
	b, err := json.Marshal(cur)
	if err != nil {
		return connectors.ChangeSet{}, fmt.Errorf("ldap: encode cursor: %w", err)
	}
	cs := connectors.ChangeSet{Cursor: string(b)}
	if err := c.applyADChanges(ctx, conn, changes, &cs); err != nil {
		return connectors.ChangeSet{}, err
	}
	return cs, nil
}

// applyADChanges turns DirSync's changes into cs: tombstones whose last
// parent may have been in scope become DeletedIDs; live objects are read
// back with the scope's bases and filters, and those that are no longer in
// scope become DeletedIDs too (an id never in scope is ignored by callers).
func (c *ldapConnector) applyADChanges(ctx context.Context, conn *ldap.Conn, changes []adChange, cs *connectors.ChangeSet) error {
	last := make(map[string]adChange, len(changes))
	var order []string
	for _, ch := range changes {
		if _, ok := last[ch.guid]; !ok {
			order = append(order, ch.guid)
		}
		last[ch.guid] = ch // a later answer is the newer state
	}
	var live, gone []string
	for _, g := range order {
		ch := last[g]
		switch {
		case !ch.deleted:
			live = append(live, g)
		case c.mayHaveBeenInScope(ch.lastKnownParent):
			gone = append(gone, g)
		}
	}
	users, err := c.readByGUID(ctx, conn, c.cfg.UserBaseDN, c.cfg.UserFilter, c.userAttrs, live)
	if err != nil {
		return fmt.Errorf("ldap: read back the changed users: %w", err)
	}
	groups, err := c.readByGUID(ctx, conn, c.cfg.GroupBaseDN, c.cfg.GroupFilter, c.groupAttributeNames(), live)
	if err != nil {
		return fmt.Errorf("ldap: read back the changed groups: %w", err)
	}
	found := make(map[string]bool, len(users)+len(groups))
	for _, e := range append(slices.Clone(users), groups...) {
		found[formatGUID(e.GetEqualFoldRawAttributeValue("objectGUID"))] = true
	}
	for _, g := range live {
		if !found[g] {
			gone = append(gone, g)
		}
	}
	if len(gone) > 0 && c.idKind != idGUID {
		c.logger.Info("objects left the scope, but DirSync names them by objectGUID, not idAttribute; a full resync is required",
			"id_attribute", c.cfg.IDAttribute, "deleted", len(gone))
		cs.ResyncRequired = true
		return nil
	}
	cs.DeletedIDs = gone
	return c.mapChanges(ctx, conn, syncResult{entries: users}, syncResult{entries: groups}, cs)
}

// mayHaveBeenInScope reports whether a deleted object whose parent was
// lastKnownParent may have been under a base DN. Without the attribute, or
// with a parent that is itself deleted, it cannot tell, and says yes.
func (c *ldapConnector) mayHaveBeenInScope(lastKnownParent string) bool {
	parent, err := ldap.ParseDN(lastKnownParent)
	if lastKnownParent == "" || err != nil || strings.Contains(strings.ToLower(lastKnownParent), "\\0adel:") {
		return true
	}
	for _, b := range []string{c.cfg.UserBaseDN, c.cfg.GroupBaseDN} {
		base, err := ldap.ParseDN(b)
		if err == nil && (base.EqualFold(parent) || base.AncestorOfFold(parent)) {
			return true
		}
	}
	return false
}

// readBatch is how many objects one readByGUID search asks for.
const readBatch = 50

// readByGUID reads the entries under base that match filter and whose
// objectGUID is one of guids, in batches, with attrs and objectGUID.
func (c *ldapConnector) readByGUID(ctx context.Context, conn *ldap.Conn, base, filter string, attrs, guids []string) ([]*ldap.Entry, error) {
	var out []*ldap.Entry
	attrs = dedupeFold(append(slices.Clone(attrs), "objectGUID"))
	for batch := range slices.Chunk(guids, readBatch) {
		var f strings.Builder
		f.WriteString("(&" + filter + "(|")
		for _, g := range batch {
			b, err := parseGUID(g)
			if err != nil {
				return nil, err
			}
			f.WriteString("(objectGUID=" + escapeBytes(b) + ")")
		}
		f.WriteString("))")
		err := c.pagedSearch(ctx, conn, base, f.String(), attrs, func(e *ldap.Entry) error {
			out = append(out, e)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
