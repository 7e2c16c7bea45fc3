package ldap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/peers"
)

func TestBadPassword(t *testing.T) {
	f := newFixture(t)
	t.Setenv("IDSYNC_TEST_WRONG", "wrong")
	f.cfg.BindPassword = "env:IDSYNC_TEST_WRONG"
	_, err := f.cfg.Open(context.Background(), testLogger(t))
	var te *connectors.TestError
	if !errors.Is(err, connectors.ErrUnauthorized) || !errors.As(err, &te) || te.Stage != connectors.StageAuth {
		t.Fatalf("Open with a wrong password: %v; want ErrUnauthorized at stage auth", err)
	}
	t.Logf("Open: %v", err)

	c, err := newConnector(f.cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Test(context.Background())
	if !errors.As(err, &te) || te.Stage != connectors.StageAuth || !errors.Is(err, connectors.ErrUnauthorized) {
		t.Fatalf("Test: %v; want stage auth", err)
	}
	if _, _, err := c.GetUser(context.Background(), "x"); !errors.Is(err, connectors.ErrUnauthorized) {
		t.Errorf("GetUser: %v; want ErrUnauthorized", err)
	}
}

func TestTestStages(t *testing.T) {
	f := newFixture(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "ldap://" + l.Addr().String()
	l.Close()
	// A server that accepts connections and never answers.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mute.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	for _, tt := range []struct {
		name      string
		edit      func(*Config)
		wantStage string // "" for success
	}{
		{"ok", func(*Config) {}, ""},
		{"nothing listening", func(c *Config) { c.URL = closedURL }, connectors.StageTCP},
		{"no such host", func(c *Config) { c.URL = "ldap://no-such-host.invalid" }, connectors.StageDNS},
		{"ldaps to the plain port", func(c *Config) { c.URL = strings.Replace(f.cfg.URL, "ldap:", "ldaps:", 1) }, connectors.StageTLS},
		{"StartTLS, CA unknown", func(c *Config) { c.StartTLS = true }, connectors.StageTLS},
		{"ldaps, CA unknown", func(c *Config) { c.URL = f.slapd.LDAPSURL }, connectors.StageTLS},
		{"no user base", func(c *Config) { c.UserBaseDN = "ou=nowhere," + f.base }, connectors.StagePermissions},
		// slapd lets only bound users read: anonymous binds, then sees nothing.
		{"anonymous", func(c *Config) { c.BindDN, c.BindPassword, c.Anonymous = "", "", true }, connectors.StagePermissions},
		{"server never answers", func(c *Config) { c.URL, c.Timeout = "ldap://"+mute.Addr().String(), "300ms" }, connectors.StageAuth},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := f.cfg
			tt.edit(&cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			c, err := newConnector(cfg, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = c.Test(ctx)
			var te *connectors.TestError
			switch {
			case tt.wantStage == "" && err != nil:
				t.Fatalf("Test: %v", err)
			case tt.wantStage != "" && (!errors.As(err, &te) || te.Stage != tt.wantStage):
				t.Fatalf("Test: %v; want a TestError at stage %s", err, tt.wantStage)
			}
			t.Logf("Test: %v", err)
		})
	}

	c := f.open(t, func(c *Config) { c.UserBaseDN = "ou=nowhere," + f.base })
	if err := c.ListUsers(context.Background(), func(connectors.User) error { return nil }); err == nil || !strings.Contains(err.Error(), "no such object") {
		t.Errorf("ListUsers under a missing base: %v", err)
	}
}

func TestTLS(t *testing.T) {
	f := newFixture(t)
	f.addUser(t, "alice", "Alice")
	ldaps := f.slapd.LDAPSURL
	for _, tt := range []struct {
		name string
		edit func(*Config)
	}{
		{"ldaps with caFile", func(c *Config) { c.URL, c.CAFile = ldaps, f.slapd.CAFile }},
		{"ldaps to localhost", func(c *Config) { c.URL, c.CAFile = strings.Replace(ldaps, "127.0.0.1", "localhost", 1), f.slapd.CAFile }},
		{"StartTLS with caFile", func(c *Config) { c.StartTLS, c.CAFile = true, f.slapd.CAFile }},
		{"ldaps, insecureSkipVerify", func(c *Config) { c.URL, c.InsecureSkipVerify = ldaps, true }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := f.open(t, tt.edit)
			if err := c.Test(context.Background()); err != nil {
				t.Fatalf("Test: %v", err)
			}
			if n := len(listUsers(t, c)); n != 1 {
				t.Errorf("listed %d users, want 1", n)
			}
			cur, err := c.Cursor(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			changesOf(t, c, cur)
		})
	}
}

func TestServerStopped(t *testing.T) {
	s := peers.SlapdForTest(t, peers.SlapdOptions{})
	f := newFixtureOn(t, s)
	t.Setenv("IDSYNC_TEST_STOPPED", s.AdminPassword)
	f.cfg.BindPassword = "env:IDSYNC_TEST_STOPPED"
	for i := range 10 {
		f.addUser(t, fmt.Sprintf("u%d", i), "U")
	}
	c := f.open(t)
	if n := len(listUsers(t, c)); n != 10 {
		t.Fatalf("listed %d users", n)
	}
	ctx := context.Background()
	cur, err := c.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Stop slapd in the middle of a listing.
	n := 0
	err = c.ListUsers(ctx, func(connectors.User) error {
		if n++; n == 3 {
			if err := s.Stop(); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	if err == nil {
		t.Fatalf("ListUsers across a stop: no error after %d users", n)
	}
	t.Logf("ListUsers across a stop: %v", err)

	start := time.Now()
	for name, op := range map[string]func() error{
		"ListUsers": func() error { return c.ListUsers(ctx, func(connectors.User) error { return nil }) },
		"GetUser":   func() error { _, _, err := c.GetUser(ctx, "x"); return err },
		"Changes":   func() error { _, err := c.Changes(ctx, cur); return err },
		"Test":      func() error { return c.Test(ctx) },
	} {
		err := op()
		var te *connectors.TestError
		if !errors.As(err, &te) || te.Stage != connectors.StageTCP || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("%s with slapd stopped: %v; want a tcp-stage error", name, err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failing took %s", d)
	}
}
