package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/peers"
)

// openTarget opens a connector to srv's URL with token, after mod changes
// the config.
func openTarget(t *testing.T, baseURL, token string, mod func(*Config)) *scimConnector {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{BaseURL: baseURL, Token: "file:" + path}
	if mod != nil {
		mod(cfg)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	conn, err := cfg.Open(t.Context(), logger)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn.(*scimConnector)
}

// startTarget starts a SCIM test server and opens a connector to it.
func startTarget(t *testing.T, mod func(*Config)) (*scimConnector, *peers.SCIM) {
	t.Helper()
	srv := peers.SCIMForTest(t)
	return openTarget(t, srv.URL, srv.Token, mod), srv
}

// raw sends a request to the server without the connector.
func raw(t *testing.T, srv *peers.SCIM, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var in bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&in).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, &in)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// getUser reads one user back by ExternalID, failing unless exactly one.
func getUser(t *testing.T, c *scimConnector, externalID string) connectors.TargetUser {
	t.Helper()
	found, err := c.LookupUsers(t.Context(), connectors.MatchExternalID, externalID)
	if err != nil {
		t.Fatalf("lookup %s: %v", externalID, err)
	}
	if len(found) != 1 {
		t.Fatalf("lookup %s: found %d users, want 1", externalID, len(found))
	}
	return found[0]
}

func fullUser(ext, userName string) connectors.User {
	return connectors.User{
		ExternalID:  ext,
		UserName:    userName,
		GivenName:   "Ada",
		FamilyName:  "Lovelace",
		DisplayName: "Ada Lovelace",
		Email:       userName + "@example.org",
		Active:      true,
		Attributes: map[string]string{
			"title":          "Analyst",
			"department":     "Engines",
			"employeeNumber": "1815",
			"phoneNumber":    "+44 20 7946 0000",
		},
	}
}

