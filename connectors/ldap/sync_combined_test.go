package ldap

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// layout is where a test searches users and groups, within its fixture.
type layout struct {
	name          string
	users, groups func(f *fixture) string
	// combined: one base holds the other, so one sync search follows
	// both.
	combined bool
}

func fixtureBase(f *fixture) string   { return f.base }
func fixturePeople(f *fixture) string { return f.people }
func fixtureGroups(f *fixture) string { return f.groups }

var layouts = []layout{
	{"one base", fixtureBase, fixtureBase, true},
	{"users under the groups' base", fixturePeople, fixtureBase, true},
	{"groups under the users' base", fixtureBase, fixtureGroups, true},
	{"bases apart", fixturePeople, fixtureGroups, false},
}

func (l layout) apply(f *fixture) func(*Config) {
	return func(c *Config) { c.UserBaseDN, c.GroupBaseDN = l.users(f), l.groups(f) }
}

func decodeCursor(t *testing.T, s string) cursor {
	t.Helper()
	var cur cursor
	if err := json.Unmarshal([]byte(s), &cur); err != nil {
		t.Fatalf("decode cursor %q: %v", s, err)
	}
	return cur
}

func TestCommonBase(t *testing.T) {
	for _, tt := range []struct{ a, b, want string }{
		{"dc=example,dc=org", "dc=example,dc=org", "dc=example,dc=org"},
		{"ou=people,dc=example,dc=org", "dc=example,dc=org", "dc=example,dc=org"},
		{"DC=Example, DC=org", "ou=groups,dc=example,dc=org", "DC=Example, DC=org"},
		{"ou=people,dc=example,dc=org", "ou=groups,dc=example,dc=org", ""},
		{"ou=people,dc=example,dc=org", "ou=people,dc=example,dc=com", ""},
		{"ou=a,ou=people,dc=example,dc=org", "ou=people,dc=example,dc=org", "ou=people,dc=example,dc=org"},
	} {
		if got := commonBase(tt.a, tt.b); got != tt.want {
			t.Errorf("commonBase(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestSearchesPerPoll counts, at the server's door, what Cursor and an
// idle Changes cost: one sync search when one base holds the other, two
// when the bases are apart, and no new connection or bind, since the
// connection Open made is kept.
func TestSearchesPerPoll(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			f := newFixture(t)
			ada := f.addUser(t, "ada", "Ada")
			f.addGroup(t, "eng", ada)
			p := startProxy(t, f.slapd.URL)
			c := f.open(t, l.apply(f), func(c *Config) { c.URL = p.URL() })
			want := proxyCounts{Searches: 2}
			if l.combined {
				want.Searches = 1
			}
			ctx := context.Background()

			var cur string
			got := p.during(func() {
				var err error
				if cur, err = c.Cursor(ctx); err != nil {
					t.Fatal(err)
				}
			})
			if got != want {
				t.Errorf("Cursor cost %+v, want %+v", got, want)
			}
			if dc := decodeCursor(t, cur); dc.Version != cursorVersion || (len(dc.Both) > 0) != l.combined ||
				(len(dc.Users) > 0) == l.combined || (len(dc.Groups) > 0) == l.combined {
				t.Errorf("cursor %s: want version %d and one cookie (combined %v) or two", cur, cursorVersion, l.combined)
			}
			for i := range 3 {
				got := p.during(func() {
					cs := changesOf(t, c, cur)
					if len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) != 0 {
						t.Fatalf("idle poll %d: %+v", i, cs)
					}
					cur = cs.Cursor
				})
				if got != want {
					t.Errorf("idle poll %d cost %+v, want %+v", i, got, want)
				}
			}

			// For the record: a poll that finds one changed user.
			f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: mail\nmail: ada@example.org\n", ada))
			got = p.during(func() {
				if cs := changesOf(t, c, cur); !slices.Equal(userIDs(cs), []string{f.uuid(t, ada)}) || len(cs.Groups) != 1 {
					t.Errorf("after a change to ada: %+v", cs)
				}
			})
			t.Logf("idle poll: %d searches; a poll with one changed user in one group: %d searches", want.Searches, got.Searches)
		})
	}
}

