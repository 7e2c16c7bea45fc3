// Package peertest runs the Syncer against real peers: the LDAP connector
// over slapd as the source and SCIM targets (the scimmy test server, the
// vendor fakes of internal/scimfake). It holds the tests whose point is how
// a real peer behaves under reconciliation (the requests it receives, its
// rate limits, a connector's own caches); the reconcile rules themselves
// are tested in package reconcile, between in-memory stores.
package peertest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/ldap"
	"github.com/idsync/idsync/connectors/scim"
	"github.com/idsync/idsync/internal/peers"
	"github.com/idsync/idsync/internal/reconciletest"
	"github.com/idsync/idsync/reconcile"
)

// testSlapd is one slapd for the test binary; each test works in its own
// subtree (see newEnv). Each test starts its own SCIM server.
var testSlapd *peers.Slapd

const passwordEnv = "IDSYNC_TEST_PEERTEST_LDAP_PASSWORD"

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	s, err := peers.StartSlapd(ctx, peers.SlapdOptions{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "peertest:", err)
		os.Exit(1)
	}
	testSlapd = s
	if err := os.Setenv(passwordEnv, s.AdminPassword); err != nil {
		panic(err)
	}
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "peertest:", err)
	}
	os.Exit(code)
}

// env is one test's source and target: an LDAP subtree
// ou=<test>-<n>,dc=example,dc=org with ou=people and ou=groups, a source
// connector scoped to it, a SCIM server of its own and a target connector.
type env struct {
	slapd          *peers.Slapd
	people, groups string
	src            fullSource
	scim           *peers.SCIM
	tgt            fullTarget
	scimCfg        *scim.Config
}

var envSeq atomic.Int64

