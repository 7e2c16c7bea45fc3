package reconcile_test

import (
	"context"
	"slices"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// TestDriftRepair: users deleted in the target behind idsync's back, on a
// service that leaves their ids in the groups they were in, are created
// again by the next full resync, and their groups lose the dangling ids
// and gain the new ones; a second resync changes nothing.
func TestDriftRepair(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	users := e.addUsers(t, "d", 4)
	team := e.addGroup(t, "team", users...)
	s := e.syncer(reconcile.Options{Owner: "hr"})
	fullSync(t, s)
	tg := e.targetGroup(t, reconcile.OwnedExternalID("hr", team.ID))
	gone := e.targetUser(t, reconcile.OwnedExternalID("hr", users[0].ID)).ID
	if err := e.tgt.(connectors.ModeDeprovisioner).DeprovisionUserAs(ctx, gone, connectors.DeprovisionDelete); err != nil {
		t.Fatal(err)
	}
	// The memory store takes a deleted user out of its groups; this
	// service does not: the group keeps its members as they were (PutGroup
	// keeps the group's externalId).
	e.target.PutGroup(connectors.Group{ExternalID: tg.ID, DisplayName: tg.DisplayName, Members: tg.MemberIDs})
	if !slices.Contains(e.targetGroup(t, reconcile.OwnedExternalID("hr", team.ID)).MemberIDs, gone) {
		t.Fatal("the group did not keep the deleted user")
	}

	res, groups := fullSync(t, s)
	checkCounts(t, "repair: users", res.Users, reconcile.Counts{Created: 1, Unchanged: 3})
	checkCounts(t, "repair: groups", groups.Groups, reconcile.Counts{Updated: 1})
	checkNoFailures(t, "repair", groups)
	members := e.targetGroup(t, reconcile.OwnedExternalID("hr", team.ID)).MemberIDs
	if slices.Contains(members, gone) {
		t.Errorf("team still lists the deleted user's id %s: %v", gone, members)
	}
	if got, want := sorted(members), e.members(t, reconcile.OwnedExternalID("hr", users[0].ID), reconcile.OwnedExternalID("hr", users[1].ID),
		reconcile.OwnedExternalID("hr", users[2].ID), reconcile.OwnedExternalID("hr", users[3].ID)); !slices.Equal(got, want) {
		t.Errorf("team members = %v, want %v", got, want)
	}
	res, groups = fullSync(t, s)
	if res.Users.Changed()+groups.Groups.Changed() != 0 {
		t.Errorf("second resync changed users %+v, groups %+v", res.Users, groups.Groups)
	}
}
