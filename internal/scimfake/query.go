package scimfake

import (
	"cmp"
	"slices"
	"strings"
)

// findUsers returns the users that match e, in creation order. An "eq" on
// an indexed attribute (and "and"/"or" of such, and value paths over
// them) is answered from the indexes; anything else scans.
func (s *store) findUsers(e expr) []*userRec {
	return find(s, e, s.userOrder, s.userCands, func(id string) *userRec { return s.users[id] },
		func(r *userRec) attrSource { return userSrc{s, r} }, func(r *userRec) uint64 { return r.seq })
}

// findGroups is findUsers for groups.
func (s *store) findGroups(e expr) []*groupRec {
	return find(s, e, s.groupOrder, s.groupCands, func(id string) *groupRec { return s.groups[id] },
		func(r *groupRec) attrSource { return groupSrc{s, r} }, func(r *groupRec) uint64 { return r.seq })
}

// find answers a filter from the indexes when cands can, else by a scan
// of order; either way in creation order.
func find[R any](s *store, e expr, order []*R, cands func(expr) ([]string, bool),
	byID func(string) *R, src func(*R) attrSource, seq func(*R) uint64) []*R {
	if e == nil {
		return order
	}
	ids, ok := cands(e)
	if !ok {
		s.scans.Add(1)
		var out []*R
		for _, r := range order {
			if matches(e, src(r)) {
				out = append(out, r)
			}
		}
		return out
	}
	out := make([]*R, 0, len(ids))
	seen := make(idSet, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		if r := byID(id); r != nil && matches(e, src(r)) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *R) int { return cmp.Compare(seq(a), seq(b)) })
	return out
}

// eqValue returns the string an "eq" compares with.
func eqValue(e *cmpExpr) (string, bool) {
	v, ok := e.val.(string)
	return v, ok && e.op == "eq"
}

func one(id string, ok bool) ([]string, bool) {
	if !ok {
		return nil, true
	}
	return []string{id}, true
}

func keys(set idSet) []string {
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	return out
}

// userCands returns the ids that can match e (a superset, verified by
// the caller), or false when no index answers e.
func (s *store) userCands(e expr) ([]string, bool) {
	switch e := e.(type) {
	case *cmpExpr:
		v, ok := eqValue(e)
		if !ok {
			return nil, false
		}
		switch e.attr {
		case "id":
			_, ok := s.users[v]
			return one(v, ok)
		case "username":
			id, ok := s.byUserName[strings.ToLower(v)]
			return one(id, ok)
		case "externalid":
			id, ok := s.byUserExt[v]
			return one(id, ok)
		case "emails", "emails.value":
			return keys(s.byEmail[strings.ToLower(v)]), true
		case "displayname":
			return keys(s.byUserDisp[strings.ToLower(v)]), true
		case "groups", "groups.value":
			g := s.groups[v]
			if g == nil {
				return nil, true
			}
			ids := make([]string, 0, len(g.members))
			for id := range g.members {
				ids = append(ids, id)
			}
			return ids, true
		}
	case *logExpr:
		return combine(e, s.userCands)
	case *valuePathExpr:
		return s.userCands(prefixAttrs(e.sub, e.attr))
	}
	return nil, false
}

// groupCands is userCands for groups.
func (s *store) groupCands(e expr) ([]string, bool) {
	switch e := e.(type) {
	case *cmpExpr:
		v, ok := eqValue(e)
		if !ok {
			return nil, false
		}
		switch e.attr {
		case "id":
			_, ok := s.groups[v]
			return one(v, ok)
		case "externalid":
			id, ok := s.byGroupExt[v]
			return one(id, ok)
		case "displayname":
			return keys(s.byGroupName[strings.ToLower(v)]), true
		case "members", "members.value":
			return keys(s.memberOf[v]), true
		}
	case *logExpr:
		return combine(e, s.groupCands)
	case *valuePathExpr:
		return s.groupCands(prefixAttrs(e.sub, e.attr))
	}
	return nil, false
}

// combine answers "and" from the smaller indexed side and "or" from both
// sides when both are indexed.
func combine(e *logExpr, cands func(expr) ([]string, bool)) ([]string, bool) {
	l, lok := cands(e.l)
	r, rok := cands(e.r)
	switch {
	case e.or && lok && rok:
		return append(l, r...), true
	case e.or:
		return nil, false
	case lok && rok && len(r) < len(l):
		return r, true
	case lok:
		return l, true
	case rok:
		return r, true
	}
	return nil, false
}

func str(s string) []any {
	if s == "" {
		return nil
	}
	return []any{s}
}

// userSrc evaluates filters against a stored user.
type userSrc struct {
	s *store
	r *userRec
}

func (x userSrc) values(attr string) []any {
	u := &x.r.u
	if v, ok := userStrings(u, attr); ok {
		return v
	}
	if head, sub, ok := strings.Cut(attr, "."); ok || multiValued(head) {
		switch head {
		case "emails":
			return mvValues(u.Emails, sub)
		case "phonenumbers":
			return mvValues(u.PhoneNumbers, sub)
		case "roles":
			return mvValues(u.Roles, sub)
		case "groups":
			var out []any
			for gid := range x.s.memberOf[u.ID] {
				if g := x.s.groups[gid]; g != nil {
					out = append(out, memberSrc{Member{Value: gid, Display: g.g.DisplayName, Type: "direct"}}.values(sub)...)
				}
			}
			return out
		case "meta":
			return metaValues(u.Meta, etag(x.r.version), sub)
		}
	}
	return nil
}

