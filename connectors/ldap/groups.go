package ldap

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// memberIndex maps member values to user ids: DNs, and for the group kinds
// whose member attribute holds a user attribute's values (posixGroup's
// memberUid holds uids), those values.
type memberIndex struct {
	dns  map[string]string            // dnKey(DN) -> id
	keys map[string]map[string]string // lower(attribute) -> lower(value) -> id
}

func newMemberIndex() *memberIndex {
	return &memberIndex{dns: make(map[string]string), keys: make(map[string]map[string]string)}
}

// add indexes a user entry under its DN and its member key values.
func (x *memberIndex) add(c *ldapConnector, e *ldap.Entry) {
	id := c.entryID(e)
	if id == "" {
		return
	}
	x.dns[dnKey(e.DN)] = id
	for _, attr := range c.memberKeys() {
		for _, v := range e.GetEqualFoldAttributeValues(attr) {
			x.addKey(attr, v, id)
		}
	}
}

func (x *memberIndex) addKey(attr, value, id string) {
	k := strings.ToLower(attr)
	if x.keys[k] == nil {
		x.keys[k] = make(map[string]string)
	}
	x.keys[k][strings.ToLower(value)] = id
}

// lookup returns the id of the user that value, a value of kind's member
// attribute, names.
func (x *memberIndex) lookup(kind GroupKind, value string) (string, bool) {
	if kind.MemberKey == "" {
		id, ok := x.dns[dnKey(value)]
		return id, ok
	}
	id, ok := x.keys[strings.ToLower(kind.MemberKey)][strings.ToLower(value)]
	return id, ok
}

