package peers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// TestDirsrvRestart starts 389-ds, checks the content sync control is on
// offer and an entry gets an nsUniqueId, stops it and starts it again on
// the same Dir: the entry is still there.
func TestDirsrvRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := DirsrvOptions{Dir: dir, AdminPassword: "secret-pw"}
	start := time.Now()
	d, err := StartDirsrv(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("389 Directory Server ready in %s at %s", time.Since(start).Round(time.Millisecond), d.URL)
	err = d.Add(ctx, `dn: uid=unicode,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: unicode
cn: Ünïcode
sn: Code
`)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := d.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"supportedControl", "namingContexts"}, nil))
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctls := root.Entries[0].GetAttributeValues("supportedControl")
	if !strings.Contains(strings.Join(ctls, " "), ldap.ControlTypeSyncRequest) {
		t.Errorf("the content sync control %s is not offered: %v", ldap.ControlTypeSyncRequest, ctls)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}

	d = DirsrvForTest(t, opts)
	conn, err = d.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest("ou=people,dc=example,dc=org", ldap.ScopeWholeSubtree,
		ldap.NeverDerefAliases, 0, 0, false, "(uid=unicode)", []string{"cn", "nsUniqueId"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("cn") != "Ünïcode" || res.Entries[0].GetAttributeValue("nsUniqueId") == "" {
		t.Fatalf("after a restart: %d entries, want the one added before, with an nsUniqueId", len(res.Entries))
	}
}
