package graph

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/graphfake"
)

// incremental opens a source connection with settings s and starts its
// delta queries: the source and the cursor from now.
func incremental(t *testing.T, s map[string]any) (connectors.Incremental, string) {
	t.Helper()
	src, err := connectors.AsSource(open(t, s))
	if err != nil {
		t.Fatal(err)
	}
	inc := src.(connectors.Incremental)
	cur, err := inc.Cursor(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return inc, cur
}

// TestDeltaMore: with maxChanges 4 and delta pages of 3, a backlog of
// 10 users and 2 groups comes in polls of whole pages that stop once 4
// objects are read, each but the last with More; every object comes
// once, and the users before the groups.
func TestDeltaMore(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{DeltaPageSize: 3})
	s := settings(t, srv, map[string]any{"maxChanges": 4})
	inc, cur := incremental(t, s)
	admin := openTarget(t, s)
	for i := range 10 {
		if _, err := admin.CreateUser(t.Context(), connectors.User{UserName: fmt.Sprint("u", i), Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if _, err := admin.(connectors.GroupTarget).CreateGroup(t.Context(), connectors.Group{DisplayName: fmt.Sprint("g", i)}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	var polls []string
	for range 10 {
		cs, err := inc.Changes(t.Context(), cur)
		if err != nil || cs.ResyncRequired {
			t.Fatalf("Changes: %v, resync %t", err, cs.ResyncRequired)
		}
		for _, u := range cs.Users {
			seen[u.UserName]++
		}
		for _, g := range cs.Groups {
			seen[g.DisplayName]++
		}
		polls = append(polls, fmt.Sprintf("%du%dg more=%t", len(cs.Users), len(cs.Groups), cs.More))
		cur = cs.Cursor
		if !cs.More {
			break
		}
	}
	// The first poll stops after the page that reaches 4 users; the
	// second ends the users' round, and the groups' round is one page.
	want := []string{"6u0g more=true", "4u2g more=false"}
	if strings.Join(polls, ", ") != strings.Join(want, ", ") {
		t.Errorf("polls: %v, want %v", polls, want)
	}
	if len(seen) != 12 {
		t.Errorf("%d objects seen, want 12: %v", len(seen), seen)
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s came %d times", name, n)
		}
	}
}

// TestBadInput: what Graph or the cursor gets wrong is a clear error
// naming what was done, without the secret, and a failed poll loses
// nothing: the same cursor polled again gets every change.
func TestBadInput(t *testing.T) {
	t.Run("wrong client secret", func(t *testing.T) {
		srv := startFake(t, graphfake.Knobs{})
		s := settings(t, srv, nil)
		srv2 := graphfake.Start(graphfake.Options{Tenant: testTenant, ClientID: testClient, ClientSecret: "another"})
		t.Cleanup(srv2.Close)
		s["authority"], s["graphUrl"] = srv2.AuthorityURL(), srv2.GraphURL()
		_, err := openTarget(t, s).LookupUsers(t.Context(), connectors.MatchEmail, "a@example.org")
		if !errors.Is(err, connectors.ErrUnauthorized) || !strings.Contains(err.Error(), "AADSTS7000215") ||
			!strings.Contains(err.Error(), "look up users by email") || strings.Contains(err.Error(), testSecret) {
			t.Errorf("a wrong secret: %v; want ErrUnauthorized naming the lookup and AADSTS7000215, without the secret", err)
		}
	})
	t.Run("a token Graph does not take", func(t *testing.T) {
		// The token endpoint hands out a token Graph refuses every time:
		// one new token is fetched, then the 401 is the error.
		var tokens atomic.Int32
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if strings.HasSuffix(r.URL.Path, "/token") {
				tokens.Add(1)
				_, _ = w.Write([]byte(`{"token_type":"Bearer","expires_in":3599,"access_token":"wrong"}`))
				return
			}
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure. Invalid audience."}}`))
		}))
		t.Cleanup(ts.Close)
		s := settings(t, &graphfake.Server{URL: ts.URL}, map[string]any{"authority": ts.URL, "graphUrl": ts.URL + "/v1.0"})
		_, _, err := openTarget(t, s).(connectors.UserReader).GetUserByID(t.Context(), "some-id")
		if !errors.Is(err, connectors.ErrUnauthorized) || !strings.Contains(err.Error(), "read user some-id") ||
			!strings.Contains(err.Error(), "InvalidAuthenticationToken") || tokens.Load() != 2 {
			t.Errorf("a refused token: %v after %d tokens; want ErrUnauthorized naming the read and the code, after 2 tokens", err, tokens.Load())
		}
	})
	t.Run("malformed token answer", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("<html>sign-in proxy</html>"))
		}))
		t.Cleanup(ts.Close)
		s := settings(t, &graphfake.Server{URL: ts.URL}, map[string]any{"authority": ts.URL, "graphUrl": ts.URL + "/v1.0"})
		_, err := openTarget(t, s).LookupUsers(t.Context(), connectors.MatchEmail, "a@example.org")
		if err == nil || !strings.Contains(err.Error(), "look up users by email") || !strings.Contains(err.Error(), "token") ||
			strings.Contains(err.Error(), testSecret) {
			t.Errorf("a token endpoint answering HTML: %v; want an error naming the lookup and the token, without the secret", err)
		}
	})
	t.Run("malformed delta page keeps the cursor", func(t *testing.T) {
		srv := startFake(t, graphfake.Knobs{})
		s := settings(t, srv, nil)
		_, cur := incremental(t, s)
		if _, err := openTarget(t, s).CreateUser(t.Context(), connectors.User{UserName: "kept", Active: true}); err != nil {
			t.Fatal(err)
		}
		// A proxy in front of Graph answers one delta request with HTML.
		var broken atomic.Bool
		broken.Store(true)
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/delta") && broken.Swap(false) {
				_, _ = w.Write([]byte("<html>502 upstream</html>"))
				return
			}
			srv.ServeHTTP(w, r)
		}))
		t.Cleanup(proxy.Close)
		cur = strings.ReplaceAll(cur, srv.URL, proxy.URL)
		ps := settings(t, srv, map[string]any{"authority": proxy.URL, "graphUrl": proxy.URL + "/v1.0"})
		psrc, _ := connectors.AsSource(open(t, ps))
		_, err := psrc.(connectors.Incremental).Changes(t.Context(), cur)
		if err == nil || !strings.Contains(err.Error(), "user delta query") || !strings.Contains(err.Error(), "malformed 200 answer") {
			t.Fatalf("a malformed delta page: %v; want an error naming the user delta query", err)
		}
		cs, err := psrc.(connectors.Incremental).Changes(t.Context(), cur)
		if err != nil || len(cs.Users) != 1 || cs.Users[0].UserName != "kept" {
			t.Errorf("the same cursor again: %+v, %v; want the user created", cs, err)
		}
	})
	t.Run("cursors that are no good", func(t *testing.T) {
		srv := startFake(t, graphfake.Knobs{})
		inc, good := incremental(t, settings(t, srv, nil))
		for _, tt := range []struct{ name, cursor string }{
			{"not JSON", "garbled"},
			{"empty", ""},
			{"one link missing", `{"users":"/users/delta"}`},
			{"another host", strings.ReplaceAll(good, srv.URL, "https://attacker.example")},
			{"a token the service never gave", strings.ReplaceAll(good, "$deltatoken=", "$deltatoken=9")},
		} {
			cs, err := inc.Changes(t.Context(), tt.cursor)
			if err != nil || !cs.ResyncRequired || !strings.HasPrefix(cs.Cursor, `{"users":"`+srv.GraphURL()) {
				t.Errorf("%s: %+v, %v; want a resync and a new cursor", tt.name, cs, err)
			}
		}
	})
}
