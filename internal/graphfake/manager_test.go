package graphfake

import (
	"net/http"
	"strings"
	"testing"
)

// TestManagerRoutes: PUT, GET and DELETE of /users/{id}/manager as
// user-post-manager, user-list-manager and user-delete-manager
// document them, and $expand=manager on a read and a listing.
func TestManagerRoutes(t *testing.T) {
	c := newClient(t)
	_, _, boss := c.do(http.MethodPost, "/users", userBody("boss@contoso.com"))
	_, _, rep := c.do(http.MethodPost, "/users", userBody("rep@contoso.com"))
	bossID, repID := boss["id"].(string), rep["id"].(string)
	ref := map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/users/" + bossID}
	for _, tt := range []struct {
		name, method, path string
		body               any
		want               int
		wantCode           string
		wantManager        string // for a 200: the id of the manager in the answer
	}{
		{"none yet", http.MethodGet, "/users/" + repID + "/manager", nil, 404, "Request_ResourceNotFound", ""},
		{"delete none", http.MethodDelete, "/users/" + repID + "/manager/$ref", nil, 404, "Request_ResourceNotFound", ""},
		{"own manager", http.MethodPut, "/users/" + bossID + "/manager/$ref", ref, 400, "Request_BadRequest", ""},
		{"unknown manager", http.MethodPut, "/users/" + repID + "/manager/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/users/nobody"}, 404, "Request_ResourceNotFound", ""},
		{"set", http.MethodPut, "/users/" + repID + "/manager/$ref", ref, 204, "", ""},
		{"read", http.MethodGet, "/users/" + repID + "/manager?$select=id,displayName", nil, 200, "", bossID},
		{"expanded on a read", http.MethodGet, "/users/" + repID + "?$select=id&$expand=manager($select=id)", nil, 200, "", bossID},
		{"expanded on a listing", http.MethodGet, "/users?$select=id&$expand=manager($select=id)&$filter=id%20eq%20'" + repID + "'", nil, 200, "", bossID},
		{"expand of something else", http.MethodGet, "/users?$expand=memberOf", nil, 400, "BadRequest", ""},
		{"removed", http.MethodDelete, "/users/" + repID + "/manager/$ref", nil, 204, "", ""},
		{"expanded when none", http.MethodGet, "/users/" + repID + "?$select=id&$expand=manager", nil, 200, "", ""},
	} {
		st, _, out := c.do(tt.method, tt.path, tt.body)
		if st != tt.want {
			t.Errorf("%s: %d, want %d: %v", tt.name, st, tt.want, out)
			continue
		}
		if code, _ := errCode(out); code != tt.wantCode {
			t.Errorf("%s: error code %q, want %q", tt.name, code, tt.wantCode)
		}
		if st != 200 {
			continue
		}
		if v, ok := out["value"].([]any); ok && len(v) == 1 {
			out, _ = v[0].(map[string]any)
		}
		m, _ := out["manager"].(map[string]any)
		if out["@odata.type"] == "#microsoft.graph.user" && out["id"] == bossID {
			m = out // GET …/manager answers the manager itself
		}
		if got, _ := m["id"].(string); got != tt.wantManager {
			t.Errorf("%s: manager %q, want %q: %v", tt.name, got, tt.wantManager, out)
		}
	}
}

// TestGroupTypes: security and Microsoft 365 groups are made; the
// combinations Graph refuses are refused.
func TestGroupTypes(t *testing.T) {
	c := newClient(t)
	for i, tt := range []struct {
		name           string
		types          []any
		mail, security bool
		want           int
	}{
		{"security", []any{}, false, true, 201},
		{"microsoft 365", []any{"Unified"}, true, false, 201},
		{"microsoft 365, security-enabled", []any{"Unified"}, true, true, 201},
		{"microsoft 365 without mail", []any{"Unified"}, false, false, 400},
		{"mail-enabled security", []any{}, true, true, 400},
		{"distribution list", []any{}, true, false, 400},
		{"neither", []any{}, false, false, 400},
		{"unknown type", []any{"Team"}, true, false, 400},
	} {
		st, _, out := c.do(http.MethodPost, "/groups", map[string]any{"displayName": tt.name, "mailNickname": "g" + string(rune('a'+i)),
			"groupTypes": tt.types, "mailEnabled": tt.mail, "securityEnabled": tt.security})
		if st != tt.want {
			t.Errorf("%s: %d, want %d: %v", tt.name, st, tt.want, out)
		}
	}
}