func multiValued(attr string) bool {
	switch attr {
	case "emails", "phonenumbers", "roles", "groups", "members":
		return true
	}
	return false
}

// userStrings reads the single-valued attributes of a user.
func userStrings(u *User, attr string) ([]any, bool) {
	name := u.Name
	if name == nil {
		name = &Name{}
	}
	ent := u.Enterprise
	if ent == nil {
		ent = &Enterprise{}
	}
	mgr := ent.Manager
	if mgr == nil {
		mgr = &Manager{}
	}
	switch attr {
	case "id":
		return str(u.ID), true
	case "externalid":
		return str(u.ExternalID), true
	case "username":
		return str(u.UserName), true
	case "displayname":
		return str(u.DisplayName), true
	case "nickname":
		return str(u.NickName), true
	case "profileurl":
		return str(u.ProfileURL), true
	case "title":
		return str(u.Title), true
	case "usertype":
		return str(u.UserType), true
	case "preferredlanguage":
		return str(u.PreferredLanguage), true
	case "locale":
		return str(u.Locale), true
	case "timezone":
		return str(u.Timezone), true
	case "active":
		return []any{u.Active}, true
	case "name.formatted":
		return str(name.Formatted), true
	case "name.familyname":
		return str(name.FamilyName), true
	case "name.givenname":
		return str(name.GivenName), true
	case "name.middlename":
		return str(name.MiddleName), true
	case "enterprise.employeenumber":
		return str(ent.EmployeeNumber), true
	case "enterprise.costcenter":
		return str(ent.CostCenter), true
	case "enterprise.organization":
		return str(ent.Organization), true
	case "enterprise.division":
		return str(ent.Division), true
	case "enterprise.department":
		return str(ent.Department), true
	case "enterprise.manager", "enterprise.manager.value":
		return str(mgr.Value), true
	case "enterprise.manager.displayname":
		return str(mgr.DisplayName), true
	}
	return nil, false
}

func metaValues(m Meta, version, sub string) []any {
	switch sub {
	case "created":
		return []any{m.Created}
	case "lastmodified":
		return []any{m.LastModified}
	case "resourcetype":
		return str(m.ResourceType)
	case "version":
		return str(version)
	}
	return nil
}

func mvValues(items []MultiValue, sub string) []any {
	var out []any
	for _, it := range items {
		out = append(out, mvSrc(it).values(sub)...)
	}
	return out
}

func (x userSrc) elements(attr string) []attrSource {
	var items []MultiValue
	switch attr {
	case "emails":
		items = x.r.u.Emails
	case "phonenumbers":
		items = x.r.u.PhoneNumbers
	case "roles":
		items = x.r.u.Roles
	case "groups":
		var out []attrSource
		for gid := range x.s.memberOf[x.r.u.ID] {
			if g := x.s.groups[gid]; g != nil {
				out = append(out, memberSrc{Member{Value: gid, Display: g.g.DisplayName, Type: "direct"}})
			}
		}
		return out
	}
	out := make([]attrSource, len(items))
	for i, it := range items {
		out[i] = mvSrc(it)
	}
	return out
}

// mvSrc evaluates a value-path filter against an entry of emails,
// phoneNumbers or roles.
type mvSrc MultiValue

func (m mvSrc) values(sub string) []any {
	switch sub {
	case "", "value":
		return str(m.Value)
	case "type":
		return str(m.Type)
	case "display":
		return str(m.Display)
	case "primary":
		return []any{m.Primary}
	}
	return nil
}

func (m mvSrc) elements(string) []attrSource { return nil }

// memberSrc evaluates a value-path filter against a group member.
type memberSrc struct{ m Member }

func (m memberSrc) values(sub string) []any {
	switch sub {
	case "", "value":
		return str(m.m.Value)
	case "type":
		return str(m.m.Type)
	case "display":
		return str(m.m.Display)
	}
	return nil
}

func (m memberSrc) elements(string) []attrSource { return nil }

// groupSrc evaluates filters against a stored group.
type groupSrc struct {
	s *store
	r *groupRec
}

func (x groupSrc) values(attr string) []any {
	g := &x.r.g
	switch attr {
	case "id":
		return str(g.ID)
	case "externalid":
		return str(g.ExternalID)
	case "displayname":
		return str(g.DisplayName)
	}
	head, sub, _ := strings.Cut(attr, ".")
	switch head {
	case "members":
		var out []any
		for _, el := range x.elements("members") {
			out = append(out, el.values(sub)...)
		}
		return out
	case "meta":
		return metaValues(g.Meta, etag(x.r.version), sub)
	}
	return nil
}

func (x groupSrc) elements(attr string) []attrSource {
	if attr != "members" {
		return nil
	}
	out := make([]attrSource, 0, len(x.r.members))
	for id, m := range x.r.members {
		out = append(out, memberSrc{Member{Value: id, Display: m.m.Display, Type: x.s.memberType(id)}})
	}
	return out
}
