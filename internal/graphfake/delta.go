package graphfake

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// change is one write, for delta queries: to a user or a group, or
// (member set) to one membership of a group.
type change struct {
	seq     int64
	group   bool
	id      string
	member  string
	removed bool
	// props are the properties an update changed ("manager" for the
	// manager reference); nil for a creation or a deletion, which every
	// delta query reports.
	props []string
}

func (s *Server) record(group bool, id, member string, removed bool) {
	s.cseq++
	s.changes = append(s.changes, change{seq: s.cseq, group: group, id: id, member: member, removed: removed})
}

// recordProps records an update of an object's props; nothing when none
// changed.
func (s *Server) recordProps(group bool, id string, props []string) {
	if len(props) == 0 {
		return
	}
	s.cseq++
	s.changes = append(s.changes, change{seq: s.cseq, group: group, id: id, props: props})
}

// changedProps are the properties whose values differ between before
// and after.
func changedProps(before, after map[string]any) []string {
	var out []string
	for k, v := range after {
		if !reflect.DeepEqual(before[k], v) {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// tracked says whether a delta query with $select sel reports c: a
// delta query with $select reports an object only when a selected
// property (or, for groups, "members") changed
// (https://learn.microsoft.com/en-us/graph/delta-query-overview,
// "Optional query parameters"); creations and deletions always.
func (c change) tracked(sel []string) bool {
	switch {
	case len(sel) == 0:
		return true
	case c.member != "":
		return slices.Contains(sel, "members")
	case c.props == nil:
		return true
	}
	for _, p := range c.props {
		if slices.Contains(sel, p) {
			return true
		}
	}
	return false
}

// ExpireDeltaTokens makes every delta and skip token handed out so far
// unknown: the next delta query with one answers 410 syncStateNotFound.
func (s *Server) ExpireDeltaTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deltaGen++
}

// deltaState is where a delta round stands: changes after since and up
// to upto (since < 0: the initial round, every object), from offset.
type deltaState struct {
	since, upto int64
	offset      int
}

func (s *Server) parseDelta(r *http.Request) (deltaState, bool, bool) {
	q := r.URL.Query()
	if tok := q.Get("$skiptoken"); tok != "" {
		p := strings.Split(tok, ".")
		if len(p) != 4 || p[0] != strconv.Itoa(s.deltaGen) {
			return deltaState{}, false, false
		}
		since, e1 := strconv.ParseInt(p[1], 10, 64)
		upto, e2 := strconv.ParseInt(p[2], 10, 64)
		off, e3 := strconv.Atoi(p[3])
		return deltaState{since, upto, off}, false, e1 == nil && e2 == nil && e3 == nil
	}
	tok := q.Get("$deltatoken")
	switch tok {
	case "":
		return deltaState{since: -1, upto: s.cseq}, false, true
	case "latest":
		return deltaState{since: s.cseq, upto: s.cseq}, true, true
	}
	p := strings.Split(tok, ".")
	if len(p) != 2 || p[0] != strconv.Itoa(s.deltaGen) {
		return deltaState{}, false, false
	}
	since, err := strconv.ParseInt(p[1], 10, 64)
	return deltaState{since: since, upto: s.cseq}, false, err == nil && since <= s.cseq
}

// delta answers /users/delta and /groups/delta
// (https://learn.microsoft.com/en-us/graph/delta-query-users and
// delta-query-groups, their example responses): pages linked by
// @odata.nextLink, the last with @odata.deltaLink; a deleted object as
// {"id", "@removed":{"reason":"changed"}}; a group's membership changes
// in members@delta, a removed member with "@removed":{"reason":"deleted"};
// $deltatoken=latest starts from now with no objects. An unknown token is
// 410 Gone syncStateNotFound (delta-query-overview, "Synchronization
// reset").
func (s *Server) delta(w http.ResponseWriter, r *http.Request, group bool) {
	st, latest, ok := s.parseDelta(r)
	if !ok {
		graphError(w, http.StatusGone, "syncStateNotFound", "The sync state generation is not found. Please resync.")
		return
	}
	var sel []string
	if v := r.URL.Query().Get("$select"); v != "" {
		sel = strings.Split(v, ",")
	}
	defaults, objs, what := userDefaults, s.users, "users"
	if group {
		defaults, objs, what = groupDefaults, s.groups, "groups"
	}
	var items []map[string]any
	if !latest {
		items = s.deltaItems(group, objs, st, sel, defaults)
	}
	size := s.knobs.DeltaPageSize
	if size <= 0 {
		size = 100
	}
	end := min(len(items), st.offset+size)
	value := items[min(st.offset, len(items)):end]
	if value == nil {
		value = []map[string]any{}
	}
	out := map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#" + what, "value": value}
	base := s.GraphURL() + "/" + what + "/delta?"
	selq := ""
	if len(sel) > 0 {
		selq = "$select=" + strings.Join(sel, ",") + "&"
	}
	if end < len(items) {
		out["@odata.nextLink"] = fmt.Sprintf("%s%s$skiptoken=%d.%d.%d.%d", base, selq, s.deltaGen, st.since, st.upto, end)
	} else {
		out["@odata.deltaLink"] = fmt.Sprintf("%s%s$deltatoken=%d.%d", base, selq, s.deltaGen, st.upto)
	}
	writeJSON(w, http.StatusOK, out)
}

// deltaItems is the round's objects: every object in the initial round,
// else each object changed after since, once, as it is now.
func (s *Server) deltaItems(group bool, objs map[string]*object, st deltaState, sel, defaults []string) []map[string]any {
	var items []map[string]any
	item := func(o *object, members []map[string]any) map[string]any {
		p := project(o, sel, defaults)
		p["id"] = o.id()
		if group {
			p["members@delta"] = members
		}
		return p
	}
	if st.since < 0 {
		for _, o := range sortedObjects(objs) {
			var ms []map[string]any
			for _, m := range o.members {
				ms = append(ms, map[string]any{"@odata.type": "#microsoft.graph.user", "id": m})
			}
			items = append(items, item(o, ms))
		}
		return items
	}
	var order []string
	memberDelta := map[string]map[string]bool{} // group → member → removed
	for _, c := range s.changes {
		if c.seq <= st.since || c.seq > st.upto || c.group != group || !c.tracked(sel) {
			continue
		}
		if _, seen := memberDelta[c.id]; !seen {
			order = append(order, c.id)
			memberDelta[c.id] = map[string]bool{}
		}
		if c.member != "" {
			memberDelta[c.id][c.member] = c.removed
		}
	}
	for _, id := range order {
		o := objs[id]
		if o == nil {
			items = append(items, map[string]any{"id": id, "@removed": map[string]any{"reason": "changed"}})
			continue
		}
		var ms []map[string]any
		for m, removed := range memberDelta[id] {
			e := map[string]any{"@odata.type": "#microsoft.graph.user", "id": m}
			if removed {
				e["@removed"] = map[string]any{"reason": "deleted"}
			}
			ms = append(ms, e)
		}
		items = append(items, item(o, ms))
	}
	return items
}
