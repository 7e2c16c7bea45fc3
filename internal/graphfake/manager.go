package graphfake

import (
	"net/http"
	"strings"
)

// expandManager reads $expand: "manager" or "manager($select=a,b)",
// on users only (https://learn.microsoft.com/en-us/graph/api/user-list-manager,
// and $expand on a user listing,
// https://learn.microsoft.com/en-us/graph/query-parameters#expand).
// It returns whether the manager is expanded and its $select (nil: the
// defaults); msg is the 400's message when the $expand is refused.
func expandManager(v string, group bool) (expand bool, sel []string, msg string) {
	if v == "" {
		return false, nil, ""
	}
	name, rest, _ := strings.Cut(v, "(")
	if name != "manager" || group {
		kind := "user"
		if group {
			kind = "group"
		}
		return false, nil, "Could not find a property named '" + name + "' on type 'microsoft.graph." + kind + "'."
	}
	if rest == "" {
		return true, nil, ""
	}
	inner, ok := strings.CutSuffix(rest, ")")
	list, ok2 := strings.CutPrefix(inner, "$select=")
	if !ok || !ok2 || list == "" {
		return false, nil, "Term '" + v + "' is not valid in a $select or $expand expression."
	}
	return true, strings.Split(list, ","), ""
}

// withManager adds o's manager, as Graph expands it (a directoryObject
// with @odata.type), to out; a user without a manager has no "manager"
// property.
func (s *Server) withManager(o *object, out map[string]any, sel []string) {
	m := s.users[o.manager]
	if m == nil {
		return
	}
	p := project(m, sel, userDefaults)
	p["@odata.type"] = "#microsoft.graph.user"
	p["id"] = m.id()
	out["manager"] = p
}

// projectQuery is o as the request's $select and $expand ask; it writes
// the 400 and returns false when they are refused.
func (s *Server) projectQuery(w http.ResponseWriter, r *http.Request, o *object, k kind) (map[string]any, bool) {
	q := r.URL.Query()
	var sel []string
	if v := q.Get("$select"); v != "" {
		sel = strings.Split(v, ",")
	}
	expand, msel, msg := expandManager(q.Get("$expand"), k.group)
	if msg != "" {
		graphError(w, http.StatusBadRequest, "BadRequest", msg)
		return nil, false
	}
	out := project(o, sel, k.defaults)
	if expand {
		s.withManager(o, out, msel)
	}
	return out, true
}

// manager answers /users/{id}/manager and /users/{id}/manager/$ref:
// GET (https://learn.microsoft.com/en-us/graph/api/user-list-manager:
// the manager as a directoryObject, 404 when there is none), PUT $ref
// with {"@odata.id": ".../users/{id}"} (user-post-manager, 204) and
// DELETE $ref (user-delete-manager, 204; 404 when there is none).
func (s *Server) manager(w http.ResponseWriter, r *http.Request, key string, ref bool) {
	o := s.userKey(key)
	if o == nil || (r.Method == http.MethodGet && s.fresh(o)) {
		notFound(w, key)
		return
	}
	switch {
	case r.Method == http.MethodGet:
		m := s.users[o.manager]
		if m == nil {
			notFound(w, "manager")
			return
		}
		var out map[string]any
		if ref {
			out = map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects/$ref",
				"@odata.id": "https://graph.microsoft.com/v2/" + s.opts.Tenant + "/directoryObjects/" + m.id() + "/Microsoft.DirectoryServices.User"}
		} else {
			var sel []string
			if v := r.URL.Query().Get("$select"); v != "" {
				sel = strings.Split(v, ",")
			}
			out = project(m, sel, userDefaults)
			out["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#directoryObjects/$entity"
			out["@odata.type"] = "#microsoft.graph.user"
			out["id"] = m.id()
		}
		writeJSON(w, http.StatusOK, out)
	case r.Method == http.MethodPut && ref:
		body := decodeBody(w, r)
		if body == nil {
			return
		}
		mref, _ := body["@odata.id"].(string)
		m := s.users[refID(mref)]
		if m == nil || s.fresh(m) {
			notFound(w, refID(mref))
			return
		}
		if m == o {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", "A user cannot be their own manager.")
			return
		}
		s.stats.Writes++
		o.manager = m.id()
		s.recordProps(false, o.id(), []string{"manager"})
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodDelete && ref:
		if o.manager == "" {
			notFound(w, "manager")
			return
		}
		s.stats.Writes++
		o.manager = ""
		s.recordProps(false, o.id(), []string{"manager"})
		w.WriteHeader(http.StatusNoContent)
	default:
		graphError(w, http.StatusMethodNotAllowed, "Request_BadRequest", "The HTTP method is not allowed.")
	}
}