// TestChangesCombined follows every kind of change with each layout: the
// one sync search over users and groups must report what the searches
// apart report.
func TestChangesCombined(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			f := newFixture(t)
			alice := f.addUser(t, "alice", "Alice")
			bob := f.addUser(t, "bob", "Bob")
			carol := f.addUser(t, "carol", "Carol")
			dave := f.addUser(t, "dave", "Dave")
			erin := f.addUser(t, "erin", "Erin")
			eng := f.addGroup(t, "eng", alice)
			ops := f.addGroup(t, "ops", alice, bob)
			old := f.addGroup(t, "old", alice)
			elsewhere := "ou=elsewhere," + f.base
			outside := strings.Replace(f.base, "ou=", "ou=outside-", 1)
			f.add(t, fmt.Sprintf("dn: %s\nobjectClass: organizationalUnit\n\ndn: %s\nobjectClass: organizationalUnit\n", elsewhere, outside))
			id := map[string]string{}
			for _, dn := range []string{alice, bob, carol, dave, erin, eng, ops, old} {
				id[dn] = f.uuid(t, dn)
			}
			c := f.open(t, l.apply(f))
			cur, err := c.Cursor(context.Background())
			if err != nil {
				t.Fatal(err)
			}

			f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: mail\nmail: alice@example.org\n", alice))
			f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: description\ndescription: the engineers\n", eng))
			f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nadd: member\nmember: %s\n", ops, carol))
			f.delete(t, bob, old)
			// dave leaves every base; erin and a new group go to
			// ou=elsewhere, which only some bases hold.
			f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modrdn\nnewrdn: uid=dave\ndeleteoldrdn: 1\nnewsuperior: %s\n", dave, outside))
			f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modrdn\nnewrdn: uid=erin\ndeleteoldrdn: 1\nnewsuperior: %s\n", erin, elsewhere))
			stray := "cn=stray," + elsewhere
			f.add(t, fmt.Sprintf("dn: %s\nobjectClass: groupOfNames\ncn: stray\nmember: %s\n", stray, alice))
			id[stray] = f.uuid(t, stray)
			erinIn := l.users(f) == f.base
			strayIn := l.groups(f) == f.base

			cs := changesOf(t, c, cur)
			t.Logf("changes: %+v", cs)
			wantUsers := []string{id[alice]}
			wantDeleted := []string{id[bob], id[old], id[dave]}
			if erinIn {
				wantUsers = append(wantUsers, id[erin])
			} else {
				wantDeleted = append(wantDeleted, id[erin])
			}
			if !slices.Equal(userIDs(cs), sorted(wantUsers)) {
				t.Errorf("changed users %v, want %v", userIDs(cs), sorted(wantUsers))
			}
			for _, u := range cs.Users {
				if u.ExternalID == id[alice] && u.Email != "alice@example.org" {
					t.Errorf("alice = %+v, want the new mail", u)
				}
			}
			// An entry that is neither a user nor a group in scope may be
			// reported deleted: callers ignore ids they do not know.
			deleted := slices.DeleteFunc(slices.Clone(cs.DeletedIDs), func(d string) bool { return !strayIn && d == id[stray] })
			if !slices.Equal(sorted(deleted), sorted(wantDeleted)) {
				t.Errorf("DeletedIDs = %v, want bob, old, dave (and erin out of scope) %v", sorted(cs.DeletedIDs), sorted(wantDeleted))
			}
			wantGroups := map[string][]string{
				id[eng]: {id[alice]},
				id[ops]: sorted([]string{id[alice], id[carol]}),
			}
			if strayIn {
				wantGroups[id[stray]] = []string{id[alice]}
			}
			got := groupsByID(cs)
			if len(got) != len(wantGroups) {
				t.Errorf("changed groups %+v, want %v", cs.Groups, wantGroups)
			}
			for gid, members := range wantGroups {
				if g, ok := got[gid]; !ok || !slices.Equal(sorted(g.Members), members) {
					t.Errorf("group %s = %+v (reported %v), want members %v", gid, g, ok, members)
				}
			}

			cs = changesOf(t, c, cs.Cursor)
			if len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) != 0 {
				t.Errorf("changes after the last cursor: %+v", cs)
			}
		})
	}
}

