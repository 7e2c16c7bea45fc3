package graphfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Default $select sets: https://learn.microsoft.com/en-us/graph/api/user-list
// ("By default, only a limited set of properties are returned") and the
// group resource's default properties.
var (
	userDefaults  = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}
	groupDefaults = []string{"id", "deletedDateTime", "classification", "createdDateTime", "description", "displayName", "groupTypes", "mail",
		"mailEnabled", "mailNickname", "onPremisesLastSyncDateTime", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
		"preferredDataLocation", "proxyAddresses", "renewedDateTime", "resourceBehaviorOptions", "resourceProvisioningOptions",
		"securityEnabled", "visibility", "onPremisesProvisioningErrors"}
)

// collections are the properties that read as [] when unset, never
// null (the response examples of user-post-users and group-post-groups).
var collections = map[string]bool{"businessPhones": true, "groupTypes": true, "proxyAddresses": true,
	"resourceBehaviorOptions": true, "resourceProvisioningOptions": true, "onPremisesProvisioningErrors": true}

// Writable properties and their JSON kinds ("s" string, "b" bool, "o"
// object, "a" array).
var (
	userProps = map[string]string{"accountEnabled": "b", "displayName": "s", "mailNickname": "s", "userPrincipalName": "s",
		"passwordProfile": "o", "givenName": "s", "surname": "s", "mail": "s", "jobTitle": "s", "department": "s",
		"employeeId": "s", "mobilePhone": "s", "onPremisesImmutableId": "s", "usageLocation": "s", "businessPhones": "a"}
	groupProps = map[string]string{"displayName": "s", "mailNickname": "s", "mailEnabled": "b", "securityEnabled": "b",
		"description": "s", "groupTypes": "a"}
)

// maxLengths of string properties, from the user and group resource
// pages (employeeId: 16; extension properties: 256).
var maxLengths = map[string]int{"employeeId": 16, "mailNickname": 64, "displayName": 256, "userPrincipalName": 113}

func (s *Server) route(w http.ResponseWriter, r *http.Request, seg []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case seg[0] == "users" && len(seg) == 1:
		s.usersRoot(w, r)
	case (seg[0] == "users" || seg[0] == "groups") && len(seg) == 2 && seg[1] == "delta" && r.Method == http.MethodGet:
		s.delta(w, r, seg[0] == "groups")
	case seg[0] == "users" && len(seg) == 2:
		s.byKey(w, r, s.userKind(), seg[1])
	case seg[0] == "users" && len(seg) == 3 && seg[2] == "manager":
		s.manager(w, r, seg[1], false)
	case seg[0] == "users" && len(seg) == 4 && seg[2] == "manager" && seg[3] == "$ref":
		s.manager(w, r, seg[1], true)
	case seg[0] == "groups" && len(seg) == 1:
		s.groupsRoot(w, r)
	case seg[0] == "groups" && len(seg) == 2:
		s.byKey(w, r, s.groupKind(), seg[1])
	case seg[0] == "groups" && len(seg) == 3 && seg[2] == "members" && r.Method == http.MethodGet:
		s.listMembers(w, r, seg[1])
	case seg[0] == "groups" && len(seg) == 4 && seg[2] == "members" && seg[3] == "$ref" && r.Method == http.MethodPost:
		s.addMemberRef(w, r, seg[1])
	case seg[0] == "groups" && len(seg) == 5 && seg[2] == "members" && seg[4] == "$ref" && r.Method == http.MethodDelete:
		s.removeMember(w, seg[1], seg[3])
	default:
		graphError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg[len(seg)-1]))
	}
}

