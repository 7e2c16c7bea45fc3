package googlefake

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Page caps of the API.
const (
	MaxUsersPage   = 500
	MaxGroupsPage  = 200
	MaxMembersPage = 200
)

// userReadOnly are the fields the API sets, never the caller.
var userReadOnly = []string{"kind", "id", "etag", "customerId", "creationTime", "isAdmin", "isDelegatedAdmin",
	"isMailboxSetup", "lastLoginTime", "nonEditableAliases", "agreedToTerms", "isEnrolledIn2Sv", "isEnforcedIn2Sv"}

// checkScope answers 400 unless exactly the customer or a domain is asked.
func (f *Fake) checkScope(r *http.Request) (int, any, bool) {
	q := r.URL.Query()
	c, d := q.Get("customer"), q.Get("domain")
	switch {
	case c == "" && d == "":
		code, out := badRequest("Bad Request")
		return code, out, false
	case c != "" && c != "my_customer" && c != f.CustomerID:
		code, out := fail(http.StatusForbidden, "forbidden", "Not Authorized to access this resource/api")
		return code, out, false
	case d != "" && !strings.EqualFold(d, f.Domain):
		code, out := fail(http.StatusForbidden, "forbidden", "Not Authorized to access this resource/api")
		return code, out, false
	}
	return 0, nil, true
}

// pageOf cuts a sorted list into the page that pageToken and maxResults
// ask for.
func pageOf(r *http.Request, items []obj, def, max int) ([]obj, string, bool) {
	q := r.URL.Query()
	size := def
	if s := q.Get("maxResults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, "", false
		}
		size = min(n, max)
	}
	start := 0
	if tok := q.Get("pageToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "p"))
		if err != nil || n < 0 || !strings.HasPrefix(tok, "p") {
			return nil, "", false
		}
		start = min(n, len(items))
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		next = "p" + strconv.Itoa(end)
	}
	return items[start:end], next, true
}

func (f *Fake) listUsers(r *http.Request, _ obj) (int, any) {
	if code, out, ok := f.checkScope(r); !ok {
		return code, out
	}
	match, ok := parseQuery(r.URL.Query().Get("query"))
	if !ok {
		return badRequest("Invalid Input: query")
	}
	var all []obj
	users := f.users
	if r.URL.Query().Get("showDeleted") == "true" {
		// Users deleted (in the last 20 days at Google), by id: the way
		// to a deleted user's id from the address a report names.
		users = f.deleted
	}
	for id, u := range users {
		if q := r.URL.Query().Get("query"); q == "" {
			if match(u) {
				all = append(all, u)
			}
		} else if indexed, ok := f.searchIndex()[id]; ok && match(indexed) {
			all = append(all, u)
		}
	}
	slices.SortFunc(all, func(a, b obj) int { return strings.Compare(a["primaryEmail"].(string), b["primaryEmail"].(string)) })
	page, next, ok := pageOf(r, all, 100, MaxUsersPage)
	if !ok {
		return badRequest("Invalid Input")
	}
	out := obj{"kind": "admin#directory#users", "etag": f.etag(), "users": clones(page)}
	if next != "" {
		out["nextPageToken"] = next
	}
	return http.StatusOK, out
}

// parseQuery understands the query forms the connector and common tools
// send: "externalId:VALUE", "externalId='VALUE'", "email:VALUE",
// "isSuspended=true|false", terms joined by spaces (AND). Values quote
// with single quotes, a quote inside escaped with a backslash.
func parseQuery(s string) (func(obj) bool, bool) {
	if strings.TrimSpace(s) == "" {
		return func(obj) bool { return true }, true
	}
	var preds []func(obj) bool
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		i := strings.IndexAny(s, ":=")
		if i <= 0 {
			return nil, false
		}
		field := s[:i]
		s = s[i+1:]
		var val string
		if strings.HasPrefix(s, "'") {
			var b strings.Builder
			j := 1
			for ; j < len(s) && s[j] != '\''; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, false
			}
			val, s = b.String(), s[j+1:]
		} else {
			end := strings.IndexByte(s, ' ')
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		switch field {
		case "externalId":
			preds = append(preds, func(u obj) bool {
				for _, e := range list(u["externalIds"]) {
					if v, _ := e["value"].(string); v == val {
						return true
					}
				}
				return false
			})
		case "email":
			preds = append(preds, func(u obj) bool { return strings.EqualFold(u["primaryEmail"].(string), val) })
		case "isSuspended":
			preds = append(preds, func(u obj) bool { return u["suspended"] == (val == "true") })
		default:
			return nil, false
		}
	}
	return func(u obj) bool {
		for _, p := range preds {
			if !p(u) {
				return false
			}
		}
		return true
	}, true
}

// list is an "any" array of objects as the JSON decoder makes it.
func list(v any) []obj {
	a, _ := v.([]any)
	out := make([]obj, 0, len(a))
	for _, e := range a {
		if o, ok := e.(obj); ok {
			out = append(out, o)
		}
	}
	return out
}

// user finds a user by userKey: the primary email or an alias (any
// case), or the id.
func (f *Fake) user(key string) obj {
	if u, ok := f.users[key]; ok {
		return u
	}
	for _, u := range f.users {
		if strings.EqualFold(u["primaryEmail"].(string), key) {
			return u
		}
	}
	for _, u := range f.users {
		aliases, _ := u["aliases"].([]any)
		for _, a := range aliases {
			if s, _ := a.(string); strings.EqualFold(s, key) {
				return u
			}
		}
	}
	return nil
}

