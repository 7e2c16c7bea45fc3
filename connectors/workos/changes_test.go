package workos

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/workosfake"
)

// replica is what a target holds after applying ChangeSets, as the
// engine applies them: users and groups as reported, deletions removed
// (a deleted user also leaves every group).
type replica struct {
	users  map[string]connectors.User
	groups map[string]connectors.Group
}

func (r *replica) apply(cs connectors.ChangeSet) {
	for _, u := range cs.Users {
		r.users[u.ExternalID] = u
	}
	for _, g := range cs.Groups {
		g.Members = slices.Sorted(slices.Values(g.Members))
		r.groups[g.ExternalID] = g
	}
	for _, id := range cs.DeletedIDs {
		delete(r.users, id)
		delete(r.groups, id)
		for gid, g := range r.groups {
			g.Members = slices.DeleteFunc(slices.Clone(g.Members), func(m string) bool { return m == id })
			r.groups[gid] = g
		}
	}
}

// diff says how the replica differs from the fake's directory.
func (r *replica) diff(dir *workosfake.Directory) []string {
	users, groups := state(dir)
	var out []string
	for _, id := range slices.Sorted(maps.Keys(users)) {
		got, ok := r.users[id]
		if !ok {
			out = append(out, "missing user "+id)
		} else if fmt.Sprint(got) != fmt.Sprint(users[id]) {
			out = append(out, fmt.Sprintf("user %s is %+v, want %+v", id, got, users[id]))
		}
	}
	for id := range r.users {
		if _, ok := users[id]; !ok {
			out = append(out, "extra user "+id)
		}
	}
	for id, want := range groups {
		got, ok := r.groups[id]
		if !ok {
			out = append(out, "missing group "+id)
		} else if got.DisplayName != want.DisplayName || !slices.Equal(got.Members, want.Members) {
			out = append(out, fmt.Sprintf("group %s is %q %v, want %q %v", id, got.DisplayName, got.Members, want.DisplayName, want.Members))
		}
	}
	for id := range r.groups {
		if _, ok := groups[id]; !ok {
			out = append(out, "extra group "+id)
		}
	}
	return out
}

