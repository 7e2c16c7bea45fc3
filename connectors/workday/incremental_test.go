package workday

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/workdayfake"
)

// poller polls a connection and keeps its cursor.
type poller struct {
	t   *testing.T
	c   *conn
	cur string
}

func newPoller(t *testing.T, c *conn) *poller {
	t.Helper()
	cur, err := c.Cursor(t.Context())
	if err != nil {
		t.Fatalf("Cursor: %v", err)
	}
	return &poller{t: t, c: c, cur: cur}
}

func (p *poller) poll() connectors.ChangeSet {
	p.t.Helper()
	cs, err := p.c.Changes(p.t.Context(), p.cur)
	if err != nil {
		p.t.Fatalf("Changes: %v", err)
	}
	if cs.ResyncRequired {
		p.t.Fatalf("Changes asks for a resync")
	}
	p.cur = cs.Cursor
	return cs
}

func userIn(cs connectors.ChangeSet, id string) (connectors.User, int) {
	var u connectors.User
	n := 0
	for _, x := range cs.Users {
		if x.ExternalID == id {
			u, n = x, n+1
		}
	}
	return u, n
}

// TestLag: with the transaction log an hour late, a change entered just
// after a poll is seen by a later poll when the window overlap covers
// the lag, and lost when it does not.
func TestLag(t *testing.T) {
	for _, tt := range []struct {
		overlap string
		seen    bool
	}{{"1h", true}, {"10m", false}} {
		t.Run("overlap "+tt.overlap, func(t *testing.T) {
			srv := newFake(t, workdayfake.Options{Lag: time.Hour})
			id := srv.Hire(workdayfake.Hire{FirstName: "Lag", HireDate: "2024-01-02"})
			srv.Advance(2 * time.Hour)
			c := openConn(t, srv, map[string]any{"windowOverlap": tt.overlap})
			p := newPoller(t, c)
			srv.Advance(10 * time.Minute)
			srv.Change(id, "", func(w *workdayfake.Worker) { w.Title = "Changed" })
			seen := false
			for range 8 { // polls every 15 minutes for two hours
				srv.Advance(15 * time.Minute)
				if u, n := userIn(p.poll(), id); n > 0 {
					if n > 1 || u.Attributes["title"] != "Changed" {
						t.Fatalf("poll reports worker %s %d times, title %q", id, n, u.Attributes["title"])
					}
					seen = true
				}
			}
			if seen != tt.seen {
				t.Errorf("the change was seen: %t, want %t", seen, tt.seen)
			}
		})
	}
}

// TestChangesOnce: a worker found by two windows, or twice by
// overlapping windows, is reported once; a rehire is one user.
func TestChangesOnce(t *testing.T) {
	srv := newFake(t, workdayfake.Options{})
	a := srv.Hire(workdayfake.Hire{FirstName: "A", HireDate: "2024-01-02"})
	b := srv.Hire(workdayfake.Hire{FirstName: "B", HireDate: "2024-01-02"})
	srv.Terminate(b, "2026-06-01")
	srv.Advance(2 * time.Hour)
	c := openConn(t, srv, nil)
	p := newPoller(t, c)
	srv.Advance(time.Minute)
	srv.Change(a, "", func(w *workdayfake.Worker) { w.Title = "T1" })
	srv.Change(a, workdayfake.AddDays(srv.Today(), 1), func(w *workdayfake.Worker) { w.Title = "T2" })
	srv.Rehire(b, "")
	srv.Advance(time.Minute)
	cs := p.poll()
	if u, n := userIn(cs, a); n != 1 || u.Attributes["title"] != "T1" {
		t.Errorf("first poll: worker %s reported %d times, title %q; want once, T1", a, n, u.Attributes["title"])
	}
	if u, n := userIn(cs, b); n != 1 || !u.Active {
		t.Errorf("first poll: rehired worker %s reported %d times, active %t; want once, active", b, n, u.Active)
	}
	srv.Advance(time.Minute)
	if cs := p.poll(); len(cs.Users)+len(cs.DeletedIDs)+len(cs.Groups) != 0 {
		t.Errorf("a poll with nothing new, its window overlapping the last: %+v", cs)
	}
	// The next day the change effective today is found by the Effective
	// window and, once more, by nothing else.
	srv.Advance(24 * time.Hour)
	if u, n := userIn(p.poll(), a); n != 1 || u.Attributes["title"] != "T2" {
		t.Errorf("next day: worker %s reported %d times, title %q; want once, T2", a, n, u.Attributes["title"])
	}
}

// TestFutureTermination: a termination entered today for next week
// makes the user inactive on that date's poll, not before.
func TestFutureTermination(t *testing.T) {
	srv := newFake(t, workdayfake.Options{})
	id := srv.Hire(workdayfake.Hire{FirstName: "Leaver", HireDate: "2024-01-02"})
	srv.Advance(2 * time.Hour)
	c := openConn(t, srv, nil)
	p := newPoller(t, c)
	end := workdayfake.AddDays(srv.Today(), 7)
	srv.Terminate(id, end)
	for day := 0; day <= 8; day++ {
		srv.Advance(time.Hour)
		cs := p.poll()
		u, n := userIn(cs, id)
		switch today := srv.Today(); {
		case n > 0 && !u.Active && today < end:
			t.Fatalf("%s: user inactive before its termination date %s", today, end)
		case today == end && (n != 1 || u.Active):
			t.Fatalf("%s: the termination's date: user reported %d times, active %t; want once, inactive", today, n, u.Active)
		case today > end && n > 0:
			t.Fatalf("%s: user reported again after its termination", today)
		}
		srv.Advance(23 * time.Hour)
	}
}