// emailTaken reports whether a user or a group other than id has email,
// as its address or, for a user, as an alias (a renamed user's old
// address, which Google keeps and refuses to give anyone else).
func (f *Fake) emailTaken(email, id string) bool {
	for _, m := range []map[string]obj{f.users, f.groups} {
		for oid, o := range m {
			key := "primaryEmail"
			if _, ok := o["email"]; ok {
				key = "email"
			}
			if oid != id && strings.EqualFold(o[key].(string), email) {
				return true
			}
			aliases, _ := o["aliases"].([]any)
			for _, al := range aliases {
				if s, _ := al.(string); oid != id && strings.EqualFold(s, email) {
					return true
				}
			}
		}
	}
	return false
}

// validEmail is a rough check of an address the API would take.
func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" && !strings.ContainsAny(s, " \"(),:;<>[\\]*") && !strings.Contains(domain, "@")
}

func (f *Fake) getUser(r *http.Request, _ obj) (int, any) {
	u := f.user(r.PathValue("userKey"))
	if u == nil || f.notReady(u) {
		return notFound("userKey")
	}
	return http.StatusOK, clone(u)
}

func (f *Fake) insertUser(_ *http.Request, body obj) (int, any) {
	email, _ := body["primaryEmail"].(string)
	name, _ := body["name"].(obj)
	given, _ := name["givenName"].(string)
	family, _ := name["familyName"].(string)
	switch {
	case !validEmail(email):
		return badRequest("Invalid Input: primary_user_email")
	case given == "" || family == "":
		return badRequest("Invalid Given/Family Name: " + map[bool]string{true: "GivenName", false: "FamilyName"}[given == ""])
	case body["password"] == nil || body["password"] == "":
		return badRequest("Invalid Password")
	case f.emailTaken(email, ""):
		return fail(http.StatusConflict, "duplicate", "Entity already exists.")
	}
	u := obj{}
	for k, v := range body {
		if !slices.Contains(userReadOnly, k) {
			u[k] = v
		}
	}
	delete(u, "password")
	delete(u, "hashFunction")
	u["kind"] = "admin#directory#user"
	u["id"] = f.newID("1")
	u["customerId"] = f.CustomerID
	u["creationTime"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	u["isAdmin"] = false
	u["isMailboxSetup"] = true
	if _, ok := u["suspended"]; !ok {
		u["suspended"] = false
	}
	if _, ok := u["orgUnitPath"]; !ok {
		u["orgUnitPath"] = "/"
	}
	f.settle(u)
	f.users[u["id"].(string)] = u
	f.created(u["id"].(string))
	f.record("USER_SETTINGS", "CREATE_USER", "USER_EMAIL", u["primaryEmail"].(string))
	return http.StatusOK, clone(u)
}

// settle fills what the API computes: the lower-cased primary email, the
// full name, a new etag.
func (f *Fake) settle(u obj) {
	u["primaryEmail"] = strings.ToLower(u["primaryEmail"].(string))
	if n, ok := u["name"].(obj); ok {
		g, _ := n["givenName"].(string)
		fam, _ := n["familyName"].(string)
		n["fullName"] = strings.TrimSpace(g + " " + fam)
	}
	u["etag"] = f.etag()
}

// patchUser is PATCH (merge) or PUT (update: the writable fields given
// replace, others are kept as the API does for omitted fields).
func (f *Fake) patchUser(merge bool) handler {
	return func(r *http.Request, body obj) (int, any) {
		u := f.user(r.PathValue("userKey"))
		if u == nil || f.notReady(u) {
			return notFound("userKey")
		}
		if e, ok := body["primaryEmail"].(string); ok {
			if !validEmail(e) {
				return badRequest("Invalid Input: primary_user_email")
			}
			if f.emailTaken(e, u["id"].(string)) {
				return fail(http.StatusConflict, "duplicate", "Entity already exists.")
			}
		}
		before := clone(u)
		for k, v := range body {
			if slices.Contains(userReadOnly, k) || k == "password" || k == "hashFunction" {
				continue
			}
			if n, ok := v.(obj); ok && merge {
				if old, ok := u[k].(obj); ok {
					for nk, nv := range n {
						old[nk] = nv
					}
					continue
				}
			}
			if v == nil {
				delete(u, k)
				continue
			}
			u[k] = v
		}
		f.settle(u)
		if old := before["primaryEmail"].(string); old != u["primaryEmail"] {
			// Google keeps the old address of a renamed user as an
			// alias: mail to it arrives, and users.get finds the user.
			aliases, _ := u["aliases"].([]any)
			u["aliases"] = append(aliases, old)
		}
		f.recordUserPatch(before, u)
		return http.StatusOK, clone(u)
	}
}

func (f *Fake) deleteUser(r *http.Request, _ obj) (int, any) {
	u := f.user(r.PathValue("userKey"))
	if u == nil || f.notReady(u) {
		return notFound("userKey")
	}
	id := u["id"].(string)
	delete(f.users, id)
	for _, ms := range f.members {
		delete(ms, id)
	}
	u["deletionTime"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	f.deleted[id] = u
	f.record("USER_SETTINGS", "DELETE_USER", "USER_EMAIL", u["primaryEmail"].(string))
	return http.StatusNoContent, nil
}
