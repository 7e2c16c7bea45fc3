package ldap

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// resync runs a full resync, users then groups, as the FullResync
// activity does.
func resync(t *testing.T, s *reconcile.Syncer) reconcile.Result {
	t.Helper()
	ctx := context.Background()
	users, err := s.SyncUsers(ctx)
	if err != nil {
		t.Fatalf("SyncUsers: %v", err)
	}
	groups, err := s.SyncGroups(ctx)
	if err != nil {
		t.Fatalf("SyncGroups: %v", err)
	}
	users.Merge(groups)
	if len(users.Failures) > 0 {
		t.Errorf("failures: %q", users.Failures)
	}
	return users
}

// targetMembership maps each managed target group's ExternalID to the
// ExternalIDs of its members, sorted.
func targetMembership(t *testing.T, tgt *ldapTarget) map[string][]string {
	t.Helper()
	ext := map[string]string{}
	for id, u := range targetUsers(t, tgt) {
		ext[id] = u.ExternalID
	}
	out := map[string][]string{}
	for _, g := range targetGroups(t, tgt) {
		if g.ExternalID == "" {
			continue
		}
		members := []string{}
		for _, id := range g.MemberIDs {
			members = append(members, ext[id])
		}
		out[g.ExternalID] = sorted(members)
	}
	return out
}

func sourceMembership(t *testing.T, src *ldapConnector) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, g := range listGroups(t, src) {
		out[g.ExternalID] = sorted(append([]string{}, g.Members...))
	}
	return out
}

// TestLDAPToLDAP syncs one subtree of slapd (the source) into another (the
// target) through reconcile.Syncer: the first run creates and adopts, a
// second changes nothing, not even one attribute; changes at the source
// (an attribute, a rename, a membership removal, a deletion) come through
// in a third run, after which a fourth changes nothing again.
func TestLDAPToLDAP(t *testing.T) {
	src, dst := newFixture(t), newFixture(t)
	var dns []string
	for i, name := range []string{"alice", "bob", "carol", "dave", `o'neil, "x" (*)`} {
		dns = append(dns, src.addUser(t, name, fmt.Sprintf("User %d Zoë", i),
			"givenName: Given", fmt.Sprintf("mail: %s@example.org", []string{"alice", "bob", "carol", "dave", "oneil"}[i]),
			"title: Engineer", "ou: R&D", fmt.Sprintf("employeeNumber: %d", 1000+i)))
	}
	src.addGroup(t, "Engineering", dns[0], dns[1], dns[2], dns[3])
	src.addGroup(t, "Empty (*)")
	src.addGroup(t, "Odd, one", dns[4], dns[0])
	// The target has carol already, unmanaged: she is adopted by userName.
	// zed, unmanaged and not in the source, is left alone.
	carol := dst.addUser(t, "carol", "Carol Old", "mail: CAROL@example.org")
	zed := dst.addUser(t, "zed", "Zed")

	source := src.open(t)
	target := dst.openTarget(t)
	s := &reconcile.Syncer{Source: source, Target: target}

	r := resync(t, s)
	if r.Users != (reconcile.Counts{Created: 4, Adopted: 1}) || r.Groups != (reconcile.Counts{Created: 3}) {
		t.Errorf("first run: users %+v, groups %+v", r.Users, r.Groups)
	}
	if got := targetUsers(t, target)[dst.uuid(t, carol)]; got.ExternalID != src.uuid(t, dns[2]) || got.DisplayName != "User 2 Zoë" {
		t.Errorf("carol after adoption: %+v", got)
	}
	if got := targetUsers(t, target)[dst.uuid(t, zed)]; got.ExternalID != "" || !got.Active {
		t.Errorf("zed, unmanaged, was changed: %+v", got)
	}
	checkSame := func(when string) {
		t.Helper()
		srcUsers := listUsers(t, source)
		for _, tu := range targetUsers(t, target) {
			if tu.ExternalID == "" {
				continue
			}
			u, ok := srcUsers[tu.ExternalID]
			if !tu.Active {
				if ok {
					t.Errorf("%s: %s is disabled in the target but in the source", when, tu.UserName)
				}
				continue
			}
			if !ok || !reconcile.UsersEqual(tu.User, u) {
				t.Errorf("%s: target user\n %+v\nsource user\n %+v", when, tu.User, u)
			}
		}
		if got, want := targetMembership(t, target), sourceMembership(t, source); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: target memberships\n %v\nsource memberships\n %v", when, got, want)
		}
	}
	checkSame("after the first run")

	unchanged := func(when string, users, groups int) {
		t.Helper()
		var r reconcile.Result
		writes := dst.writesDuring(t, func() { r = resync(t, s) })
		if r.Users != (reconcile.Counts{Unchanged: users}) || r.Groups != (reconcile.Counts{Unchanged: groups}) {
			t.Errorf("%s: users %+v, groups %+v; want all unchanged", when, r.Users, r.Groups)
		}
		wantWrites(t, when, writes)
	}
	unchanged("second run", 5, 3)

	// Changes at the source.
	src.modify(t, fmt.Sprintf(`dn: %s
changetype: modify
replace: title
title: Lead

dn: %s
changetype: modrdn
newrdn: uid=robert
deleteoldrdn: 1

dn: cn=Engineering,%s
changetype: modify
delete: member
member: %s
`, dns[0], dns[1], src.groups, dns[2]))
	src.delete(t, dns[3]) // refint takes dave out of Engineering
	r = resync(t, s)
	if r.Users != (reconcile.Counts{Updated: 2, Unchanged: 2, Deprovisioned: 1}) || r.Groups != (reconcile.Counts{Updated: 1, Unchanged: 2}) {
		t.Errorf("third run: users %+v, groups %+v", r.Users, r.Groups)
	}
	checkSame("after the third run")
	if e := dst.entry(t, "uid=robert,"+dst.people); e == nil {
		t.Error("bob was not renamed to robert in the target")
	}
	daveTarget, err := target.LookupUsers(context.Background(), connectors.MatchUserName, "dave")
	if err != nil || len(daveTarget) != 1 || daveTarget[0].Active {
		t.Errorf("dave in the target: %+v, %v; want one, disabled", daveTarget, err)
	}
	if m := targetMembership(t, target)[src.uuid(t, "cn=Engineering,"+src.groups)]; slices.Contains(m, daveTarget[0].ExternalID) {
		t.Errorf("disabled dave is still in Engineering: %v", m)
	}
	unchanged("fourth run", 4, 3)
}
