package scimfake

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestPatchUser(t *testing.T) {
	ent := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	tests := []struct {
		name  string
		ops   []map[string]any
		check func(User) bool
	}{
		{"Entra replace without path", []map[string]any{op("Replace", "", map[string]any{"active": "False", "displayName": "A. L."})},
			func(u User) bool { return !u.Active && u.DisplayName == "A. L." }},
		{"no path with dotted and URN keys", []map[string]any{op("replace", "", map[string]any{"name.givenName": "Al", ent: map[string]any{"department": "Ops"}})},
			func(u User) bool {
				return u.Name.GivenName == "Al" && u.Name.FamilyName == "Family" && u.Enterprise.Department == "Ops"
			}},
		{"sub-attribute", []map[string]any{op("replace", "name.familyName", "Liddell")},
			func(u User) bool { return u.Name.FamilyName == "Liddell" && u.Name.GivenName == "Given" }},
		{"complex replace merges", []map[string]any{op("replace", "name", map[string]any{"formatted": "Alice L"})},
			func(u User) bool { return u.Name.Formatted == "Alice L" && u.Name.GivenName == "Given" }},
		{"filtered sub-attribute", []map[string]any{op("replace", `emails[type eq "work"].value`, "new@example.com")},
			func(u User) bool { return len(u.Emails) == 1 && u.Emails[0].Value == "new@example.com" }},
		{"add through a filter that matches nothing creates", []map[string]any{op("add", `phoneNumbers[type eq "mobile"].value`, "+1 555")},
			func(u User) bool {
				return len(u.PhoneNumbers) == 1 && u.PhoneNumbers[0].Type == "mobile" && u.PhoneNumbers[0].Value == "+1 555"
			}},
		{"add to a multi-valued attribute; the new primary wins", []map[string]any{op("add", "emails", []map[string]any{{"value": "two@example.com", "primary": true}})},
			func(u User) bool { return len(u.Emails) == 2 && !u.Emails[0].Primary && u.Emails[1].Primary }},
		{"add a duplicate value is no change", []map[string]any{op("add", "emails", map[string]any{"value": "ALICE@example.com"})},
			func(u User) bool { return len(u.Emails) == 1 }},
		{"remove through a filter", []map[string]any{op("remove", `emails[value eq "alice@example.com"]`, nil)},
			func(u User) bool { return len(u.Emails) == 0 }},
		{"remove an attribute", []map[string]any{op("remove", "name.givenName", nil), op("remove", "externalId", nil)},
			func(u User) bool { return u.Name.GivenName == "" && u.ExternalID == "" }},
		{"enterprise URN path", []map[string]any{op("add", ent+":manager", map[string]any{"value": "m-1"}), op("add", ent+":employeeNumber", "42")},
			func(u User) bool { return u.Enterprise.Manager.Value == "m-1" && u.Enterprise.EmployeeNumber == "42" }},
		{"core URN path, any case", []map[string]any{op("REPLACE", "urn:ietf:params:scim:schemas:core:2.0:User:TITLE", "Boss")},
			func(u User) bool { return u.Title == "Boss" }},
		{"remove the extension", []map[string]any{op("add", ent+":department", "X"), op("remove", ent, nil)},
			func(u User) bool { return u.Enterprise == nil }},
		{"read-only keys in a value are ignored", []map[string]any{op("replace", "", map[string]any{"id": "forged", "meta": map[string]any{}, "title": "T"})},
			func(u User) bool { return u.Title == "T" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(Options{})
			defer s.Close()
			c := newClient(t, s, "")
			u := c.createUser("alice", "ext", "alice@example.com")
			var got User
			c.do("PATCH", "/Users/"+u.ID, patchBody(tt.ops...)).want(t, http.StatusOK).decode(t, &got)
			if got.ID != u.ID || got.Meta.Version != `W/"2"` || !tt.check(got) {
				t.Errorf("after PATCH: %+v", got)
			}
			if stored := s.Users()[0]; stored.Meta.Version != got.Meta.Version || stored.Title != got.Title {
				t.Errorf("stored %+v differs from the answer", stored)
			}
		})
	}
}

