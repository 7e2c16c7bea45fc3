package ldap

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestListTenThousand reads a 10,000-user directory in pages of 500: every
// user comes back, once, whole. (TestSizeLimitIsAnError covers a bind whose server
// size limit is smaller than the directory.)
func TestListTenThousand(t *testing.T) {
	const n = 10_000
	f := newFixture(t)
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "dn: uid=u%05d,%s\nobjectClass: inetOrgPerson\nuid: u%05d\ncn: User %d\nsn: User\nmail: u%05d@example.org\n\n",
			i, f.people, i, i, i)
	}
	if err := f.slapd.Add(context.Background(), b.String()); err != nil {
		t.Fatal(err)
	}
	c := f.open(t, func(c *Config) { c.PageSize = 500 })
	users := listUsers(t, c)
	if len(users) != n {
		t.Fatalf("listed %d users, want %d", len(users), n)
	}
	for _, u := range users {
		if !strings.HasPrefix(u.UserName, "u") || u.Email != u.UserName+"@example.org" {
			t.Fatalf("user %+v", u)
		}
	}
}
