package googlefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// clone deep-copies a JSON object, so that what is encoded never aliases
// the store.
func clone(o obj) obj {
	b, _ := json.Marshal(o)
	var out obj
	_ = json.Unmarshal(b, &out)
	return out
}

func clones(os []obj) []obj {
	out := make([]obj, len(os))
	for i, o := range os {
		out[i] = clone(o)
	}
	return out
}

// group finds a group by groupKey: its email (any case) or id.
func (f *Fake) group(key string) obj {
	if g, ok := f.groups[key]; ok {
		return g
	}
	for _, g := range f.groups {
		if strings.EqualFold(g["email"].(string), key) {
			return g
		}
	}
	return nil
}

func (f *Fake) withCount(g obj) obj {
	g = clone(g)
	g["directMembersCount"] = strconv.Itoa(len(f.members[g["id"].(string)]))
	return g
}

func (f *Fake) listGroups(r *http.Request, _ obj) (int, any) {
	userKey := r.URL.Query().Get("userKey")
	var memberID string
	if userKey != "" {
		u := f.user(userKey)
		if u == nil {
			return notFound("userKey")
		}
		memberID = u["id"].(string)
	} else if code, out, ok := f.checkScope(r); !ok {
		return code, out
	}
	var all []obj
	for id, g := range f.groups {
		if _, in := f.members[id][memberID]; memberID == "" || in {
			all = append(all, g)
		}
	}
	slices.SortFunc(all, func(a, b obj) int { return strings.Compare(a["email"].(string), b["email"].(string)) })
	page, next, ok := pageOf(r, all, 200, MaxGroupsPage)
	if !ok {
		return badRequest("Invalid Input")
	}
	out := make([]obj, len(page))
	for i, g := range page {
		out[i] = f.withCount(g)
	}
	res := obj{"kind": "admin#directory#groups", "etag": f.etag(), "groups": out}
	if next != "" {
		res["nextPageToken"] = next
	}
	return http.StatusOK, res
}

func (f *Fake) getGroup(r *http.Request, _ obj) (int, any) {
	g := f.group(r.PathValue("groupKey"))
	if g == nil || f.notReady(g) {
		return notFound("groupKey")
	}
	return http.StatusOK, f.withCount(g)
}

var groupWritable = []string{"email", "name", "description", "externalIds"}

func (f *Fake) insertGroup(_ *http.Request, body obj) (int, any) {
	email, _ := body["email"].(string)
	switch {
	case !validEmail(email):
		return badRequest("Invalid Input: email")
	case f.emailTaken(email, ""):
		return fail(http.StatusConflict, "duplicate", "Entity already exists.")
	}
	g := obj{"kind": "admin#directory#group", "id": f.newID("03"), "adminCreated": true}
	for _, k := range groupWritable {
		if v, ok := body[k]; ok {
			g[k] = v
		}
	}
	if _, ok := g["name"]; !ok {
		g["name"] = email
	}
	g["email"] = strings.ToLower(email)
	g["etag"] = f.etag()
	f.groups[g["id"].(string)] = g
	f.members[g["id"].(string)] = map[string]obj{}
	f.created(g["id"].(string))
	f.record("GROUP_SETTINGS", "CREATE_GROUP", "GROUP_EMAIL", g["email"].(string))
	return http.StatusOK, f.withCount(g)
}

func (f *Fake) patchGroup(bool) handler {
	return func(r *http.Request, body obj) (int, any) {
		g := f.group(r.PathValue("groupKey"))
		if g == nil || f.notReady(g) {
			return notFound("groupKey")
		}
		if e, ok := body["email"].(string); ok {
			if !validEmail(e) {
				return badRequest("Invalid Input: email")
			}
			if f.emailTaken(e, g["id"].(string)) {
				return fail(http.StatusConflict, "duplicate", "Entity already exists.")
			}
			body["email"] = strings.ToLower(e)
		}
		before := clone(g)
		for _, k := range groupWritable {
			if v, ok := body[k]; ok {
				g[k] = v
			}
		}
		g["etag"] = f.etag()
		email := before["email"].(string)
		if ne := g["email"].(string); ne != email {
			f.record("GROUP_SETTINGS", "CHANGE_GROUP_EMAIL", "GROUP_EMAIL", email, "NEW_VALUE", ne)
			email = ne
		}
		for _, k := range []struct{ field, event string }{
			{"name", "CHANGE_GROUP_NAME"}, {"description", "CHANGE_GROUP_DESCRIPTION"},
			// [U] no documented event names a change of a group's
			// externalIds; the connector reads any GROUP_EMAIL event.
			{"externalIds", "CHANGE_GROUP_SETTING"},
		} {
			if fmt.Sprint(before[k.field]) != fmt.Sprint(g[k.field]) {
				f.record("GROUP_SETTINGS", k.event, "GROUP_EMAIL", email)
			}
		}
		return http.StatusOK, f.withCount(g)
	}
}

