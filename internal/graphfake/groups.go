package graphfake

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// maxBind is the most references one members@odata.bind may carry
// (https://learn.microsoft.com/en-us/graph/api/group-update, example 3:
// "up to 20 members").
const maxBind = 20

// errExists is Graph's 400 for a member already there
// (https://learn.microsoft.com/en-us/graph/api/group-post-members).
const errExists = "One or more added object references already exist for the following modified properties: 'members'."

// groupsRoot: https://learn.microsoft.com/en-us/graph/api/group-list and
// group-post-groups (security group example: mailEnabled false,
// securityEnabled true).
func (s *Server) groupsRoot(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.listObjects(w, r, s.groupKind())
	case http.MethodPost:
		body := decodeBody(w, r)
		if body == nil {
			return
		}
		props := map[string]any{}
		binds, msg := applyProps(props, body, groupProps, "Group")
		if msg != "" {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", msg)
			return
		}
		for _, req := range []string{"displayName", "mailEnabled", "mailNickname", "securityEnabled"} {
			if props[req] == nil {
				graphError(w, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid value specified for property '%s' of resource 'Group'.", req))
				return
			}
		}
		if !s.checkGroupType(w, props) || !s.checkNickname(w, props, "") || !s.checkBinds(w, nil, binds) {
			return
		}
		s.stats.Writes++
		o := s.newObject(props)
		o.props["createdDateTime"] = o.created.UTC().Format(time.RFC3339)
		o.props["renewedDateTime"] = o.props["createdDateTime"]
		if _, ok := o.props["groupTypes"]; !ok {
			o.props["groupTypes"] = []any{}
		}
		if mail, _ := o.props["mailEnabled"].(bool); mail {
			// A Microsoft 365 group gets its address at once, from the alias
			// (group-post-groups, example 1).
			addr := o.props["mailNickname"].(string) + "@" + s.domain()
			o.props["mail"], o.props["proxyAddresses"] = addr, []any{"SMTP:" + addr}
		}
		o.members = binds
		s.groups[o.id()] = o
		s.record(true, o.id(), "", false)
		for _, m := range binds {
			s.record(true, o.id(), m, false)
		}
		out := project(o, nil, groupDefaults)
		out["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#groups/$entity"
		writeJSON(w, http.StatusCreated, out)
	default:
		graphError(w, http.StatusMethodNotAllowed, "Request_BadRequest", "The HTTP method is not allowed.")
	}
}

// unified is the groupTypes entry of a Microsoft 365 group.
const unified = "Unified"

// checkGroupType refuses the kinds of group Graph cannot create or make
// (https://learn.microsoft.com/en-us/graph/api/group-post-groups, the
// table of group types; https://learn.microsoft.com/en-us/graph/api/resources/groups-overview):
// a Microsoft 365 group (groupTypes ["Unified"]) must be mail-enabled; a
// group that is not one must not be (mail-enabled security groups and
// distribution lists are Exchange's, "does not currently support writes
// of mail-enabled groups"); a security group must be securityEnabled;
// groupTypes other than Unified and DynamicMembership are unknown.
func (s *Server) checkGroupType(w http.ResponseWriter, props map[string]any) bool {
	isUnified := false
	types, _ := props["groupTypes"].([]any)
	for _, t := range types {
		switch t {
		case unified:
			isUnified = true
		case "DynamicMembership":
		default:
			graphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'groupTypes' of resource 'Group'.")
			return false
		}
	}
	mail, _ := props["mailEnabled"].(bool)
	security, _ := props["securityEnabled"].(bool)
	switch {
	case isUnified && !mail:
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "A Unified group must be mail-enabled: set mailEnabled to true.")
		return false
	case !isUnified && mail:
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "The service does not currently support writes of mail-enabled groups. Please ensure that the mail-enablement property is unset or is set to false.")
		return false
	case !isUnified && !security:
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'securityEnabled' of resource 'Group'.")
		return false
	}
	return true
}

