package peertest

import (
	"context"
	"fmt"
	"testing"

	"github.com/idsync/idsync/reconcile"
)

// TestPollCostFollowsChanges: an incremental run costs in proportion to
// what changed, not to the size of the target. 2,000 users (scimmy pages
// by 20, so one listing of the users alone is 100 requests), then 100
// changes: users modified, added and deleted (members of groups, which
// they must leave), and groups whose members shrank. Package reconcile
// checks the same rule in the calls a memory target receives.
func TestPollCostFollowsChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 users")
	}
	e := newEnv(t)
	users := e.addUsers(t, "u", 2000)
	var groups []entry
	for i := range 20 {
		groups = append(groups, e.addGroup(t, fmt.Sprintf("g%02d", i), users[i*10:i*10+10]...))
	}
	s := e.syncer(reconcile.Options{Owner: "hr", Policy: reconcile.Policy{Concurrency: 8}})
	fullSync(t, s)
	ctx := context.Background()
	cursor, err := e.src.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}

	for _, u := range users[1000:1050] { // 50 modified
		e.modify(t, "dn: "+u.DN+"\nchangetype: modify\nreplace: title\ntitle: Changed\n")
	}
	e.addUsers(t, "new", 30) // 30 added
	for i := range 10 {      // 10 deleted: the first member of g00…g09
		e.delete(t, users[i*10].DN)
	}
	for i, g := range groups[10:] { // 10 groups lose a member who stays a user
		e.modify(t, "dn: "+g.DN+"\nchangetype: modify\ndelete: member\nmember: "+users[100+i*10].DN+"\n")
	}
	cs, err := e.src.Changes(ctx, cursor)
	if err != nil || cs.ResyncRequired {
		t.Fatalf("Changes: %v (resync required: %v)", err, cs.ResyncRequired)
	}
	n := len(cs.Users) + len(cs.Groups) + len(cs.DeletedIDs)

	e.resetStats(t)
	res, err := s.ApplyChangeSet(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	checkNoFailures(t, "poll", res)
	checkCounts(t, "users", res.Users, reconcile.Counts{Created: 30, Updated: 50, Deprovisioned: 10})
	if res.Groups.Updated < 10 {
		t.Errorf("groups updated = %d, want at least the 10 that lost a member", res.Groups.Updated)
	}
	st, err := e.scim.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d changes (%d users, %d groups, %d deletions): %d target requests %v", n, len(cs.Users), len(cs.Groups), len(cs.DeletedIDs), st.Total, st.ByRoute)
	// A handful per change (look up, write, membership); one listing of
	// the target would be 100 requests more.
	if limit := 5 * n; st.Total > limit {
		t.Errorf("%d target requests for %d changes, want at most %d", st.Total, n, limit)
	}

	// And it converged: a full resync finds nothing to do.
	u, g := fullSync(t, s)
	if u.Users.Changed()+g.Groups.Changed() != 0 {
		t.Errorf("full resync after the poll changed users %+v, groups %+v", u.Users, g.Groups)
	}
}