// TestUPNRules: the part of a userPrincipalName before the @ takes
// A-Z a-z 0-9 ' . - _ ! # ^ ~ only, 64 at most, no period at either end.
func TestUPNRules(t *testing.T) {
	c := newClient(t)
	for _, tt := range []struct {
		upn  string
		want int
	}{
		{"o'brien@contoso.com", 201},
		{"a.b-c_d!e#f^g~h@contoso.com", 201},
		{strings.Repeat("x", 64) + "@contoso.com", 201},
		{strings.Repeat("y", 65) + "@contoso.com", 400},
		{"zoë@contoso.com", 400},
		{"日本@contoso.com", 400},
		{"with space@contoso.com", 400},
		{"paren(s)@contoso.com", 400},
		{"plus+tag@contoso.com", 400},
		{".lead@contoso.com", 400},
		{"trail.@contoso.com", 400},
		{"nodomain", 400},
		{"@contoso.com", 400},
	} {
		st, _, out := c.do(http.MethodPost, "/users", userBody(tt.upn))
		_, msg := errCode(out)
		if st != tt.want || (st == 400 && msg != "Property userPrincipalName is invalid.") {
			t.Errorf("%q: %d %q, want %d", tt.upn, st, msg, tt.want)
		}
	}
}

// TestDeltaSelect: a delta query with $select reports an update only
// when it changed a selected property (the manager and members count
// as properties to select); creations are reported whatever the select.
func TestDeltaSelect(t *testing.T) {
	c := newClient(t)
	_, _, boss := c.do(http.MethodPost, "/users", userBody("boss@contoso.com"))
	_, _, rep := c.do(http.MethodPost, "/users", userBody("rep@contoso.com"))
	repID := rep["id"].(string)
	links := map[string]string{}
	for _, sel := range []string{"displayName", "displayName,manager", "jobTitle"} {
		_, _, out := c.do(http.MethodGet, "/users/delta?$select="+sel+"&$deltatoken=latest", nil)
		links[sel] = out["@odata.deltaLink"].(string)
	}
	for _, step := range []struct {
		name   string
		method string
		path   string
		body   any
		want   map[string]bool // $select → whether rep is reported
	}{
		{"jobTitle changed", http.MethodPatch, "/users/" + repID, map[string]any{"jobTitle": "Engineer"},
			map[string]bool{"displayName": false, "displayName,manager": false, "jobTitle": true}},
		{"jobTitle written again, unchanged", http.MethodPatch, "/users/" + repID, map[string]any{"jobTitle": "Engineer"},
			map[string]bool{"displayName": false, "displayName,manager": false, "jobTitle": false}},
		{"manager set", http.MethodPut, "/users/" + repID + "/manager/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/users/" + boss["id"].(string)},
			map[string]bool{"displayName": false, "displayName,manager": true, "jobTitle": false}},
		{"displayName changed", http.MethodPatch, "/users/" + repID, map[string]any{"displayName": "Rep"},
			map[string]bool{"displayName": true, "displayName,manager": true, "jobTitle": false}},
	} {
		if st, _, out := c.do(step.method, step.path, step.body); st != 204 {
			t.Fatalf("%s: %d %v", step.name, st, out)
		}
		for sel, want := range step.want {
			_, _, out := c.do(http.MethodGet, links[sel], nil)
			links[sel] = out["@odata.deltaLink"].(string)
			got := false
			for _, it := range out["value"].([]any) {
				got = got || it.(map[string]any)["id"] == repID
			}
			if got != want {
				t.Errorf("%s: $select=%s reports the user: %t, want %t", step.name, sel, got, want)
			}
		}
	}
}