func TestPatchUserErrors(t *testing.T) {
	tests := []struct {
		name     string
		ops      []map[string]any
		status   int
		scimType string
	}{
		{"unknown attribute", []map[string]any{op("replace", "shoeSize", "9")}, 400, "invalidPath"},
		{"unknown sub-attribute", []map[string]any{op("replace", "name.nickname", "x")}, 400, "invalidPath"},
		{"filter on a single-valued attribute", []map[string]any{op("replace", `title[value eq "x"]`, "x")}, 400, "invalidPath"},
		{"bad filter", []map[string]any{op("remove", `emails[type eq]`, nil)}, 400, "invalidFilter"},
		{"replace through a filter that matches nothing", []map[string]any{op("replace", `emails[type eq "home"].value`, "x")}, 400, "noTarget"},
		{"remove without a path", []map[string]any{op("remove", "", nil)}, 400, "noTarget"},
		{"read-only id", []map[string]any{op("replace", "id", "x")}, 400, "mutability"},
		{"read-only groups", []map[string]any{op("add", "groups", map[string]any{"value": "g"})}, 400, "mutability"},
		{"no path and no object", []map[string]any{op("replace", "", "x")}, 400, "invalidValue"},
		{"userName removed", []map[string]any{op("remove", "userName", nil)}, 400, "invalidValue"},
		{"active not a boolean", []map[string]any{op("replace", "active", "maybe")}, 400, "invalidValue"},
		// Atomic: the first operation is valid, the second is not; nothing changes.
		{"all or nothing", []map[string]any{op("replace", "title", "Changed"), op("replace", "shoeSize", "9")}, 400, "invalidPath"},
		{"uniqueness", []map[string]any{op("replace", "userName", "BOB")}, 409, "uniqueness"},
	}
	s := Start(Options{})
	defer s.Close()
	c := newClient(t, s, "")
	u := c.createUser("alice", "ext", "alice@example.com")
	c.createUser("bob", "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.do("PATCH", "/Users/"+u.ID, patchBody(tt.ops...)).wantError(t, tt.status, tt.scimType)
		})
	}
	var got User
	c.do("GET", "/Users/"+u.ID, nil).want(t, http.StatusOK).decode(t, &got)
	if got.Meta.Version != `W/"1"` || got.Title != "" || got.UserName != "alice" {
		t.Errorf("a refused PATCH changed the user: %+v", got)
	}
	c.do("PATCH", "/Users/nobody", patchBody(op("replace", "title", "x"))).wantError(t, http.StatusNotFound, "")
}

func memberValues(g Group) []string {
	var out []string
	for _, m := range g.Members {
		out = append(out, m.Value)
	}
	return out
}

