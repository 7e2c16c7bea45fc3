package scimfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestUserLifecycle(t *testing.T) {
	s := Start(Options{Token: "t0k"})
	defer s.Close()
	c := newClient(t, s, "t0k")

	r := c.do("POST", "/Users", userBody("Alice@Example.com", "ext-1", "alice@example.com")).want(t, http.StatusCreated)
	var u User
	r.decode(t, &u)
	if u.ID == "" || u.Meta.Version != `W/"1"` || u.Meta.ResourceType != "User" || !u.Active {
		t.Fatalf("created user %+v", u)
	}
	if got, want := r.header.Get("Location"), s.URL+"/Users/"+u.ID; got != want || u.Meta.Location != want {
		t.Errorf("Location %q, meta.location %q, want %q", got, u.Meta.Location, want)
	}
	if r.header.Get("ETag") != `W/"1"` || r.header.Get("Content-Type") != "application/scim+json" {
		t.Errorf("headers %v", r.header)
	}
	var raw map[string]any
	r.decode(t, &raw)
	if fmt.Sprint(raw["schemas"]) != "["+SchemaUser+"]" {
		t.Errorf("schemas %v", raw["schemas"])
	}

	var got User
	c.do("GET", "/Users/"+u.ID, nil).want(t, http.StatusOK).decode(t, &got)
	if got.UserName != "Alice@Example.com" || got.Emails[0].Value != "alice@example.com" || !got.Emails[0].Primary {
		t.Errorf("GET %+v", got)
	}

	// PUT replaces; read-only attributes in the body are ignored.
	put := userBody("alice@example.com", "ext-1", "alice@example.com")
	put["id"], put["title"], put["groups"] = "forged", "Engineer", []map[string]string{{"value": "g"}}
	put["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"department": "R&D", "manager": "boss-id"}
	put["schemas"] = []string{SchemaUser, SchemaEnterpriseUser}
	c.do("PUT", "/Users/"+u.ID, put).want(t, http.StatusOK).decode(t, &got)
	if got.ID != u.ID || got.Title != "Engineer" || got.Groups != nil || got.Meta.Version != `W/"2"` ||
		got.Enterprise == nil || got.Enterprise.Department != "R&D" || got.Enterprise.Manager.Value != "boss-id" {
		t.Errorf("after PUT %+v", got)
	}
	if !got.Meta.Created.Equal(u.Meta.Created) {
		t.Errorf("created changed: %v → %v", u.Meta.Created, got.Meta.Created)
	}

	c.do("PATCH", "/Users/"+u.ID, patchBody(op("replace", "active", false))).want(t, http.StatusOK).decode(t, &got)
	if got.Active {
		t.Error("PATCH active=false did not deactivate")
	}

	c.do("DELETE", "/Users/"+u.ID, nil).want(t, http.StatusNoContent)
	c.do("GET", "/Users/"+u.ID, nil).wantError(t, http.StatusNotFound, "")
	c.do("DELETE", "/Users/"+u.ID, nil).wantError(t, http.StatusNotFound, "")
	if n := len(s.Users()); n != 0 {
		t.Errorf("%d users left after DELETE", n)
	}
}

func TestUniqueness(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	c := newClient(t, s, "")
	alice := c.createUser("alice", "ext-a")
	bob := c.createUser("bob", "ext-b")
	c.createGroup("Admins", "g-1")

	tests := []struct {
		name         string
		method, path string
		body         any
	}{
		{"same userName", "POST", "/Users", userBody("alice", "")},
		{"userName in another case", "POST", "/Users", userBody("ALICE", "")},
		{"same externalId", "POST", "/Users", userBody("carol", "ext-a")},
		{"PUT onto a taken userName", "PUT", "/Users/" + bob.ID, userBody("Alice", "ext-b")},
		{"PATCH onto a taken externalId", "PATCH", "/Users/" + bob.ID, patchBody(op("replace", "externalId", "ext-a"))},
		{"group externalId", "POST", "/Groups", groupBody("Other", "g-1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := c.do(tt.method, tt.path, tt.body).wantError(t, http.StatusConflict, "uniqueness")
			if e.Detail == "" {
				t.Error("no detail")
			}
		})
	}
	// A user may keep its own userName in another case, and externalId
	// is case-exact.
	c.do("PUT", "/Users/"+alice.ID, userBody("ALICE", "ext-a")).want(t, http.StatusOK)
	c.createUser("dave", "EXT-A")
	if n := len(s.Users()); n != 3 {
		t.Errorf("%d users, want 3", n)
	}
}

func TestConcurrentCreatesOfOneUserName(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	c := newClient(t, s, "")
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = c.do("POST", "/Users", userBody(fmt.Sprintf("Same%c", "Ss"[i%2]), "")).status
		})
	}
	wg.Wait()
	slices.Sort(statuses)
	if statuses[0] != http.StatusCreated || statuses[1] != http.StatusConflict || statuses[15] != http.StatusConflict {
		t.Errorf("statuses %v, want one 201 and fifteen 409", statuses)
	}
}

