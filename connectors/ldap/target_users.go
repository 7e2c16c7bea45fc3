package ldap

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
)

// CreateUser implements connectors.Target: it adds an entry at the userDn
// template's DN with the mapped attributes, the marker and, for an
// inactive user, the disable attribute, and returns its id.
func (t *ldapTarget) CreateUser(ctx context.Context, u connectors.User) (string, error) {
	var id string
	err := t.withConn(ctx, func(conn *ldap.Conn) error {
		rdn, err := t.userDN.render(userValue(u))
		if err != nil {
			return fmt.Errorf("%w: %w", connectors.ErrRejected, err)
		}
		ws, err := t.userWants(u, nil)
		if err != nil {
			return err
		}
		id, err = t.add(ctx, conn, rdn, t.userDN.parent, t.w.UserObjectClasses, ws)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("ldap: create user %q: %w", u.UserName, err)
	}
	return id, nil
}

// UpdateUser implements connectors.Target: it renames the entry (modrdn)
// when the values of the userDn template's RDN changed, then modifies the
// attributes that differ from u, and nothing else.
func (t *ldapTarget) UpdateUser(ctx context.Context, id string, u connectors.User) error {
	err := t.withConn(ctx, func(conn *ldap.Conn) error {
		e, err := t.userByID(ctx, conn, id)
		if err != nil {
			return err
		}
		renamed, err := t.rename(ctx, conn, e.DN, t.userDN, userValue(u))
		if err != nil {
			return err
		}
		if renamed {
			if e, err = t.userByID(ctx, conn, id); err != nil {
				return err
			}
		}
		ws, err := t.userWants(u, e)
		if err != nil {
			return err
		}
		return t.modify(ctx, conn, e, ws)
	})
	if err != nil {
		return fmt.Errorf("ldap: update user %s: %w", id, err)
	}
	return nil
}

// DeprovisionUser implements connectors.Target, as write.deprovision says.
func (t *ldapTarget) DeprovisionUser(ctx context.Context, id string) error {
	return t.DeprovisionUserAs(ctx, id, t.w.Deprovision)
}

// DeprovisionUserAs implements connectors.ModeDeprovisioner. "disable"
// sets the disable attribute (a disabled user stays as it is); "delete"
// first removes the user's DN from every group under groupBaseDn that
// lists it, so that a later entry with the same DN inherits no
// membership, then deletes the entry.
func (t *ldapTarget) DeprovisionUserAs(ctx context.Context, id, mode string) error {
	var err error
	switch mode {
	case DeprovisionDisable:
		err = t.withConn(ctx, func(conn *ldap.Conn) error {
			e, err := t.userByID(ctx, conn, id)
			if err != nil {
				return err
			}
			vals, shared, err := t.flagValues(e.GetEqualFoldAttributeValues(t.disable.Attribute), true)
			if err != nil {
				return err
			}
			var ws wants
			ws.set(t.disable.Attribute, shared, vals...)
			return t.modify(ctx, conn, e, ws)
		})
	case DeprovisionDelete:
		err = t.withConn(ctx, func(conn *ldap.Conn) error {
			e, err := t.userByID(ctx, conn, id)
			if err != nil {
				return err
			}
			if err := t.leaveAllGroups(ctx, conn, e); err != nil {
				return err
			}
			return t.del(ctx, conn, e.DN)
		})
	default:
		err = fmt.Errorf("unknown mode %q: %w", mode, connectors.ErrRejected)
	}
	if err != nil {
		return fmt.Errorf("ldap: %s user %s: %w", mode, id, err)
	}
	return nil
}

// userValue returns the userDn template's field values of u.
func userValue(u connectors.User) func(string) (string, bool) {
	return func(field string) (string, bool) {
		return u.Field(field), slices.Contains(userDNFields, field)
	}
}

// userByID reads the user entry with id, in scope; ErrNotFound if none.
func (t *ldapTarget) userByID(ctx context.Context, conn *ldap.Conn, id string) (*ldap.Entry, error) {
	e, err := t.c.getByID(ctx, conn, t.c.cfg.UserBaseDN, t.c.cfg.UserFilter, id, t.userAttrs)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("no user with %s %s under %q: %w", t.c.cfg.IDAttribute, id, t.c.cfg.UserBaseDN, connectors.ErrNotFound)
	}
	return e, nil
}

// userWants is what the entry's managed attributes must hold for u; cur
// is the entry as it is (nil for a new one), from which the values idsync
// shares with others (the marker, the disable attribute) are computed.
func (t *ldapTarget) userWants(u connectors.User, cur *ldap.Entry) (wants, error) {
	var ws wants
	for _, f := range t.fields {
		ws.set(f.attr, false, nonEmpty(u.Field(f.field))...)
	}
	if t.person {
		cn := u.DisplayName
		if cn == "" {
			cn = strings.TrimSpace(u.GivenName + " " + u.FamilyName)
		}
		ws.fill("cn", cn, u.UserName)
		ws.fill("sn", u.FamilyName, u.UserName, u.DisplayName)
	}
	var marker, flag []string
	if cur != nil {
		marker = cur.GetEqualFoldAttributeValues(t.w.ExternalIDAttribute)
		flag = cur.GetEqualFoldAttributeValues(t.disable.Attribute)
	}
	vals, shared := t.markerValues(marker, u.ExternalID)
	ws.set(t.w.ExternalIDAttribute, shared, vals...)
	vals, shared, err := t.flagValues(flag, !u.Active)
	if err != nil {
		return nil, err
	}
	ws.set(t.disable.Attribute, shared, vals...)
	return ws, nil
}

