package ldap

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/peers"
)

// dirsrvPasswordEnv holds cn=Directory Manager's password of testDirsrv.
const dirsrvPasswordEnv = "IDSYNC_TEST_DIRSRV_PASSWORD"

// testDirsrv is one 389 Directory Server for the whole test binary,
// started by the first test that needs it; TestMain stops it.
var testDirsrv struct {
	once sync.Once
	d    *peers.Dirsrv
	err  error
}

func dirsrvPeer(t *testing.T) *peers.Dirsrv {
	t.Helper()
	testDirsrv.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		testDirsrv.d, testDirsrv.err = peers.StartDirsrv(ctx, peers.DirsrvOptions{})
		if testDirsrv.err == nil {
			t.Logf("389 Directory Server ready in %s", time.Since(start).Round(time.Millisecond))
			testDirsrv.err = os.Setenv(dirsrvPasswordEnv, testDirsrv.d.AdminPassword)
		}
	})
	if testDirsrv.err != nil {
		t.Fatalf("389 Directory Server: %v", testDirsrv.err)
	}
	return testDirsrv.d
}

func stopTestDirsrv() {
	if testDirsrv.d != nil {
		if err := testDirsrv.d.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "ldap tests:", err)
		}
	}
}

// dsFixture is a test's own subtree of the 389 Directory Server, with
// ou=people and ou=groups under it, and a 389ds Config scoped to it.
type dsFixture struct {
	ds             *peers.Dirsrv
	base           string
	people, groups string
	cfg            Config
}

func newDSFixture(t *testing.T) *dsFixture {
	t.Helper()
	ds := dirsrvPeer(t)
	f := &dsFixture{ds: ds}
	f.base = fmt.Sprintf("ou=%s-%d,%s", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), fixtureSeq.Add(1), ds.BaseDN)
	f.people, f.groups = "ou=people,"+f.base, "ou=groups,"+f.base
	f.add(t, fmt.Sprintf("dn: %s\nobjectClass: organizationalUnit\n\ndn: %s\nobjectClass: organizationalUnit\n\ndn: %s\nobjectClass: organizationalUnit\n",
		f.base, f.people, f.groups))
	f.cfg = Config{
		URL:          ds.URL,
		BindDN:       ds.AdminDN,
		BindPassword: "env:" + dirsrvPasswordEnv,
		BaseDN:       f.base,
		UserBaseDN:   f.people,
		GroupBaseDN:  f.groups,
		PageSize:     3,
		Timeout:      "10s",
		DirectorySettings: DirectorySettings{
			Profile: Profile389DS,
		},
	}
	return f
}

func (f *dsFixture) add(t *testing.T, ldif string) {
	t.Helper()
	if err := f.ds.Add(context.Background(), ldif); err != nil {
		t.Fatal(err)
	}
}

func (f *dsFixture) modify(t *testing.T, ldif string) {
	t.Helper()
	if err := f.ds.Modify(context.Background(), ldif); err != nil {
		t.Fatal(err)
	}
}

// addUser adds an inetOrgPerson with a posixAccount uid under ou=people.
func (f *dsFixture) addUser(t *testing.T, uid, cn string, extra ...string) string {
	t.Helper()
	dn := "uid=" + ldap.EscapeDN(uid) + "," + f.people
	f.add(t, fmt.Sprintf("dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\n%s", dn, uid, cn, cn, lines(extra)))
	return dn
}

// id returns the nsUniqueId of dn, as the connector renders it.
func (f *dsFixture) id(t *testing.T, dn string) string {
	t.Helper()
	conn, err := f.ds.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"nsUniqueId"}, nil))
	if err != nil {
		t.Fatalf("nsUniqueId of %s: %v", dn, err)
	}
	return strings.ToLower(res.Entries[0].GetAttributeValue("nsUniqueId"))
}

