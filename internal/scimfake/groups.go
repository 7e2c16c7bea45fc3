package scimfake

import (
	"encoding/json"
	"net/http"
	"strings"
)

func (s *Server) serveGroups(w http.ResponseWriter, r *http.Request, id string) {
	switch {
	case id == "" && r.Method == http.MethodGet:
		q, e := s.parseListQuery(r.URL.Query(), "Groups")
		if e != nil {
			s.writeError(w, e)
			return
		}
		s.listGroups(w, q)
	case id == "" && r.Method == http.MethodPost:
		s.createGroup(w, r)
	case id == "":
		s.methodNotAllowed(w, "GET, POST")
	case id == ".search" && r.Method == http.MethodPost:
		body, e := s.readBody(w, r)
		if e == nil {
			var q listQuery
			if q, e = s.parseSearch(body, "Groups"); e == nil {
				s.listGroups(w, q)
				return
			}
		}
		s.writeError(w, e)
	case r.Method == http.MethodGet:
		s.getGroup(w, r, id)
	case r.Method == http.MethodPut:
		s.replaceGroup(w, r, id)
	case r.Method == http.MethodPatch:
		s.patchGroup(w, r, id)
	case r.Method == http.MethodDelete:
		s.deleteGroup(w, r, id)
	default:
		s.methodNotAllowed(w, "GET, PUT, PATCH, DELETE")
	}
}

func (s *Server) listGroups(w http.ResponseWriter, q listQuery) {
	st := s.store
	withMembers := q.wants("members")
	st.mu.RLock()
	all := st.findGroups(q.filter)
	pg := page(all, q)
	views := make([]Group, len(pg))
	for i, r := range pg {
		views[i] = st.groupView(r, s.URL, withMembers)
	}
	st.mu.RUnlock()
	s.writeList(w, q, len(all), views, len(views))
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request, id string) {
	q, e := s.parseListQuery(r.URL.Query(), "Groups")
	if e != nil {
		s.writeError(w, e)
		return
	}
	st := s.store
	st.mu.RLock()
	rec := st.groups[id]
	var g Group
	if rec != nil {
		g = st.groupView(rec, s.URL, q.wants("members"))
	}
	st.mu.RUnlock()
	switch {
	case rec == nil:
		s.writeError(w, errNotFound("no group "+id))
	case r.Header.Get("If-None-Match") != "" && etagMatches(r.Header.Get("If-None-Match"), g.Meta.Version):
		w.Header().Set("ETag", g.Meta.Version)
		w.WriteHeader(http.StatusNotModified)
	default:
		s.writeResource(w, http.StatusOK, g.Meta.Version, "", g)
	}
}

func validateGroup(g *Group) *apiError {
	if strings.TrimSpace(g.DisplayName) == "" {
		return errInvalidValue("displayName is required")
	}
	for _, m := range g.Members {
		if m.Value == "" {
			return errInvalidValue("members.value must not be empty")
		}
	}
	return nil
}

