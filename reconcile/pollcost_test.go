package reconcile_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/idsync/idsync/reconcile"
)

// TestPollCostFollowsChanges: an incremental run costs in proportion to
// what changed, not to the size of the target: it never lists the
// target's users or groups (it looks each object up, reads a member by id
// and asks for a user's groups instead). 2,000 users, then about 100
// changes: users modified, added and deleted (members of groups, which
// they must leave), and groups whose members shrank. The same run against
// scimmy, counted in HTTP requests, is in reconcile/peertest.
func TestPollCostFollowsChanges(t *testing.T) {
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
		e.modifyUser(t, u, "title: Changed")
	}
	e.addUsers(t, "new", 30) // 30 added
	for i := range 10 {      // 10 deleted: the first member of g00…g09
		e.delete(t, users[i*10])
	}
	for i, g := range groups[10:] { // 10 groups lose a member who stays a user
		e.removeMembers(t, g, users[100+i*10])
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
	calls := e.target.Calls()
	total := 0
	for _, c := range calls {
		total += c
	}
	t.Logf("%d changes (%d users, %d groups, %d deletions): %d target calls %v", n, len(cs.Users), len(cs.Groups), len(cs.DeletedIDs), total, calls)
	if calls["ListUsers"]+calls["ListGroups"] > 0 {
		t.Errorf("the poll listed the target: %v", calls)
	}
	// A handful per change (look up, write, membership).
	if limit := 5 * n; total > limit {
		t.Errorf("%d target calls for %d changes, want at most %d", total, n, limit)
	}

	// And it converged: a full resync finds nothing to do.
	u, g := fullSync(t, s)
	if u.Users.Changed()+g.Groups.Changed() != 0 {
		t.Errorf("full resync after the poll changed users %+v, groups %+v", u.Users, g.Groups)
	}
}
