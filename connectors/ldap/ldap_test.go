package ldap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/peers"
)

// testSlapd is one slapd for the whole test binary; each test works in its
// own subtree (see newFixture).
var testSlapd *peers.Slapd

const (
	passwordEnv = "IDSYNC_TEST_LDAP_PASSWORD"
	// limitedDN may bind with limitedPassword and sees at most 5 entries
	// per search, paged or not.
	limitedDN       = "uid=svc-limited,dc=example,dc=org"
	limitedPassword = "limited-secret"
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	s, err := peers.StartSlapd(ctx, peers.SlapdOptions{
		TLS:            true,
		DatabaseConfig: []string{fmt.Sprintf("limits dn.exact=%q size=5", limitedDN)},
	})
	if err == nil {
		err = s.Add(ctx, fmt.Sprintf("dn: %s\nobjectClass: account\nobjectClass: simpleSecurityObject\nuid: svc-limited\nuserPassword: %s\n",
			limitedDN, limitedPassword))
	}
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ldap tests:", err)
		os.Exit(1)
	}
	testSlapd = s
	if err := os.Setenv(passwordEnv, s.AdminPassword); err != nil {
		panic(err)
	}
	code := m.Run()
	stopTestDirsrv()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "ldap tests:", err)
	}
	os.Exit(code)
}

// fixture is a test's own subtree ou=<test>,dc=example,dc=org, with
// ou=people and ou=groups under it, and a Config scoped to it.
type fixture struct {
	slapd          *peers.Slapd
	base           string
	people, groups string
	cfg            Config
}

var fixtureSeq atomic.Int64

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, testSlapd)
}

func newFixtureOn(t *testing.T, s *peers.Slapd) *fixture {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	f := &fixture{slapd: s}
	f.base = fmt.Sprintf("ou=%s-%d,%s", name, fixtureSeq.Add(1), s.BaseDN)
	f.people = "ou=people," + f.base
	f.groups = "ou=groups," + f.base
	f.add(t, fmt.Sprintf("dn: %s\nobjectClass: organizationalUnit\n\ndn: %s\nobjectClass: organizationalUnit\n\ndn: %s\nobjectClass: organizationalUnit\n",
		f.base, f.people, f.groups))
	f.cfg = Config{
		URL:          s.URL,
		BindDN:       s.AdminDN,
		BindPassword: "env:" + passwordEnv,
		BaseDN:       f.base,
		UserBaseDN:   f.people,
		GroupBaseDN:  f.groups,
		PageSize:     7,
		Timeout:      "10s",
	}
	return f
}

func (f *fixture) add(t *testing.T, ldif string) {
	t.Helper()
	if err := f.slapd.Add(context.Background(), ldif); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) modify(t *testing.T, ldif string) {
	t.Helper()
	if err := f.slapd.Modify(context.Background(), ldif); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) delete(t *testing.T, dns ...string) {
	t.Helper()
	if err := f.slapd.Delete(context.Background(), dns...); err != nil {
		t.Fatal(err)
	}
}

// addUser adds an inetOrgPerson under ou=people with the given extra
// "attr: value" lines and returns its DN.
func (f *fixture) addUser(t *testing.T, uid, cn string, extra ...string) string {
	t.Helper()
	dn := "uid=" + ldap.EscapeDN(uid) + "," + f.people
	f.add(t, fmt.Sprintf("dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\n%s", dn, uid, cn, cn, lines(extra)))
	return dn
}

// addGroup adds a groupOfNames under ou=groups; with no members, its one
// member is the admin DN, as refint leaves an emptied group.
func (f *fixture) addGroup(t *testing.T, cn string, members ...string) string {
	t.Helper()
	dn := "cn=" + ldap.EscapeDN(cn) + "," + f.groups
	if len(members) == 0 {
		members = []string{f.slapd.AdminDN}
	}
	var b strings.Builder
	for _, m := range members {
		b.WriteString("member: " + m + "\n")
	}
	f.add(t, fmt.Sprintf("dn: %s\nobjectClass: groupOfNames\ncn: %s\n%s", dn, cn, b.String()))
	return dn
}