// TestPreHireWindow: a hire entered long ago enters the source when its
// date comes within preHireDays, found by the pre-hire window; a
// rescinded hire leaves it.
func TestPreHireWindow(t *testing.T) {
	srv := newFake(t, workdayfake.Options{})
	hire := workdayfake.AddDays(srv.Today(), 20)
	id := srv.Hire(workdayfake.Hire{FirstName: "Future", HireDate: hire})
	srv.Advance(48 * time.Hour)
	c := openConn(t, srv, map[string]any{"preHireDays": 14})
	p := newPoller(t, c)
	for srv.Today() < workdayfake.AddDays(hire, -14) {
		if _, n := userIn(p.poll(), id); n > 0 {
			t.Fatalf("%s: a hire on %s reported more than 14 days ahead", srv.Today(), hire)
		}
		srv.Advance(24 * time.Hour)
	}
	if u, n := userIn(p.poll(), id); n != 1 || !u.Active {
		t.Fatalf("%s: the hire on %s entering the window: reported %d times, active %t", srv.Today(), hire, n, u.Active)
	}
	srv.Advance(time.Hour)
	srv.RescindHire(id)
	srv.Advance(time.Minute)
	if cs := p.poll(); !slices.Contains(cs.DeletedIDs, id) {
		t.Fatalf("a rescinded hire is not deleted: %+v", cs)
	}
}

// TestGroupChanges: moving a worker between supervisory orgs reports
// both groups with their members.
func TestGroupChanges(t *testing.T) {
	srv := newFake(t, workdayfake.Options{})
	srv.PutOrg(workdayfake.Org{ID: "SUP-A", Type: "SUPERVISORY", Name: "Team A"})
	srv.PutOrg(workdayfake.Org{ID: "SUP-B", Type: "SUPERVISORY", Name: "Team B"})
	in := func(org string) map[string]string { return map[string]string{"SUPERVISORY": org} }
	a1 := srv.Hire(workdayfake.Hire{FirstName: "a1", HireDate: "2024-01-02", Orgs: in("SUP-A")})
	a2 := srv.Hire(workdayfake.Hire{FirstName: "a2", HireDate: "2024-01-02", Orgs: in("SUP-A")})
	b1 := srv.Hire(workdayfake.Hire{FirstName: "b1", HireDate: "2024-01-02", Orgs: in("SUP-B")})
	srv.Advance(2 * time.Hour)
	c := openConn(t, srv, nil)
	p := newPoller(t, c)
	srv.ChangeOrg(a2, "SUPERVISORY", "SUP-B", "")
	srv.Advance(time.Minute)
	cs := p.poll()
	got := map[string][]string{}
	for _, g := range cs.Groups {
		slices.Sort(g.Members)
		got[g.ExternalID+" "+g.DisplayName] = g.Members
	}
	want := map[string][]string{"SUPERVISORY/SUP-A Team A": {a1}, "SUPERVISORY/SUP-B Team B": sortIDs(a2, b1)}
	if len(got) != len(want) || !slices.Equal(got["SUPERVISORY/SUP-A Team A"], want["SUPERVISORY/SUP-A Team A"]) ||
		!slices.Equal(got["SUPERVISORY/SUP-B Team B"], want["SUPERVISORY/SUP-B Team B"]) {
		t.Errorf("groups %v, want %v", got, want)
	}
}

func sortIDs(ids ...string) []string { slices.Sort(ids); return ids }

// TestCursor: Cursor costs one small request; the first polls after it
// do not report what was entered before it (the full resync read it); a
// cursor Changes cannot read, or one older than 30 days, asks for a
// resync.
func TestCursor(t *testing.T) {
	srv := newFake(t, workdayfake.Options{})
	srv.Populate(50)
	c := openConn(t, srv, nil)
	srv.Advance(10 * time.Second)
	p := newPoller(t, c)
	late := srv.Hire(workdayfake.Hire{FirstName: "After", HireDate: "2024-01-02"})
	for range 3 {
		srv.Advance(10 * time.Minute)
		cs := p.poll()
		if _, n := userIn(cs, late); len(cs.Users) != n || len(cs.DeletedIDs)+len(cs.Groups) != 0 {
			t.Fatalf("a poll after Cursor reports what was entered before it: %d users, %v deleted, %d groups", len(cs.Users), cs.DeletedIDs, len(cs.Groups))
		}
	}
	before := srv.Requests("Get_Workers")
	cur, err := c.Cursor(t.Context())
	if err != nil || !strings.HasPrefix(cur, "workday:v1:") {
		t.Fatalf("Cursor = %q, %v", cur, err)
	}
	if n := srv.Requests("Get_Workers") - before; n != 1 {
		t.Errorf("Cursor made %d requests, want 1", n)
	}
	for _, bad := range []string{"", "snapshot:v1:abc", "workday:v1:{", `workday:v1:{"end":"2026-12-01T00:00:00Z"}`} {
		cs, err := c.Changes(t.Context(), bad)
		if err != nil || !cs.ResyncRequired || cs.Cursor == "" {
			t.Errorf("Changes(%q) = resync %t, cursor %q, %v; want a resync and a new cursor", bad, cs.ResyncRequired, cs.Cursor, err)
		}
	}
	srv.Advance(31 * 24 * time.Hour)
	if cs, err := c.Changes(t.Context(), cur); err != nil || !cs.ResyncRequired {
		t.Errorf("Changes from a 31-day-old cursor: resync %t, %v", cs.ResyncRequired, err)
	}
}
