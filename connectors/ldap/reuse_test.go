package ldap

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/peers"
)

// TestChangesAcrossServerRestart keeps one connector across a restart of
// slapd, as the worker's pool keeps it across activities: its idle
// connection dies with the server, and the next Changes must still work
// and see what changed.
func TestChangesAcrossServerRestart(t *testing.T) {
	dir := t.TempDir()
	s := peers.SlapdForTest(t, peers.SlapdOptions{Dir: dir})
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	f := newFixtureOn(t, s)
	t.Setenv("IDSYNC_TEST_SERVER_RESTART", s.AdminPassword)
	f.cfg.BindPassword = "env:IDSYNC_TEST_SERVER_RESTART"
	f.cfg.UserBaseDN, f.cfg.GroupBaseDN = "", ""
	alice := f.addUser(t, "alice", "Alice")
	c := f.open(t)
	ctx := context.Background()
	cur, err := c.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cur = changesOf(t, c, cur).Cursor

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s = peers.SlapdForTest(t, peers.SlapdOptions{Dir: dir, Port: port, AdminPassword: s.AdminPassword})
	f.slapd = s
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: mail\nmail: alice@example.org\n", alice))

	cs := changesOf(t, c, cur)
	if !slices.Equal(userIDs(cs), []string{f.uuid(t, alice)}) {
		t.Errorf("Changes after the restart = %+v, want alice changed", cs)
	}
}

// TestLostIdleConnection breaks the connector's idle connections without
// telling it, as a NAT or a firewall that forgot them does: each read
// still succeeds, on one new connection.
func TestLostIdleConnection(t *testing.T) {
	f := newFixture(t)
	f.cfg.UserBaseDN, f.cfg.GroupBaseDN = "", ""
	alice := f.addUser(t, "alice", "Alice")
	eng := f.addGroup(t, "eng", alice)
	aliceID, engID := f.uuid(t, alice), f.uuid(t, eng)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		op   func(c *ldapConnector, cur string) error
	}{
		{"Changes", func(c *ldapConnector, cur string) error {
			cs, err := c.Changes(ctx, cur)
			if err == nil && (cs.ResyncRequired || len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) != 0) {
				err = fmt.Errorf("changes %+v, want none", cs)
			}
			return err
		}},
		{"Cursor", func(c *ldapConnector, _ string) error { _, err := c.Cursor(ctx); return err }},
		{"GetUser", func(c *ldapConnector, _ string) error {
			if _, found, err := c.GetUser(ctx, aliceID); err != nil || !found {
				return fmt.Errorf("found %v, %w", found, err)
			}
			return nil
		}},
		{"GetGroup", func(c *ldapConnector, _ string) error {
			if g, found, err := c.GetGroup(ctx, engID); err != nil || !found || !slices.Equal(g.Members, []string{aliceID}) {
				return fmt.Errorf("%+v, found %v, %w", g, found, err)
			}
			return nil
		}},
		{"ListUsers", func(c *ldapConnector, _ string) error {
			n := 0
			err := c.ListUsers(ctx, func(connectors.User) error { n++; return nil })
			if err == nil && n != 1 {
				err = fmt.Errorf("listed %d users, want 1", n)
			}
			return err
		}},
		{"ListGroups", func(c *ldapConnector, _ string) error {
			n := 0
			err := c.ListGroups(ctx, func(connectors.Group) error { n++; return nil })
			if err == nil && n != 1 {
				err = fmt.Errorf("listed %d groups, want 1", n)
			}
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, f.slapd.URL)
			c := f.open(t, func(c *Config) { c.URL = p.URL() })
			cur, err := c.Cursor(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Two idle connections, both to be broken: the retry must
			// dial, not take the other one.
			c1, _, err := c.acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c2, _, err := c.acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c.release(c1, nil)
			c.release(c2, nil)
			p.Blip()
			call := func(what string, wantConns int) {
				t.Helper()
				got := p.during(func() {
					if err := tt.op(c, cur); err != nil {
						t.Errorf("%s, %s: %v", tt.name, what, err)
					}
				})
				if got.Conns != wantConns || got.Binds != wantConns {
					t.Errorf("%s: %d new connections and %d binds, want %d", what, got.Conns, got.Binds, wantConns)
				}
			}
			// The most recently used connection first: a lost one, and
			// then one new connection, which is kept.
			call("first call after the loss", 1)
			// The other lost one, while the new one is busy.
			busy, _, err := c.acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			call("with the new connection busy", 1)
			c.release(busy, nil)
			call("again", 0)
		})
	}
}