// decodeBody reads a JSON object body; it writes the 400 and returns nil
// when the body is not one.
func decodeBody(w http.ResponseWriter, r *http.Request) map[string]any {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body == nil {
		graphError(w, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		return nil
	}
	return body
}

// applyProps checks and applies body to props (a null clears a
// property); it returns the error message of a 400, or "". binds are
// the members@odata.bind of a group body.
func applyProps(props map[string]any, body map[string]any, allowed map[string]string, kind string) (binds []string, msg string) {
	for k, v := range body {
		if k == "members@odata.bind" && kind == "Group" {
			list, ok := v.([]any)
			if !ok {
				return nil, "Invalid value for 'members@odata.bind'."
			}
			for _, e := range list {
				ref, _ := e.(string)
				binds = append(binds, refID(ref))
			}
			continue
		}
		want, known := allowed[k]
		if strings.HasPrefix(k, "extension_") {
			want, known = "s", true
		}
		if !known {
			return nil, fmt.Sprintf("Property '%s' does not exist as a declared property or extension property.", k)
		}
		if v == nil {
			delete(props, k)
			continue
		}
		ok := false
		switch want {
		case "s":
			var str string
			str, ok = v.(string)
			max := maxLengths[k]
			if strings.HasPrefix(k, "extension_") {
				max = 256
			}
			if ok && max > 0 && len([]rune(str)) > max {
				ok = false
			}
		case "b":
			_, ok = v.(bool)
		case "o":
			_, ok = v.(map[string]any)
		case "a":
			_, ok = v.([]any)
		}
		if !ok {
			return nil, fmt.Sprintf("Invalid value specified for property '%s' of resource '%s'.", k, kind)
		}
		props[k] = v
	}
	return binds, ""
}

// refID is the object id at the end of an @odata.id URL
// (https://graph.microsoft.com/v1.0/directoryObjects/{id}).
func refID(ref string) string {
	i := strings.LastIndex(ref, "/")
	if i < 0 || !strings.Contains(ref[:i], "/directoryObjects") && !strings.Contains(ref[:i], "/users") {
		return ""
	}
	return ref[i+1:]
}

// fresh reports whether o is within the replication delay: a read of it
// answers 404.
func (s *Server) fresh(o *object) bool {
	if s.knobs.ReplicationDelay > 0 && !o.created.IsZero() && s.now().Sub(o.created) < s.knobs.ReplicationDelay {
		s.stats.Replication++
		return true
	}
	return false
}

// listObjects answers a listing of users or groups: a page of
// $top (default 100) in creation order, with the query's $filter,
// $select and $expand, and the @odata.nextLink of the next page.
func (s *Server) listObjects(w http.ResponseWriter, r *http.Request, k kind) {
	lq, ok := parseList(w, r, k.group, 100)
	if !ok {
		return
	}
	objs, token := page(k.objs, lq)
	value := make([]map[string]any, len(objs))
	for i, o := range objs {
		value[i] = project(o, lq.selects, k.defaults)
		if lq.expand {
			s.withManager(o, value[i], lq.msel)
		}
	}
	out := map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#" + k.set, "value": value}
	if token != "" {
		out["@odata.nextLink"] = nextLink(r, s.GraphURL(), token)
	}
	writeJSON(w, http.StatusOK, out)
}

// usersRoot lists users (https://learn.microsoft.com/en-us/graph/api/user-list)
// and creates them (https://learn.microsoft.com/en-us/graph/api/user-post-users,
// its request and response examples).
func (s *Server) usersRoot(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.listObjects(w, r, s.userKind())
	case http.MethodPost:
		body := decodeBody(w, r)
		if body == nil {
			return
		}
		props := map[string]any{}
		if _, msg := applyProps(props, body, userProps, "User"); msg != "" {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", msg)
			return
		}
		for _, req := range []string{"accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"} {
			if props[req] == nil {
				graphError(w, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid value specified for property '%s' of resource 'User'.", req))
				return
			}
		}
		if !s.checkUPN(w, props, "") {
			return
		}
		s.stats.Writes++
		o := s.newObject(props)
		o.props["createdDateTime"] = o.created.UTC().Format(time.RFC3339)
		s.users[o.id()] = o
		s.record(false, o.id(), "", false)
		out := project(o, nil, userDefaults)
		out["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
		writeJSON(w, http.StatusCreated, out)
	default:
		graphError(w, http.StatusMethodNotAllowed, "Request_BadRequest", "The HTTP method is not allowed.")
	}
}

// upnLocalValid applies Entra ID's rules to the part of a
// userPrincipalName before the @
// (https://learn.microsoft.com/en-us/troubleshoot/microsoft-365/admin/users/username-contains-special-character
// and the user name policies of
// https://learn.microsoft.com/en-us/entra/identity/authentication/concept-sspr-policy):
// 1 to 64 of A-Z a-z 0-9 ' . - _ ! # ^ ~, not starting or ending with a
// period. Letters with accents and other non-ASCII letters are refused.
func upnLocalValid(local string) bool {
	if local == "" || len(local) > 64 || local[0] == '.' || local[len(local)-1] == '.' {
		return false
	}
	for _, r := range local {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("'.-_!#^~", r)) {
			return false
		}
	}
	return true
}

// checkUPN refuses a userPrincipalName that breaks upnLocalValid or has
// no domain, and one taken by another user (self), with the 400 of a duplicate
// (https://learn.microsoft.com/en-us/graph/api/user-post-users; the body
// is the one Entra ID sends, "ObjectConflict").
func (s *Server) checkUPN(w http.ResponseWriter, props map[string]any, self string) bool {
	upn, _ := props["userPrincipalName"].(string)
	local, domain, ok := strings.Cut(upn, "@")
	if !ok || !upnLocalValid(local) || domain == "" || strings.Contains(domain, "@") {
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "Property userPrincipalName is invalid.")
		return false
	}
	for id, o := range s.users {
		if id != self && strings.EqualFold(o.props["userPrincipalName"].(string), upn) {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
				"code":    "Request_BadRequest",
				"message": "Another object with the same value for property userPrincipalName already exists.",
				"details": []any{map[string]any{"code": "ObjectConflict", "message": "Another object with the same value for property userPrincipalName already exists.", "target": "userPrincipalName"}},
			}})
			return false
		}
	}
	return true
}

// userKey finds a user by id or userPrincipalName.
func (s *Server) userKey(key string) *object {
	if o, ok := s.users[key]; ok {
		return o
	}
	for _, o := range s.users {
		if strings.EqualFold(o.props["userPrincipalName"].(string), key) {
			return o
		}
	}
	return nil
}

func without(list []string, id string) []string {
	out := list[:0]
	for _, v := range list {
		if v != id {
			out = append(out, v)
		}
	}
	return out
}
