package ldap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
)

// membersPerModify bounds the member values one modify request adds or
// deletes.
const membersPerModify = 500

// idsPerSearch bounds the ids one search for users by id asks about.
const idsPerSearch = 50

// CreateGroup implements connectors.Target: it adds an entry at the
// groupDn template's DN and returns its id. A groupOfNames or
// groupOfUniqueNames, which must have a member, gets the placeholder.
func (t *ldapTarget) CreateGroup(ctx context.Context, g connectors.Group) (string, error) {
	var id string
	err := t.withConn(ctx, func(conn *ldap.Conn) error {
		rdn, err := t.groupDN.render(groupValue(g))
		if err != nil {
			return fmt.Errorf("%w: %w", connectors.ErrRejected, err)
		}
		ws := t.groupWants(g, nil)
		if p := *t.w.PlaceholderMember; p != "" {
			for _, attr := range requiredMemberAttrs(t.w.GroupObjectClasses) {
				ws.set(attr, false, p)
			}
		}
		id, err = t.add(ctx, conn, rdn, t.groupDN.parent, t.w.GroupObjectClasses, ws)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("ldap: create group %q: %w", g.DisplayName, err)
	}
	return id, nil
}

// UpdateGroup implements connectors.Target: it renames the group (modrdn)
// when the groupDn template's RDN changed, and sets its name and marker;
// members are left alone.
func (t *ldapTarget) UpdateGroup(ctx context.Context, id string, g connectors.Group) error {
	attrs := t.groupInfoAttrs()
	err := t.withConn(ctx, func(conn *ldap.Conn) error {
		e, err := t.groupByID(ctx, conn, id, attrs)
		if err != nil {
			return err
		}
		renamed, err := t.rename(ctx, conn, e.DN, t.groupDN, groupValue(g))
		if err != nil {
			return err
		}
		if renamed {
			if e, err = t.groupByID(ctx, conn, id, attrs); err != nil {
				return err
			}
		}
		return t.modify(ctx, conn, e, t.groupWants(g, e))
	})
	if err != nil {
		return fmt.Errorf("ldap: update group %s: %w", id, err)
	}
	return nil
}

// DeleteGroup implements connectors.Target.
func (t *ldapTarget) DeleteGroup(ctx context.Context, id string) error {
	err := t.withConn(ctx, func(conn *ldap.Conn) error {
		e, err := t.groupByID(ctx, conn, id, []string{"1.1"})
		if err != nil {
			return err
		}
		return t.del(ctx, conn, e.DN)
	})
	if err != nil {
		return fmt.Errorf("ldap: delete group %s: %w", id, err)
	}
	return nil
}

// AddMembers implements connectors.Target: the members the group does not
// have yet are added, membersPerModify values per modify request, to the
// member attribute of each of the group's kinds (a DN, or for posixGroup
// the user's uid); the placeholder leaves with the first real member.
// Users that do not exist are reported (ErrNotFound) after the others are
// added.
func (t *ldapTarget) AddMembers(ctx context.Context, groupID string, userIDs []string) error {
	ids := dedupe(userIDs)
	if len(ids) == 0 {
		return nil
	}
	err := t.withConn(ctx, func(conn *ldap.Conn) error {
		users, err := t.userEntries(ctx, conn, ids)
		if err != nil {
			return err
		}
		var add []*ldap.Entry
		var missing []string
		for _, id := range ids {
			if u, ok := users[t.idKey(id)]; ok {
				add = append(add, u)
			} else {
				missing = append(missing, id)
			}
		}
		if err := t.editMembers(ctx, conn, groupID, add, nil); err != nil {
			return err
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d of the users do not exist (%s): %w", len(missing), sample(missing), connectors.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ldap: add %d members to group %s: %w", len(ids), groupID, err)
	}
	return nil
}

// RemoveMembers implements connectors.Target: the members the group has
// are deleted, membersPerModify values per modify request; a group left
// without members gets the placeholder. Users that do not exist are no
// longer members of anything, which is what was asked.
func (t *ldapTarget) RemoveMembers(ctx context.Context, groupID string, userIDs []string) error {
	ids := dedupe(userIDs)
	if len(ids) == 0 {
		return nil
	}
	err := t.withConn(ctx, func(conn *ldap.Conn) error {
		users, err := t.userEntries(ctx, conn, ids)
		if err != nil {
			return err
		}
		var remove []*ldap.Entry
		for _, id := range ids {
			if u, ok := users[t.idKey(id)]; ok {
				remove = append(remove, u)
			}
		}
		return t.editMembers(ctx, conn, groupID, nil, remove)
	})
	if err != nil {
		return fmt.Errorf("ldap: remove %d members from group %s: %w", len(ids), groupID, err)
	}
	return nil
}

func groupValue(g connectors.Group) func(string) (string, bool) {
	return func(field string) (string, bool) {
		switch field {
		case "displayName":
			return g.DisplayName, true
		case "externalId":
			return g.ExternalID, true
		}
		return "", false
	}
}

// groupWants is what a group's name and marker attributes must hold.
func (t *ldapTarget) groupWants(g connectors.Group, cur *ldap.Entry) wants {
	var ws wants
	ws.set(t.groupName, false, nonEmpty(g.DisplayName)...)
	var marker []string
	if cur != nil {
		marker = cur.GetEqualFoldAttributeValues(t.w.GroupExternalIDAttribute)
	}
	vals, shared := t.markerValues(marker, g.ExternalID)
	ws.set(t.w.GroupExternalIDAttribute, shared, vals...)
	return ws
}

// groupInfoAttrs are a group's attributes but its members.
func (t *ldapTarget) groupInfoAttrs() []string {
	return slices.DeleteFunc(slices.Clone(t.groupAttrs), func(a string) bool {
		return slices.ContainsFunc(t.c.cfg.GroupKinds, func(k GroupKind) bool { return strings.EqualFold(k.Member, a) })
	})
}

// requiredMemberAttrs returns the member attributes that the object
// classes require (RFC 4519): groupOfNames' member, groupOfUniqueNames'
// uniqueMember.
func requiredMemberAttrs(classes []string) []string {
	var attrs []string
	for _, oc := range classes {
		switch strings.ToLower(oc) {
		case "groupofnames":
			attrs = append(attrs, "member")
		case "groupofuniquenames":
			attrs = append(attrs, "uniqueMember")
		}
	}
	return attrs
}

// groupByID reads the group entry with id, in scope; ErrNotFound if none.
func (t *ldapTarget) groupByID(ctx context.Context, conn *ldap.Conn, id string, attrs []string) (*ldap.Entry, error) {
	e, err := t.c.getByID(ctx, conn, t.c.cfg.GroupBaseDN, t.c.cfg.GroupFilter, id, attrs)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("no group with %s %s under %q: %w", t.c.cfg.IDAttribute, id, t.c.cfg.GroupBaseDN, connectors.ErrNotFound)
	}
	return e, nil
}

// idKey is an id as entryID returns it.
func (t *ldapTarget) idKey(id string) string {
	if t.c.idKind != idText {
		return strings.ToLower(id)
	}
	return id
}

// userEntries reads the users in scope with the given ids, by idKey: their
// DN and the attributes group kinds take member values from. It asks
// about idsPerSearch ids per search; ids of no such user are left out.
func (t *ldapTarget) userEntries(ctx context.Context, conn *ldap.Conn, ids []string) (map[string]*ldap.Entry, error) {
	users := make(map[string]*ldap.Entry, len(ids))
	attrs := append([]string{t.c.cfg.IDAttribute}, t.c.memberKeys()...)
	for batch := range slices.Chunk(ids, idsPerSearch) {
		var f strings.Builder
		f.WriteString("(&" + t.c.cfg.UserFilter + "(|")
		for _, id := range batch {
			idf, err := t.c.idFilter(id)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", connectors.ErrRejected, err)
			}
			f.WriteString(idf)
		}
		f.WriteString("))")
		err := t.c.pagedSearch(ctx, conn, t.c.cfg.UserBaseDN, f.String(), attrs, func(e *ldap.Entry) error {
			if id := t.c.entryID(e); id != "" {
				users[id] = e
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("find users by %s under %q: %w", t.c.cfg.IDAttribute, t.c.cfg.UserBaseDN, err)
		}
	}
	return users, nil
}

// maxMemberAttempts bounds the reads and writes of one membership change
// when someone else changes the group meanwhile.
const maxMemberAttempts = 3

// editMembers adds and removes users as members of the group with id. It
// reads the group, writes only the values that change, and, should
// someone have changed the group in between (a value already there, or
// gone), reads it again and writes what is still missing.
func (t *ldapTarget) editMembers(ctx context.Context, conn *ldap.Conn, groupID string, add, remove []*ldap.Entry) error {
	for attempt := 1; ; attempt++ {
		e, err := t.groupByID(ctx, conn, groupID, t.c.groupAttributeNames())
		if err != nil {
			return err
		}
		err = t.changeMembers(ctx, conn, e, add, remove)
		if attempt < maxMemberAttempts && (ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) ||
			ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute)) {
			t.c.logger.InfoContext(ctx, "group changed while being updated; reading it again", "dn", e.DN, "error", err)
			continue
		}
		return err
	}
}