// TestRoundTrip writes users and reads them back, by lookup and by list:
// what was written compares equal to what is read, which is how the
// engine decides that a user is unchanged.
func TestRoundTrip(t *testing.T) {
	c, srv := startTarget(t, nil)
	ctx := t.Context()
	managerID, err := c.CreateUser(ctx, fullUser("mgr-1", "grace"))
	if err != nil {
		t.Fatal(err)
	}
	withManager := fullUser("rt-3", "ada")
	withManager.Attributes["manager"] = "mgr-1"
	tests := []struct {
		name string
		user connectors.User
	}{
		{"all attributes", fullUser("rt-1", "charles")},
		{"minimal", connectors.User{ExternalID: "rt-2", UserName: "min", Active: true}},
		{"with manager", withManager},
		{"inactive, non-ASCII", connectors.User{ExternalID: "rt-4", UserName: "Zoë.Ünïcode", GivenName: "Zoë",
			FamilyName: "Ñandú", DisplayName: "Zoë Ñandú", Email: "Zoë@exämple.org", Active: false}},
		{"quotes and backslashes", connectors.User{ExternalID: `rt-"5"\`, UserName: `o"neil\x`, Active: true,
			Attributes: map[string]string{"title": `"Chief" \ Officer`}}},
	}
	written := map[string]connectors.User{"mgr-1": fullUser("mgr-1", "grace")}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := c.CreateUser(ctx, tt.user)
			if err != nil {
				t.Fatal(err)
			}
			written[tt.user.ExternalID] = tt.user
			got := getUser(t, c, tt.user.ExternalID)
			if got.ID != id {
				t.Errorf("id = %q, want %q", got.ID, id)
			}
			if !reflect.DeepEqual(got.User, tt.user) {
				t.Errorf("read back\n got %+v\nwant %+v", got.User, tt.user)
			}
		})
	}

	// A fresh connector has no cache: the manager is resolved by request.
	c2 := openTarget(t, srv.URL, srv.Token, nil)
	n := 0
	err = c2.ListUsers(ctx, func(tu connectors.TargetUser) error {
		n++
		if want, ok := written[tu.ExternalID]; !ok || !reflect.DeepEqual(tu.User, want) {
			t.Errorf("listed\n got %+v\nwant %+v", tu.User, want)
		}
		if tu.ExternalID == "mgr-1" && tu.ID != managerID {
			t.Errorf("manager id = %q, want %q", tu.ID, managerID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(written) {
		t.Errorf("listed %d users, want %d", n, len(written))
	}
}

// TestUserLifecycle creates, updates, renames, deactivates and deletes a
// user, checking the target after each step.
func TestUserLifecycle(t *testing.T) {
	c, srv := startTarget(t, nil)
	ctx := t.Context()
	u := fullUser("life-1", "jdoe")
	id, err := c.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		change func(*connectors.User)
	}{
		{"update", func(u *connectors.User) {
			u.FamilyName, u.Email = "Doe-Smith", "jane.doe@example.org"
			u.Attributes["title"] = "Director"
			delete(u.Attributes, "phoneNumber")
		}},
		{"rename", func(u *connectors.User) { u.UserName = "jsmith" }},
		{"new externalId", func(u *connectors.User) { u.ExternalID = "life-1b" }},
		{"clear optional attributes", func(u *connectors.User) {
			u.GivenName, u.DisplayName, u.Email, u.Attributes = "", "", "", nil
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change(&u)
			if err := c.UpdateUser(ctx, id, u); err != nil {
				t.Fatal(err)
			}
			got := getUser(t, c, u.ExternalID)
			if got.ID != id || !reflect.DeepEqual(got.User, u) {
				t.Errorf("after %s\n got %s %+v\nwant %s %+v", st.name, got.ID, got.User, id, u)
			}
		})
	}

	t.Run("deactivate", func(t *testing.T) {
		if err := c.DeprovisionUser(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got := getUser(t, c, u.ExternalID); got.Active {
			t.Errorf("active after deprovision (disable)")
		}
	})

	t.Run("delete", func(t *testing.T) {
		d := openTarget(t, srv.URL, srv.Token, func(c *Config) { c.Deprovision = DeprovisionDelete })
		if err := d.DeprovisionUser(ctx, id); err != nil {
			t.Fatal(err)
		}
		found, err := c.LookupUsers(ctx, connectors.MatchExternalID, u.ExternalID)
		if err != nil || len(found) != 0 {
			t.Errorf("after delete: lookup = %v, %v; want none", found, err)
		}
		if err := d.DeprovisionUser(ctx, id); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("delete again: err = %v, want ErrNotFound", err)
		}
		if err := c.UpdateUser(ctx, id, u); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("update deleted user: err = %v, want ErrNotFound", err)
		}
	})
}

// TestUpdateKeepsOtherAttributes checks that an update leaves alone what
// idsync does not map: here a nickName and a second, home email.
func TestUpdateKeepsOtherAttributes(t *testing.T) {
	c, srv := startTarget(t, nil)
	status, created := raw(t, srv, http.MethodPost, "/Users", map[string]any{
		"schemas":    []string{schemaUser},
		"userName":   "keeper",
		"externalId": "keep-1",
		"nickName":   "Keepy",
		"emails": []map[string]any{
			{"value": "home@example.org", "type": "home"},
			{"value": "work@example.org", "type": "work", "primary": true},
		},
	})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, created)
	}
	id := created["id"].(string)
	u := connectors.User{ExternalID: "keep-1", UserName: "keeper", Email: "new@example.org", Active: true}
	if err := c.UpdateUser(t.Context(), id, u); err != nil {
		t.Fatal(err)
	}
	_, got := raw(t, srv, http.MethodGet, "/Users/"+id, nil)
	if got["nickName"] != "Keepy" {
		t.Errorf("nickName = %v, want it kept", got["nickName"])
	}
	emails := fmt.Sprint(got["emails"])
	if !strings.Contains(emails, "home@example.org") || !strings.Contains(emails, "new@example.org") || strings.Contains(emails, "work@example.org") {
		t.Errorf("emails = %s, want home kept and work replaced", emails)
	}
	if tu := getUser(t, c, "keep-1"); !reflect.DeepEqual(tu.User, u) {
		t.Errorf("read back\n got %+v\nwant %+v", tu.User, u)
	}
}

