package peers

import (
	"context"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// TestSlapdRestart starts slapd, adds an entry, stops it and starts it
// again on the same Dir: the entry is still there and the base entries are
// not added twice.
func TestSlapdRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := SlapdOptions{Dir: dir, AdminPassword: "secret"}
	s, err := StartSlapd(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Add(ctx, `dn: uid=ünïcode,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: ünïcode
cn: Ünï
 code
sn:: Q29kZQ==
`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StartSlapd(ctx, opts); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second slapd on the same dir: err = %v, want in use", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	s = SlapdForTest(t, opts)
	err = s.Modify(ctx, `dn: uid=ünïcode,ou=people,dc=example,dc=org
changetype: modify
replace: sn
sn: Other
-
add: mail
mail: u@example.org
`)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest("ou=people,dc=example,dc=org", ldap.ScopeWholeSubtree,
		ldap.NeverDerefAliases, 0, 0, false, "(uid=ünïcode)", []string{"cn", "sn", "mail"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("got %d entries, want 1", len(res.Entries))
	}
	e := res.Entries[0]
	if got := e.GetAttributeValue("cn") + "/" + e.GetAttributeValue("sn") + "/" + e.GetAttributeValue("mail"); got != "Ünïcode/Other/u@example.org" {
		t.Errorf("entry = %s", got)
	}
	if err := s.Delete(ctx, e.DN); err != nil {
		t.Fatal(err)
	}
}

func TestSlapdBadSuffix(t *testing.T) {
	if _, err := StartSlapd(context.Background(), SlapdOptions{Suffix: "cn=x"}); err == nil {
		t.Fatal("want an error for suffix cn=x")
	}
}