// mutate makes n random changes to dir, each recording exactly one event:
// users created, updated, deactivated, deleted; groups created, renamed,
// deleted; members added and removed.
func mutate(t *testing.T, dir *workosfake.Directory, rng *rand.Rand, n int) {
	t.Helper()
	for i := 0; i < n; {
		users, groups := dir.Users(), dir.Groups()
		pick := func() workosfake.User { return users[rng.IntN(len(users))] }
		var err error
		switch op := rng.IntN(10); {
		case op == 0 || len(users) < 5:
			dir.CreateUser(workosfake.UserInput{Email: fmt.Sprintf("m%d@example.org", i), FirstName: "M", LastName: fmt.Sprint(i),
				CustomAttributes: map[string]any{"job_title": "t" + fmt.Sprint(i)}})
		case op == 1:
			_, err = dir.UpdateUser(pick().ID, func(u *workosfake.User) {
				u.LastName = fmt.Sprintf("renamed %d", i)
				u.CustomAttributes["department_name"] = fmt.Sprintf("d%d", i)
			})
		case op == 2:
			u := pick()
			_, err = dir.SetActive(u.ID, u.State != "active")
		case op == 3 && len(users) > 20:
			err = dir.DeleteUser(pick().ID)
		case op == 4 || len(groups) < 2:
			dir.CreateGroup(fmt.Sprintf("group %d", i))
		case op == 5:
			_, err = dir.RenameGroup(groups[rng.IntN(len(groups))].ID, fmt.Sprintf("group renamed %d", i))
		case op == 6 && len(groups) > 4:
			err = dir.DeleteGroup(groups[rng.IntN(len(groups))].ID)
		case op == 7 || op == 8:
			g, u := groups[rng.IntN(len(groups))], pick()
			if slices.Contains(dir.Members(g.ID), u.ID) {
				continue
			}
			err = dir.AddMember(g.ID, u.ID)
		case op == 9:
			g := groups[rng.IntN(len(groups))]
			m := dir.Members(g.ID)
			if len(m) == 0 {
				continue
			}
			err = dir.RemoveMember(g.ID, m[rng.IntN(len(m))])
		default:
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		i++
	}
}

// TestChangesMixed: 500 mixed events, read in batches over several polls
// and pages, bring a replica to the fake's state; each batch holds at
// most MaxBatchEvents events, and the last poll ends where the stream
// does.
func TestChangesMixed(t *testing.T) {
	for _, tt := range []struct {
		name               string
		pageSize, maxBatch int
		minPolls           int
	}{
		{"pages of 25, batches of 120", 25, 120, 5},
		{"pages of 100, batches of 1000", 100, 1000, 1},
		{"pages of 7, batches of 50", 7, 50, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := workosfake.ForTest(t, workosfake.Options{Knobs: workosfake.Knobs{Latency: time.Millisecond}})
			dir := srv.Directory()
			other := srv.NewDirectory() // its events share the stream and must be ignored
			dir.Populate(30, "eng", "ops", "sales")
			other.Populate(5, "elsewhere")
			c := open(t, srv, map[string]any{"pageSize": tt.pageSize, "maxBatchEvents": tt.maxBatch})
			cur, err := c.Cursor(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			users, groups := state(dir)
			r := &replica{users: users, groups: groups}
			before := len(srv.Events())
			rng := rand.New(rand.NewPCG(1, uint64(tt.pageSize)))
			mutate(t, dir, rng, 450)
			mutate(t, other, rng, 50)
			if n := len(srv.Events()) - before; n != 500 {
				t.Fatalf("%d events made, want 500", n)
			}
			polls := 0
			for ; polls < 100; polls++ {
				srv.ResetRequests()
				cs, err := c.Changes(t.Context(), cur)
				if err != nil {
					t.Fatalf("poll %d: %v", polls, err)
				}
				if cs.ResyncRequired {
					t.Fatalf("poll %d asks for a resync", polls)
				}
				// Each page is a request: a batch of at most maxBatch
				// events reads at most maxBatch/pageSize+1 pages.
				if n := srv.Requests("/events"); n > tt.maxBatch/tt.pageSize+1 {
					t.Errorf("poll %d read %d pages of events, more than a batch of %d holds", polls, n, tt.maxBatch)
				}
				r.apply(cs)
				if cs.Cursor == cur {
					break
				}
				cur = cs.Cursor
			}
			if polls < tt.minPolls {
				t.Errorf("500 events read in %d polls, want at least %d", polls, tt.minPolls)
			}
			if d := r.diff(dir); len(d) > 0 {
				t.Errorf("after %d polls the replica differs from the directory:\n%s", polls, strings.Join(d[:min(len(d), 10)], "\n"))
			}
			t.Logf("%d polls", polls)

			// Membership changes alone (no other event names the
			// groups) reach the replica too.
			users, groups = state(dir)
			for _, g := range groups {
				if len(g.Members) > 0 {
					if err := dir.RemoveMember(g.ExternalID, g.Members[0]); err != nil {
						t.Fatal(err)
					}
				}
				for id := range users {
					if !slices.Contains(g.Members, id) {
						if err := dir.AddMember(g.ExternalID, id); err != nil {
							t.Fatal(err)
						}
						break
					}
				}
			}
			cs, err := c.Changes(t.Context(), cur)
			if err != nil {
				t.Fatal(err)
			}
			r.apply(cs)
			if d := r.diff(dir); len(d) > 0 {
				t.Errorf("after membership changes the replica differs from the directory:\n%s", strings.Join(d[:min(len(d), 10)], "\n"))
			}
		})
	}
}

// TestEndOfStream: a poll with no new event returns its cursor and an
// empty ChangeSet, from an empty stream and from the end of a busy one;
// the next change is reported once.
func TestEndOfStream(t *testing.T) {
	for _, tt := range []struct {
		name   string
		before int // users made before the cursor
	}{{"empty stream", 0}, {"after events", 12}} {
		t.Run(tt.name, func(t *testing.T) {
			srv := workosfake.ForTest(t, workosfake.Options{})
			dir := srv.Directory()
			dir.Populate(tt.before)
			c := open(t, srv, map[string]any{"pageSize": 5})
			cur, err := c.Cursor(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if tt.before == 0 != strings.HasPrefix(cur, cursorPrefix+"t:") {
				t.Errorf("cursor %q: want a time cursor for an empty stream only", cur)
			}
			for range 2 {
				cs, err := c.Changes(t.Context(), cur)
				if err != nil {
					t.Fatal(err)
				}
				if cs.Cursor != cur || cs.ResyncRequired || len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) > 0 {
					t.Fatalf("nothing new: %+v, want cursor %q and nothing", cs, cur)
				}
			}
			u := dir.CreateUser(workosfake.UserInput{Email: "new@example.org"})
			cs, err := c.Changes(t.Context(), cur)
			if err != nil {
				t.Fatal(err)
			}
			if len(cs.Users) != 1 || cs.Users[0].ExternalID != u.ID || cs.Cursor == cur {
				t.Fatalf("one new user: %+v", cs)
			}
			again, err := c.Changes(t.Context(), cs.Cursor)
			if err != nil {
				t.Fatal(err)
			}
			if again.Cursor != cs.Cursor || len(again.Users) > 0 {
				t.Errorf("the new user reported twice: %+v", again)
			}
		})
	}
}

// TestResyncRequired: a cursor Changes cannot answer, and a directory
// deleted, activated or deactivated, ask for a resync; events of another directory
// do not.
func TestResyncRequired(t *testing.T) {
	for _, tt := range []struct {
		name     string
		setup    func(t *testing.T, srv *workosfake.Server, c *workosConnector, cur string) string
		resync   bool
		requests int // /events requests Changes may send; -1 any
	}{
		{"expired by the API", func(t *testing.T, srv *workosfake.Server, c *workosConnector, cur string) string {
			srv.Directory().CreateUser(workosfake.UserInput{Email: "x@example.org"})
			srv.ExpireEvents()
			return cur
		}, true, 1},
		{"older than the retention", func(t *testing.T, srv *workosfake.Server, c *workosConnector, cur string) string {
			now := c.now()
			c.now = func() time.Time { return now.Add(30 * 24 * time.Hour) }
			return cur
		}, true, 0},
		{"unknown event", func(t *testing.T, srv *workosfake.Server, c *workosConnector, cur string) string {
			return position{after: "event_01ZZZZZZZZZZZZZZZZZZZZZZZZ", at: c.now()}.String()
		}, true, 1},
		{"not a workos cursor", func(*testing.T, *workosfake.Server, *workosConnector, string) string {
			return "memory:v1:3"
		}, true, 0},
		{"directory deleted", func(t *testing.T, srv *workosfake.Server, c *workosConnector, cur string) string {
			srv.Directory().Delete()
			return cur
		}, true, -1},
		{"directory activated", func(t *testing.T, srv *workosfake.Server, c *workosConnector, cur string) string {
			srv.Directory().Activate()
			return cur
		}, true, -1},
		{"directory deactivated", func(t *testing.T, srv *workosfake.Server, c *workosConnector, cur string) string {
			srv.Directory().Deactivate()
			return cur
		}, true, -1},
		{"another directory deleted", func(t *testing.T, srv *workosfake.Server, c *workosConnector, cur string) string {
			d := srv.NewDirectory()
			d.Populate(3, "x")
			d.Delete()
			return cur
		}, false, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := workosfake.ForTest(t, workosfake.Options{})
			srv.Directory().Populate(4, "eng")
			c := open(t, srv, nil)
			cur, err := c.Cursor(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			cur = tt.setup(t, srv, c, cur)
			srv.ResetRequests()
			cs, err := c.Changes(t.Context(), cur)
			if err != nil {
				t.Fatal(err)
			}
			if cs.ResyncRequired != tt.resync {
				t.Errorf("ResyncRequired %t, want %t (%+v)", cs.ResyncRequired, tt.resync, cs)
			}
			if !tt.resync && (len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) > 0 || cs.Cursor == cur) {
				t.Errorf("another directory's events: %+v; want nothing reported and the cursor moved on", cs)
			}
			if n := srv.Requests("/events"); tt.requests >= 0 && n != tt.requests {
				t.Errorf("%d /events requests, want %d", n, tt.requests)
			}
		})
	}
}