// changeMembers writes the member changes to the group e, read with every
// kind's member attribute and its object classes.
func (t *ldapTarget) changeMembers(ctx context.Context, conn *ldap.Conn, e *ldap.Entry, add, remove []*ldap.Entry) error {
	if err := completeRanges(e, t.c.fetchRange(ctx, conn)); err != nil {
		return err
	}
	kinds := dedupeKinds(t.c.kindsOf(e))
	if len(kinds) == 0 {
		return fmt.Errorf("group %q is of none of the groupKinds: %w", e.DN, connectors.ErrRejected)
	}
	required := requiredMemberAttrs(e.GetEqualFoldAttributeValues("objectClass"))
	for _, k := range kinds {
		placeholder := ""
		if slices.ContainsFunc(required, func(a string) bool { return strings.EqualFold(a, k.Member) }) {
			placeholder = *t.w.PlaceholderMember
		}
		m := memberEdit{attr: k.Member, key: dnKey, placeholder: placeholder, chunk: t.chunk}
		if k.MemberKey != "" {
			m.key = strings.ToLower
		}
		for _, req := range m.requests(e.DN, e.GetEqualFoldAttributeValues(k.Member), memberValues(k, add), memberValues(k, remove)) {
			err := do(ctx, conn, t.c.timeout, func(context.Context) error { return conn.Modify(req) })
			if ldap.IsErrorWithCode(err, ldap.LDAPResultObjectClassViolation) && placeholder == "" && len(required) > 0 {
				err = fmt.Errorf("%w (the group's class requires a member: set write.placeholderMember)", err)
			}
			if err != nil {
				return fmt.Errorf("modify the members of %q: %w", e.DN, writeErr(err))
			}
		}
	}
	return nil
}