// markerValues returns the values the marker attribute must hold for the
// source id ext, given its values cur: with a prefix, the values without
// it are others' and kept (shared is true); without, the attribute is
// idsync's alone.
func (t *ldapTarget) markerValues(cur []string, ext string) (vals []string, shared bool) {
	if t.prefix == "" {
		return nonEmpty(ext), false
	}
	for _, v := range cur {
		if _, ours := t.cutPrefix(v); !ours {
			vals = append(vals, v)
		}
	}
	if ext != "" {
		vals = append(vals, t.prefix+ext)
	}
	return vals, true
}

// flagValues returns the values the disable attribute must hold for a
// user that is to be disabled or not, given its values cur. A value mark
// is added to or removed from the values (shared: the others stay); a bit
// is set or cleared in the flags, which keep their other bits; a mark of
// any value can be removed but not set.
func (t *ldapTarget) flagValues(cur []string, disable bool) (vals []string, shared bool, err error) {
	d := t.disable
	switch {
	case d.IsDisabled(cur) == disable:
		return cur, false, nil
	case d.Bit != 0:
		vals, err = d.Values(cur, disable)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %w", connectors.ErrRejected, err)
		}
		return vals, false, nil
	case d.Value == "" && disable:
		return nil, false, fmt.Errorf("%w: any value of %s marks a disabled account, so there is no value to set; set disabled.value", connectors.ErrRejected, d.Attribute)
	case d.Value == "":
		return nil, false, nil
	}
	for _, v := range cur {
		if !strings.EqualFold(strings.TrimSpace(v), d.Value) {
			vals = append(vals, v)
		}
	}
	if disable {
		vals = append(vals, d.Value)
	}
	return vals, true, nil
}

// wants is what managed attributes must hold, in order.
type wants []want

// want is one attribute's values (none: absent). A shared attribute holds
// values of others too: it is changed value by value, never replaced.
type want struct {
	attr   string
	values []string
	shared bool
	// derived is set for a required attribute that no field gave a
	// value: the RDN's value, if the RDN has this attribute, replaces it
	// rather than joining it (cn is single-valued in some directories).
	derived bool
}

func (ws wants) find(attr string) int {
	return slices.IndexFunc(ws, func(w want) bool { return strings.EqualFold(w.attr, attr) })
}

// set sets attr's values unless an earlier field set them.
func (ws *wants) set(attr string, shared bool, values ...string) {
	if ws.find(attr) < 0 {
		*ws = append(*ws, want{attr: attr, values: values, shared: shared})
	}
}

// fill sets a required attribute to the first non-empty candidate when
// no field gave it a value.
func (ws *wants) fill(attr string, candidates ...string) {
	i := ws.find(attr)
	if i >= 0 && len((*ws)[i].values) > 0 {
		return
	}
	for _, c := range candidates {
		if c != "" {
			if i < 0 {
				*ws = append(*ws, want{attr: attr, values: []string{c}, derived: true})
			} else {
				(*ws)[i].values, (*ws)[i].derived = []string{c}, true
			}
			return
		}
	}
}

// withRDN adds the values of dn's RDN to the attributes that need them:
// an entry must hold its RDN's values. With all false, only to attributes
// ws already manages (an update never touches others).
func (ws wants) withRDN(dn string, all bool) wants {
	parsed, err := ldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) == 0 {
		return ws
	}
	ws = slices.Clone(ws)
	for _, ava := range parsed.RDNs[0].Attributes {
		i := ws.find(ava.Type)
		switch {
		case i < 0 && all:
			ws = append(ws, want{attr: ava.Type, values: []string{ava.Value}})
		case i < 0:
		case ws[i].derived:
			ws[i].values = []string{ava.Value}
		case !slices.ContainsFunc(ws[i].values, func(v string) bool { return strings.EqualFold(v, ava.Value) }):
			ws[i].values = append(slices.Clone(ws[i].values), ava.Value)
		}
	}
	return ws
}