func TestETags(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	c := newClient(t, s, "")
	u := c.createUser("alice", "")
	g := c.createGroup("Admins", "")
	stale := `W/"0"`

	for _, tt := range []struct {
		name, method, path string
		body               any
	}{
		{"PUT user", "PUT", "/Users/" + u.ID, userBody("alice", "x")},
		{"PATCH user", "PATCH", "/Users/" + u.ID, patchBody(op("replace", "title", "x"))},
		{"DELETE user", "DELETE", "/Users/" + u.ID, nil},
		{"PUT group", "PUT", "/Groups/" + g.ID, groupBody("X", "")},
		{"PATCH group", "PATCH", "/Groups/" + g.ID, patchBody(op("replace", "displayName", "X"))},
		{"DELETE group", "DELETE", "/Groups/" + g.ID, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.do(tt.method, tt.path, tt.body, "If-Match", stale).wantError(t, http.StatusPreconditionFailed, "")
		})
	}
	// Nothing changed; the current version (weak or not, or *) passes.
	var got User
	c.do("GET", "/Users/"+u.ID, nil).want(t, http.StatusOK).decode(t, &got)
	if got.Meta.Version != `W/"1"` || got.Title != "" {
		t.Fatalf("a 412 changed the user: %+v", got)
	}
	c.do("GET", "/Users/"+u.ID, nil, "If-None-Match", `W/"1"`).want(t, http.StatusNotModified)
	c.do("GET", "/Users/"+u.ID, nil, "If-None-Match", stale).want(t, http.StatusOK)
	r := c.do("PATCH", "/Users/"+u.ID, patchBody(op("replace", "title", "x")), "If-Match", `"1"`).want(t, http.StatusOK)
	if r.header.Get("ETag") != `W/"2"` {
		t.Errorf("ETag after PATCH %q", r.header.Get("ETag"))
	}
	c.do("PATCH", "/Users/"+u.ID, patchBody(op("replace", "title", "y")), "If-Match", `W/"1"`).wantError(t, http.StatusPreconditionFailed, "")
	c.do("DELETE", "/Groups/"+g.ID, nil, "If-Match", "*").want(t, http.StatusNoContent)
}