// TestGroupsAndMembership creates a group, adds and removes members in
// chunks, renames it and deletes it.
func TestGroupsAndMembership(t *testing.T) {
	c, srv := startTarget(t, func(c *Config) { c.MembersPerRequest = 2 })
	ctx := t.Context()
	var ids []string
	for i := range 5 {
		id, err := c.CreateUser(ctx, connectors.User{ExternalID: fmt.Sprint("m-", i), UserName: fmt.Sprint("member", i), Active: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	gid, err := c.CreateGroup(ctx, connectors.Group{ExternalID: "g-1", DisplayName: "Engineering", Members: []string{"m-0"}})
	if err != nil {
		t.Fatal(err)
	}
	members := func() []string {
		t.Helper()
		var got []string
		err := c.ListGroups(ctx, func(g connectors.TargetGroup) error {
			if g.ID == gid {
				got = slices.Sorted(slices.Values(g.MemberIDs))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := members(); len(got) != 0 {
		t.Errorf("new group has members %v, want none", got)
	}

	steps := []struct {
		name        string
		add, remove []string
		want        []string
		patches     int
	}{
		{"add five in three requests", append(ids, ids[0]), nil, ids, 3},
		{"add existing member again", ids[:1], nil, ids, 1},
		{"remove three in two requests", nil, ids[1:4], []string{ids[0], ids[4]}, 2},
		{"remove a non-member", nil, ids[1:2], []string{ids[0], ids[4]}, 1},
		{"nothing to do", nil, nil, []string{ids[0], ids[4]}, 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := srv.ResetStats(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.AddMembers(ctx, gid, st.add); err != nil {
				t.Fatal(err)
			}
			if err := c.RemoveMembers(ctx, gid, st.remove); err != nil {
				t.Fatal(err)
			}
			stats, err := srv.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := stats.ByRoute["PATCH /Groups"]; got != st.patches {
				t.Errorf("PATCH requests = %d, want %d", got, st.patches)
			}
			if got, want := members(), slices.Sorted(slices.Values(st.want)); !slices.Equal(got, want) {
				t.Errorf("members = %v, want %v", got, want)
			}
		})
	}

	t.Run("rename", func(t *testing.T) {
		if err := c.UpdateGroup(ctx, gid, connectors.Group{ExternalID: "g-1b", DisplayName: "Platform"}); err != nil {
			t.Fatal(err)
		}
		for _, q := range [][2]string{{"externalId", "g-1b"}, {"displayName", "PLATFORM"}} {
			found, err := c.LookupGroups(ctx, q[0], q[1])
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != 1 || found[0].ID != gid || found[0].DisplayName != "Platform" || found[0].ExternalID != "g-1b" || len(found[0].MemberIDs) != 2 {
				t.Errorf("lookup by %s = %+v, want the renamed group with its 2 members", q[0], found)
			}
		}
		if found, _ := c.LookupGroups(ctx, "externalId", "g-1"); len(found) != 0 {
			t.Errorf("old externalId still finds %+v", found)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := c.DeleteGroup(ctx, gid); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteGroup(ctx, gid); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("delete again: err = %v, want ErrNotFound", err)
		}
		if err := c.AddMembers(ctx, gid, ids[:1]); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("add to deleted group: err = %v, want ErrNotFound", err)
		}
	})
}

// TestPaging lists more users than the server's page of 20, whatever page
// size the connector asks for.
func TestPaging(t *testing.T) {
	c, srv := startTarget(t, nil)
	ctx := t.Context()
	const n = 45
	for i := range n {
		if _, err := c.CreateUser(ctx, connectors.User{ExternalID: fmt.Sprint("p-", i), UserName: fmt.Sprint("page", i), Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		pageSize int
		requests int
	}{
		{100, 3}, // the server caps the page at 20
		{20, 3},
		{7, 7},
		{45, 3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("pageSize ", tt.pageSize), func(t *testing.T) {
			lc := openTarget(t, srv.URL, srv.Token, func(c *Config) { c.PageSize = tt.pageSize })
			if err := srv.ResetStats(ctx); err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			err := lc.ListUsers(ctx, func(tu connectors.TargetUser) error {
				if seen[tu.ID] {
					t.Errorf("user %s listed twice", tu.ID)
				}
				seen[tu.ID] = true
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != n {
				t.Errorf("listed %d users, want %d", len(seen), n)
			}
			stats, err := srv.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := stats.ByRoute["GET /Users"]; got != tt.requests {
				t.Errorf("GET /Users requests = %d, want %d", got, tt.requests)
			}
		})
	}

	t.Run("stops at fn's error", func(t *testing.T) {
		stop := errors.New("enough")
		calls := 0
		err := c.ListUsers(ctx, func(connectors.TargetUser) error { calls++; return stop })
		if err != stop || calls != 1 {
			t.Errorf("err = %v after %d calls, want %v after 1", err, calls, stop)
		}
	})
}

// TestLookupUsers looks users up by awkward values and in another letter
// case: quotes and backslashes must be escaped in the filter, and
// userName and email compare case-insensitively.
func TestLookupUsers(t *testing.T) {
	c, _ := startTarget(t, nil)
	ctx := t.Context()
	names := []string{`O"Brien`, `back\slash`, `"\"both\\"`, `Ünïcödé.Ærø`, `MiXeD.Case`, `plain`}
	ids := map[string]string{}
	for i, name := range names {
		id, err := c.CreateUser(ctx, connectors.User{ExternalID: fmt.Sprint("L-", i), UserName: name, Email: name + "@Example.ORG", Active: true})
		if err != nil {
			t.Fatalf("create %q: %v", name, err)
		}
		ids[name] = id
	}
	for _, name := range names {
		for _, q := range []struct{ attr, value string }{
			{connectors.MatchUserName, name},
			{connectors.MatchUserName, strings.ToUpper(name)},
			{connectors.MatchUserName, strings.ToLower(name)},
			{connectors.MatchEmail, strings.ToLower(name + "@example.org")},
			{connectors.MatchEmail, strings.ToUpper(name + "@example.org")},
		} {
			t.Run(q.attr+" "+q.value, func(t *testing.T) {
				found, err := c.LookupUsers(ctx, q.attr, q.value)
				if err != nil {
					t.Fatal(err)
				}
				if len(found) != 1 || found[0].ID != ids[name] || found[0].UserName != name {
					t.Errorf("found %+v, want %q (%s)", found, name, ids[name])
				}
			})
		}
	}
	misses := []struct{ attr, value string }{
		{connectors.MatchUserName, "O"},
		{connectors.MatchUserName, `O\"Brien`},
		{connectors.MatchExternalID, "l-0"}, // externalId is case-exact
		{connectors.MatchEmail, "nobody@example.org"},
		{connectors.MatchUserName, ""},
	}
	for _, q := range misses {
		t.Run("miss "+q.attr+" "+q.value, func(t *testing.T) {
			found, err := c.LookupUsers(ctx, q.attr, q.value)
			if err != nil || len(found) != 0 {
				t.Errorf("found %+v, %v; want none", found, err)
			}
		})
	}
	if _, err := c.LookupUsers(ctx, "title", "x"); err == nil {
		t.Error("lookup by an unknown attribute: no error")
	}
}

// TestCreateDuplicate: a userName taken in another letter case is a 409,
// which must surface as ErrAlreadyExists so that the engine adopts.
func TestCreateDuplicate(t *testing.T) {
	c, _ := startTarget(t, nil)
	ctx := t.Context()
	if _, err := c.CreateUser(ctx, connectors.User{ExternalID: "d-1", UserName: "dup@example.org", Active: true}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateUser(ctx, connectors.User{ExternalID: "d-2", UserName: "DUP@example.org", Active: true})
	if !errors.Is(err, connectors.ErrAlreadyExists) {
		t.Fatalf("err = %v, want ErrAlreadyExists", err)
	}
	var se *Error
	if !errors.As(err, &se) || se.Status != http.StatusConflict || se.SCIMType != "uniqueness" || se.Method != http.MethodPost || se.Path != "/Users" {
		t.Errorf("err = %#v, want a 409 uniqueness *Error for POST /Users", se)
	}
}

// TestBadToken: a refused token is ErrUnauthorized, Test says stage auth,
// and the token appears in no error.
func TestBadToken(t *testing.T) {
	srv := peers.SCIMForTest(t)
	const token = "wrong-token-0123456789"
	c := openTarget(t, srv.URL, token, nil)
	ctx := t.Context()
	err := c.ListUsers(ctx, func(connectors.TargetUser) error { return nil })
	if !errors.Is(err, connectors.ErrUnauthorized) {
		t.Errorf("list: err = %v, want ErrUnauthorized", err)
	}
	_, cerr := c.CreateUser(ctx, connectors.User{ExternalID: "x", UserName: "x"})
	if !errors.Is(cerr, connectors.ErrUnauthorized) {
		t.Errorf("create: err = %v, want ErrUnauthorized", cerr)
	}
	terr := c.Test(ctx)
	var te *connectors.TestError
	if !errors.As(terr, &te) || te.Stage != connectors.StageAuth {
		t.Errorf("Test: err = %v, want stage %s", terr, connectors.StageAuth)
	}
	for _, e := range []error{err, cerr, terr} {
		if e != nil && strings.Contains(e.Error(), token) {
			t.Errorf("error %q contains the token", e)
		}
	}

	if err := openTarget(t, srv.URL, srv.Token, nil).Test(ctx); err != nil {
		t.Errorf("Test with the right token: %v", err)
	}
}

// TestUnreachable: nothing listens on the port, so Test says stage tcp.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := openTarget(t, "http://"+addr+"/scim/v2", "token", nil)
	err = c.Test(t.Context())
	var te *connectors.TestError
	if !errors.As(err, &te) || te.Stage != connectors.StageTCP {
		t.Errorf("Test: err = %v, want stage %s", err, connectors.StageTCP)
	}
	err = c.ListUsers(t.Context(), func(connectors.TargetUser) error { return nil })
	if err == nil || errors.Is(err, connectors.ErrUnauthorized) || !strings.HasPrefix(err.Error(), "scim: list users: ") {
		t.Errorf("list: err = %v, want a wrapped connection error", err)
	}
}