// TestChangesCursorV1 takes a cursor of version 1, with a cookie for
// users and one for groups, as the connector wrote it before one search
// followed both: it still gives what changed, and a cursor of the
// connection's current kind.
func TestChangesCursorV1(t *testing.T) {
	for _, l := range []layout{layouts[0], layouts[3]} {
		t.Run(l.name, func(t *testing.T) {
			f := newFixture(t)
			alice := f.addUser(t, "alice", "Alice")
			eng := f.addGroup(t, "eng", alice)
			c := f.open(t, l.apply(f))
			ctx := context.Background()
			v1 := map[string]any{"v": 1, "scope": c.scopeDigest()}
			err := c.withConn(ctx, func(conn *ldap.Conn) error {
				users, err := c.takeCookie(ctx, conn, "users", c.cfg.UserBaseDN)
				if err != nil {
					return err
				}
				groups, err := c.takeCookie(ctx, conn, "groups", c.cfg.GroupBaseDN)
				v1["users"], v1["groups"] = users, groups
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(v1)

			bob := f.addUser(t, "bob", "Bob")
			f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: description\ndescription: the engineers\n", eng))
			f.delete(t, alice)
			cs := changesOf(t, c, string(b))
			if !slices.Equal(userIDs(cs), []string{f.uuid(t, bob)}) || len(cs.Groups) != 1 || len(cs.DeletedIDs) != 1 {
				t.Errorf("changes since the version 1 cursor: %+v, want bob, eng and alice deleted", cs)
			}
			if dc := decodeCursor(t, cs.Cursor); dc.Version != cursorVersion || (len(dc.Both) > 0) != l.combined || (len(dc.Users) > 0) == l.combined {
				t.Errorf("cursor after a version 1 cursor: %s; want version %d, one cookie: %v", cs.Cursor, cursorVersion, l.combined)
			}
			cs = changesOf(t, c, cs.Cursor)
			if len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) != 0 {
				t.Errorf("changes after the new cursor: %+v", cs)
			}
			f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: mail\nmail: bob@example.org\n", bob))
			if cs := changesOf(t, c, cs.Cursor); !slices.Equal(userIDs(cs), []string{f.uuid(t, bob)}) {
				t.Errorf("after a change to bob: %+v", cs)
			}
		})
	}
}

// TestChangesCombinedResyncRequired: a cookie of the one search that the
// server's change log no longer covers, and a cursor without the cookie
// these settings need, ask for a full resync; a cursor of a later version
// is an error.
func TestChangesCombinedResyncRequired(t *testing.T) {
	f := newFixture(t)
	alice := f.addUser(t, "alice", "Alice")
	c := f.open(t, layouts[0].apply(f))
	ctx := context.Background()
	cur, err := c.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.delete(t, alice)
	stale := decodeCursor(t, cur)
	stale.Both = []byte("rid=000,csn=20000101000000.000000Z#000000#000#000000")
	staleCur, _ := json.Marshal(stale)
	noCookie := decodeCursor(t, cur)
	noCookie.Both = nil
	noCookieCur, _ := json.Marshal(noCookie)
	for name, cur := range map[string]string{"cookie older than the log": string(staleCur), "no cookie": string(noCookieCur)} {
		t.Run(name, func(t *testing.T) {
			cs, err := c.Changes(ctx, cur)
			if err != nil || !cs.ResyncRequired || cs.Cursor == "" || len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) != 0 {
				t.Fatalf("Changes = %+v, %v; want ResyncRequired with a cursor and nothing else", cs, err)
			}
			changesOf(t, c, cs.Cursor)
		})
	}
	later := decodeCursor(t, cur)
	later.Version = cursorVersion + 1
	b, _ := json.Marshal(later)
	if _, err := c.Changes(ctx, string(b)); err == nil {
		t.Errorf("Changes with a cursor of version %d: no error", later.Version)
	}
}