// changes returns the modify changes that make e hold ws: nothing for an
// attribute that already holds its values, replace or delete for one that
// differs, and for a shared one the values added and deleted.
func (ws wants) changes(e *ldap.Entry) []ldap.Change {
	var out []ldap.Change
	for _, w := range ws {
		cur := e.GetEqualFoldAttributeValues(w.attr)
		if sameValues(cur, w.values) {
			continue
		}
		switch {
		case w.shared:
			if del := without(cur, w.values); len(del) > 0 {
				out = append(out, ldap.Change{Operation: ldap.DeleteAttribute, Modification: ldap.PartialAttribute{Type: w.attr, Vals: del}})
			}
			if add := without(w.values, cur); len(add) > 0 {
				out = append(out, ldap.Change{Operation: ldap.AddAttribute, Modification: ldap.PartialAttribute{Type: w.attr, Vals: add}})
			}
		case len(w.values) == 0:
			out = append(out, ldap.Change{Operation: ldap.DeleteAttribute, Modification: ldap.PartialAttribute{Type: w.attr, Vals: []string{}}})
		default:
			out = append(out, ldap.Change{Operation: ldap.ReplaceAttribute, Modification: ldap.PartialAttribute{Type: w.attr, Vals: w.values}})
		}
	}
	return out
}

// sameValues reports whether a and b hold the same values, in any order.
func sameValues(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func nonEmpty(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

// add adds the entry rdn,parent with the object classes and ws, and
// returns its id, read back.
func (t *ldapTarget) add(ctx context.Context, conn *ldap.Conn, rdn, parent string, classes []string, ws wants) (string, error) {
	dn := rdn + "," + parent
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", classes)
	for _, w := range ws.withRDN(dn, true) {
		if len(w.values) > 0 {
			req.Attribute(w.attr, w.values)
		}
	}
	err := do(ctx, conn, t.c.timeout, func(context.Context) error { return conn.Add(req) })
	if err != nil {
		return "", fmt.Errorf("add %q: %w", dn, writeErr(err))
	}
	var res *ldap.SearchResult
	err = do(ctx, conn, t.c.timeout, func(context.Context) (err error) {
		res, err = conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{t.c.cfg.IDAttribute}, nil))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read the id of %q: %w", dn, classify(err))
	}
	id := ""
	if len(res.Entries) == 1 {
		id = t.c.entryID(res.Entries[0])
	}
	if id == "" {
		return "", fmt.Errorf("added %q, but it has no %s", dn, t.c.cfg.IDAttribute)
	}
	return id, nil
}

// modify makes e hold ws (and its RDN's values) with one modify request
// of the changes, if there are any.
func (t *ldapTarget) modify(ctx context.Context, conn *ldap.Conn, e *ldap.Entry, ws wants) error {
	changes := ws.withRDN(e.DN, false).changes(e)
	if len(changes) == 0 {
		return nil
	}
	req := ldap.NewModifyRequest(e.DN, nil)
	req.Changes = changes
	err := do(ctx, conn, t.c.timeout, func(context.Context) error { return conn.Modify(req) })
	if err != nil {
		return fmt.Errorf("modify %q: %w", e.DN, writeErr(err))
	}
	return nil
}

// rename moves the entry dn to the RDN tmpl renders with value, keeping
// its parent, when the RDN's values changed (more than in letter case).
// An entry named by other attributes than the template's (an adopted one)
// keeps its DN.
func (t *ldapTarget) rename(ctx context.Context, conn *ldap.Conn, dn string, tmpl dnTemplate, value func(string) (string, bool)) (bool, error) {
	rdn, err := tmpl.render(value)
	if err != nil {
		return false, fmt.Errorf("%w: %w", connectors.ErrRejected, err)
	}
	cur, err := ldap.ParseDN(dn)
	if err != nil || len(cur.RDNs) == 0 {
		return false, fmt.Errorf("the server returned an entry with DN %q: %w", dn, err)
	}
	next, err := ldap.ParseDN(rdn)
	if err != nil || len(next.RDNs) != 1 {
		return false, fmt.Errorf("%w: new RDN %q: %v", connectors.ErrRejected, rdn, err)
	}
	if cur.RDNs[0].EqualFold(next.RDNs[0]) || !sameTypes(cur.RDNs[0], next.RDNs[0]) {
		return false, nil
	}
	req := ldap.NewModifyDNRequest(dn, rdn, true, "")
	err = do(ctx, conn, t.c.timeout, func(context.Context) error { return conn.ModifyDN(req) })
	if err != nil {
		return false, fmt.Errorf("rename %q to %q: %w", dn, rdn, writeErr(err))
	}
	return true, nil
}

// sameTypes reports whether two RDNs name the same attribute types.
func sameTypes(a, b *ldap.RelativeDN) bool {
	types := func(r *ldap.RelativeDN) []string {
		var out []string
		for _, ava := range r.Attributes {
			out = append(out, strings.ToLower(ava.Type))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(types(a), types(b))
}

// del deletes the entry dn.
func (t *ldapTarget) del(ctx context.Context, conn *ldap.Conn, dn string) error {
	err := do(ctx, conn, t.c.timeout, func(context.Context) error { return conn.Del(ldap.NewDelRequest(dn, nil)) })
	if err != nil {
		return fmt.Errorf("delete %q: %w", dn, writeErr(err))
	}
	return nil
}
