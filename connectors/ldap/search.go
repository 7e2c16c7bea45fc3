package ldap

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
)

// memberLookupLimit is how many member DNs are resolved one by one, with a
// base-scope search each; above it, one paged search of all users in scope
// maps every DN at once.
const memberLookupLimit = 64

// ListUsers calls fn for every user in scope, a page at a time.
func (c *ldapConnector) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	// Once fn has seen a user, a lost connection is not retried: fn
	// would see it again.
	var called bool
	return c.withConnRetry(ctx, func() bool { return !called }, func(conn *ldap.Conn) error {
		err := c.pagedSearch(ctx, conn, c.cfg.UserBaseDN, c.cfg.UserFilter, c.userAttrs, func(e *ldap.Entry) error {
			u, ok := c.toUser(e)
			if !ok {
				return nil
			}
			called = true
			return fn(u)
		})
		if err != nil {
			return fmt.Errorf("ldap: search users under %q: %w", c.cfg.UserBaseDN, err)
		}
		return nil
	})
}

// ListGroups calls fn for every group in scope, with members mapped to
// user ids. It first maps every user DN in scope to its id, with one paged
// search that reads only the id attribute, then pages through the groups.
func (c *ldapConnector) ListGroups(ctx context.Context, fn func(connectors.Group) error) error {
	var called bool // as in ListUsers
	return c.withConnRetry(ctx, func() bool { return !called }, func(conn *ldap.Conn) error {
		ids, err := c.memberIndexAll(ctx, conn)
		if err != nil {
			return err
		}
		err = c.pagedSearch(ctx, conn, c.cfg.GroupBaseDN, c.cfg.GroupFilter, c.groupAttributeNames(), func(e *ldap.Entry) error {
			if err := completeRanges(e, c.fetchRange(ctx, conn)); err != nil {
				return err
			}
			g, ok := c.toGroup(e, ids)
			if !ok {
				return nil
			}
			called = true
			return fn(g)
		})
		if err != nil {
			return fmt.Errorf("ldap: search groups under %q: %w", c.cfg.GroupBaseDN, err)
		}
		return nil
	})
}

// GetUser reads the user whose id attribute is externalID, in scope.
func (c *ldapConnector) GetUser(ctx context.Context, externalID string) (u connectors.User, found bool, err error) {
	err = c.withConn(ctx, func(conn *ldap.Conn) error {
		e, err := c.getByID(ctx, conn, c.cfg.UserBaseDN, c.cfg.UserFilter, externalID, c.userAttrs)
		if err != nil || e == nil {
			return err
		}
		u, found = c.toUser(e)
		return nil
	})
	if err != nil {
		return u, false, fmt.Errorf("ldap: get user %s=%q: %w", c.cfg.IDAttribute, externalID, err)
	}
	return u, found, nil
}

// GetGroup reads the group whose id attribute is externalID, in scope.
func (c *ldapConnector) GetGroup(ctx context.Context, externalID string) (g connectors.Group, found bool, err error) {
	err = c.withConn(ctx, func(conn *ldap.Conn) error {
		e, err := c.getByID(ctx, conn, c.cfg.GroupBaseDN, c.cfg.GroupFilter, externalID, c.groupAttributeNames())
		if err != nil || e == nil {
			return err
		}
		if err := completeRanges(e, c.fetchRange(ctx, conn)); err != nil {
			return err
		}
		ids, err := c.resolveGroupMembers(ctx, conn, []*ldap.Entry{e})
		if err != nil {
			return err
		}
		g, found = c.toGroup(e, ids)
		return nil
	})
	if err != nil {
		return g, false, fmt.Errorf("ldap: get group %s=%q: %w", c.cfg.IDAttribute, externalID, err)
	}
	return g, found, nil
}

// getByID finds the one entry under base matching filter whose id
// attribute is id; nil if there is none.
func (c *ldapConnector) getByID(ctx context.Context, conn *ldap.Conn, base, filter, id string, attrs []string) (*ldap.Entry, error) {
	idf, err := c.idFilter(id)
	if err != nil {
		return nil, err
	}
	f := "(&" + filter + idf + ")"
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, 0, false, f, attrs, nil)
	var res *ldap.SearchResult
	err = do(ctx, conn, c.timeout, func(context.Context) (err error) {
		res, err = conn.Search(req)
		return err
	})
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
		return nil, fmt.Errorf("more than one entry under %q has this id", base)
	case err != nil:
		return nil, classify(err)
	case len(res.Entries) > 1:
		return nil, fmt.Errorf("more than one entry under %q has this id", base)
	case len(res.Entries) == 0:
		return nil, nil
	}
	return res.Entries[0], nil
}

// pagedSearch calls fn for every entry of a subtree search, using the
// paged-results control (RFC 2696). Each page is read whole before fn sees
// it, so that a slow fn never holds a request open. A server-side size or
// time limit is an error, never a short listing.
func (c *ldapConnector) pagedSearch(ctx context.Context, conn *ldap.Conn, base, filter string, attrs []string, fn func(*ldap.Entry) error) error {
	paging := ldap.NewControlPaging(uint32(c.cfg.PageSize))
	for {
		req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			filter, attrs, []ldap.Control{paging})
		var res *ldap.SearchResult
		err := do(ctx, conn, c.timeout, func(context.Context) (err error) {
			res, err = conn.Search(req)
			return err
		})
		if err != nil {
			return classify(err)
		}
		for _, e := range res.Entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		next, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if next == nil || len(next.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(next.Cookie)
	}
}