// decodeGroup reads a Group body (POST, PUT) and checks it.
func (s *Server) decodeGroup(w http.ResponseWriter, r *http.Request) (Group, *apiError) {
	body, e := s.readBody(w, r)
	if e != nil {
		return Group{}, e
	}
	var g Group
	if err := json.Unmarshal(body, &g); err != nil {
		return Group{}, errInvalidSyntax("body is not a Group: " + err.Error())
	}
	if !hasSchema(g.schemas, SchemaGroup) {
		return Group{}, errInvalidSyntax("schemas must include " + SchemaGroup)
	}
	if e := validateGroup(&g); e != nil {
		return Group{}, e
	}
	if s.opts.Flavor == GitHubEMU && g.ExternalID == "" {
		return Group{}, errInvalidValue("externalId is required")
	}
	return g, nil
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) {
	g, e := s.decodeGroup(w, r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	g.ID = ""
	st := s.store
	st.mu.Lock()
	if e = st.groupConflict(&g, ""); e == nil {
		if e = st.checkMembers(g.Members); e == nil {
			g = st.groupView(st.addGroup(g, s.now().UTC()), s.URL, true)
		}
	}
	st.mu.Unlock()
	if e != nil {
		s.writeError(w, e)
		return
	}
	s.writeResource(w, http.StatusCreated, g.Meta.Version, g.Meta.Location, g)
}

func (s *Server) replaceGroup(w http.ResponseWriter, r *http.Request, id string) {
	g, e := s.decodeGroup(w, r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	members := g.Members
	if members == nil {
		members = []Member{} // PUT replaces: no members is none
	}
	st := s.store
	st.mu.Lock()
	rec := st.groups[id]
	if rec == nil {
		e = errNotFound("no group " + id)
	} else {
		e = firstError(
			func() *apiError { return s.preconditionFailed(r, etag(rec.version)) },
			func() *apiError { return st.groupConflict(&g, id) },
			func() *apiError { return st.checkMembers(members) },
		)
	}
	if e == nil {
		st.putGroup(rec, g, members, s.now().UTC())
		g = st.groupView(rec, s.URL, true)
	}
	st.mu.Unlock()
	if e != nil {
		s.writeError(w, e)
		return
	}
	s.writeResource(w, http.StatusOK, g.Meta.Version, "", g)
}

func firstError(checks ...func() *apiError) *apiError {
	for _, c := range checks {
		if e := c(); e != nil {
			return e
		}
	}
	return nil
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, id string) {
	st := s.store
	st.mu.Lock()
	rec := st.groups[id]
	var e *apiError
	if rec == nil {
		e = errNotFound("no group " + id)
	} else if e = s.preconditionFailed(r, etag(rec.version)); e == nil {
		st.removeGroup(rec, s.now().UTC())
	}
	st.mu.Unlock()
	if e != nil {
		s.writeError(w, e)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// memberOp is a PATCH operation on members, checked before anything
// changes.
type memberOp struct {
	op      string
	filter  expr     // remove members[...]
	members []Member // add, replace, or remove with a value
	all     bool     // remove without filter or value: every member
}

func (s *Server) patchGroup(w http.ResponseWriter, r *http.Request, id string) {
	body, e := s.readBody(w, r)
	var ops []patchOp
	if e == nil {
		ops, e = decodeOps(body)
	}
	if e != nil {
		s.writeError(w, e)
		return
	}
	st := s.store
	st.mu.Lock()
	var g Group
	rec := st.groups[id]
	if rec == nil {
		e = errNotFound("no group " + id)
	} else if e = s.preconditionFailed(r, etag(rec.version)); e == nil {
		e = s.applyGroupPatch(rec, ops)
		g = st.groupView(rec, s.URL, !s.opts.PatchNoContent)
	}
	st.mu.Unlock()
	switch {
	case e != nil:
		s.writeError(w, e)
	case s.opts.PatchNoContent:
		w.Header().Set("ETag", g.Meta.Version)
		w.WriteHeader(http.StatusNoContent)
	default:
		s.writeResource(w, http.StatusOK, g.Meta.Version, "", g)
	}
}

// applyGroupPatch applies ops to a group, all or none: attributes on a
// document copy, members through the index once every operation checked.
func (s *Server) applyGroupPatch(rec *groupRec, ops []patchOp) *apiError {
	st := s.store
	doc := map[string]any{"displayName": rec.g.DisplayName}
	if rec.g.ExternalID != "" {
		doc["externalId"] = rec.g.ExternalID
	}
	var mops []memberOp
	for _, op := range ops {
		e := eachTarget(op, groupAttrs, false, func(p *patchPath, v any) *apiError {
			if p.info.name != "members" {
				return applyOp(doc, op.Op, p, v)
			}
			mop, e := memberOpOf(op.Op, p, v)
			if e == nil && mop.op != "remove" {
				e = st.checkMembers(mop.members)
			}
			mops = append(mops, mop)
			return e
		})
		if e != nil {
			return e
		}
	}
	b, _ := json.Marshal(doc)
	var g Group
	if err := json.Unmarshal(b, &g); err != nil {
		return errInvalidValue("patched group is not valid: " + err.Error())
	}
	if e := firstError(
		func() *apiError { return validateGroup(&g) },
		func() *apiError { return st.groupConflict(&g, rec.g.ID) },
	); e != nil {
		return e
	}
	if s.opts.Flavor == GitHubEMU && g.ExternalID == "" {
		return errInvalidValue("externalId is required")
	}
	st.putGroup(rec, g, nil, s.now().UTC())
	for _, m := range mops {
		st.applyMemberOp(rec, m)
	}
	return nil
}

// memberOpOf reads an operation on members.
func memberOpOf(op string, p *patchPath, v any) (memberOp, *apiError) {
	m := memberOp{op: op, filter: p.filter}
	switch {
	case p.sub != "":
		return m, errInvalidPath("members are added and removed whole, not by sub-attribute")
	case p.filter != nil && op != "remove":
		return m, errInvalidPath(op + " with a members filter is not supported; add or remove members")
	case p.filter == nil && op == "remove" && v == nil:
		m.all = true
		return m, nil
	}
	for _, el := range asList(v) {
		val, ok := valueOf(el)
		if !ok || val == "" {
			return m, errInvalidValue("a member needs a value")
		}
		display, _ := el.(map[string]any)["display"].(string)
		m.members = append(m.members, Member{Value: val, Display: display})
	}
	return m, nil
}

// applyMemberOp changes a group's members; members[value eq "id"] (and
// "or" of such) removes through the index.
func (st *store) applyMemberOp(rec *groupRec, m memberOp) {
	switch {
	case m.all || m.op == "replace":
		st.clearMembers(rec)
	case m.op == "remove" && m.filter != nil:
		if ids, ok := eqValues(m.filter, "value"); ok {
			for _, id := range ids {
				st.removeMember(rec, id)
			}
			return
		}
		for _, el := range (groupSrc{st, rec}).elements("members") {
			if matches(m.filter, el) {
				st.removeMember(rec, el.(memberSrc).m.Value)
			}
		}
		return
	case m.op == "remove":
		for _, mem := range m.members {
			st.removeMember(rec, mem.Value)
		}
		return
	}
	st.addMembers(rec, m.members)
}

// eqValues returns the values of a filter made of attr eq "…" joined by
// "or".
func eqValues(e expr, attr string) ([]string, bool) {
	switch e := e.(type) {
	case *cmpExpr:
		v, ok := eqValue(e)
		return []string{v}, ok && e.attr == attr
	case *logExpr:
		if !e.or {
			return nil, false
		}
		l, lok := eqValues(e.l, attr)
		r, rok := eqValues(e.r, attr)
		return append(l, r...), lok && rok
	}
	return nil, false
}
