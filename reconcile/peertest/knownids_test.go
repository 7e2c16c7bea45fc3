package peertest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/reconcile"
)

// TestGroupMembersFromKnownIDs: a group change names its members by source
// id; the SCIM connector that created or listed those users knows their
// target ids, so the change costs no lookup per member. Another connector,
// opened afresh, looks them up. The SCIM connector's id cache
// (connectors.KnownUsers) is tested here, by the requests scimmy counts;
// package reconcile tests the rule over any connector that knows ids.
func TestGroupMembersFromKnownIDs(t *testing.T) {
	e := newEnv(t)
	users := e.addUsers(t, "m", 12)
	eng := e.addGroup(t, "eng", users[:6]...)
	s := e.syncer(reconcile.Options{})
	fullSync(t, s)
	ctx := context.Background()
	cursor, err := e.src.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var adds string
	for _, u := range users[6:] {
		adds += "member: " + u.DN + "\n"
	}
	e.modify(t, "dn: "+eng.DN+"\nchangetype: modify\nadd: member\n"+adds)
	cs, err := e.src.Changes(ctx, cursor)
	if err != nil || cs.ResyncRequired || len(cs.Groups) != 1 {
		t.Fatalf("Changes: %+v, %v", cs, err)
	}
	lookups := func() int {
		st, err := e.scim.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for route, c := range st.ByRoute {
			if strings.HasPrefix(route, "GET ") && strings.Contains(route, "/Users") {
				n += c
			}
		}
		return n
	}
	for _, tt := range []struct {
		name    string
		syncer  *reconcile.Syncer
		atLeast int // user lookups
		atMost  int
	}{
		{name: "connector that knows the ids", syncer: s, atMost: 0},
		{name: "fresh connector", syncer: &reconcile.Syncer{Source: e.src, Target: e.openTarget(t)}, atLeast: len(users) / 2, atMost: 1 << 30},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.resetStats(t)
			res, err := tt.syncer.ApplyChangeSet(ctx, cs)
			if err != nil {
				t.Fatal(err)
			}
			checkNoFailures(t, "groups", res)
			if n := lookups(); n < tt.atLeast || n > tt.atMost {
				t.Errorf("%d user lookups, want %d to %d", n, tt.atLeast, tt.atMost)
			}
			if got, want := sorted(e.targetGroup(t, eng.ID).MemberIDs), e.members(t, ids(users)...); !slices.Equal(got, want) {
				t.Errorf("members %v, want %v", got, want)
			}
		})
	}
}
