package scimfake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// client speaks plain net/http to a server, as a SCIM client would.
type client struct {
	t      *testing.T
	base   string
	token  string
	accept string
}

func newClient(t *testing.T, s *Server, token string) *client {
	return &client{t: t, base: s.URL, token: token, accept: "application/scim+json"}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; body is JSON-encoded unless it is a string or nil;
// hdr is alternating header names and values.
func (c *client) do(method, path string, body any, hdr ...string) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = c.base + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.accept != "" {
		req.Header.Set("Accept", c.accept)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// decode unmarshals the body into v.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// want fails unless the status is status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

// scimError is the RFC 7644 error body.
type scimError struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	SCIMType string   `json:"scimType"`
	Detail   string   `json:"detail"`
}

// wantError checks a SCIM error answer: status, Content-Type, schema,
// status string and scimType.
func (r response) wantError(t *testing.T, status int, scimType string) scimError {
	t.Helper()
	r.want(t, status)
	if ct := r.header.Get("Content-Type"); ct != "application/scim+json" {
		t.Errorf("Content-Type %q, want application/scim+json", ct)
	}
	var e scimError
	r.decode(t, &e)
	if len(e.Schemas) != 1 || e.Schemas[0] != schemaError || e.Status != itoa(status) || e.SCIMType != scimType {
		t.Errorf("error body %s, want status %q scimType %q", r.body, itoa(status), scimType)
	}
	return e
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

type listBody struct {
	Schemas      []string          `json:"schemas"`
	TotalResults int               `json:"totalResults"`
	ItemsPerPage int               `json:"itemsPerPage"`
	StartIndex   int               `json:"startIndex"`
	Resources    []json.RawMessage `json:"Resources"`
}

func (r response) list(t *testing.T) listBody {
	t.Helper()
	r.want(t, http.StatusOK)
	var l listBody
	r.decode(t, &l)
	if len(l.Schemas) != 1 || l.Schemas[0] != schemaListResponse {
		t.Errorf("list schemas %v", l.Schemas)
	}
	if l.ItemsPerPage != len(l.Resources) {
		t.Errorf("itemsPerPage %d, %d resources", l.ItemsPerPage, len(l.Resources))
	}
	return l
}

// userNames returns the userName of each resource of a list.
func (l listBody) userNames(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, raw := range l.Resources {
		var u User
		if err := json.Unmarshal(raw, &u); err != nil {
			t.Fatal(err)
		}
		out = append(out, u.UserName)
	}
	return out
}

func userBody(userName, externalID string, emails ...string) map[string]any {
	b := map[string]any{
		"schemas":  []string{SchemaUser},
		"userName": userName,
		"name":     map[string]any{"givenName": "Given", "familyName": "Family"},
		"active":   true,
	}
	if externalID != "" {
		b["externalId"] = externalID
	}
	var es []map[string]any
	for i, e := range emails {
		es = append(es, map[string]any{"value": e, "type": "work", "primary": i == 0})
	}
	if es != nil {
		b["emails"] = es
	}
	return b
}

func groupBody(name, externalID string, members ...string) map[string]any {
	b := map[string]any{"schemas": []string{SchemaGroup}, "displayName": name}
	if externalID != "" {
		b["externalId"] = externalID
	}
	var ms []map[string]string
	for _, m := range members {
		ms = append(ms, map[string]string{"value": m})
	}
	if ms != nil {
		b["members"] = ms
	}
	return b
}

func patchBody(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{schemaPatchOp}, "Operations": ops}
}

func op(name, path string, value any) map[string]any {
	m := map[string]any{"op": name}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

// createUser posts a user and returns it.
func (c *client) createUser(userName, externalID string, emails ...string) User {
	c.t.Helper()
	var u User
	c.do("POST", "/Users", userBody(userName, externalID, emails...)).want(c.t, http.StatusCreated).decode(c.t, &u)
	return u
}

func (c *client) createGroup(name, externalID string, members ...string) Group {
	c.t.Helper()
	var g Group
	c.do("POST", "/Groups", groupBody(name, externalID, members...)).want(c.t, http.StatusCreated).decode(c.t, &g)
	return g
}

// fakeClock is a settable clock for Options.clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