func (f *Fake) deleteGroup(r *http.Request, _ obj) (int, any) {
	g := f.group(r.PathValue("groupKey"))
	if g == nil || f.notReady(g) {
		return notFound("groupKey")
	}
	id := g["id"].(string)
	delete(f.groups, id)
	delete(f.members, id)
	for _, ms := range f.members {
		delete(ms, id)
	}
	f.record("GROUP_SETTINGS", "DELETE_GROUP", "GROUP_EMAIL", g["email"].(string))
	return http.StatusNoContent, nil
}

// member finds the member memberKey (an email or an id) of group gid.
func (f *Fake) member(gid, key string) obj {
	if m, ok := f.members[gid][key]; ok {
		return m
	}
	for _, m := range f.members[gid] {
		if strings.EqualFold(m["email"].(string), key) {
			return m
		}
	}
	return nil
}

func (f *Fake) listMembers(r *http.Request, _ obj) (int, any) {
	g := f.group(r.PathValue("groupKey"))
	if g == nil {
		return notFound("groupKey")
	}
	roles := r.URL.Query().Get("roles")
	var all []obj
	for _, m := range f.members[g["id"].(string)] {
		if roles == "" || slices.Contains(strings.Split(roles, ","), m["role"].(string)) {
			all = append(all, m)
		}
	}
	slices.SortFunc(all, func(a, b obj) int { return strings.Compare(a["email"].(string), b["email"].(string)) })
	page, next, ok := pageOf(r, all, 200, MaxMembersPage)
	if !ok {
		return badRequest("Invalid Input")
	}
	res := obj{"kind": "admin#directory#members", "etag": f.etag(), "members": clones(page)}
	if next != "" {
		res["nextPageToken"] = next
	}
	return http.StatusOK, res
}

func (f *Fake) insertMember(r *http.Request, body obj) (int, any) {
	g := f.group(r.PathValue("groupKey"))
	if g == nil || f.notReady(g) {
		return notFound("groupKey")
	}
	key, _ := body["id"].(string)
	if key == "" {
		key, _ = body["email"].(string)
	}
	if key == "" {
		return badRequest("Missing required field: memberKey")
	}
	m := obj{"kind": "admin#directory#member", "status": "ACTIVE", "delivery_settings": "ALL_MAIL"}
	if u := f.user(key); u != nil && f.notReady(u) {
		return notFound("memberKey")
	} else if u != nil {
		m["id"], m["email"], m["type"] = u["id"], u["primaryEmail"], "USER"
		if u["suspended"] == true {
			m["status"] = "SUSPENDED"
		}
	} else if sub := f.group(key); sub != nil {
		m["id"], m["email"], m["type"] = sub["id"], sub["email"], "GROUP"
	} else {
		return notFound("memberKey")
	}
	role, _ := body["role"].(string)
	if role == "" {
		role = "MEMBER"
	}
	if !slices.Contains([]string{"MEMBER", "MANAGER", "OWNER"}, role) {
		return badRequest("Invalid Input: role")
	}
	m["role"] = role
	gid := g["id"].(string)
	if _, dup := f.members[gid][m["id"].(string)]; dup {
		return fail(http.StatusConflict, "duplicate", "Member already exists.")
	}
	m["etag"] = f.etag()
	f.members[gid][m["id"].(string)] = m
	f.record("GROUP_SETTINGS", "ADD_GROUP_MEMBER", "USER_EMAIL", m["email"].(string), "GROUP_EMAIL", g["email"].(string))
	return http.StatusOK, clone(m)
}

// groupMember finds the request's group and member, or answers the 404
// Google gives for the one that is missing (ok false).
func (f *Fake) groupMember(r *http.Request) (g, m obj, code int, body any, ok bool) {
	if g = f.group(r.PathValue("groupKey")); g == nil {
		code, body = notFound("groupKey")
		return nil, nil, code, body, false
	}
	if m = f.member(g["id"].(string), r.PathValue("memberKey")); m == nil {
		code, body = notFound("memberKey")
		return nil, nil, code, body, false
	}
	return g, m, 0, nil, true
}

func (f *Fake) getMember(r *http.Request, _ obj) (int, any) {
	_, m, code, body, ok := f.groupMember(r)
	if !ok {
		return code, body
	}
	return http.StatusOK, clone(m)
}

func (f *Fake) deleteMember(r *http.Request, _ obj) (int, any) {
	g, m, code, body, ok := f.groupMember(r)
	if !ok {
		return code, body
	}
	delete(f.members[g["id"].(string)], m["id"].(string))
	f.record("GROUP_SETTINGS", "REMOVE_GROUP_MEMBER", "USER_EMAIL", m["email"].(string), "GROUP_EMAIL", g["email"].(string))
	return http.StatusNoContent, nil
}

func (f *Fake) hasMember(r *http.Request, _ obj) (int, any) {
	g := f.group(r.PathValue("groupKey"))
	if g == nil {
		return notFound("groupKey")
	}
	return http.StatusOK, obj{"isMember": f.member(g["id"].(string), r.PathValue("memberKey")) != nil}
}