// checkNickname refuses a mailNickname with the characters Graph
// refuses (@ () \ [] " ; : <> , SPACE, non-ASCII) or, for groups, one
// another group has, with the ObjectConflict 400.
func (s *Server) checkNickname(w http.ResponseWriter, props map[string]any, self string) bool {
	nick, _ := props["mailNickname"].(string)
	if nick == "" || strings.ContainsAny(nick, "@()\\[]\";:<>, ") || strings.IndexFunc(nick, func(r rune) bool { return r > 127 }) >= 0 {
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'mailNickname' of resource 'Group'.")
		return false
	}
	for id, o := range s.groups {
		if id != self && strings.EqualFold(o.props["mailNickname"].(string), nick) {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", "Another object with the same value for property mailNickname already exists.")
			return false
		}
	}
	return true
}

// checkBinds refuses more than 20 references, a reference to an object
// that does not exist (or is within the replication delay), and one to
// a member already there; all or nothing.
func (s *Server) checkBinds(w http.ResponseWriter, g *object, binds []string) bool {
	if len(binds) > maxBind {
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "The request exceeds the maximum of 20 references in members@odata.bind.")
		return false
	}
	for _, id := range binds {
		u := s.users[id]
		if u == nil || s.fresh(u) {
			notFound(w, id)
			return false
		}
		if g != nil && slices.Contains(g.members, id) {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", errExists)
			return false
		}
	}
	return true
}

// listMembers: https://learn.microsoft.com/en-us/graph/api/group-list-members
// (directoryObjects with @odata.type, paged by @odata.nextLink).
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, id string) {
	g := s.groups[id]
	if g == nil || s.fresh(g) {
		notFound(w, id)
		return
	}
	lq, ok := parseList(w, r, false, 100)
	if !ok {
		return
	}
	var value []map[string]any
	token := ""
	for i, m := range g.members {
		if int64(i) < lq.after {
			continue
		}
		if len(value) == lq.top {
			token = fmt.Sprintf("X%x", i)
			break
		}
		u := s.users[m]
		if u == nil {
			continue
		}
		p := project(u, lq.selects, []string{"id", "displayName", "userPrincipalName"})
		p["@odata.type"] = "#microsoft.graph.user"
		value = append(value, p)
	}
	if value == nil {
		value = []map[string]any{}
	}
	out := map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects", "value": value}
	if token != "" {
		out["@odata.nextLink"] = nextLink(r, s.GraphURL(), token)
	}
	writeJSON(w, http.StatusOK, out)
}

// addMemberRef: https://learn.microsoft.com/en-us/graph/api/group-post-members
// (POST {"@odata.id": ".../directoryObjects/{id}"} → 204; 400 for a
// member already there).
func (s *Server) addMemberRef(w http.ResponseWriter, r *http.Request, id string) {
	g := s.groups[id]
	if g == nil || s.fresh(g) {
		notFound(w, id)
		return
	}
	body := decodeBody(w, r)
	if body == nil {
		return
	}
	ref, _ := body["@odata.id"].(string)
	mid := refID(ref)
	if mid == "" {
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid object identifier '"+ref+"'.")
		return
	}
	if !s.checkBinds(w, g, []string{mid}) {
		return
	}
	s.stats.Writes++
	g.members = append(g.members, mid)
	s.record(true, id, mid, false)
	w.WriteHeader(http.StatusNoContent)
}

// removeMember: https://learn.microsoft.com/en-us/graph/api/group-delete-members
// (204; 404 Request_ResourceNotFound for a non-member).
func (s *Server) removeMember(w http.ResponseWriter, id, mid string) {
	g := s.groups[id]
	if g == nil {
		notFound(w, id)
		return
	}
	if !slices.Contains(g.members, mid) {
		notFound(w, mid)
		return
	}
	s.stats.Writes++
	g.members = without(g.members, mid)
	s.record(true, id, mid, true)
	w.WriteHeader(http.StatusNoContent)
}

// domain is the tenant's default domain: the tenant when it is a
// domain name, else {tenant}.onmicrosoft.com.
func (s *Server) domain() string {
	if strings.Contains(s.opts.Tenant, ".") {
		return s.opts.Tenant
	}
	return s.opts.Tenant + ".onmicrosoft.com"
}