// TestChangesManyGroups: a batch re-reads the members of at most
// maxBatchGroups groups; the rest come in the next polls, none lost.
func TestChangesManyGroups(t *testing.T) {
	srv := workosfake.ForTest(t, workosfake.Options{})
	dir := srv.Directory()
	users, _ := dir.Populate(3)
	c := open(t, srv, nil)
	cur, err := c.Cursor(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := range n {
		g := dir.CreateGroup(fmt.Sprintf("g%03d", i))
		if err := dir.AddMember(g.ID, users[i%3].ID); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	polls := 0
	for ; polls < 20; polls++ {
		srv.ResetRequests()
		cs, err := c.Changes(t.Context(), cur)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs.Groups) > maxBatchGroups || srv.Requests("/directory_users") > maxBatchGroups {
			t.Errorf("poll %d: %d groups, %d member reads; want at most %d", polls, len(cs.Groups),
				srv.Requests("/directory_users"), maxBatchGroups)
		}
		for _, g := range cs.Groups {
			if len(g.Members) != 1 {
				t.Errorf("group %s has members %v", g.DisplayName, g.Members)
			}
			seen[g.ExternalID] = true
		}
		if cs.Cursor == cur {
			break
		}
		cur = cs.Cursor
	}
	if len(seen) != n || polls < 3 {
		t.Errorf("%d of %d groups reported in %d polls", len(seen), n, polls)
	}
}