func TestPaging(t *testing.T) {
	s := Start(Options{MaxPageSize: 100})
	defer s.Close()
	users := make([]User, 250)
	for i := range users {
		users[i] = User{UserName: fmt.Sprintf("user%03d", i), Active: true}
	}
	s.Seed(users, nil)
	c := newClient(t, s, "")

	tests := []struct {
		query           string
		total, n, start int
		first           string
	}{
		{"", 250, 100, 1, "user000"}, // no count: MaxPageSize
		{"?count=10", 250, 10, 1, "user000"},
		{"?count=500", 250, 100, 1, "user000"}, // capped
		{"?startIndex=201&count=100", 250, 50, 201, "user200"},
		{"?startIndex=0&count=1", 250, 1, 1, "user000"}, // below 1 is 1
		{"?startIndex=251", 250, 0, 251, ""},
		{"?count=0", 250, 0, 1, ""},
		{"?count=-5", 250, 0, 1, ""},
		{"?filter=" + url.QueryEscape(`userName sw "user1"`) + "&count=20&startIndex=91", 100, 10, 91, "user190"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			l := c.do("GET", "/Users"+tt.query, nil).list(t)
			names := l.userNames(t)
			if l.TotalResults != tt.total || len(names) != tt.n || l.StartIndex != tt.start {
				t.Fatalf("total %d, %d items, startIndex %d; want %d, %d, %d", l.TotalResults, len(names), l.StartIndex, tt.total, tt.n, tt.start)
			}
			if tt.first != "" && names[0] != tt.first {
				t.Errorf("first %s, want %s", names[0], tt.first)
			}
		})
	}

	// Walking the pages as a client does returns every user once, in a
	// stable order, even when a user is deleted on the way (the client
	// misses at most the one that shifted).
	seen := map[string]bool{}
	for start := 1; ; {
		l := c.do("GET", fmt.Sprintf("/Users?startIndex=%d&count=100", start), nil).list(t)
		for _, n := range l.userNames(t) {
			if seen[n] {
				t.Fatalf("%s twice", n)
			}
			seen[n] = true
		}
		if start+len(l.Resources)-1 >= l.TotalResults || len(l.Resources) == 0 {
			break
		}
		start += len(l.Resources)
	}
	if len(seen) != 250 {
		t.Errorf("walked %d users, want 250", len(seen))
	}
	for _, bad := range []string{"?count=ten", "?startIndex=x"} {
		c.do("GET", "/Users"+bad, nil).wantError(t, http.StatusBadRequest, "invalidValue")
	}
}

