package scimfake

import (
	"encoding/json"
	"net/http"
)

func (s *Server) serveUsers(w http.ResponseWriter, r *http.Request, id string) {
	switch {
	case id == "" && r.Method == http.MethodGet:
		q, e := s.parseListQuery(r.URL.Query(), "Users")
		if e != nil {
			s.writeError(w, e)
			return
		}
		s.listUsers(w, q)
	case id == "" && r.Method == http.MethodPost:
		s.createUser(w, r)
	case id == "":
		s.methodNotAllowed(w, "GET, POST")
	case id == ".search" && r.Method == http.MethodPost:
		body, e := s.readBody(w, r)
		if e == nil {
			var q listQuery
			if q, e = s.parseSearch(body, "Users"); e == nil {
				s.listUsers(w, q)
				return
			}
		}
		s.writeError(w, e)
	case r.Method == http.MethodGet:
		s.getUser(w, r, id)
	case r.Method == http.MethodPut, r.Method == http.MethodPatch:
		s.updateUser(w, r, id)
	case r.Method == http.MethodDelete:
		s.deleteUser(w, r, id)
	default:
		s.methodNotAllowed(w, "GET, PUT, PATCH, DELETE")
	}
}

func (s *Server) listUsers(w http.ResponseWriter, q listQuery) {
	st := s.store
	st.mu.RLock()
	all := st.findUsers(q.filter)
	pg := page(all, q)
	views := make([]User, len(pg))
	for i, r := range pg {
		views[i] = st.userView(r, s.URL)
	}
	st.mu.RUnlock()
	s.writeList(w, q, len(all), views, len(views))
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, id string) {
	st := s.store
	st.mu.RLock()
	rec := st.users[id]
	var u User
	if rec != nil {
		u = st.userView(rec, s.URL)
	}
	st.mu.RUnlock()
	switch {
	case rec == nil:
		s.writeError(w, errNotFound("no user "+id))
	case r.Header.Get("If-None-Match") != "" && etagMatches(r.Header.Get("If-None-Match"), u.Meta.Version):
		w.Header().Set("ETag", u.Meta.Version)
		w.WriteHeader(http.StatusNotModified)
	default:
		s.writeResource(w, http.StatusOK, u.Meta.Version, "", u)
	}
}

// decodeUser reads a User body (POST, PUT) and checks it.
func (s *Server) decodeUser(w http.ResponseWriter, r *http.Request) (User, *apiError) {
	body, e := s.readBody(w, r)
	if e != nil {
		return User{}, e
	}
	var u User
	if err := json.Unmarshal(body, &u); err != nil {
		return User{}, errInvalidSyntax("body is not a User: " + err.Error())
	}
	if !hasSchema(u.schemas, SchemaUser) {
		return User{}, errInvalidSyntax("schemas must include " + SchemaUser)
	}
	u.normalize()
	if e := u.validate(); e != nil {
		return User{}, e
	}
	return u, s.flavorUserRules(&u)
}

// flavorUserRules are what a vendor requires beyond RFC 7643.
func (s *Server) flavorUserRules(u *User) *apiError {
	switch s.opts.Flavor {
	case GitHubEMU: // "Provision a SCIM enterprise user": required body parameters
		switch {
		case u.ExternalID == "":
			return errInvalidValue("externalId is required")
		case u.DisplayName == "":
			return errInvalidValue("displayName is required")
		case len(u.Emails) == 0:
			return errInvalidValue("emails is required")
		}
	case Slack:
		if len(u.Emails) == 0 {
			return errInvalidValue("a user needs at least one email address")
		}
	}
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	u, e := s.decodeUser(w, r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	u.ID = ""
	st := s.store
	st.mu.Lock()
	if e = st.userConflict(&u, ""); e == nil {
		u = st.userView(st.addUser(u, s.now().UTC()), s.URL)
	}
	st.mu.Unlock()
	if e != nil {
		s.writeError(w, e)
		return
	}
	s.writeResource(w, http.StatusCreated, u.Meta.Version, u.Meta.Location, u)
}

// updateUser answers PUT (replace) and PATCH.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, id string) {
	var put User
	var ops []patchOp
	var e *apiError
	if r.Method == http.MethodPut {
		put, e = s.decodeUser(w, r)
	} else {
		var body []byte
		if body, e = s.readBody(w, r); e == nil {
			ops, e = decodeOps(body)
		}
	}
	if e != nil {
		s.writeError(w, e)
		return
	}
	st := s.store
	st.mu.Lock()
	var u User
	rec := st.users[id]
	switch {
	case rec == nil:
		e = errNotFound("no user " + id)
	default:
		e = s.preconditionFailed(r, etag(rec.version))
	}
	if e == nil && ops != nil {
		put, e = patchUser(rec.u, ops, s.opts.Flavor == GitHubEMU)
		if e == nil {
			e = s.flavorUserRules(&put)
		}
	}
	if e == nil {
		if e = st.userConflict(&put, id); e == nil {
			st.putUser(rec, put, s.now().UTC())
			u = st.userView(rec, s.URL)
		}
	}
	st.mu.Unlock()
	switch {
	case e != nil:
		s.writeError(w, e)
	case ops != nil && s.opts.PatchNoContent:
		w.Header().Set("ETag", u.Meta.Version)
		w.WriteHeader(http.StatusNoContent)
	default:
		s.writeResource(w, http.StatusOK, u.Meta.Version, "", u)
	}
}

// deleteUser deletes a user; Slack deactivates it instead ("DELETE
// /Users/<id>: sets a Slack user to deactivated"), and it stays listed.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, id string) {
	st := s.store
	st.mu.Lock()
	rec := st.users[id]
	var e *apiError
	switch {
	case rec == nil:
		e = errNotFound("no user " + id)
	default:
		e = s.preconditionFailed(r, etag(rec.version))
	}
	if e == nil {
		now := s.now().UTC()
		if s.opts.Flavor == Slack {
			if rec.u.Active {
				u := rec.u.clone()
				u.Active = false
				st.putUser(rec, u, now)
			}
		} else {
			st.removeUser(rec, now)
		}
	}
	st.mu.Unlock()
	if e != nil {
		s.writeError(w, e)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