func lines(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return strings.Join(l, "\n") + "\n"
}

// uuid returns the entryUUID of dn.
func (f *fixture) uuid(t *testing.T, dn string) string {
	t.Helper()
	id, err := f.slapd.EntryUUID(context.Background(), dn)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// open opens a connector on the fixture's config, changed by edit.
func (f *fixture) open(t *testing.T, edit ...func(*Config)) *ldapConnector {
	t.Helper()
	cfg := f.cfg
	for _, e := range edit {
		e(&cfg)
	}
	conn, err := cfg.Open(context.Background(), testLogger(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn.(*ldapConnector)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func listUsers(t *testing.T, c *ldapConnector) map[string]connectors.User {
	t.Helper()
	users := map[string]connectors.User{}
	err := c.ListUsers(context.Background(), func(u connectors.User) error {
		if _, dup := users[u.ExternalID]; dup {
			t.Errorf("user %s listed twice", u.ExternalID)
		}
		users[u.ExternalID] = u
		return nil
	})
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	return users
}

func listGroups(t *testing.T, c *ldapConnector) map[string]connectors.Group {
	t.Helper()
	groups := map[string]connectors.Group{}
	err := c.ListGroups(context.Background(), func(g connectors.Group) error {
		groups[g.ExternalID] = g
		return nil
	})
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	return groups
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestValidate(t *testing.T) {
	valid := func() Config {
		return Config{URL: "ldap://ldap.example.org", BindDN: "cn=x,dc=example,dc=org", BindPassword: "env:PW", BaseDN: "dc=example,dc=org"}
	}
	tests := []struct {
		name string
		edit func(*Config)
		want []string // substrings of the error; none: valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"anonymous", func(c *Config) { c.BindDN, c.BindPassword, c.Anonymous = "", "", true }, nil},
		{"ldaps with CA", func(c *Config) { c.URL, c.CAFile = "ldaps://ldap.example.org:636", "/ca.pem" }, nil},
		{"no credentials", func(c *Config) { c.BindDN, c.BindPassword = "", "" }, []string{"bindDn: required", "bindPassword: required"}},
		{"literal password", func(c *Config) { c.BindPassword = "hunter2" }, []string{"bindPassword: must be a secret reference"}},
		{"anonymous with dn", func(c *Config) { c.Anonymous = true }, []string{"anonymous: set neither"}},
		{"everything wrong", func(c *Config) {
			c.URL, c.BaseDN, c.UserFilter, c.GroupFilter, c.PageSize, c.Timeout = "http://x", "", "objectClass=person", "(cn=", -1, "soon"
			c.IDAttribute = "id attr"
			c.UserAttributes.Email = AttrList{"mail)"}
		}, []string{"url: scheme", "baseDn: required", "userFilter: not a valid", "groupFilter: not a valid", "pageSize", "timeout", "idAttribute", "userAttributes.email"}},
		{"startTls with ldaps", func(c *Config) { c.URL, c.StartTLS = "ldaps://x", true }, []string{"startTls"}},
		{"bad DN", func(c *Config) { c.UserBaseDN = "ou=people,,dc=x" }, []string{"userBaseDn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}

	c := valid()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.UserBaseDN != c.BaseDN || c.UserFilter != DefaultUserFilter || c.IDAttribute != "entryUUID" || c.PageSize != 500 ||
		!slices.Equal(c.UserAttributes.DisplayName, AttrList{"displayName", "cn"}) || c.GroupAttributes.Member != "member" {
		t.Errorf("defaults not filled: %+v", c)
	}
}

func TestConfigJSON(t *testing.T) {
	reg := connectors.Registry{"ldap": {New: func() connectors.Config { return new(Config) }}}
	cfg, err := reg.Parse("ldap", json.RawMessage(`{
		"url": "ldap://127.0.0.1:389", "bindDn": "cn=admin,dc=example,dc=org", "bindPassword": "file:/run/pw",
		"baseDn": "dc=example,dc=org", "userAttributes": {"userName": "mail", "displayName": ["cn"], "title": []}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	ua := cfg.(*Config).UserAttributes
	if !slices.Equal(ua.UserName, AttrList{"mail"}) || !slices.Equal(ua.DisplayName, AttrList{"cn"}) || len(ua.Title) != 0 || ua.Title == nil {
		t.Errorf("attribute lists: %+v", ua)
	}
	if _, err := reg.Parse("ldap", json.RawMessage(`{"url": "ldap://x", "bindPasword": "env:X"}`)); err == nil {
		t.Error("a misspelt field was accepted")
	}
}

func TestListUsersAndGroups(t *testing.T) {
	f := newFixture(t)
	var dns []string
	for i := range 25 {
		dns = append(dns, f.addUser(t, fmt.Sprintf("user%02d", i), fmt.Sprintf("User %02d", i),
			"givenName: Given", fmt.Sprintf("mail: user%02d@example.org", i), "title: Engineer", "ou: R&D",
			"employeeNumber: 1000", "telephoneNumber: +1 555 0100"))
	}
	// Out of scope: not an inetOrgPerson, and outside ou=people.
	f.add(t, fmt.Sprintf("dn: cn=robot,%s\nobjectClass: device\ncn: robot\n", f.people))
	outside := "uid=outsider," + f.base
	f.add(t, fmt.Sprintf("dn: %s\nobjectClass: inetOrgPerson\nuid: outsider\ncn: O\nsn: O\n", outside))
	// Nine groups; the first also holds a DN in other letter case, one out
	// of scope, a group, and refint's placeholder.
	for i := range 9 {
		members := []string{dns[i], dns[i+1]}
		if i == 0 {
			members = append(members, strings.ToUpper(dns[2]), outside, "cn=g1,"+f.groups, f.slapd.AdminDN)
		}
		f.addGroup(t, fmt.Sprintf("g%d", i), members...)
	}
	c := f.open(t)

	users := listUsers(t, c)
	if len(users) != 25 {
		t.Fatalf("listed %d users, want 25", len(users))
	}
	id0 := f.uuid(t, dns[0])
	want := connectors.User{
		ExternalID: id0, UserName: "user00", GivenName: "Given", FamilyName: "User 00", DisplayName: "User 00",
		Email: "user00@example.org", Active: true,
		Attributes: map[string]string{"title": "Engineer", "department": "R&D", "employeeNumber": "1000", "phoneNumber": "+1 555 0100"},
	}
	if got := users[id0]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("user00 =\n %+v\nwant\n %+v", got, want)
	}

	groups := listGroups(t, c)
	if len(groups) != 9 {
		t.Fatalf("listed %d groups, want 9", len(groups))
	}
	g0 := groups[f.uuid(t, "cn=g0,"+f.groups)]
	if wantM := sorted([]string{id0, f.uuid(t, dns[1]), f.uuid(t, dns[2])}); !slices.Equal(sorted(g0.Members), wantM) || g0.DisplayName != "g0" {
		t.Errorf("g0 = %+v, want members %v", g0, wantM)
	}

	// fn's error ends the listing and comes back; the connector still works.
	errStop := errors.New("stop")
	n := 0
	err := c.ListUsers(context.Background(), func(connectors.User) error {
		if n++; n == 10 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || n != 10 {
		t.Errorf("ListUsers stopped after %d with %v, want 10 and errStop", n, err)
	}
	if got := len(listUsers(t, c)); got != 25 {
		t.Errorf("after an abandoned listing: %d users, want 25", got)
	}

	// A cancelled ctx ends the listing with ctx's error, never a short
	// listing that looks complete.
	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err = c.ListUsers(ctx, func(connectors.User) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ListUsers with ctx cancelled: %v after %d users; want context.Canceled", err, n)
	}
}

func TestSizeLimitIsAnError(t *testing.T) {
	f := newFixture(t)
	for i := range 12 {
		f.addUser(t, fmt.Sprintf("u%02d", i), "U")
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(limitedPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Pages smaller and larger than the limit: either way the listing
	// fails rather than ends short.
	for _, pageSize := range []int{3, 7} {
		t.Run(fmt.Sprint("pageSize=", pageSize), func(t *testing.T) {
			c := f.open(t, func(c *Config) { c.BindDN, c.BindPassword, c.PageSize = limitedDN, "file:"+pwFile, pageSize })
			n := 0
			err := c.ListUsers(context.Background(), func(connectors.User) error { n++; return nil })
			if err == nil || !strings.Contains(err.Error(), "size limit") {
				t.Fatalf("ListUsers as a bind limited to 5 entries: err = %v after %d users, want a size limit error", err, n)
			}
			t.Logf("error (after %d users): %v", n, err)
		})
	}
}

func TestSpecialCharacters(t *testing.T) {
	f := newFixture(t)
	const uid = `we*ird(na)me\ü`
	const cn = "Zoë Ñandú (x*) 日本"
	dn := f.addUser(t, uid, cn)
	f.addUser(t, "plain", "Plain")
	f.addGroup(t, cn, dn)
	id := f.uuid(t, dn)

	c := f.open(t)
	users := listUsers(t, c)
	if u := users[id]; u.UserName != uid || u.DisplayName != cn {
		t.Errorf("listed %+v, want userName %q and displayName %q", u, uid, cn)
	}
	u, found, err := c.GetUser(context.Background(), id)
	if err != nil || !found || u.UserName != uid {
		t.Errorf("GetUser(%s) = %+v, %v, %v", id, u, found, err)
	}
	g, found, err := c.GetGroup(context.Background(), f.uuid(t, "cn="+ldap.EscapeDN(cn)+","+f.groups))
	if err != nil || !found || g.DisplayName != cn || !slices.Equal(g.Members, []string{id}) {
		t.Errorf("GetGroup = %+v, %v, %v", g, found, err)
	}

	// With uid as the id, the value goes into a filter: escaped, it finds
	// exactly this user, and a wildcard finds nothing.
	byUID := f.open(t, func(c *Config) { c.IDAttribute = "uid" })
	for _, tt := range []struct {
		id        string
		wantFound bool
	}{{uid, true}, {"*", false}, {"we*", false}, {"plain)(uid=*", false}, {"nobody", false}} {
		u, found, err := byUID.GetUser(context.Background(), tt.id)
		if err != nil || found != tt.wantFound || (found && u.ExternalID != uid) {
			t.Errorf("GetUser(uid=%q) = %+v, %v, %v; want found=%v", tt.id, u, found, err, tt.wantFound)
		}
	}
}

func TestGetUserAndGroup(t *testing.T) {
	f := newFixture(t)
	var dns []string
	for i := range memberLookupLimit + 6 {
		dns = append(dns, f.addUser(t, fmt.Sprintf("m%03d", i), "M"))
	}
	outside := "uid=outsider," + f.base
	f.add(t, fmt.Sprintf("dn: %s\nobjectClass: inetOrgPerson\nuid: outsider\ncn: O\nsn: O\n", outside))
	small := f.addGroup(t, "small", dns[0], dns[1], outside, "uid=ghost,"+f.people)
	big := f.addGroup(t, "big", append(slices.Clone(dns), outside)...)
	c := f.open(t)
	ctx := context.Background()

	for _, tt := range []struct {
		dn        string
		wantFound bool
	}{{dns[0], true}, {outside, false}, {small, false}} {
		_, found, err := c.GetUser(ctx, f.uuid(t, tt.dn))
		if err != nil || found != tt.wantFound {
			t.Errorf("GetUser(%s): found %v, err %v; want found %v", tt.dn, found, err, tt.wantFound)
		}
	}
	if _, found, err := c.GetUser(ctx, "not-a-uuid"); err != nil || found {
		t.Errorf("GetUser(not-a-uuid): found %v, err %v", found, err)
	}
	for _, tt := range []struct {
		dn    string
		wantN int
	}{{small, 2}, {big, len(dns)}} {
		g, found, err := c.GetGroup(ctx, f.uuid(t, tt.dn))
		if err != nil || !found || len(g.Members) != tt.wantN {
			t.Errorf("GetGroup(%s): %d members, found %v, err %v; want %d", tt.dn, len(g.Members), found, err, tt.wantN)
		}
	}
	if _, found, err := c.GetGroup(ctx, f.uuid(t, dns[0])); err != nil || found {
		t.Errorf("GetGroup(a user): found %v, err %v", found, err)
	}
}

// changesOf calls Changes and fails the test on an error or a resync.
func changesOf(t *testing.T, c *ldapConnector, cur string) connectors.ChangeSet {
	t.Helper()
	cs, err := c.Changes(context.Background(), cur)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if cs.ResyncRequired {
		t.Fatalf("Changes: unexpected ResyncRequired")
	}
	if cs.Cursor == "" {
		t.Fatalf("Changes: empty cursor")
	}
	return cs
}

func userIDs(cs connectors.ChangeSet) []string {
	var ids []string
	for _, u := range cs.Users {
		ids = append(ids, u.ExternalID)
	}
	return sorted(ids)
}

func groupsByID(cs connectors.ChangeSet) map[string]connectors.Group {
	m := map[string]connectors.Group{}
	for _, g := range cs.Groups {
		m[g.ExternalID] = g
	}
	return m
}

// TestChanges follows changes with the user and group bases apart (a
// sync search each) and with the group base holding the user base (one
// sync search for both): the results are the same.
func TestChanges(t *testing.T) {
	for _, l := range []layout{layouts[3], layouts[1]} {
		t.Run(l.name, func(t *testing.T) { testChanges(t, l) })
	}
}

func testChanges(t *testing.T, l layout) {
	f := newFixture(t)
	f.cfg.UserFilter = "(&(objectClass=inetOrgPerson)(!(employeeType=disabled)))"
	l.apply(f)(&f.cfg)
	alice := f.addUser(t, "alice", "Alice")
	bob := f.addUser(t, "bob", "Bob")
	carol := f.addUser(t, "carol", "Carol")
	dave := f.addUser(t, "dave", "Dave")
	erin := f.addUser(t, "erin", "Erin")
	eng := f.addGroup(t, "eng", alice)
	ops := f.addGroup(t, "ops", alice, bob, dave)
	f.add(t, fmt.Sprintf("dn: ou=elsewhere,%s\nobjectClass: organizationalUnit\n", f.base))
	c := f.open(t)
	if (c.syncBase != "") != l.combined {
		t.Fatalf("sync base %q, want one sync search: %v", c.syncBase, l.combined)
	}

	cur, err := c.Cursor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cursor: %s", cur)
	// Nothing changed since the cursor: whatever came before it is not
	// reported.
	if cs := changesOf(t, c, cur); len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) != 0 {
		t.Fatalf("changes right after Cursor: %+v", cs)
	}

	frank := f.addUser(t, "frank", "Frank")
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: mail\nmail: alice@example.org\n", alice))
	f.delete(t, bob)
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modrdn\nnewrdn: uid=carol\ndeleteoldrdn: 1\nnewsuperior: ou=elsewhere,%s\n", carol, f.base))
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nadd: employeeType\nemployeeType: disabled\n", dave))
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nadd: member\nmember: %s\n", eng, erin))

	cs := changesOf(t, c, cur)
	if want := sorted([]string{f.uuid(t, frank), f.uuid(t, alice)}); !slices.Equal(userIDs(cs), want) {
		t.Errorf("changed users %v, want frank and alice %v", userIDs(cs), want)
	}
	for _, u := range cs.Users {
		if u.UserName == "alice" && u.Email != "alice@example.org" {
			t.Errorf("alice = %+v, want the new mail", u)
		}
	}
	carolID := f.uuid(t, "uid=carol,ou=elsewhere,"+f.base)
	daveID := f.uuid(t, dave)
	// bob's id is gone with bob: find it in DeletedIDs as the one that is
	// neither carol's nor dave's.
	if len(cs.DeletedIDs) != 3 || !slices.Contains(cs.DeletedIDs, carolID) || !slices.Contains(cs.DeletedIDs, daveID) {
		t.Errorf("DeletedIDs = %v, want bob, carol (moved out) %s and dave (filtered out) %s", cs.DeletedIDs, carolID, daveID)
	}
	// eng gained erin; ops is reported as alice's group.
	if g := groupsByID(cs); len(g) != 2 ||
		!slices.Equal(sorted(g[f.uuid(t, eng)].Members), sorted([]string{f.uuid(t, alice), f.uuid(t, erin)})) ||
		!slices.Equal(g[f.uuid(t, ops)].Members, []string{f.uuid(t, alice)}) {
		t.Errorf("changed groups = %+v, want eng with alice and erin, ops with alice", cs.Groups)
	}

	// The returned cursor has seen all of it.
	cur = cs.Cursor
	if cs := changesOf(t, c, cur); len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) != 0 {
		t.Fatalf("second Changes: %+v", cs)
	}

	// A member removed.
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\ndelete: member\nmember: %s\n", eng, erin))
	cs = changesOf(t, c, cur)
	if len(cs.Groups) != 1 || !slices.Equal(cs.Groups[0].Members, []string{f.uuid(t, alice)}) || len(cs.Users)+len(cs.DeletedIDs) != 0 {
		t.Errorf("after removing erin from eng: %+v", cs)
	}
	cur = cs.Cursor

	// dave comes back into scope: ops, which lists him all along, is
	// reported with him, so that he regains the membership.
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\ndelete: employeeType\n", dave))
	cs = changesOf(t, c, cur)
	if !slices.Equal(userIDs(cs), []string{daveID}) || len(cs.DeletedIDs) != 0 ||
		len(cs.Groups) != 1 || !slices.Equal(sorted(cs.Groups[0].Members), sorted([]string{f.uuid(t, alice), daveID})) {
		t.Errorf("after dave is back: %+v, want dave and ops with alice and dave", cs)
	}
	cur = cs.Cursor

	// A user deleted while in groups: refint removes it from eng and ops
	// without touching their entryCSN, so only the user's id is reported.
	aliceID := f.uuid(t, alice)
	f.delete(t, alice)
	cs = changesOf(t, c, cur)
	if !slices.Equal(cs.DeletedIDs, []string{aliceID}) || len(cs.Groups) != 0 {
		t.Errorf("after deleting alice: %+v, want DeletedIDs [%s] and no group", cs, aliceID)
	}
	groups := listGroups(t, c)
	for _, dn := range []string{eng, ops} {
		if m := groups[f.uuid(t, dn)].Members; slices.Contains(m, aliceID) {
			t.Errorf("%s still lists alice: %v", dn, m)
		}
	}
	cur = cs.Cursor
	if cs := changesOf(t, c, cur); len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) != 0 {
		t.Fatalf("Changes after the last one: %+v", cs)
	}
}

// With users and groups under one base DN (the default), a modified entry
// must come back changed, never deleted: when each kind had its own sync,
// each saw the other kind's modified entries fall outside its filter; now
// one sync follows both.
func TestChangesSharedBase(t *testing.T) {
	f := newFixture(t)
	f.cfg.UserBaseDN, f.cfg.GroupBaseDN = "", ""
	ada := f.addUser(t, "ada", "Ada")
	eng := f.addGroup(t, "eng", ada)
	c := f.open(t)
	cur, err := c.Cursor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: mail\nmail: ada@example.org\n", ada))
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: description\ndescription: the engineers\n", eng))
	cs := changesOf(t, c, cur)
	if len(cs.DeletedIDs) != 0 {
		t.Errorf("modified entries reported deleted: %v", cs.DeletedIDs)
	}
	if !slices.Equal(userIDs(cs), []string{f.uuid(t, ada)}) || len(cs.Groups) != 1 {
		t.Errorf("changes = %+v, want ada and eng", cs)
	}
}

func TestChangesResyncRequired(t *testing.T) {
	f := newFixture(t)
	alice := f.addUser(t, "alice", "Alice")
	c := f.open(t)
	ctx := context.Background()
	cur, err := c.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var decoded cursor
	if err := json.Unmarshal([]byte(cur), &decoded); err != nil {
		t.Fatal(err)
	}
	// A cookie older than the server's change log: slapd answers with a
	// present phase.
	old := decoded
	old.Users = []byte("rid=000,csn=20000101000000.000000Z#000000#000#000000")
	oldCur, _ := json.Marshal(old)

	f.delete(t, alice)
	byUID := f.open(t, func(c *Config) { c.IDAttribute = "uid" })
	byUIDCur, err := byUID.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bob := f.addUser(t, "bob", "Bob")
	f.delete(t, bob)

	for _, tt := range []struct {
		name string
		c    *ldapConnector
		cur  string
	}{
		{"cookie older than the log", c, string(oldCur)},
		{"scope changed", f.open(t, func(c *Config) { c.UserFilter = "(objectClass=person)" }), cur},
		{"deletion with idAttribute uid", byUID, byUIDCur},
		{"no cursor", c, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := tt.c.Changes(ctx, tt.cur)
			if err != nil {
				t.Fatal(err)
			}
			if !cs.ResyncRequired || cs.Cursor == "" || len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) != 0 {
				t.Fatalf("Changes = %+v, want ResyncRequired with a cursor and nothing else", cs)
			}
			// The new cursor works.
			if cs := changesOf(t, tt.c, cs.Cursor); len(cs.Users)+len(cs.DeletedIDs) != 0 {
				t.Errorf("Changes from the resync cursor: %+v", cs)
			}
		})
	}
	if _, err := c.Changes(ctx, "garbage"); err == nil {
		t.Error("Changes(garbage): no error")
	}
}

// TestChangesAcrossRestart checks that a cursor outlives a slapd restart:
// the session log is the accesslog database, which is on disk.
func TestChangesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s := peers.SlapdForTest(t, peers.SlapdOptions{Dir: dir})
	f := newFixtureOn(t, s)
	t.Setenv("IDSYNC_TEST_RESTART", s.AdminPassword)
	f.cfg.BindPassword = "env:IDSYNC_TEST_RESTART"
	alice := f.addUser(t, "alice", "Alice")
	bob := f.addUser(t, "bob", "Bob")
	aliceID := f.uuid(t, alice)
	c := f.open(t)
	cur, err := c.Cursor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.delete(t, alice)
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: mail\nmail: bob@example.org\n", bob))
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	s = peers.SlapdForTest(t, peers.SlapdOptions{Dir: dir, AdminPassword: s.AdminPassword})
	f.slapd, f.cfg.URL = s, s.URL
	cs := changesOf(t, f.open(t), cur)
	if !slices.Equal(cs.DeletedIDs, []string{aliceID}) || !slices.Equal(userIDs(cs), []string{f.uuid(t, bob)}) {
		t.Errorf("Changes after a restart = %+v, want alice deleted and bob changed", cs)
	}
}

// TestChangesRefreshRequired checks e-syncRefreshRequired, which slapd
// answers to a stale cookie when syncprov honours reload hints.
func TestChangesRefreshRequired(t *testing.T) {
	s := peers.SlapdForTest(t, peers.SlapdOptions{SyncprovConfig: []string{"syncprov-reloadhint TRUE"}})
	f := newFixtureOn(t, s)
	t.Setenv("IDSYNC_TEST_RELOAD", s.AdminPassword)
	f.cfg.BindPassword = "env:IDSYNC_TEST_RELOAD"
	f.addUser(t, "alice", "Alice")
	c := f.open(t)
	cur, err := c.Cursor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var stale cursor
	if err := json.Unmarshal([]byte(cur), &stale); err != nil {
		t.Fatal(err)
	}
	stale.Users = []byte("rid=000,csn=20000101000000.000000Z#000000#000#000000")
	b, _ := json.Marshal(stale)
	cs, err := c.Changes(context.Background(), string(b))
	if err != nil || !cs.ResyncRequired || cs.Cursor == "" {
		t.Fatalf("Changes(stale) = %+v, %v; want ResyncRequired with a cursor", cs, err)
	}
	changesOf(t, c, cs.Cursor)
}