// TestLostConnectionMidListing: a listing whose connection is lost after
// it passed users to its callback fails rather than start again, which
// would pass them twice; the connector works on afterwards.
func TestLostConnectionMidListing(t *testing.T) {
	f := newFixture(t)
	for i := range 20 {
		f.addUser(t, fmt.Sprintf("u%02d", i), "U")
	}
	p := startProxy(t, f.slapd.URL)
	c := f.open(t, func(c *Config) { c.URL, c.PageSize = p.URL(), 7 })
	seen := map[string]int{}
	err := c.ListUsers(context.Background(), func(u connectors.User) error {
		if seen[u.ExternalID]++; len(seen) == 3 {
			p.Blip()
		}
		return nil
	})
	if err == nil {
		t.Errorf("ListUsers across a lost connection: no error after %d users", len(seen))
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("user %s passed %d times", id, n)
		}
	}
	t.Logf("ListUsers across a lost connection: %v", err)
	if n := len(listUsers(t, c)); n != 20 {
		t.Errorf("listed %d users afterwards, want 20", n)
	}
}

// TestConcurrentUse shares one connector between goroutines, as the
// worker's pool shares it between activities (run with -race).
func TestConcurrentUse(t *testing.T) {
	f := newFixture(t)
	f.cfg.UserBaseDN, f.cfg.GroupBaseDN = "", ""
	var dns []string
	for i := range 12 {
		dns = append(dns, f.addUser(t, fmt.Sprintf("u%02d", i), "U"))
	}
	f.addGroup(t, "all", dns...)
	p := startProxy(t, f.slapd.URL)
	c := f.open(t, func(c *Config) { c.URL = p.URL() })
	ctx := context.Background()
	cur, err := c.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := f.uuid(t, dns[0])
	const workers, rounds = 8, 10
	var wg sync.WaitGroup
	got := p.during(func() {
		for w := range workers {
			wg.Go(func() {
				for r := range rounds {
					var err error
					switch (w + r) % 4 {
					case 0:
						var cs connectors.ChangeSet
						if cs, err = c.Changes(ctx, cur); err == nil && len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) != 0 {
							err = fmt.Errorf("changes %+v, want none", cs)
						}
					case 1:
						var found bool
						if _, found, err = c.GetUser(ctx, id); err == nil && !found {
							err = fmt.Errorf("user %s not found", id)
						}
					case 2:
						n := 0
						if err = c.ListUsers(ctx, func(connectors.User) error { n++; return nil }); err == nil && n != 12 {
							err = fmt.Errorf("listed %d users, want 12", n)
						}
					case 3:
						var groups []connectors.Group
						if err = c.ListGroups(ctx, func(g connectors.Group) error { groups = append(groups, g); return nil }); err == nil &&
							(len(groups) != 1 || len(groups[0].Members) != 12) {
							err = fmt.Errorf("listed %+v, want one group of 12", groups)
						}
					}
					if err != nil {
						t.Errorf("worker %d, round %d: %v", w, r, err)
					}
				}
			})
		}
		wg.Wait()
	})
	t.Logf("%d operations: %d connections, %d searches", workers*rounds, got.Conns, got.Searches)
	c.mu.Lock()
	idle := len(c.idle)
	c.mu.Unlock()
	if idle < 1 || idle > maxIdleConns {
		t.Errorf("%d idle connections kept, want 1 to %d", idle, maxIdleConns)
	}
}

// TestClosedConnector: after Close, operations fail, and a connection an
// operation held is not kept.
func TestClosedConnector(t *testing.T) {
	f := newFixture(t)
	c := f.open(t)
	conn, _, err := c.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c.release(conn, nil)
	if !conn.IsClosing() {
		t.Error("a connection released after Close was kept open")
	}
	if _, err := c.Cursor(context.Background()); err == nil {
		t.Error("Cursor after Close: no error")
	}
}
