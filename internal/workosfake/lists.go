package workosfake

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// page is one page of a list by ids in creation order, as the list
// endpoints answer it: order desc (default), asc, or normal (desc with
// before and after swapped, as the spec says).
type page struct {
	items         []int // indexes into the sorted ids
	before, after *string
}

// listParams are the paging parameters of a list request.
type listParams struct {
	limit         int
	order         string
	before, after string
}

// parseList reads limit (1–100, default 10), order, before and after;
// false when it wrote the 422.
func parseList(w http.ResponseWriter, q url.Values) (listParams, bool) {
	p := listParams{limit: 10, order: q.Get("order"), before: q.Get("before"), after: q.Get("after")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			// [U] the live answer; the spec bounds limit to 1–100.
			writeInvalid(w, "limit", "invalid", "limit must be an integer between 1 and 100")
			return p, false
		}
		p.limit = n
	}
	switch p.order {
	case "":
		p.order = "desc"
	case "asc", "desc":
	case "normal":
		p.order, p.before, p.after = "desc", p.after, p.before
	default:
		writeInvalid(w, "order", "invalid", "order must be asc, desc or normal")
		return p, false
	}
	if p.before != "" && p.after != "" {
		writeInvalid(w, "before", "invalid", "before and after cannot be used together") // [U]
		return p, false
	}
	return p, true
}

// paginate pages ids (sorted ascending: creation order). A cursor need not
// name an object that exists: its place is found by id, so that a cursor
// of a deleted object still works [U].
func paginate(ids []string, p listParams) page {
	n := len(ids)
	// at(i) is the index into ids of the i-th item in list order.
	at := func(i int) int {
		if p.order == "asc" {
			return i
		}
		return n - 1 - i
	}
	// pos(id): how many items come before id in list order, and whether
	// id itself is one.
	pos := func(id string) (int, bool) {
		k := sort.SearchStrings(ids, id)
		found := k < n && ids[k] == id
		if p.order == "asc" {
			return k, found
		}
		if found {
			return n - 1 - k, true
		}
		return n - k, false
	}
	start, end := 0, min(p.limit, n)
	switch {
	case p.after != "":
		i, found := pos(p.after)
		if found {
			i++
		}
		start, end = i, min(i+p.limit, n)
	case p.before != "":
		i, _ := pos(p.before)
		start, end = max(0, i-p.limit), i
	}
	var pg page
	for i := start; i < end; i++ {
		pg.items = append(pg.items, at(i))
	}
	if start > 0 && end > start {
		id := ids[at(start)]
		pg.before = &id
	}
	if end < n && end > start {
		id := ids[at(end-1)]
		pg.after = &id
	}
	return pg
}

func listBody(data []any, pg page) map[string]any {
	if data == nil {
		data = []any{}
	}
	return map[string]any{"object": "list", "data": data,
		"list_metadata": map[string]any{"before": pg.before, "after": pg.after}}
}

// listUsers answers GET /directory_users?directory=|group=.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ok := parseList(w, q)
	if !ok {
		return
	}
	dir, group := q.Get("directory"), q.Get("group")
	if (dir == "") == (group == "") {
		// [U] the live answer; the SDKs send one of the two.
		writeInvalid(w, "directory", "invalid", "exactly one of directory and group is required")
		return
	}
	s.mu.Lock()
	var users []User
	if group != "" {
		if _, ok := s.groups[group]; !ok {
			s.mu.Unlock()
			writeError(w, http.StatusNotFound, "entity_not_found", "Directory group not found: '"+group+"'.")
			return
		}
		for id := range s.members[group] {
			users = append(users, *s.users[id])
		}
		slices.SortFunc(users, func(a, b User) int { return strings.Compare(a.ID, b.ID) })
	} else {
		if !s.knownDirectory(dir) {
			s.mu.Unlock()
			writeError(w, http.StatusNotFound, "entity_not_found", "Directory not found: '"+dir+"'.")
			return
		}
		users = s.usersOf(dir)
	}
	s.mu.Unlock()
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	pg := paginate(ids, p)
	data := make([]any, 0, len(pg.items))
	for _, i := range pg.items {
		data = append(data, users[i].wireListed())
	}
	writeJSON(w, http.StatusOK, listBody(data, pg))
}

// listGroups answers GET /directory_groups?directory=|user=.
func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ok := parseList(w, q)
	if !ok {
		return
	}
	dir, user := q.Get("directory"), q.Get("user")
	if (dir == "") == (user == "") {
		writeInvalid(w, "directory", "invalid", "exactly one of directory and user is required")
		return
	}
	s.mu.Lock()
	var groups []Group
	if user != "" {
		for gid, m := range s.members {
			if _, in := m[user]; in {
				groups = append(groups, *s.groups[gid])
			}
		}
		slices.SortFunc(groups, func(a, b Group) int { return strings.Compare(a.ID, b.ID) })
	} else {
		if !s.knownDirectory(dir) {
			s.mu.Unlock()
			writeError(w, http.StatusNotFound, "entity_not_found", "Directory not found: '"+dir+"'.")
			return
		}
		groups = s.groupsOf(dir)
	}
	s.mu.Unlock()
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
	}
	pg := paginate(ids, p)
	data := make([]any, 0, len(pg.items))
	for _, i := range pg.items {
		data = append(data, groups[i].wire())
	}
	writeJSON(w, http.StatusOK, listBody(data, pg))
}

func (s *Server) knownDirectory(id string) bool {
	return slices.ContainsFunc(s.dirs, func(d *Directory) bool { return d.ID == id && !d.deleted })
}

func (s *Server) getUser(w http.ResponseWriter, id string) {
	s.mu.Lock()
	u, ok := s.users[id]
	var body map[string]any
	if ok {
		body = u.wireListed()
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "entity_not_found", "Directory user not found: '"+id+"'.")
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) getGroup(w http.ResponseWriter, id string) {
	s.mu.Lock()
	g, ok := s.groups[id]
	var body map[string]any
	if ok {
		body = g.wire()
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "entity_not_found", "Directory group not found: '"+id+"'.")
		return
	}
	writeJSON(w, http.StatusOK, body)
}