func TestPatchGroupMembers(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	c := newClient(t, s, "")
	var ids []string
	for _, n := range []string{"a", "b", "c", "d"} {
		ids = append(ids, c.createUser(n, "").ID)
	}
	g := c.createGroup("Team", "ext-team", ids[0])
	if len(g.Members) != 1 || g.Members[0].Type != "User" || g.Members[0].Ref != s.URL+"/Users/"+ids[0] {
		t.Fatalf("created group %+v", g)
	}
	path := "/Groups/" + g.ID
	members := func(vs ...string) []map[string]string {
		var out []map[string]string
		for _, v := range vs {
			out = append(out, map[string]string{"value": v})
		}
		return out
	}

	steps := []struct {
		name string
		ops  []map[string]any
		want []string
	}{
		{"add", []map[string]any{op("add", "members", members(ids[1], ids[2], ids[1]))}, ids[:3]},
		{"add again is no change", []map[string]any{op("Add", "members", members(ids[0]))}, ids[:3]},
		{"remove by filter", []map[string]any{op("remove", `members[value eq "`+ids[1]+`"]`, nil)}, []string{ids[0], ids[2]}},
		{"remove by or-filter", []map[string]any{op("remove", `members[value eq "`+ids[0]+`" or value eq "`+ids[2]+`"]`, nil)}, nil},
		{"Entra add without path", []map[string]any{op("Add", "", map[string]any{"members": members(ids[3], ids[0])})}, []string{ids[3], ids[0]}},
		{"Entra remove by value", []map[string]any{op("Remove", "members", members(ids[3]))}, []string{ids[0]}},
		{"remove of a non-member is no error", []map[string]any{op("remove", `members[value eq "nobody"]`, nil)}, []string{ids[0]}},
		{"replace", []map[string]any{op("replace", "members", members(ids[1], ids[2]))}, []string{ids[1], ids[2]}},
		{"rename and add in one request", []map[string]any{op("replace", "displayName", "Team 2"), op("add", "members", members(ids[3]))}, []string{ids[1], ids[2], ids[3]}},
		{"remove all", []map[string]any{op("remove", "members", nil)}, nil},
	}
	for i, st := range steps {
		var got Group
		c.do("PATCH", path, patchBody(st.ops...)).want(t, http.StatusOK).decode(t, &got)
		if !slices.Equal(memberValues(got), st.want) {
			t.Fatalf("%s: members %v, want %v", st.name, memberValues(got), st.want)
		}
		if got.Meta.Version != etag(uint64(i+2)) {
			t.Errorf("%s: version %s", st.name, got.Meta.Version)
		}
	}
	if s.Groups()[0].DisplayName != "Team 2" {
		t.Error("rename lost")
	}

	// Refused: an unknown member; an unknown member after a valid
	// operation changes nothing either.
	c.do("PATCH", path, patchBody(op("add", "members", members("nobody")))).wantError(t, http.StatusBadRequest, "invalidValue")
	c.do("PATCH", path, patchBody(op("replace", "displayName", "X"), op("add", "members", members(ids[0], "nobody")))).wantError(t, http.StatusBadRequest, "invalidValue")
	c.do("PATCH", path, patchBody(op("replace", "displayName", ""))).wantError(t, http.StatusBadRequest, "invalidValue")
	if g := s.Groups()[0]; g.DisplayName != "Team 2" || len(g.Members) != 0 {
		t.Errorf("refused PATCH changed the group: %+v", g)
	}

	// A deleted user leaves its groups; a user lists its groups.
	c.do("PATCH", path, patchBody(op("add", "members", members(ids[0], ids[1])))).want(t, http.StatusOK)
	var u User
	c.do("GET", "/Users/"+ids[0], nil).want(t, http.StatusOK).decode(t, &u)
	if len(u.Groups) != 1 || u.Groups[0].Value != g.ID || u.Groups[0].Display != "Team 2" {
		t.Errorf("user's groups %+v", u.Groups)
	}
	c.do("DELETE", "/Users/"+ids[0], nil).want(t, http.StatusNoContent)
	if got := memberValues(s.Groups()[0]); !slices.Equal(got, []string{ids[1]}) {
		t.Errorf("after deleting a member: %v", got)
	}

	// excludedAttributes=members (what Entra sends) leaves them out.
	var lean Group
	c.do("GET", path+"?excludedAttributes=members", nil).want(t, http.StatusOK).decode(t, &lean)
	if lean.Members != nil || lean.DisplayName != "Team 2" {
		t.Errorf("excludedAttributes=members: %+v", lean)
	}
	l := c.do("GET", "/Groups?excludedAttributes=members&filter=displayName%20eq%20%22team%202%22", nil).list(t)
	if l.TotalResults != 1 || strings.Contains(string(l.Resources[0]), `"members"`) {
		t.Errorf("list without members: %s", l.Resources)
	}
	var only map[string]any
	c.do("GET", "/Users?attributes=userName", nil).list(t).decodeFirst(t, &only)
	if len(only) != 3 || only["userName"] == nil || only["id"] == nil || only["schemas"] == nil {
		t.Errorf("attributes=userName: %v", only)
	}

	// PATCH answering 204.
	s2 := Start(Options{PatchNoContent: true})
	defer s2.Close()
	c2 := newClient(t, s2, "")
	g2 := c2.createGroup("G", "")
	r := c2.do("PATCH", "/Groups/"+g2.ID, patchBody(op("replace", "displayName", "H"))).want(t, http.StatusNoContent)
	if len(r.body) != 0 || r.header.Get("ETag") != `W/"2"` {
		t.Errorf("204 PATCH: body %q, ETag %q", r.body, r.header.Get("ETag"))
	}
}

func (l listBody) decodeFirst(t *testing.T, v any) {
	t.Helper()
	if len(l.Resources) == 0 {
		t.Fatal("empty list")
	}
	response{body: l.Resources[0]}.decode(t, v)
}

func TestGroupPutAndDelete(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	c := newClient(t, s, "")
	a, b := c.createUser("a", "").ID, c.createUser("b", "").ID
	g := c.createGroup("G", "", a)
	var got Group
	c.do("PUT", "/Groups/"+g.ID, groupBody("G2", "x", b)).want(t, http.StatusOK).decode(t, &got)
	if got.DisplayName != "G2" || got.ExternalID != "x" || !slices.Equal(memberValues(got), []string{b}) {
		t.Errorf("after PUT %+v", got)
	}
	c.do("PUT", "/Groups/"+g.ID, groupBody("G3", "")).want(t, http.StatusOK).decode(t, &got)
	if got.Members != nil {
		t.Errorf("PUT without members kept %v", got.Members)
	}
	c.do("PUT", "/Groups/"+g.ID, groupBody("G3", "", "nobody")).wantError(t, http.StatusBadRequest, "invalidValue")
	c.do("DELETE", "/Groups/"+g.ID, nil).want(t, http.StatusNoContent)
	c.do("GET", "/Groups/"+g.ID, nil).wantError(t, http.StatusNotFound, "")
	var u User
	c.do("GET", "/Users/"+b, nil).want(t, http.StatusOK).decode(t, &u)
	if u.Groups != nil {
		t.Errorf("deleted group still listed on the user: %+v", u.Groups)
	}
}
