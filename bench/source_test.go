package bench

import (
	"fmt"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/reconcile"
)

// sourceWriter changes users in the source directory as an administrator
// would, straight to slapd: not through the proxy, which counts only the
// engine's requests.
type sourceWriter struct {
	conn *goldap.Conn
	base string
}

func (h *harness) sourceWriter() *sourceWriter {
	h.b.Helper()
	conn, err := h.slapd.Conn(h.ctx)
	if err != nil {
		h.b.Fatal(err)
	}
	h.b.Cleanup(func() { conn.Close() })
	return &sourceWriter{conn: conn, base: h.slapd.BaseDN}
}

// setTitle replaces a user's title.
func (w *sourceWriter) setTitle(u User, title string) error {
	req := goldap.NewModifyRequest(UserDN(u, w.base), nil)
	req.Replace("title", []string{title})
	if err := w.conn.Modify(req); err != nil {
		return fmt.Errorf("set title of %s: %w", u.UID, err)
	}
	return nil
}

// externalIDs maps each generated user to the id idsync keeps for it in
// the target (the source's entryUUID; the target holds it as
// "<rule>/<id>"), by index; fatal when one is missing.
func (h *harness) externalIDs(dir Directory) []string {
	h.b.Helper()
	byName := map[string]string{}
	for _, u := range h.target.Users() {
		_, ext := reconcile.SplitExternalID(u.ExternalID)
		byName[strings.ToLower(u.UserName)] = ext
	}
	ids := make([]string, len(dir.Users))
	for i, u := range dir.Users {
		if ids[i] = byName[strings.ToLower(u.UID)]; ids[i] == "" {
			h.b.Fatalf("user %s is not in the target", u.UID)
		}
	}
	return ids
}

// waitVisible waits for each expectation and returns the times the target
// held them; fatal when one is not met within timeout of the call.
func (h *harness) waitVisible(what string, seen []<-chan time.Time, timeout time.Duration) []time.Time {
	h.b.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	out := make([]time.Time, len(seen))
	for i, ch := range seen {
		select {
		case out[i] = <-ch:
		case <-deadline.C:
			missing := 0
			for _, c := range seen[i:] {
				if len(c) == 0 {
					missing++
				}
			}
			h.target.forget()
			h.b.Fatalf("%s: %d of %d changes not visible in the target within %s", what, missing, len(seen), timeout)
		}
	}
	return out
}

func latest(ts []time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}
