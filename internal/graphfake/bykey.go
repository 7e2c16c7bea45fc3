package graphfake

import (
	"fmt"
	"net/http"
	"slices"
)

// kind is what tells users and groups apart in the handlers of one
// object (GET, PATCH, DELETE), which are otherwise the same.
type kind struct {
	name     string // "User", "Group": the resource in error messages
	set      string // "users", "groups": the entity set in @odata.context
	group    bool
	objs     map[string]*object
	props    map[string]string // writable properties
	defaults []string          // the default $select
	// check refuses a PATCH (writing the 400) before it is applied to o;
	// props are the properties after it, binds its members@odata.bind.
	check func(w http.ResponseWriter, o *object, props map[string]any, binds []string) bool
}

func (s *Server) userKind() kind {
	return kind{name: "User", set: "users", objs: s.users, props: userProps, defaults: userDefaults,
		check: func(w http.ResponseWriter, o *object, props map[string]any, binds []string) bool {
			for _, req := range []string{"displayName", "mailNickname", "userPrincipalName", "accountEnabled"} {
				if props[req] == nil {
					graphError(w, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid value specified for property '%s' of resource 'User'.", req))
					return false
				}
			}
			return s.checkUPN(w, props, o.id())
		}}
}

func (s *Server) groupKind() kind {
	return kind{name: "Group", set: "groups", group: true, objs: s.groups, props: groupProps, defaults: groupDefaults,
		check: func(w http.ResponseWriter, o *object, props map[string]any, binds []string) bool {
			return s.checkGroupType(w, props) && s.checkNickname(w, props, o.id()) && s.checkBinds(w, o, binds)
		}}
}

// byKey answers GET, PATCH and DELETE of one user or group:
// https://learn.microsoft.com/en-us/graph/api/user-get, user-update
// (204 No Content), user-delete (204); group-get, group-update (204,
// members@odata.bind), group-delete (204). A user is found by id or
// userPrincipalName, a group by id.
func (s *Server) byKey(w http.ResponseWriter, r *http.Request, k kind, key string) {
	o := k.objs[key]
	if o == nil && !k.group {
		o = s.userKey(key)
	}
	if o == nil || (r.Method == http.MethodGet && s.fresh(o)) {
		notFound(w, key)
		return
	}
	id := o.id()
	switch r.Method {
	case http.MethodGet:
		out, ok := s.projectQuery(w, r, o, k)
		if !ok {
			return
		}
		out["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#" + k.set + "/$entity"
		writeJSON(w, http.StatusOK, out)
	case http.MethodPatch:
		body := decodeBody(w, r)
		if body == nil {
			return
		}
		props := cloneProps(o.props)
		binds, msg := applyProps(props, body, k.props, k.name)
		if msg != "" {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", msg)
			return
		}
		if !k.check(w, o, props, binds) {
			return
		}
		s.stats.Writes++
		s.recordProps(k.group, id, changedProps(o.props, props))
		o.props = props
		o.members = append(o.members, binds...)
		for _, m := range binds {
			s.record(true, id, m, false)
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		s.stats.Writes++
		delete(k.objs, id)
		s.record(k.group, id, "", true)
		if !k.group {
			s.dropUserRefs(id)
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		graphError(w, http.StatusMethodNotAllowed, "Request_BadRequest", "The HTTP method is not allowed.")
	}
}

// dropUserRefs removes a deleted user from its groups and as a manager.
func (s *Server) dropUserRefs(id string) {
	for gid, g := range s.groups {
		if slices.Contains(g.members, id) {
			g.members = without(g.members, id)
			s.record(true, gid, id, true)
		}
	}
	for _, u := range s.users {
		if u.manager == id {
			u.manager = ""
			s.recordProps(false, u.id(), []string{"manager"})
		}
	}
}