// memberIndexAll maps the DN and the member keys of every user in scope
// to the user's id, with one paged search.
func (c *ldapConnector) memberIndexAll(ctx context.Context, conn *ldap.Conn) (*memberIndex, error) {
	x := newMemberIndex()
	attrs := append([]string{c.cfg.IDAttribute}, c.memberKeys()...)
	err := c.pagedSearch(ctx, conn, c.cfg.UserBaseDN, c.cfg.UserFilter, attrs, func(e *ldap.Entry) error {
		x.add(c, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ldap: map member DNs: search users under %q: %w", c.cfg.UserBaseDN, err)
	}
	return x, nil
}

// dnKey is a DN in a form where DNs that differ only in letter case or
// spacing around separators are equal.
func dnKey(dn string) string {
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(dn)
	}
	rdns := make([]string, len(parsed.RDNs))
	for i, rdn := range parsed.RDNs {
		atvs := make([]string, len(rdn.Attributes))
		for j, a := range rdn.Attributes {
			atvs[j] = strings.ToLower(a.Type) + "=" + ldap.EscapeDN(strings.ToLower(a.Value))
		}
		slices.Sort(atvs)
		rdns[i] = strings.Join(atvs, "+")
	}
	return strings.Join(rdns, ",")
}

// userAttributeNames is what a user search requests: the id attribute
// (operational, so it must be named) and every mapped attribute.
func (c *ldapConnector) userAttributeNames() []string {
	attrs := []string{c.cfg.IDAttribute}
	ua := c.cfg.UserAttributes
	for _, l := range []AttrList{ua.UserName, ua.GivenName, ua.FamilyName, ua.DisplayName, ua.Email,
		ua.Title, ua.Department, ua.EmployeeNumber, ua.PhoneNumber} {
		attrs = append(attrs, l...)
	}
	if a := c.cfg.Disabled.Attribute; a != "" {
		attrs = append(attrs, a) // nsAccountLock is operational
	}
	attrs = append(attrs, c.memberKeys()...)
	return dedupeFold(attrs)
}

// groupAttributeNames is what a group search requests: the id, the
// object classes (which tell the group kinds), every kind's member
// attribute and the display name.
func (c *ldapConnector) groupAttributeNames() []string {
	attrs := []string{c.cfg.IDAttribute, "objectClass"}
	for _, k := range c.cfg.GroupKinds {
		attrs = append(attrs, k.Member)
	}
	return dedupeFold(append(attrs, c.cfg.GroupAttributes.DisplayName...))
}

func dedupeFold(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0]
	for _, n := range names {
		if k := strings.ToLower(n); !seen[k] {
			seen[k] = true
			out = append(out, n)
		}
	}
	return out
}

// first returns the first value of the first attribute in l the entry has.
func first(e *ldap.Entry, l AttrList) string {
	for _, a := range l {
		if v := e.GetEqualFoldAttributeValue(a); v != "" {
			return v
		}
	}
	return ""
}

// toUser maps an entry to a user; ok is false (and the entry is logged)
// when it has no id.
func (c *ldapConnector) toUser(e *ldap.Entry) (u connectors.User, ok bool) {
	u.ExternalID = c.entryID(e)
	if u.ExternalID == "" {
		c.logger.Warn("user entry has no id attribute; skipped", "dn", e.DN, "id_attribute", c.cfg.IDAttribute)
		return u, false
	}
	ua := c.cfg.UserAttributes
	u.UserName = first(e, ua.UserName)
	u.GivenName = first(e, ua.GivenName)
	u.FamilyName = first(e, ua.FamilyName)
	u.DisplayName = first(e, ua.DisplayName)
	u.Email = first(e, ua.Email)
	// An entry the filter selects is active unless it bears the disabled
	// mark; one the filter stops selecting is reported deleted.
	u.Active = !c.cfg.Disabled.IsDisabled(e.GetEqualFoldAttributeValues(c.cfg.Disabled.Attribute))
	for name, l := range map[string]AttrList{
		"title":          ua.Title,
		"department":     ua.Department,
		"employeeNumber": ua.EmployeeNumber,
		"phoneNumber":    ua.PhoneNumber,
	} {
		if v := first(e, l); v != "" {
			if u.Attributes == nil {
				u.Attributes = make(map[string]string)
			}
			u.Attributes[name] = v
		}
	}
	return u, true
}

// toGroup maps an entry to a group, keeping the members that ids maps to
// users in scope.
func (c *ldapConnector) toGroup(e *ldap.Entry, ids *memberIndex) (g connectors.Group, ok bool) {
	g.ExternalID = c.entryID(e)
	if g.ExternalID == "" {
		c.logger.Warn("group entry has no id attribute; skipped", "dn", e.DN, "id_attribute", c.cfg.IDAttribute)
		return g, false
	}
	g.DisplayName = first(e, c.cfg.GroupAttributes.DisplayName)
	seen := make(map[string]bool)
	for _, k := range c.kindsOf(e) {
		for _, v := range e.GetEqualFoldAttributeValues(k.Member) {
			if id, ok := ids.lookup(k, v); ok && !seen[id] {
				seen[id] = true
				g.Members = append(g.Members, id)
			}
		}
	}
	return g, true
}
