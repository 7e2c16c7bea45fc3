package workday

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/workdayfake"
)

// t0 is a Saturday evening in UTC: Dec 5 in Los Angeles, Dec 6 in Sydney.
var t0 = time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)

// newFake starts a fake tenant whose clock starts at t0.
func newFake(t *testing.T, opts workdayfake.Options) *workdayfake.Server {
	t.Helper()
	if opts.Now.IsZero() {
		opts.Now = t0
	}
	return workdayfake.ForTest(t, opts)
}

// settingsFor are a connection's settings for the fake, the password
// by a file: reference; extra overrides.
func settingsFor(t testing.TB, srv *workdayfake.Server, extra map[string]any) json.RawMessage {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(srv.Password()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := map[string]any{"url": srv.URL(), "tenant": srv.Tenant(), "username": srv.Username(), "password": "file:" + pw}
	for k, v := range extra {
		s[k] = v
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type connectorsUser = connectors.User

// openConnB is openConn for a benchmark.
func openConnB(b *testing.B, srv *workdayfake.Server, extra map[string]any) *conn {
	b.Helper()
	return openConn(b, srv, extra)
}

// openConn opens a connection to the fake and returns its conn.
func openConn(t testing.TB, srv *workdayfake.Server, extra map[string]any) *conn {
	t.Helper()
	reg := connectors.Registry{"workday": Type}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := reg.Open(t.Context(), "hr", "workday", settingsFor(t, srv, extra), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	switch v := c.(type) {
	case *conn:
		return v
	case *groupSource:
		return v.conn
	}
	t.Fatalf("Open returned %T", c)
	return nil
}

// listed returns the users ListUsers streams with that ExternalID.
func listed(t *testing.T, c *conn, ext string) []connectors.User {
	t.Helper()
	var out []connectors.User
	if err := c.ListUsers(t.Context(), func(u connectors.User) error {
		if u.ExternalID == ext {
			out = append(out, u)
		}
		return nil
	}); err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	return out
}

func getUser(t *testing.T, c *conn, ext string) (connectors.User, bool) {
	t.Helper()
	u, found, err := c.GetUser(t.Context(), ext)
	if err != nil {
		t.Fatalf("GetUser(%s): %v", ext, err)
	}
	return u, found
}
