package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/peers"
)

// --- scenario: full resync LDAP → LDAP (a second slapd), reconcile.Syncer
// in a child process as for SCIM.

func fullResyncLDAP(b *testing.B, rs *results, slapd *peers.Slapd, dir Directory) {
	ctx := context.Background()
	n, groups := len(dir.Users), len(dir.Groups)
	dst, err := peers.StartSlapd(ctx, peers.SlapdOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = dst.Stop() }()
	// The target's requests are counted as the source's are in the worker
	// scenarios: by a proxy in front of it.
	proxy, err := peers.StartLDAPProxy(strings.TrimPrefix(dst.URL, "ldap://"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = proxy.Close() }()

	// As e2e's TestLDAPToLDAP: the bases, and the write defaults
	// (uid={{userName}} under userBaseDn, cn={{displayName}} under
	// groupBaseDn, inetOrgPerson and groupOfNames, the marker in
	// description).
	target := ldapSettings("ldap://"+proxy.Addr(), dst, "DST_LDAP_PASSWORD")
	target["userBaseDn"] = "ou=people," + dst.BaseDN
	target["groupBaseDn"] = "ou=groups," + dst.BaseDN
	cr, wall := runChild(b, slapd, "ldap", target, "DST_LDAP_PASSWORD="+dst.AdminPassword)
	requests, conns := proxy.Counts()

	gotUsers, gotGroups, gotMembers, err := countManaged(ctx, dst)
	if err != nil {
		b.Fatal(err)
	}
	wantMembers := 0
	for _, g := range dir.Groups {
		wantMembers += len(g.Members)
	}
	if gotUsers != n || gotGroups != groups || gotMembers != wantMembers {
		b.Errorf("LDAP target has %d users, %d groups, %d member values; want %d, %d, %d",
			gotUsers, gotGroups, gotMembers, n, groups, wantMembers)
	}

	sc := "full resync LDAP→LDAP (Syncer)"
	rs.add(sc, "users/s (SyncUsers)", float64(n)/cr.UsersSeconds, "obj/s", "")
	rs.add(sc, "objects/s (users+groups)", float64(n+groups)/(cr.UsersSeconds+cr.GroupsSeconds), "obj/s", "")
	rs.add(sc, "wall time SyncUsers", cr.UsersSeconds, "s", "")
	rs.add(sc, "wall time SyncGroups", cr.GroupsSeconds, "s", "")
	rs.add(sc, "wall time child process (incl. start)", wall.Seconds(), "s", "")
	rs.add(sc, "peak RSS of syncing process (VmHWM)", float64(cr.PeakRSSKB)/1024, "MB", "≤ 256 at N=100000")
	rs.add(sc, "target LDAP requests (excl. bind/unbind)", float64(requests), "req", "")
	rs.add(sc, "target LDAP connections", float64(conns), "conn", "")
	rs.add(sc, "failures", float64(cr.failed()), "obj", "0")
}

// countManaged counts the users and groups idsync manages in a target
// directory (those with its marker), and the member values of those groups.
func countManaged(ctx context.Context, s *peers.Slapd) (users, groups, members int, err error) {
	conn, err := s.Conn(ctx)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("count target entries: %w", err)
	}
	defer conn.Close()
	search := func(base, filter string, attrs ...string) ([]*goldap.Entry, error) {
		res, err := conn.SearchWithPaging(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
			0, 0, false, filter, attrs, nil), 1000)
		if err != nil {
			return nil, fmt.Errorf("search %s %s: %w", base, filter, err)
		}
		return res.Entries, nil
	}
	us, err := search("ou=people,"+s.BaseDN, "(&(objectClass=inetOrgPerson)(description=idsync:*))", "1.1")
	if err != nil {
		return 0, 0, 0, err
	}
	gs, err := search("ou=groups,"+s.BaseDN, "(&(objectClass=groupOfNames)(description=idsync:*))", "member")
	if err != nil {
		return 0, 0, 0, err
	}
	for _, g := range gs {
		members += len(g.GetAttributeValues("member"))
	}
	return len(us), len(gs), members, nil
}