func (f *dsFixture) open(t *testing.T, edit ...func(*Config)) *ldapConnector {
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

// TestDirsrvList reads users and groups of every kind from 389-ds: ids are
// nsUniqueIds, nsAccountLock marks a user inactive, an nsPerson made by
// dsidm is a user, and uniqueMember, member and memberUid all give
// members.
func TestDirsrvList(t *testing.T) {
	f := newDSFixture(t)
	alice := f.addUser(t, "alice", "Alice", "mail: alice@example.org", "title: Engineer")
	bob := f.addUser(t, "bob", "Bob", "nsAccountLock: true")
	carol := f.addUser(t, "carol", "Carol", "nsAccountLock: false")
	// As dsidm user create makes them.
	dave := "uid=dave," + f.people
	f.add(t, fmt.Sprintf(`dn: %s
objectClass: nsPerson
objectClass: nsAccount
objectClass: nsOrgPerson
objectClass: posixAccount
uid: dave
cn: Dave
displayName: Dave D.
uidNumber: 1004
gidNumber: 1004
homeDirectory: /home/dave
`, dave))
	staff := "cn=staff," + f.groups
	f.add(t, fmt.Sprintf("dn: %s\nobjectClass: groupOfUniqueNames\ncn: staff\nuniqueMember: %s\nuniqueMember: %s\nuniqueMember: cn=nobody,%s\n",
		staff, alice, strings.ToUpper(bob), f.people))
	posix := "cn=posix," + f.groups
	f.add(t, fmt.Sprintf("dn: %s\nobjectClass: posixGroup\ncn: posix\ngidNumber: 2000\nmemberUid: carol\nmemberUid: DAVE\nmemberUid: ghost\n", posix))
	names := "cn=names," + f.groups
	f.add(t, fmt.Sprintf("dn: %s\nobjectClass: groupOfNames\ncn: names\nmember: %s\n", names, dave))
	c := f.open(t)

	users := listUsers(t, c)
	if len(users) != 4 {
		t.Fatalf("listed %d users, want 4: %+v", len(users), users)
	}
	want := map[string]struct {
		name   string
		active bool
	}{alice: {"alice", true}, bob: {"bob", false}, carol: {"carol", true}, dave: {"dave", true}}
	for dn, w := range want {
		u, ok := users[f.id(t, dn)]
		if !ok || u.UserName != w.name || u.Active != w.active {
			t.Errorf("user %s = %+v (listed %v), want userName %s, active %v", dn, u, ok, w.name, w.active)
		}
	}
	if u := users[f.id(t, alice)]; u.Email != "alice@example.org" || u.Attributes["title"] != "Engineer" {
		t.Errorf("alice = %+v", u)
	}
	if u := users[f.id(t, dave)]; u.DisplayName != "Dave D." {
		t.Errorf("dave = %+v, want displayName Dave D.", u)
	}

	groups := listGroups(t, c)
	wantGroups := map[string][]string{
		staff: {f.id(t, alice), f.id(t, bob)},
		posix: {f.id(t, carol), f.id(t, dave)},
		names: {f.id(t, dave)},
	}
	if len(groups) != len(wantGroups) {
		t.Fatalf("listed %d groups, want %d: %+v", len(groups), len(wantGroups), groups)
	}
	for dn, members := range wantGroups {
		if g := groups[f.id(t, dn)]; !slices.Equal(sorted(g.Members), sorted(members)) {
			t.Errorf("group %s = %+v, want members %v", dn, g, members)
		}
	}

	// GetUser and GetGroup by nsUniqueId, also in upper case; memberUid
	// members resolved one by one.
	if u, found, err := c.GetUser(context.Background(), strings.ToUpper(f.id(t, bob))); err != nil || !found || u.Active {
		t.Errorf("GetUser(bob) = %+v, %v, %v; want bob, inactive", u, found, err)
	}
	if g, found, err := c.GetGroup(context.Background(), f.id(t, posix)); err != nil || !found ||
		!slices.Equal(sorted(g.Members), sorted(wantGroups[posix])) {
		t.Errorf("GetGroup(posix) = %+v, %v, %v", g, found, err)
	}
}

// TestDirsrvChanges follows 389-ds's content sync: a change, a lock, a
// deletion, a move out of scope, a user that stops matching the filter
// and a membership change are all seen, with nsUniqueIds as ids; with the
// user and group bases apart (a sync of each) and with the group base
// holding the user base (one sync for both). It counts the searches of an
// idle poll at the server's door.
func TestDirsrvChanges(t *testing.T) {
	for _, tt := range []struct {
		name         string
		groupsAtBase bool
		idleSearches int
	}{
		{"bases apart", false, 2},
		{"users under the groups' base", true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) { testDirsrvChanges(t, tt.groupsAtBase, tt.idleSearches) })
	}
}