func TestFilters(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	s.Seed([]User{
		{UserName: "alice@example.com", ExternalID: "E-1", DisplayName: "Alice Liddell", Active: true, Title: "Engineer",
			Emails: []MultiValue{{Value: "Alice@Example.com", Type: "work", Primary: true}, {Value: "al@home.example", Type: "home"}}},
		{UserName: `o"brien\x`, ExternalID: "E-2", DisplayName: "Conan O'Brien", Active: false,
			Emails: []MultiValue{{Value: "conan@example.com", Type: "work"}}},
		{UserName: "Zoë", ExternalID: "e-3", DisplayName: "Zoë", Active: true,
			Enterprise: &Enterprise{Department: "Sales"}},
	}, []Group{{DisplayName: "Admins", ExternalID: "G-1"}})
	c := newClient(t, s, "")
	alice := s.Users()[0]
	group := s.Groups()[0]
	c.do("PATCH", "/Groups/"+group.ID, patchBody(op("add", "members", []map[string]string{{"value": alice.ID}}))).want(t, http.StatusOK)

	tests := []struct {
		filter  string
		want    []string // userNames
		indexed bool
	}{
		{`userName eq "ALICE@example.com"`, []string{"alice@example.com"}, true},
		{`USERNAME Eq "alice@example.com"`, []string{"alice@example.com"}, true},
		{`userName eq "o\"brien\\x"`, []string{`o"brien\x`}, true},
		{`userName eq "O\"BRIEN\\X"`, []string{`o"brien\x`}, true},
		{`userName eq "zoë"`, []string{"Zoë"}, true},
		{`userName eq "nobody"`, nil, true},
		{`externalId eq "E-1"`, []string{"alice@example.com"}, true},
		{`externalId eq "e-1"`, nil, true}, // caseExact
		{`id eq "` + alice.ID + `"`, []string{"alice@example.com"}, true},
		{`emails.value eq "alice@EXAMPLE.com"`, []string{"alice@example.com"}, true},
		{`emails eq "al@home.example"`, []string{"alice@example.com"}, true},
		{`emails[type eq "work" and value eq "conan@example.com"]`, []string{`o"brien\x`}, true},
		{`emails[type eq "home" and value eq "conan@example.com"]`, nil, true},
		{`displayName eq "conan o'brien"`, []string{`o"brien\x`}, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "zoë"`, []string{"Zoë"}, true},
		{`userName eq "alice@example.com" or externalId eq "e-3"`, []string{"alice@example.com", "Zoë"}, true},
		{`(userName eq "alice@example.com" or userName eq "zoë") and active eq true`, []string{"alice@example.com", "Zoë"}, true},
		{`externalId eq "E-2" and active eq true`, nil, true},
		{`groups.value eq "` + group.ID + `"`, []string{"alice@example.com"}, true},
		{`active eq false`, []string{`o"brien\x`}, false},
		{`not (active eq true)`, []string{`o"brien\x`}, false},
		{`userName sw "ALI"`, []string{"alice@example.com"}, false},
		{`userName co "BRIEN"`, []string{`o"brien\x`}, false},
		{`title pr`, []string{"alice@example.com"}, false},
		{`title pr or userName eq "zoë"`, []string{"alice@example.com", "Zoë"}, false},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales"`, []string{"Zoë"}, false},
		{`meta.created gt "2000-01-01T00:00:00Z"`, []string{"alice@example.com", `o"brien\x`, "Zoë"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			before := s.store.scans.Load()
			l := c.do("GET", "/Users?filter="+url.QueryEscape(tt.filter), nil).list(t)
			if got := l.userNames(t); !slices.Equal(got, tt.want) || l.TotalResults != len(tt.want) {
				t.Errorf("got %q (total %d), want %q", got, l.TotalResults, tt.want)
			}
			if scanned := s.store.scans.Load() > before; scanned == tt.indexed {
				t.Errorf("scanned = %v, want indexed = %v", scanned, tt.indexed)
			}
		})
	}

	// Groups: displayName, externalId, members.value, value paths.
	for _, f := range []string{`displayName eq "admins"`, `externalId eq "G-1"`, `members.value eq "` + alice.ID + `"`,
		`members[value eq "` + alice.ID + `"]`, `id eq "` + group.ID + `" and members.value eq "` + alice.ID + `"`} {
		before := s.store.scans.Load()
		if l := c.do("GET", "/Groups?filter="+url.QueryEscape(f), nil).list(t); l.TotalResults != 1 {
			t.Errorf("%s: %d groups, want 1", f, l.TotalResults)
		}
		if s.store.scans.Load() != before {
			t.Errorf("%s scanned", f)
		}
	}

	for _, bad := range []string{`userName eq`, `userName eq "unterminated`, `userName zz "x"`, `(userName eq "x"`,
		`userName eq "x" and`, `userName eq x`, `emails[type eq "work"`, strings.Repeat("(", 40) + `userName eq "x"` + strings.Repeat(")", 40)} {
		c.do("GET", "/Users?filter="+url.QueryEscape(bad), nil).wantError(t, http.StatusBadRequest, "invalidFilter")
	}

	// POST /.search takes the same query in a body.
	search := map[string]any{"schemas": []string{schemaSearchRequest}, "filter": `userName eq "zoë"`, "count": 5}
	if l := c.do("POST", "/Users/.search", search).list(t); l.TotalResults != 1 {
		t.Errorf(".search: %d results", l.TotalResults)
	}
}

func TestParseFilter(t *testing.T) {
	tests := []struct{ in, want string }{
		{`userName eq "a"`, `username eq "a"`},
		{`a eq "x" or b eq "y" and c eq "z"`, `(a eq "x" or (b eq "y" and c eq "z"))`},
		{`(a eq "x" or b eq "y") and c pr`, `((a eq "x" or b eq "y") and c pr)`},
		{`not(a eq true)`, `not(a eq true)`},
		{`emails[type eq "work" and value co "@x"]`, `emails[(type eq "work" and value co "@x")]`},
		{`x eq null`, `x eq null`},
		{`x gt 5`, `x gt 5`},
		{`a eq "q\"b\\s\u00e9"`, `a eq "q\"b\\sé"`},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m"`, `enterprise.manager.value eq "m"`},
	}
	for _, tt := range tests {
		e, err := parseFilter(tt.in)
		if err != nil {
			t.Errorf("parseFilter(%q): %v", tt.in, err)
			continue
		}
		if got := e.String(); got != tt.want {
			t.Errorf("parseFilter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestRequestBodies(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	c := newClient(t, s, "")
	u := c.createUser("alice", "")
	huge := userBody("big", "")
	huge["title"] = strings.Repeat("x", maxBody)
	noSchemas := userBody("x", "")
	delete(noSchemas, "schemas")

	tests := []struct {
		name         string
		method, path string
		body         any
		hdr          []string
		status       int
		scimType     string
	}{
		{"over 1 MiB", "POST", "/Users", huge, nil, http.StatusRequestEntityTooLarge, ""},
		{"over 1 MiB, chunked", "POST", "/Users", strings.NewReader(`{"a":"` + strings.Repeat("x", maxBody) + `"}`), nil, http.StatusRequestEntityTooLarge, ""},
		{"not JSON", "POST", "/Users", "{", nil, http.StatusBadRequest, "invalidSyntax"},
		{"no schemas", "POST", "/Users", noSchemas, nil, http.StatusBadRequest, "invalidSyntax"},
		{"no userName", "POST", "/Users", map[string]any{"schemas": []string{SchemaUser}}, nil, http.StatusBadRequest, "invalidValue"},
		{"form body", "POST", "/Users", "userName=x", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType, ""},
		{"group without displayName", "POST", "/Groups", map[string]any{"schemas": []string{SchemaGroup}}, nil, http.StatusBadRequest, "invalidValue"},
		{"group with unknown member", "POST", "/Groups", groupBody("G", "", "nobody"), nil, http.StatusBadRequest, "invalidValue"},
		{"PATCH without PatchOp schema", "PATCH", "/Users/" + u.ID, map[string]any{"Operations": []any{op("replace", "title", "x")}}, nil, http.StatusBadRequest, "invalidSyntax"},
		{"PATCH without operations", "PATCH", "/Users/" + u.ID, patchBody(), nil, http.StatusBadRequest, "invalidSyntax"},
		{"unknown op", "PATCH", "/Users/" + u.ID, patchBody(op("move", "title", "x")), nil, http.StatusBadRequest, "invalidSyntax"},
		{"method", "PATCH", "/Users", nil, nil, http.StatusMethodNotAllowed, ""},
		{"unknown endpoint", "GET", "/Widgets", nil, nil, http.StatusNotFound, ""},
		{"bulk", "POST", "/Bulk", "{}", nil, http.StatusNotImplemented, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if r, ok := body.(*strings.Reader); ok { // no Content-Length
				req, _ := http.NewRequest(tt.method, s.URL+tt.path, struct{ *strings.Reader }{r})
				req.Header.Set("Content-Type", "application/scim+json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
				}
				return
			}
			c.do(tt.method, tt.path, body, tt.hdr...).wantError(t, tt.status, tt.scimType)
		})
	}
	if n := len(s.Users()); n != 1 {
		t.Errorf("%d users after refused requests, want 1", n)
	}
}

func TestAuth(t *testing.T) {
	s := Start(Options{Token: "static", ClientID: "cid", ClientSecret: "sec"})
	defer s.Close()
	for _, tt := range []struct{ name, auth string }{
		{"none", ""}, {"wrong", "Bearer nope"}, {"basic", "Basic c3RhdGljOg=="}, {"empty bearer", "Bearer "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, s, "")
			r := c.do("GET", "/Users", nil, "Authorization", tt.auth)
			r.wantError(t, http.StatusUnauthorized, "")
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	newClient(t, s, "static").do("GET", "/Users", nil).want(t, http.StatusOK)
	newClient(t, s, "static").do("GET", "/Users", nil, "Authorization", "bearer static").want(t, http.StatusOK)

	// Client credentials (RFC 6749 §4.4), Basic or in the form.
	for _, form := range []url.Values{
		{"grant_type": {"client_credentials"}},
		{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"sec"}},
	} {
		req, _ := http.NewRequest("POST", s.TokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if form.Get("client_id") == "" {
			req.SetBasicAuth("cid", "sec")
		}
		tok := tokenOf(t, req, http.StatusOK)
		if tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 || tok.AccessToken != "static" {
			t.Errorf("token %+v", tok)
		}
	}
	req, _ := http.NewRequest("POST", s.TokenURL, strings.NewReader("grant_type=password"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("cid", "sec")
	tokenOf(t, req, http.StatusBadRequest)
}

func tokenOf(t *testing.T, req *http.Request, status int) tokenResponse {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("token status %d, want %d", resp.StatusCode, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("token Content-Type %q", ct)
	}
	return tok
}

func TestDiscovery(t *testing.T) {
	s := Start(Options{MaxPageSize: 50})
	defer s.Close()
	c := newClient(t, s, "")
	var spc struct {
		Schemas []string
		Patch   struct{ Supported bool }
		Bulk    struct{ Supported bool }
		Filter  struct {
			Supported  bool
			MaxResults int
		}
		Etag                  struct{ Supported bool }
		AuthenticationSchemes []struct{ Type string }
	}
	r := c.do("GET", "/ServiceProviderConfig", nil).want(t, http.StatusOK)
	r.decode(t, &spc)
	if !spc.Patch.Supported || spc.Bulk.Supported || !spc.Filter.Supported || spc.Filter.MaxResults != 50 ||
		!spc.Etag.Supported || spc.Schemas[0] != schemaSPConfig || spc.AuthenticationSchemes[0].Type != "oauthbearertoken" {
		t.Errorf("ServiceProviderConfig %s", r.body)
	}
	if l := c.do("GET", "/ResourceTypes", nil).list(t); l.TotalResults != 2 {
		t.Errorf("%d resource types", l.TotalResults)
	}
	if l := c.do("GET", "/Schemas", nil).list(t); l.TotalResults != 3 {
		t.Errorf("%d schemas", l.TotalResults)
	}
	var sch struct {
		ID         string
		Attributes []attrDef
	}
	c.do("GET", "/Schemas/"+SchemaUser, nil).want(t, http.StatusOK).decode(t, &sch)
	if sch.ID != SchemaUser || sch.Attributes[0].Name != "userName" || sch.Attributes[0].CaseExact || sch.Attributes[0].Uniqueness != "server" {
		t.Errorf("User schema %+v", sch.Attributes[0])
	}
	c.do("GET", "/ResourceTypes/Group", nil).want(t, http.StatusOK)
	c.do("GET", "/Schemas/urn:nope", nil).wantError(t, http.StatusNotFound, "")
}

func TestSeedAndSnapshots(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	s.Seed([]User{
		{ID: "u2", UserName: "bob", Active: true},
		{ID: "u1", UserName: "Alice", ExternalID: "x", Emails: []MultiValue{{Value: "a@x"}}},
	}, []Group{{ID: "g1", DisplayName: "Staff", Members: []Member{{Value: "u1"}, {Value: "g2"}}}, {ID: "g2", DisplayName: "Admins", Members: []Member{{Value: "u2"}}}})
	users := s.Users()
	if len(users) != 2 || users[0].UserName != "Alice" || users[0].Active || users[1].ID != "u2" {
		t.Fatalf("Users() %+v", users)
	}
	if len(users[0].Groups) != 1 || users[0].Groups[0].Value != "g1" || users[0].Groups[0].Display != "Staff" {
		t.Errorf("Alice's groups %+v", users[0].Groups)
	}
	groups := s.Groups()
	if groups[0].DisplayName != "Admins" || len(groups[1].Members) != 2 || groups[1].Members[1].Type != "Group" {
		t.Errorf("Groups() %+v", groups)
	}
	// The snapshot is a copy.
	users[0].Emails[0].Value = "changed"
	if s.Users()[0].Emails[0].Value != "a@x" {
		t.Error("Users() shares memory with the store")
	}
	for _, bad := range []func(){
		func() { s.Seed([]User{{UserName: "ALICE"}}, nil) },
		func() { s.Seed([]User{{UserName: "new", ExternalID: "x"}}, nil) },
		func() { s.Seed(nil, []Group{{DisplayName: "G", Members: []Member{{Value: "nope"}}}}) },
		func() { s.Seed([]User{{UserName: ""}}, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("Seed did not panic")
				}
			}()
			bad()
		}()
	}
}

func TestStartPanicsOnBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Flavor: "myspace"},
		{Flavor: Zoom},
		{MaxPageSize: -1},
		{Flavor: GitHubEMU, Enterprise: "a/b"},
		{RateLimit: &RateLimit{Requests: 0, Window: 1}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Start(%+v) did not panic", o)
				}
			}()
			Start(o).Close()
		}()
	}
}
