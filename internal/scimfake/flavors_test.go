package scimfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestGenericPathsAreCaseInsensitive(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	if !strings.HasSuffix(s.URL, "/scim/v2") {
		t.Errorf("URL %s", s.URL)
	}
	c := newClient(t, s, "")
	u := c.createUser("alice", "")
	c.do("GET", "/users/"+u.ID, nil).want(t, http.StatusOK)
	c.do("GET", "/serviceproviderconfig", nil).want(t, http.StatusOK)
	c.do("GET", strings.TrimSuffix(s.URL, "/scim/v2")+"/Users", nil).wantError(t, http.StatusNotFound, "")
}

func TestSlack(t *testing.T) {
	s := Start(Options{Flavor: Slack, Token: "xoxp-1"})
	defer s.Close()
	if !strings.HasSuffix(s.URL, "/scim/v2") {
		t.Errorf("URL %s", s.URL)
	}
	c := newClient(t, s, "xoxp-1")
	u := c.createUser("alice", "", "alice@example.com")
	if !strings.HasPrefix(u.ID, "W") || len(u.ID) != 11 {
		t.Errorf("user id %q does not look like Slack's", u.ID)
	}
	c.do("POST", "/Users", userBody("noemail", "")).wantError(t, http.StatusBadRequest, "invalidValue")

	// DELETE /Users/{id} deactivates: the user stays, listed, inactive.
	c.do("DELETE", "/Users/"+u.ID, nil).want(t, http.StatusNoContent)
	var got User
	c.do("GET", "/Users/"+u.ID, nil).want(t, http.StatusOK).decode(t, &got)
	if got.Active || got.UserName != "alice" || got.Meta.Version != `W/"2"` {
		t.Errorf("after DELETE: %+v", got)
	}
	if l := c.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "alice"`), nil).list(t); l.TotalResults != 1 {
		t.Errorf("deactivated user not listed: %d", l.TotalResults)
	}
	c.do("DELETE", "/Users/"+u.ID, nil).want(t, http.StatusNoContent)
	c.do("POST", "/Users", userBody("ALICE", "", "x@example.com")).wantError(t, http.StatusConflict, "uniqueness")

	// DELETE /Groups/{id} deletes.
	g := c.createGroup("Team", "")
	if !strings.HasPrefix(g.ID, "S") {
		t.Errorf("group id %q", g.ID)
	}
	c.do("DELETE", "/Groups/"+g.ID, nil).want(t, http.StatusNoContent)
	c.do("GET", "/Groups/"+g.ID, nil).wantError(t, http.StatusNotFound, "")
	c.do("GET", "/Schemas/Users", nil).want(t, http.StatusOK)
	c.do("GET", "/Schemas/Groups", nil).want(t, http.StatusOK)

	// No count: 10 a page; count above 1000: 1000.
	users := make([]User, 1100)
	for i := range users {
		users[i] = User{UserName: fmt.Sprintf("u%04d", i), Active: true, Emails: []MultiValue{{Value: fmt.Sprintf("u%04d@example.com", i)}}}
	}
	s.Seed(users, nil)
	if l := c.do("GET", "/Users", nil).list(t); len(l.Resources) != 10 || l.TotalResults != 1101 {
		t.Errorf("no count: %d of %d", len(l.Resources), l.TotalResults)
	}
	if l := c.do("GET", "/Users?count=5000", nil).list(t); len(l.Resources) != 1000 {
		t.Errorf("count=5000: %d", len(l.Resources))
	}
	if l := c.do("GET", "/Users?startIndex=1001&count=1000", nil).list(t); len(l.Resources) != 101 {
		t.Errorf("last page: %d", len(l.Resources))
	}
}

func TestZoom(t *testing.T) {
	clk := newFakeClock()
	s := Start(Options{Flavor: Zoom, ClientID: "cid", ClientSecret: "sec", AccountID: "acct", Token: "zoom-token", clock: clk.now})
	defer s.Close()
	if !strings.HasSuffix(s.URL, "/scim2") || !strings.HasSuffix(s.TokenURL, "/oauth/token") {
		t.Errorf("URL %s, TokenURL %s", s.URL, s.TokenURL)
	}
	c := newClient(t, s, "zoom-token")
	// The token is accepted only once issued.
	c.do("GET", "/Users", nil).wantError(t, http.StatusUnauthorized, "")

	tokenReq := func(query, form, user, pass string) *http.Request {
		req, _ := http.NewRequest("POST", s.TokenURL+query, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		return req
	}
	good := "grant_type=account_credentials&account_id=acct"
	for _, tt := range []struct {
		name, query, form, user, pass string
		status                        int
		errCode                       string
	}{
		{"wrong secret", "", good, "cid", "nope", 401, "invalid_client"},
		{"no client credentials", "", good, "", "", 401, "invalid_client"},
		{"client_credentials grant", "", "grant_type=client_credentials&account_id=acct", "cid", "sec", 400, "unsupported_grant_type"},
		{"no grant", "", "account_id=acct", "cid", "sec", 400, "invalid_request"},
		{"no account_id", "", "grant_type=account_credentials", "cid", "sec", 400, "invalid_request"},
		{"other account_id", "", "grant_type=account_credentials&account_id=other", "cid", "sec", 400, "invalid_request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(tokenReq(tt.query, tt.form, tt.user, tt.pass))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || body["error"] != tt.errCode || body["reason"] == "" {
				t.Errorf("%d %v, want %d error %q with a reason", resp.StatusCode, body, tt.status, tt.errCode)
			}
		})
	}
	for _, req := range []*http.Request{
		tokenReq("", good, "cid", "sec"),
		tokenReq("?"+good, "", "cid", "sec"), // the docs allow query parameters too
	} {
		tok := tokenOf(t, req, http.StatusOK)
		if tok.AccessToken != "zoom-token" || tok.TokenType != "bearer" || tok.ExpiresIn != 3600 {
			t.Errorf("token %+v", tok)
		}
	}

	c.do("GET", "/Users", nil).want(t, http.StatusOK)
	u := c.createUser("alice@example.com", "", "alice@example.com")
	for _, accept := range []string{"", "application/json", "*/*"} {
		c.accept = accept
		c.do("GET", "/Users/"+u.ID, nil).wantError(t, http.StatusNotAcceptable, "")
	}
	c.accept = "application/json, application/scim+json;q=0.9"
	c.do("GET", "/Users/"+u.ID, nil).want(t, http.StatusOK)

	// Tokens expire after expires_in.
	clk.advance(3601 * time.Second)
	e := c.do("GET", "/Users", nil).wantError(t, http.StatusUnauthorized, "")
	if !strings.Contains(e.Detail, "expired") {
		t.Errorf("detail %q", e.Detail)
	}
	tokenOf(t, tokenReq("", good, "cid", "sec"), http.StatusOK)
	c.do("GET", "/Users", nil).want(t, http.StatusOK)

	// Without Options.Token, each token is random and only it works.
	s2 := Start(Options{Flavor: Zoom, ClientID: "cid", ClientSecret: "sec"})
	defer s2.Close()
	req, _ := http.NewRequest("POST", s2.TokenURL, strings.NewReader("grant_type=account_credentials&account_id=any"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("cid", "sec")
	tok := tokenOf(t, req, http.StatusOK)
	if len(tok.AccessToken) < 32 {
		t.Errorf("token %q", tok.AccessToken)
	}
	newClient(t, s2, tok.AccessToken).do("GET", "/Groups", nil).want(t, http.StatusOK)
	newClient(t, s2, "guess").do("GET", "/Groups", nil).wantError(t, http.StatusUnauthorized, "")
}

type gitHubError struct {
	Message          string   `json:"message"`
	DocumentationURL string   `json:"documentation_url"`
	Status           int      `json:"status"`
	SCIMType         string   `json:"scimType"`
	Detail           string   `json:"detail"`
	Schemas          []string `json:"schemas"`
}

func (r response) wantGitHubError(t *testing.T, status int, scimType string) gitHubError {
	t.Helper()
	r.want(t, status)
	var e gitHubError
	r.decode(t, &e)
	if e.Status != status || e.SCIMType != scimType || e.Message == "" || !strings.HasPrefix(e.DocumentationURL, "https://docs.github.com/") ||
		len(e.Schemas) != 1 || e.Schemas[0] != schemaError || r.header.Get("Content-Type") != "application/scim+json" {
		t.Errorf("GitHub error %s (%s), want status %d scimType %q", r.body, r.header.Get("Content-Type"), status, scimType)
	}
	return e
}

func TestGitHubEMU(t *testing.T) {
	s := Start(Options{Flavor: GitHubEMU, Enterprise: "acme", Token: "ghp_x"})
	defer s.Close()
	if !strings.HasSuffix(s.URL, "/scim/v2/enterprises/acme") {
		t.Errorf("URL %s", s.URL)
	}
	c := newClient(t, s, "ghp_x")

	// Case-sensitive paths; no discovery endpoints; the enterprise matters.
	for _, p := range []string{"/users", "/USERS", "/groups", "/ServiceProviderConfig", "/Schemas"} {
		c.do("GET", p, nil).wantGitHubError(t, http.StatusNotFound, "")
	}
	c.do("GET", strings.Replace(s.URL, "/acme", "/other", 1)+"/Users", nil).want(t, http.StatusNotFound)
	c.do("GET", strings.Replace(s.URL, "/enterprises/", "/Enterprises/", 1)+"/Users", nil).want(t, http.StatusNotFound)

	// externalId, displayName and emails are required.
	ghUser := func(userName, externalID string, emails ...string) map[string]any {
		b := userBody(userName, externalID, emails...)
		b["displayName"] = "Mona Lisa"
		return b
	}
	noDisplayName := ghUser("octocat", "E1", "octo@example.com")
	delete(noDisplayName, "displayName")
	for _, tt := range []struct {
		body any
		want string
	}{
		{ghUser("octocat", "", "octo@example.com"), "externalId"},
		{noDisplayName, "displayName"},
		{ghUser("octocat", "E1"), "emails"},
	} {
		e := c.do("POST", "/Users", tt.body).wantGitHubError(t, http.StatusBadRequest, "invalidValue")
		if !strings.Contains(e.Message, tt.want) {
			t.Errorf("message %q, want it to name %s", e.Message, tt.want)
		}
	}
	var u User
	c.do("POST", "/Users", ghUser("octocat", "E012345", "octo@example.com")).want(t, http.StatusCreated).decode(t, &u)
	c.do("PATCH", "/Users/"+u.ID, patchBody(op("remove", "externalId", nil))).wantGitHubError(t, http.StatusBadRequest, "invalidValue")
	c.do("PUT", "/Users/"+u.ID, ghUser("octocat", "", "octo@example.com")).wantGitHubError(t, http.StatusBadRequest, "invalidValue")
	c.do("POST", "/Groups", groupBody("Team", "")).wantGitHubError(t, http.StatusBadRequest, "invalidValue")
	c.createGroup("Team", "G1", u.ID)
	c.do("POST", "/Users", ghUser("OCTOCAT", "E2", "o2@example.com")).wantGitHubError(t, http.StatusConflict, "uniqueness")

	// A PATCH path with a value filter is ignored; others apply.
	var got User
	c.do("PATCH", "/Users/"+u.ID, patchBody(
		op("replace", `emails[type eq "work"].value`, "new@example.com"),
		op("replace", "name.familyName", "Octocat"),
	)).want(t, http.StatusOK).decode(t, &got)
	if got.Emails[0].Value != "octo@example.com" || got.Name.FamilyName != "Octocat" {
		t.Errorf("after PATCH: emails %+v, name %+v", got.Emails, got.Name)
	}

	// No count: 30 a page.
	more := make([]User, 40)
	for i := range more {
		more[i] = User{UserName: fmt.Sprintf("u%02d", i), ExternalID: fmt.Sprintf("x%02d", i), Active: true}
	}
	s.Seed(more, nil)
	if l := c.do("GET", "/Users", nil).list(t); len(l.Resources) != 30 || l.TotalResults != 41 {
		t.Errorf("no count: %d of %d", len(l.Resources), l.TotalResults)
	}

	// One eq filter at a time.
	for _, f := range []string{`userName eq "octocat"`, `externalId eq "E012345"`, `id eq "` + u.ID + `"`} {
		if l := c.do("GET", "/Users?filter="+url.QueryEscape(f), nil).list(t); l.TotalResults != 1 {
			t.Errorf("%s: %d", f, l.TotalResults)
		}
	}
	if l := c.do("GET", "/Groups?filter="+url.QueryEscape(`displayName eq "Team"`), nil).list(t); l.TotalResults != 1 {
		t.Errorf("group filter: %d", l.TotalResults)
	}
	for _, f := range []string{`userName eq "octocat" and active eq true`, `userName sw "octo"`, `title eq "x"`, `not(userName eq "x")`} {
		c.do("GET", "/Users?filter="+url.QueryEscape(f), nil).wantGitHubError(t, http.StatusBadRequest, "invalidFilter")
	}
	c.do("GET", "/Groups?filter="+url.QueryEscape(`userName eq "x"`), nil).wantGitHubError(t, http.StatusBadRequest, "invalidFilter")
	newClient(t, s, "wrong").do("GET", "/Users", nil).wantGitHubError(t, http.StatusUnauthorized, "")
}

func TestAquera(t *testing.T) {
	s := Start(Options{Flavor: Aquera, Tenant: "t-42", Token: "aq"})
	defer s.Close()
	if !strings.HasSuffix(s.URL, "/t-42/scim/v2") {
		t.Errorf("URL %s", s.URL)
	}
	c := newClient(t, s, "aq")
	c.createUser("alice", "")
	root := strings.TrimSuffix(s.URL, "/t-42/scim/v2")
	c.do("GET", root+"/scim/v2/Users", nil).wantError(t, http.StatusNotFound, "")
	c.do("GET", root+"/t-43/scim/v2/Users", nil).wantError(t, http.StatusNotFound, "")
	newClient(t, s, "").do("GET", "/Users", nil).wantError(t, http.StatusUnauthorized, "")
	c.do("GET", "/ServiceProviderConfig", nil).want(t, http.StatusOK)
}