func testDirsrvChanges(t *testing.T, groupsAtBase bool, idleSearches int) {
	f := newDSFixture(t)
	f.cfg.UserFilter = "(&(objectClass=inetOrgPerson)(!(employeeType=contractor)))"
	if groupsAtBase {
		f.cfg.GroupBaseDN = f.base
	}
	p := startProxy(t, f.ds.URL)
	f.cfg.URL = p.URL()
	alice := f.addUser(t, "alice", "Alice")
	bob := f.addUser(t, "bob", "Bob")
	carol := f.addUser(t, "carol", "Carol")
	dave := f.addUser(t, "dave", "Dave")
	erin := f.addUser(t, "erin", "Erin")
	staff := "cn=staff," + f.groups
	f.add(t, fmt.Sprintf("dn: %s\nobjectClass: groupOfUniqueNames\ncn: staff\nuniqueMember: %s\nuniqueMember: %s\n", staff, alice, bob))
	posix := "cn=posix," + f.groups
	f.add(t, fmt.Sprintf("dn: %s\nobjectClass: posixGroup\ncn: posix\ngidNumber: 2000\nmemberUid: alice\n", posix))
	f.add(t, fmt.Sprintf("dn: ou=elsewhere,%s\nobjectClass: organizationalUnit\n", f.base))
	c := f.open(t)
	ids := map[string]string{}
	for _, dn := range []string{alice, bob, carol, dave, erin, staff, posix} {
		ids[dn] = f.id(t, dn)
	}

	cur, err := c.Cursor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if (c.syncBase != "") != groupsAtBase {
		t.Fatalf("sync base %q, want one sync search: %v", c.syncBase, groupsAtBase)
	}
	got := p.during(func() {
		if cs := changesOf(t, c, cur); len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) != 0 {
			t.Fatalf("changes right after Cursor: %+v", cs)
		}
	})
	if got != (proxyCounts{Searches: idleSearches}) {
		t.Errorf("idle poll cost %+v, want %d searches on the connection kept", got, idleSearches)
	}

	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: mail\nmail: alice@example.org\n", alice))
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: delete\n", bob))
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modrdn\nnewrdn: uid=carol\ndeleteoldrdn: 1\nnewsuperior: ou=elsewhere,%s\n", carol, f.base))
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nadd: employeeType\nemployeeType: contractor\n", dave))
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nadd: nsAccountLock\nnsAccountLock: true\n", erin))
	f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nadd: memberUid\nmemberUid: erin\n", posix))

	cs := changesOf(t, c, cur)
	t.Logf("changes: %+v", cs)
	if want := sorted([]string{ids[alice], ids[erin]}); !slices.Equal(userIDs(cs), want) {
		t.Errorf("changed users %v, want alice and erin %v", userIDs(cs), want)
	}
	for _, u := range cs.Users {
		switch u.UserName {
		case "alice":
			if u.Email != "alice@example.org" || !u.Active {
				t.Errorf("alice = %+v, want the new mail, active", u)
			}
		case "erin":
			if u.Active {
				t.Errorf("erin = %+v, want inactive (nsAccountLock)", u)
			}
		}
	}
	// bob deleted, carol moved out, dave filtered out.
	if want := sorted([]string{ids[bob], ids[carol], ids[dave]}); !slices.Equal(sorted(cs.DeletedIDs), want) {
		t.Errorf("DeletedIDs = %v, want bob, carol, dave %v", sorted(cs.DeletedIDs), want)
	}
	// posix gained erin (and is alice's and erin's group); staff lost bob
	// through referential integrity, and is alice's group.
	g := groupsByID(cs)
	if m := g[ids[posix]].Members; !slices.Equal(sorted(m), sorted([]string{ids[alice], ids[erin]})) {
		t.Errorf("posix members = %v, want alice and erin", m)
	}
	if m, ok := g[ids[staff]]; !ok || !slices.Equal(m.Members, []string{ids[alice]}) {
		t.Errorf("staff = %+v (reported %v), want alice alone", m, ok)
	}

	// Nothing since: nothing reported.
	if cs := changesOf(t, c, cs.Cursor); len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) != 0 {
		t.Errorf("changes after the last cursor: %+v", cs)
	}
}

// TestDirsrvResync: a cookie the server does not know, and a cursor taken
// under another filter, ask for a full resync.
func TestDirsrvResync(t *testing.T) {
	f := newDSFixture(t)
	f.addUser(t, "alice", "Alice")
	c := f.open(t)
	cur, err := c.Cursor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	other := f.open(t, func(c *Config) { c.UserFilter = "(uid=*)" })
	oneSearch := f.open(t, func(c *Config) { c.GroupBaseDN = f.base })
	oneCur, err := oneSearch.Cursor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A cookie of another server: host:port#client#changenumber.
	foreign := func(cookie []byte) []byte {
		_, rest, _ := strings.Cut(string(cookie), "#")
		return []byte("ds.example.org:389#" + rest)
	}
	for name, cs := range map[string]func() (connectors.ChangeSet, error){
		"other filter": func() (connectors.ChangeSet, error) { return other.Changes(context.Background(), cur) },
		"foreign cookie": func() (connectors.ChangeSet, error) {
			var cr cursor
			if err := json.Unmarshal([]byte(cur), &cr); err != nil {
				t.Fatal(err)
			}
			cr.Users = foreign(cr.Users)
			b, _ := json.Marshal(cr)
			return c.Changes(context.Background(), string(b))
		},
		"foreign cookie of the one search": func() (connectors.ChangeSet, error) {
			var cr cursor
			if err := json.Unmarshal([]byte(oneCur), &cr); err != nil {
				t.Fatal(err)
			}
			cr.Both = foreign(cr.Both)
			b, _ := json.Marshal(cr)
			return oneSearch.Changes(context.Background(), string(b))
		},
	} {
		got, err := cs()
		if err != nil || !got.ResyncRequired || got.Cursor == "" {
			t.Errorf("%s: Changes = %+v, %v; want ResyncRequired with a cursor", name, got, err)
		}
	}
}
