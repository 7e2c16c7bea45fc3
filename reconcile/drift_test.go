package reconcile_test

import (
	"context"
	"slices"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/peers"
	"github.com/idsync/idsync/reconcile"
)

// TestDriftRepair: users deleted in the target behind idsync's back, on a
// service that leaves their ids in the groups they were in, are created
// again by the next full resync, and their groups lose the dangling ids
// and gain the new ones; a second resync changes nothing.
func TestDriftRepair(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.scim.SetKnobs(ctx, peers.SCIMKnobs{KeepMembersOfDeleted: true}); err != nil {
		t.Fatal(err)
	}
	users := e.addUsers(t, "d", 4)
	team := e.addGroup(t, "team", users...)
	s := e.syncer(reconcile.Options{Owner: "hr"})
	fullSync(t, s)
	gone := e.targetUser(t, reconcile.OwnedExternalID("hr", users[0].ID)).ID
	if err := e.tgt.(connectors.ModeDeprovisioner).DeprovisionUserAs(ctx, gone, connectors.DeprovisionDelete); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(e.targetGroup(t, reconcile.OwnedExternalID("hr", team.ID)).MemberIDs, gone) {
		t.Fatal("the knob did not keep the deleted user in its group")
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