// kindsOf returns the group kinds of e, by its object classes.
func (c *ldapConnector) kindsOf(e *ldap.Entry) []GroupKind {
	ocs := e.GetEqualFoldAttributeValues("objectClass")
	var kinds []GroupKind
	for _, k := range c.cfg.GroupKinds {
		if k.ObjectClass == "" || slices.ContainsFunc(ocs, func(oc string) bool { return strings.EqualFold(oc, k.ObjectClass) }) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

// memberKeys are the user attributes that some group kind's members hold.
func (c *ldapConnector) memberKeys() []string {
	var keys []string
	for _, k := range c.cfg.GroupKinds {
		if k.MemberKey != "" {
			keys = append(keys, k.MemberKey)
		}
	}
	return dedupeFold(keys)
}

// memberValues returns the DNs and the key values (by user attribute) that
// the groups' member attributes hold.
func (c *ldapConnector) memberValues(groups []*ldap.Entry) (dns []string, keys map[string][]string) {
	keys = make(map[string][]string)
	for _, g := range groups {
		for _, k := range c.kindsOf(g) {
			vals := g.GetEqualFoldAttributeValues(k.Member)
			if k.MemberKey == "" {
				dns = append(dns, vals...)
			} else {
				keys[k.MemberKey] = append(keys[k.MemberKey], vals...)
			}
		}
	}
	return dns, keys
}

// resolveGroupMembers maps the member values of groups, of every group
// kind, to user ids, for the values that name users in scope. A few are
// looked up one by one (DNs) or in one search per attribute (keys); many
// with memberIndexAll.
func (c *ldapConnector) resolveGroupMembers(ctx context.Context, conn *ldap.Conn, groups []*ldap.Entry) (*memberIndex, error) {
	dns, keys := c.memberValues(groups)
	dns = dedupeBy(dns, dnKey)
	n := len(dns)
	for attr, vals := range keys {
		keys[attr] = dedupeBy(vals, strings.ToLower)
		n += len(keys[attr])
	}
	if n > memberLookupLimit {
		return c.memberIndexAll(ctx, conn)
	}
	x := newMemberIndex()
	if err := c.resolveDNs(ctx, conn, dns, x); err != nil {
		return nil, err
	}
	for attr, vals := range keys {
		if len(vals) == 0 {
			continue
		}
		var f strings.Builder
		f.WriteString("(&" + c.cfg.UserFilter + "(|")
		for _, v := range vals {
			fmt.Fprintf(&f, "(%s=%s)", attr, ldap.EscapeFilter(v))
		}
		f.WriteString("))")
		err := c.pagedSearch(ctx, conn, c.cfg.UserBaseDN, f.String(), []string{c.cfg.IDAttribute, attr}, func(e *ldap.Entry) error {
			x.add(c, e)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("ldap: map %s members: search users under %q: %w", attr, c.cfg.UserBaseDN, err)
		}
	}
	return x, nil
}

// resolveDNs maps member DNs to user ids with a base-scope search each.
func (c *ldapConnector) resolveDNs(ctx context.Context, conn *ldap.Conn, dns []string, x *memberIndex) error {
	for _, dn := range dns {
		parsed, err := ldap.ParseDN(dn)
		if err != nil || !(c.userBase.AncestorOfFold(parsed) || c.userBase.EqualFold(parsed)) {
			continue // not a DN, or not under the user base
		}
		req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			c.cfg.UserFilter, []string{c.cfg.IDAttribute}, nil)
		var res *ldap.SearchResult
		err = do(ctx, conn, c.timeout, func(context.Context) (err error) {
			res, err = conn.Search(req)
			return err
		})
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			continue
		}
		if err != nil {
			return fmt.Errorf("ldap: map member DN %q: %w", dn, classify(err))
		}
		for _, e := range res.Entries {
			if id := c.entryID(e); id != "" {
				x.dns[dnKey(dn)] = id
			}
		}
	}
	return nil
}

// memberFilter is a filter item that matches the groups that have one of
// users as a member, by DN or by key.
func (c *ldapConnector) memberFilter(users []*ldap.Entry) string {
	var f strings.Builder
	f.WriteString("(|")
	for _, u := range users {
		for _, k := range c.cfg.GroupKinds {
			if k.MemberKey == "" {
				fmt.Fprintf(&f, "(%s=%s)", k.Member, ldap.EscapeFilter(u.DN))
				continue
			}
			for _, v := range u.GetEqualFoldAttributeValues(k.MemberKey) {
				fmt.Fprintf(&f, "(%s=%s)", k.Member, ldap.EscapeFilter(v))
			}
		}
	}
	f.WriteString(")")
	return f.String()
}

func dedupeBy(vals []string, key func(string) string) []string {
	seen := make(map[string]bool, len(vals))
	var out []string
	for _, v := range vals {
		if k := key(v); !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}

// rangeFetcher reads more values of a ranged attribute: it returns the
// entry dn with the attribute requested as attr (member;range=1500-*).
type rangeFetcher func(dn, attr string) (*ldap.Entry, error)

// completeRanges reads the rest of every attribute that Active Directory
// returned in part: a multi-valued attribute with more values than its
// MaxValRange policy (1500 by default) comes as member;range=0-1499, and
// the next part must be asked for as member;range=1500-* until a part's
// upper bound is * (MS-ADTS 3.1.1.3.1.3.3). The entry ends up with the
// whole attribute under its plain name.
func completeRanges(e *ldap.Entry, fetch rangeFetcher) error {
	for i := 0; i < len(e.Attributes); i++ {
		a := e.Attributes[i]
		name, low, high, ok := parseRange(a.Name)
		if !ok {
			continue
		}
		if low != 0 {
			return fmt.Errorf("ldap: %s: attribute %s starts at %d, not 0", e.DN, a.Name, low)
		}
		values, raw := a.Values, a.ByteValues
		for next := high + 1; high >= 0; next = high + 1 {
			part, err := fetch(e.DN, fmt.Sprintf("%s;range=%d-*", name, next))
			if err != nil {
				return fmt.Errorf("ldap: read %s of %s from %d on: %w", name, e.DN, next, err)
			}
			pa := rangedAttribute(part, name)
			if pa == nil {
				break // the server has no more
			}
			var plow int
			_, plow, high, _ = parseRange(pa.Name)
			if plow != next {
				return fmt.Errorf("ldap: %s: asked for %s from %d, got %s", e.DN, name, next, pa.Name)
			}
			values, raw = append(values, pa.Values...), append(raw, pa.ByteValues...)
		}
		e.Attributes[i] = &ldap.EntryAttribute{Name: name, Values: values, ByteValues: raw}
	}
	return nil
}

// rangedAttribute returns e's attribute name;range=…, if any.
func rangedAttribute(e *ldap.Entry, name string) *ldap.EntryAttribute {
	if e == nil {
		return nil
	}
	for _, a := range e.Attributes {
		if n, _, _, ok := parseRange(a.Name); ok && strings.EqualFold(n, name) {
			return a
		}
	}
	return nil
}

// parseRange splits member;range=0-1499 into member, 0 and 1499; an upper
// bound of * gives high -1. ok is false for a name without a range option.
func parseRange(attr string) (name string, low, high int, ok bool) {
	i := strings.Index(strings.ToLower(attr), ";range=")
	if i < 0 {
		return "", 0, 0, false
	}
	name, r := attr[:i], attr[i+len(";range="):]
	lo, hi, found := strings.Cut(r, "-")
	if !found {
		return "", 0, 0, false
	}
	low, err := strconv.Atoi(lo)
	if err != nil || low < 0 {
		return "", 0, 0, false
	}
	if hi == "*" {
		return name, low, -1, true
	}
	high, err = strconv.Atoi(hi)
	if err != nil || high < low {
		return "", 0, 0, false
	}
	return name, low, high, true
}

// fetchRange reads one part of a ranged attribute with a base search.
func (c *ldapConnector) fetchRange(ctx context.Context, conn *ldap.Conn) rangeFetcher {
	return func(dn, attr string) (*ldap.Entry, error) {
		req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{attr}, nil)
		var res *ldap.SearchResult
		err := do(ctx, conn, c.timeout, func(context.Context) (err error) {
			res, err = conn.Search(req)
			return err
		})
		if err != nil {
			return nil, classify(err)
		}
		if len(res.Entries) == 0 {
			return nil, nil
		}
		return res.Entries[0], nil
	}
}