func newEnv(t *testing.T) *env {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	e := &env{slapd: testSlapd}
	base := fmt.Sprintf("ou=%s-%d,%s", name, envSeq.Add(1), testSlapd.BaseDN)
	e.people = "ou=people," + base
	e.groups = "ou=groups," + base
	e.add(t, fmt.Sprintf("dn: %s\nobjectClass: organizationalUnit\n\ndn: %s\nobjectClass: organizationalUnit\n\ndn: %s\nobjectClass: organizationalUnit\n",
		base, e.people, e.groups))
	cfg := ldap.Config{
		URL:          testSlapd.URL,
		BindDN:       testSlapd.AdminDN,
		BindPassword: "env:" + passwordEnv,
		BaseDN:       base,
		UserBaseDN:   e.people,
		GroupBaseDN:  e.groups,
		PageSize:     7, // several pages even for small directories
		Timeout:      "10s",
	}
	conn, err := cfg.Open(context.Background(), testLogger(t))
	if err != nil {
		t.Fatalf("open ldap source: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	e.src = conn.(fullSource)

	e.scim = peers.SCIMForTest(t)
	path := filepath.Join(t.TempDir(), "scim-token")
	if err := os.WriteFile(path, []byte(e.scim.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	e.scimCfg = &scim.Config{BaseURL: e.scim.URL, Token: "file:" + path}
	e.tgt = e.openTarget(t)
	return e
}

// openTarget opens another connector to the env's SCIM server, one that
// has seen nothing yet.
func (e *env) openTarget(t *testing.T) fullTarget {
	t.Helper()
	conn, err := e.scimCfg.Open(context.Background(), testLogger(t))
	if err != nil {
		t.Fatalf("open scim target: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn.(fullTarget)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (e *env) syncer(opts reconcile.Options) *reconcile.Syncer {
	return &reconcile.Syncer{Source: e.src, Target: e.tgt, Opts: opts}
}

// --- the source ---

func (e *env) add(t *testing.T, ldif string) {
	t.Helper()
	if err := e.slapd.Add(context.Background(), ldif); err != nil {
		t.Fatal(err)
	}
}

func (e *env) modify(t *testing.T, ldif string) {
	t.Helper()
	if err := e.slapd.Modify(context.Background(), ldif); err != nil {
		t.Fatal(err)
	}
}

func (e *env) delete(t *testing.T, dns ...string) {
	t.Helper()
	if err := e.slapd.Delete(context.Background(), dns...); err != nil {
		t.Fatal(err)
	}
}

// entry is an LDAP entry a test made: its DN and its entryUUID, which is
// the ExternalID idsync gives it.
type entry struct{ DN, ID string }

// addUser adds an inetOrgPerson uid=<uid> under ou=people with the given
// extra "attr: value" lines.
func (e *env) addUser(t *testing.T, uid string, extra ...string) entry {
	t.Helper()
	dn := "uid=" + goldap.EscapeDN(uid) + "," + e.people
	e.add(t, fmt.Sprintf("dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s Test\nsn: Test\n%s", dn, uid, uid, lines(extra)))
	return entry{dn, e.uuid(t, dn)}
}

// addUsers adds n users <prefix>00, <prefix>01, … in one connection.
func (e *env) addUsers(t *testing.T, prefix string, n int) []entry {
	t.Helper()
	var b strings.Builder
	dns := make([]string, n)
	for i := range n {
		uid := fmt.Sprintf("%s%02d", prefix, i)
		dns[i] = "uid=" + uid + "," + e.people
		fmt.Fprintf(&b, "dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s Test\nsn: Test\nmail: %s@example.org\n\n", dns[i], uid, uid, uid)
	}
	e.add(t, b.String())
	out := make([]entry, n)
	for i, dn := range dns {
		out[i] = entry{dn, e.uuid(t, dn)}
	}
	return out
}

// addGroup adds a groupOfNames under ou=groups; with no members, its one
// member is the admin DN, which is not a user in scope.
func (e *env) addGroup(t *testing.T, cn string, members ...entry) entry {
	t.Helper()
	dn := "cn=" + goldap.EscapeDN(cn) + "," + e.groups
	var b strings.Builder
	for _, m := range members {
		b.WriteString("member: " + m.DN + "\n")
	}
	if len(members) == 0 {
		b.WriteString("member: " + e.slapd.AdminDN + "\n")
	}
	e.add(t, fmt.Sprintf("dn: %s\nobjectClass: groupOfNames\ncn: %s\n%s", dn, cn, b.String()))
	return entry{dn, e.uuid(t, dn)}
}

func lines(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return strings.Join(l, "\n") + "\n"
}

// uuid returns the entryUUID of dn.
func (e *env) uuid(t *testing.T, dn string) string {
	t.Helper()
	id, err := e.slapd.EntryUUID(context.Background(), dn)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func ids(es []entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

// --- the target ---

// targetUsers returns every user of the target.
func (e *env) targetUsers(t *testing.T) []connectors.TargetUser {
	t.Helper()
	var out []connectors.TargetUser
	err := e.tgt.ListUsers(context.Background(), func(tu connectors.TargetUser) error {
		out = append(out, tu)
		return nil
	})
	if err != nil {
		t.Fatalf("list target users: %v", err)
	}
	return out
}

// targetGroup returns the one target group whose ExternalID is ext.
func (e *env) targetGroup(t *testing.T, ext string) connectors.TargetGroup {
	t.Helper()
	var hits []connectors.TargetGroup
	err := e.tgt.ListGroups(context.Background(), func(tg connectors.TargetGroup) error {
		if tg.ExternalID == ext {
			hits = append(hits, tg)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list target groups: %v", err)
	}
	if len(hits) != 1 {
		t.Fatalf("target groups with externalId %q: %d, want 1: %+v", ext, len(hits), hits)
	}
	return hits[0]
}

// members returns the target ids of the users with the given
// ExternalIDs, sorted, to compare with a group's MemberIDs.
func (e *env) members(t *testing.T, exts ...string) []string {
	t.Helper()
	return reconciletest.MemberIDs(t, e.targetUsers(t), exts...)
}

// resetStats zeroes the SCIM server's request counts.
func (e *env) resetStats(t *testing.T) {
	t.Helper()
	if err := e.scim.ResetStats(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// --- running the Syncer ---

// Shared with the other test package of reconcile (internal/reconciletest).
var (
	fullSync        = reconciletest.FullSync
	checkCounts     = reconciletest.CheckCounts
	checkNoFailures = reconciletest.CheckNoFailures
	sorted          = reconciletest.Sorted
)

type (
	fullTarget = reconciletest.FullTarget
	fullSource = reconciletest.FullSource
)
