package graph

import (
	"slices"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/connectortest"
	"github.com/idsync/idsync/internal/graphfake"
)

// TestSourceConformance runs the source suite against the fake; the
// store is written through a second connection, as an administrator.
func TestSourceConformance(t *testing.T) {
	for _, tt := range []struct {
		name  string
		knobs graphfake.Knobs
	}{
		{"plain", graphfake.Knobs{}},
		// Replication delay is left out: the suite reads each user
		// right after the harness writes it, through another connection,
		// which cannot tell a young user from a missing one.
		{"throttled", graphfake.Knobs{Latency: 200 * time.Microsecond, ThrottleEvery: 13, UnavailableEvery: 31, DeltaPageSize: 3}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runSourceConformance(t, tt.knobs)
		})
	}
}

func runSourceConformance(t *testing.T, knobs graphfake.Knobs) {
	srv := startFake(t, knobs)
	s := settings(t, srv, nil)
	admin := openTarget(t, s)
	gt := admin.(connectors.GroupTarget)
	members := func(t *testing.T, id string) []string {
		var out []string
		err := gt.ListGroups(t.Context(), func(g connectors.TargetGroup) error {
			if g.ID == id {
				out = g.MemberIDs
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	connectortest.RunSource(t, connectortest.SourceHarness{
		Skip: skipHardUserNames,
		Open: func(t *testing.T) connectors.Source {
			src, err := connectors.AsSource(open(t, s))
			if err != nil {
				t.Fatal(err)
			}
			return src
		},
		PutUser: func(t *testing.T, u connectors.User) string {
			id := u.ExternalID
			u.ExternalID = ""
			if id == "" {
				var err error
				if id, err = admin.CreateUser(t.Context(), u); err != nil {
					t.Fatalf("create user: %v", err)
				}
				return id
			}
			if err := admin.UpdateUser(t.Context(), id, u); err != nil {
				t.Fatalf("update user: %v", err)
			}
			return id
		},
		DeleteUser: func(t *testing.T, id string) {
			if err := admin.(connectors.ModeDeprovisioner).DeprovisionUserAs(t.Context(), id, connectors.DeprovisionDelete); err != nil {
				t.Fatalf("delete user: %v", err)
			}
		},
		PutGroup: func(t *testing.T, g connectors.Group) string {
			id := g.ExternalID
			g.ExternalID = ""
			var err error
			if id == "" {
				id, err = gt.CreateGroup(t.Context(), g)
			} else {
				err = gt.UpdateGroup(t.Context(), id, g)
			}
			if err != nil {
				t.Fatalf("put group: %v", err)
			}
			have := members(t, id)
			var add, remove []string
			for _, m := range g.Members {
				if !slices.Contains(have, m) {
					add = append(add, m)
				}
			}
			for _, m := range have {
				if !slices.Contains(g.Members, m) {
					remove = append(remove, m)
				}
			}
			if err := gt.AddMembers(t.Context(), id, add); err != nil {
				t.Fatal(err)
			}
			if err := gt.RemoveMembers(t.Context(), id, remove); err != nil {
				t.Fatal(err)
			}
			return id
		},
		DeleteGroup: func(t *testing.T, id string) {
			if err := gt.DeleteGroup(t.Context(), id); err != nil {
				t.Fatalf("delete group: %v", err)
			}
		},
		PageSize:   testPageSize,
		Attributes: []string{"title", "department", "employeeNumber", "phoneNumber"},
	})
	if st := srv.Stats(); knobs.ThrottleEvery > 0 && st.Throttled == 0 {
		t.Errorf("no request was throttled: %+v", st)
	}
}

// TestDeltaExpired: a delta token the service no longer knows asks for a
// resync, with a cursor that works.
func TestDeltaExpired(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{DeltaPageSize: 2})
	s := settings(t, srv, nil)
	inc, cur := incremental(t, s)
	admin := openTarget(t, s)
	for _, n := range []string{"a", "b", "c"} {
		if _, err := admin.CreateUser(t.Context(), connectors.User{UserName: n, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := inc.Changes(t.Context(), cur)
	if err != nil || len(cs.Users) != 3 || cs.ResyncRequired {
		t.Fatalf("Changes over two pages: %d users, resync %t, %v", len(cs.Users), cs.ResyncRequired, err)
	}
	srv.ExpireDeltaTokens()
	cs, err = inc.Changes(t.Context(), cs.Cursor)
	if err != nil || !cs.ResyncRequired || cs.Cursor == "" {
		t.Fatalf("Changes with an expired token: resync %t, cursor %q, %v", cs.ResyncRequired, cs.Cursor, err)
	}
	again, err := inc.Changes(t.Context(), cs.Cursor)
	if err != nil || again.ResyncRequired || len(again.Users)+len(again.DeletedIDs) != 0 {
		t.Errorf("Changes from the new cursor: %+v, %v", again, err)
	}
	if cs, err := inc.Changes(t.Context(), "not a cursor"); err != nil || !cs.ResyncRequired {
		t.Errorf("Changes with a malformed cursor: %+v, %v", cs, err)
	}
}

// TestDeltaReplicationDelay: a user the delta query reports, but that
// reads as 404 for a while, is read again, not taken for deleted.
func TestDeltaReplicationDelay(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{})
	s := settings(t, srv, nil)
	inc, cur := incremental(t, s)
	srv.SetKnobs(graphfake.Knobs{ReplicationDelay: 200 * time.Millisecond})
	id, err := openTarget(t, s).CreateUser(t.Context(), connectors.User{UserName: "new", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := inc.Changes(t.Context(), cur)
	if err != nil || len(cs.Users) != 1 || cs.Users[0].ExternalID != id || len(cs.DeletedIDs) != 0 {
		t.Fatalf("Changes: %+v, %v; want user %s, no deletion", cs, err, id)
	}
	if srv.Stats().Replication == 0 {
		t.Errorf("no read met the replication delay")
	}
}
