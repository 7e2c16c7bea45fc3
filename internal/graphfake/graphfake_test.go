package graphfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

type client struct {
	t     *testing.T
	srv   *Server
	token string
}

func newClient(t *testing.T) *client {
	t.Helper()
	srv := Start(Options{Tenant: "contoso", ClientID: "app", ClientSecret: "s3cret"})
	t.Cleanup(srv.Close)
	c := &client{t: t, srv: srv}
	resp, err := http.PostForm(srv.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"},
		"client_secret": {"s3cret"}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" || tok.ExpiresIn != 3599 {
		t.Fatalf("token: %d %+v %v", resp.StatusCode, tok, err)
	}
	c.token = tok.AccessToken
	return c
}

// do sends a request and decodes the answer into a map (nil for 204).
func (c *client) do(method, path string, body any) (int, http.Header, map[string]any) {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.srv.GraphURL() + path
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

func userBody(upn string) map[string]any {
	return map[string]any{"accountEnabled": true, "displayName": upn, "mailNickname": "n", "userPrincipalName": upn,
		"passwordProfile": map[string]any{"password": "x", "forceChangePasswordNextSignIn": true}}
}

func errCode(m map[string]any) (string, string) {
	e, _ := m["error"].(map[string]any)
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	return code, msg
}

func TestTokenRefused(t *testing.T) {
	srv := Start(Options{Tenant: "contoso", ClientID: "app", ClientSecret: "s3cret"})
	defer srv.Close()
	resp, err := http.PostForm(srv.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"},
		"client_secret": {"wrong"}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d, want 401", resp.StatusCode)
	}
	c := &client{t: t, srv: srv, token: "nope"}
	if st, _, body := c.do("GET", "/users", nil); st != 401 {
		t.Errorf("bad token: %d %v", st, body)
	}
}

func TestUsersFilterPagingDuplicates(t *testing.T) {
	c := newClient(t)
	for _, upn := range []string{"a@x.org", "o'brien@x.org", "c@x.org"} {
		if st, _, body := c.do("POST", "/users", userBody(upn)); st != 201 || body["id"] == "" {
			t.Fatalf("create %s: %d %v", upn, st, body)
		}
	}
	st, _, body := c.do("POST", "/users", userBody("O'Brien@X.org"))
	if code, msg := errCode(body); st != 400 || code != "Request_BadRequest" || !strings.Contains(msg, "already exists") {
		t.Errorf("duplicate UPN: %d %s %s", st, code, msg)
	}
	st, _, body = c.do("GET", "/users?$filter="+url.QueryEscape("userPrincipalName eq 'O''BRIEN@x.org'")+"&$select=id,userPrincipalName", nil)
	if v := body["value"].([]any); st != 200 || len(v) != 1 {
		t.Fatalf("filter: %d %v", st, body)
	}
	if st, _, _ := c.do("GET", "/users?$top=1000", nil); st != 400 {
		t.Errorf("$top=1000: %d, want 400", st)
	}
	seen := 0
	next := c.srv.GraphURL() + "/users?$top=2&$select=id"
	for next != "" {
		st, _, body := c.do("GET", next, nil)
		if st != 200 {
			t.Fatalf("page: %d %v", st, body)
		}
		seen += len(body["value"].([]any))
		next, _ = body["@odata.nextLink"].(string)
	}
	if seen != 3 {
		t.Errorf("paged %d users, want 3", seen)
	}
	if st, _, body := c.do("GET", "/users?$filter="+url.QueryEscape("city eq 'x'"), nil); st != 400 {
		t.Errorf("unsupported filter: %d %v", st, body)
	}
}

func TestMembersAndKnobs(t *testing.T) {
	c := newClient(t)
	_, _, u := c.do("POST", "/users", userBody("m@x.org"))
	_, _, g := c.do("POST", "/groups", map[string]any{"displayName": "G", "mailEnabled": false, "mailNickname": "g1", "securityEnabled": true})
	gid, uid := g["id"].(string), u["id"].(string)
	ref := map[string]any{"@odata.id": c.srv.GraphURL() + "/directoryObjects/" + uid}
	if st, _, body := c.do("POST", "/groups/"+gid+"/members/$ref", ref); st != 204 {
		t.Fatalf("add member: %d %v", st, body)
	}
	st, _, body := c.do("POST", "/groups/"+gid+"/members/$ref", ref)
	if _, msg := errCode(body); st != 400 || msg != errExists {
		t.Errorf("add again: %d %q", st, msg)
	}
	if st, _, _ := c.do("DELETE", "/groups/"+gid+"/members/"+uid+"/$ref", nil); st != 204 {
		t.Errorf("remove: %d", st)
	}
	if st, _, _ := c.do("DELETE", "/groups/"+gid+"/members/"+uid+"/$ref", nil); st != 404 {
		t.Errorf("remove again: %d, want 404", st)
	}

	c.srv.SetKnobs(Knobs{ReplicationDelay: time.Hour, ThrottleEvery: 3, RetryAfter: 2 * time.Second})
	_, _, fresh := c.do("POST", "/users", userBody("fresh@x.org")) // request 1 of the knobs? counted from the start
	statuses := []int{}
	for range 3 {
		st, h, _ := c.do("GET", "/users/"+fresh["id"].(string), nil)
		if st == 429 && h.Get("Retry-After") != "2" {
			t.Errorf("429 with Retry-After %q", h.Get("Retry-After"))
		}
		statuses = append(statuses, st)
	}
	if !contains(statuses, 404) || !contains(statuses, 429) {
		t.Errorf("statuses %v: want a 404 (replication delay) and a 429", statuses)
	}
	if s := c.srv.Stats(); s.Throttled == 0 || s.Replication == 0 {
		t.Errorf("stats %+v", s)
	}
}

func contains(l []int, v int) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

// deltaRound follows link through its pages; it returns the items and
// the deltaLink.
func (c *client) deltaRound(link string) ([]map[string]any, string) {
	c.t.Helper()
	var items []map[string]any
	for {
		st, _, body := c.do("GET", link, nil)
		if st != 200 {
			c.t.Fatalf("delta %s: %d %v", link, st, body)
		}
		for _, v := range body["value"].([]any) {
			items = append(items, v.(map[string]any))
		}
		if d, ok := body["@odata.deltaLink"].(string); ok {
			return items, d
		}
		link = body["@odata.nextLink"].(string)
	}
}

func TestDelta(t *testing.T) {
	c := newClient(t)
	c.srv.SetKnobs(Knobs{DeltaPageSize: 2})
	var ids []string
	for _, upn := range []string{"a@x.org", "b@x.org", "c@x.org"} {
		_, _, u := c.do("POST", "/users", userBody(upn))
		ids = append(ids, u["id"].(string))
	}
	_, _, g := c.do("POST", "/groups", map[string]any{"displayName": "G", "mailEnabled": false, "mailNickname": "g1", "securityEnabled": true,
		"members@odata.bind": []string{c.srv.GraphURL() + "/directoryObjects/" + ids[0]}})
	gid := g["id"].(string)

	users, link := c.deltaRound("/users/delta?$select=id,userPrincipalName,jobTitle")
	if len(users) != 3 {
		t.Fatalf("initial round: %d users, want 3", len(users))
	}
	_, glink := c.deltaRound("/groups/delta?$select=id,displayName,members")
	_, _, latest := c.do("GET", "/users/delta?$deltatoken=latest", nil)
	if len(latest["value"].([]any)) != 0 || latest["@odata.deltaLink"] == nil {
		t.Errorf("latest: %v", latest)
	}

	c.do("PATCH", "/users/"+ids[1], map[string]any{"jobTitle": "Boss"})
	c.do("DELETE", "/users/"+ids[0], nil) // also leaves G
	c.do("POST", "/groups/"+gid+"/members/$ref", map[string]any{"@odata.id": c.srv.GraphURL() + "/directoryObjects/" + ids[2]})

	users, _ = c.deltaRound(link)
	if len(users) != 2 || users[0]["id"] != ids[1] || users[1]["@removed"] == nil {
		t.Errorf("changes: %v", users)
	}
	groups, _ := c.deltaRound(glink)
	if len(groups) != 1 {
		t.Fatalf("group changes: %v", groups)
	}
	md := groups[0]["members@delta"].([]any)
	removed := map[string]bool{}
	for _, m := range md {
		m := m.(map[string]any)
		removed[m["id"].(string)] = m["@removed"] != nil
	}
	if len(removed) != 2 || !removed[ids[0]] || removed[ids[2]] {
		t.Errorf("members@delta: %v", md)
	}

	c.srv.ExpireDeltaTokens()
	st, _, body := c.do("GET", link, nil)
	if code, _ := errCode(body); st != 410 || code != "syncStateNotFound" {
		t.Errorf("expired token: %d %v", st, body)
	}
}

func TestBatch(t *testing.T) {
	c := newClient(t)
	_, _, g := c.do("POST", "/groups", map[string]any{"displayName": "G", "mailEnabled": false, "mailNickname": "g1", "securityEnabled": true})
	gid := g["id"].(string)
	st, _, body := c.do("POST", "/$batch", map[string]any{"requests": []map[string]any{
		{"id": "1", "method": "POST", "url": "/users", "headers": map[string]string{"Content-Type": "application/json"}, "body": userBody("b@x.org")},
		{"id": "2", "method": "DELETE", "url": "/groups/" + gid + "/members/nobody/$ref"},
		{"id": "3", "method": "GET", "url": "/groups/" + gid, "dependsOn": []string{"2"}},
	}})
	if st != 200 {
		t.Fatalf("batch: %d %v", st, body)
	}
	got := map[string]float64{}
	for _, r := range body["responses"].([]any) {
		r := r.(map[string]any)
		got[r["id"].(string)] = r["status"].(float64)
	}
	if got["1"] != 201 || got["2"] != 404 || got["3"] != 424 {
		t.Errorf("statuses %v, want 1: 201, 2: 404, 3: 424", got)
	}
	reqs := make([]map[string]any, 21)
	for i := range reqs {
		reqs[i] = map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/users"}
	}
	if st, _, _ := c.do("POST", "/$batch", map[string]any{"requests": reqs}); st != 400 {
		t.Errorf("21 requests: %d, want 400", st)
	}
}