// dedupeKinds drops kinds whose member attribute an earlier kind has.
func dedupeKinds(kinds []GroupKind) []GroupKind {
	var out []GroupKind
	for _, k := range kinds {
		if !slices.ContainsFunc(out, func(o GroupKind) bool { return strings.EqualFold(o.Member, k.Member) }) {
			out = append(out, k)
		}
	}
	return out
}

// memberValues returns the values that name users in kind's member
// attribute: their DNs, or their MemberKey values (a user without one is
// left out).
func memberValues(k GroupKind, users []*ldap.Entry) []string {
	var vals []string
	for _, u := range users {
		if k.MemberKey == "" {
			vals = append(vals, u.DN)
		} else if v := u.GetEqualFoldAttributeValue(k.MemberKey); v != "" {
			vals = append(vals, v)
		}
	}
	return vals
}

// memberEdit changes one member attribute of a group.
type memberEdit struct {
	attr        string
	key         func(string) string // values with equal keys are one member
	placeholder string              // the value an emptied group gets; "" for none
	chunk       int                 // values per request
}

// valueOp adds or deletes one member value.
type valueOp struct {
	add   bool
	value string
}

// requests returns the modify requests of the group dn, which holds the
// values cur, that add the values add it does not hold and delete the
// values remove it holds. The placeholder is added first when the group
// would be left empty, and deleted after the added members when real
// members remain, so that the group has a member after every request.
func (m memberEdit) requests(dn string, cur, add, remove []string) []*ldap.ModifyRequest {
	have := make(map[string]string, len(cur)) // key → value as stored
	final := make(map[string]bool, len(cur))
	for _, v := range cur {
		have[m.key(v)] = v
		final[m.key(v)] = true
	}
	var adds, dels []valueOp
	for _, v := range add {
		if k := m.key(v); !final[k] {
			final[k] = true
			adds = append(adds, valueOp{true, v})
		}
	}
	for _, v := range remove {
		k := m.key(v)
		if stored, ok := have[k]; ok && final[k] {
			delete(final, k)
			dels = append(dels, valueOp{false, stored})
		}
	}
	ops := append(adds, dels...)
	if m.placeholder != "" {
		pk := m.key(m.placeholder)
		real := len(final)
		if final[pk] {
			real--
		}
		_, had := have[pk]
		switch {
		case real == 0 && !final[pk] && len(dels) > 0:
			ops = append([]valueOp{{true, m.placeholder}}, ops...)
		case real > 0 && len(adds) > 0 && had && final[pk]:
			ops = slices.Concat(adds, []valueOp{{false, have[pk]}}, dels)
		}
	}
	var reqs []*ldap.ModifyRequest
	for chunk := range slices.Chunk(ops, max(m.chunk, 1)) {
		req := ldap.NewModifyRequest(dn, nil)
		for i := 0; i < len(chunk); {
			j := i
			var vals []string
			for ; j < len(chunk) && chunk[j].add == chunk[i].add; j++ {
				vals = append(vals, chunk[j].value)
			}
			if chunk[i].add {
				req.Add(m.attr, vals)
			} else {
				req.Delete(m.attr, vals)
			}
			i = j
		}
		reqs = append(reqs, req)
	}
	return reqs
}

// leaveAllGroups removes the user from every group under the group base
// that lists it, whatever the group filter.
func (t *ldapTarget) leaveAllGroups(ctx context.Context, conn *ldap.Conn, user *ldap.Entry) error {
	var groups []*ldap.Entry
	err := t.c.pagedSearch(ctx, conn, t.c.cfg.GroupBaseDN, t.c.memberFilter([]*ldap.Entry{user}), t.c.groupAttributeNames(), func(e *ldap.Entry) error {
		groups = append(groups, e)
		return nil
	})
	if err != nil {
		return fmt.Errorf("find the groups of %q: %w", user.DN, err)
	}
	for _, g := range groups {
		err := t.changeMembers(ctx, conn, g, nil, []*ldap.Entry{user})
		if err != nil && !errors.Is(err, connectors.ErrNotFound) {
			return fmt.Errorf("remove %q from its groups: %w", user.DN, err)
		}
	}
	return nil
}

// sample lists up to five ids.
func sample(ids []string) string {
	if len(ids) > 5 {
		return strings.Join(ids[:5], ", ") + ", …"
	}
	return strings.Join(ids, ", ")
}
