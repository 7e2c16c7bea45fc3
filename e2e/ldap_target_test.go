package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/reconcile"
)

// TestLDAPToLDAP: a rule from one directory tree to another through the
// dev server, worker and CLI — LDAP as a target —, a change posted to the
// webhook that reaches the target directory in real time, and a change in
// the source directory that real-time mode brings over without waiting
// for the (hour-long) poll.
func TestLDAPToLDAP(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	base := e.slapd.BaseDN
	src, dst := "ou=src,"+base, "ou=dst,"+base
	if err := e.slapd.Add(ctx, fmt.Sprintf(`dn: %[1]s
objectClass: organizationalUnit

dn: ou=people,%[1]s
objectClass: organizationalUnit

dn: ou=groups,%[1]s
objectClass: organizationalUnit

dn: %[2]s
objectClass: organizationalUnit

dn: ou=people,%[2]s
objectClass: organizationalUnit

dn: ou=groups,%[2]s
objectClass: organizationalUnit

dn: uid=ada,ou=people,%[1]s
objectClass: inetOrgPerson
uid: ada
cn: Ada Lovelace
sn: Lovelace
mail: ada@example.org

dn: uid=grace,ou=people,%[1]s
objectClass: inetOrgPerson
uid: grace
cn: Grace Hopper
sn: Hopper
mail: grace@example.org

dn: cn=eng,ou=groups,%[1]s
objectClass: groupOfNames
cn: eng
member: uid=ada,ou=people,%[1]s
member: uid=grace,ou=people,%[1]s
`, src, dst)); err != nil {
		t.Fatal(err)
	}
	common := []string{"--url", e.slapd.URL, "--bind-dn", e.slapd.AdminDN, "--bind-password", "env:LDAP_PASSWORD"}
	e.starter(false, append([]string{"connection", "create", "src", "--type", "ldap", "--base-dn", src,
		"--set", "userBaseDn=ou=people," + src, "--set", "groupBaseDn=ou=groups," + src, "--set", "realtime=true", "--webhook-secret", "env:HOOK_KEY"}, common...)...)
	e.starter(false, append([]string{"connection", "create", "dst", "--type", "ldap", "--base-dn", dst,
		"--set", "userBaseDn=ou=people," + dst, "--set", "groupBaseDn=ou=groups," + dst}, common...)...)
	e.starter(false, "rule", "create", "src-to-dst", "--source", "src", "--target", "dst", "--poll-interval", "1h")

	conn, err := e.slapd.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	entries := func(filter string) []*goldap.Entry {
		res, err := conn.Search(goldap.NewSearchRequest(dst, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
			filter, []string{"uid", "mail", "title", "member", "description"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		return res.Entries
	}
	e.eventually("initial resync into the target directory", 60*time.Second, func() error {
		users := entries("(objectClass=inetOrgPerson)")
		groups := entries("(objectClass=groupOfNames)")
		if len(users) != 2 || len(groups) != 1 {
			return fmt.Errorf("%d users, %d groups", len(users), len(groups))
		}
		if n := len(groups[0].GetAttributeValues("member")); n != 2 {
			return fmt.Errorf("eng has %d members", n)
		}
		return nil
	})
	ada := entries("(uid=ada)")[0]
	if ada.GetAttributeValue("mail") != "ada@example.org" || !strings.HasPrefix(ada.GetAttributeValue("description"), "idsync:") {
		t.Errorf("ada in the target: %v", ada.Attributes)
	}

	// A webhook change with attributes goes straight to the target
	// directory: polling is an hour away.
	// The marker is "idsync:<rule>/<source id>" (reconcile/owner.go).
	owner, id := reconcile.SplitExternalID(strings.TrimPrefix(ada.GetAttributeValue("description"), "idsync:"))
	if owner == "" {
		t.Errorf("ada's marker names no rule: %q", ada.GetAttributeValue("description"))
	}
	body := fmt.Sprintf(`{"changes":[{"kind":"user","op":"upsert","id":%q,"attributes":{"userName":"ada","familyName":"Lovelace","displayName":"Ada Lovelace","email":"ada@example.org","attributes":{"title":"Countess"}}}]}`, id)
	e.postChanges(t, "src", body)
	e.eventually("webhook change in the target directory", 10*time.Second, func() error {
		if got := entries("(uid=ada)")[0].GetAttributeValue("title"); got != "Countess" {
			return fmt.Errorf("ada's title is %q", got)
		}
		return nil
	})

	// Real-time mode: the source's persistent search notices the change and
	// the rule polls at once, an hour before its interval. The worker looks
	// for real-time connections every second (--realtime-refresh 1s) and a
	// watch sees only what changes after it starts: give it time to start.
	time.Sleep(3 * time.Second)
	if err := e.slapd.Modify(ctx, fmt.Sprintf("dn: uid=grace,ou=people,%s\nchangetype: modify\nreplace: mail\nmail: grace.hopper@example.org\n", src)); err != nil {
		t.Fatal(err)
	}
	e.eventually("real-time change in the target directory", 30*time.Second, func() error {
		if got := entries("(uid=grace)")[0].GetAttributeValue("mail"); got != "grace.hopper@example.org" {
			return fmt.Errorf("grace's mail is %q", got)
		}
		return nil
	})
}
