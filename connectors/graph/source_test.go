package graph

import (
	"slices"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/connectortest"
	"github.com/idsync/idsync/internal/graphfake"
)

// TestSourceConformance runs the source suite against the fake; the
// store is written through a second connection, as an administrator.
func TestSourceConformance(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{})
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
}
