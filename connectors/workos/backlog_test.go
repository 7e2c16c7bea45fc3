package workos

import (
	"fmt"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/workosfake"
)

// TestBacklog: a backlog of 10,000 events (a directory of 2,000 users
// created, then updated, in 10 groups), read with the default settings
// at 5 ms a request, is applied in batches of 1,000 events: 10 polls and
// an empty one, each within a few seconds.
func TestBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 events: not in -short")
	}
	srv := workosfake.ForTest(t, workosfake.Options{})
	dir := srv.Directory()
	c := open(t, srv, map[string]any{"usersPerSecond": 4})
	c.client.http.Transport = nil // 10,000 events through the spec check take a minute
	cur, err := c.Cursor(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	users, _ := dir.Populate(2000, "g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7", "g8", "g9")
	for i := range 5990 {
		if _, err := dir.UpdateUser(users[i%2000].ID, func(u *workosfake.User) { u.LastName = fmt.Sprint("v", i) }); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(srv.Events()); n != 10000 {
		t.Fatalf("%d events, want 10,000", n)
	}
	srv.SetKnobs(workosfake.Knobs{Latency: 5 * time.Millisecond, UsersPerSecond: 4})
	srv.ResetRequests()
	start := time.Now()
	polls, slowest, got := 0, time.Duration(0), map[string]bool{}
	for ; polls < 30; polls++ {
		t0 := time.Now()
		cs, err := c.Changes(t.Context(), cur)
		if err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(t0))
		for _, u := range cs.Users {
			got[u.ExternalID] = true
		}
		if cs.Cursor == cur {
			if cs.More {
				t.Errorf("poll %d: no new event, yet More", polls+1)
			}
			break
		}
		if !cs.More && polls < 9 {
			t.Errorf("poll %d of a 10-batch backlog: More is false, so the rule would wait its interval", polls+1)
		}
		cur = cs.Cursor
	}
	if polls != 10 || len(got) != 2000 {
		t.Errorf("%d polls reported %d users, want 10 polls and 2,000", polls, len(got))
	}
	t.Logf("10,000 events in %d polls, %s (slowest poll %s); requests: %d /events, %d /directory_users",
		polls, time.Since(start).Round(time.Millisecond), slowest.Round(time.Millisecond),
		srv.Requests("/events"), srv.Requests("/directory_users"))
}
