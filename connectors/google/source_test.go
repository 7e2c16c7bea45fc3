package google

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/connectortest"
	"github.com/idsync/idsync/internal/googlefake"
)

// TestSourceConformance runs the source suite against the fake, with
// latency and rate limits on; the store is written through a target
// connection, as an administrator would in the console.
func TestSourceConformance(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{Latency: 200 * time.Microsecond, RateLimitEvery: 7})
	s := settings(t, f)
	admin := func(t *testing.T) *googleConnector {
		tgt, err := connectors.AsTarget(open(t, s))
		if err != nil {
			t.Fatal(err)
		}
		return tgt.(*googleConnector)
	}
	connectortest.RunSource(t, connectortest.SourceHarness{
		Open: func(t *testing.T) connectors.Source {
			ro := settings(t, f)
			ro["readOnly"] = true
			src, err := connectors.AsSource(open(t, ro))
			if err != nil {
				t.Fatal(err)
			}
			return src
		},
		PutUser: func(t *testing.T, u connectors.User) string {
			a := admin(t)
			id := u.ExternalID
			u.ExternalID = ""
			if id == "" {
				made, err := a.CreateUser(t.Context(), u)
				if err != nil {
					t.Fatalf("put user: %v", err)
				}
				return made
			}
			if err := a.UpdateUser(t.Context(), id, u); err != nil {
				t.Fatalf("put user %s: %v", id, err)
			}
			return id
		},
		DeleteUser: func(t *testing.T, id string) {
			if err := admin(t).DeprovisionUserAs(t.Context(), id, connectors.DeprovisionDelete); err != nil {
				t.Fatalf("delete user %s: %v", id, err)
			}
		},
		PutGroup: func(t *testing.T, g connectors.Group) string {
			a := admin(t)
			ctx := t.Context()
			id := g.ExternalID
			if id == "" {
				made, err := a.CreateGroup(ctx, g)
				if err != nil {
					t.Fatalf("put group: %v", err)
				}
				id = made
			} else if err := a.UpdateGroup(ctx, id, connectors.Group{DisplayName: g.DisplayName}); err != nil {
				t.Fatalf("put group %s: %v", id, err)
			}
			cur, err := a.members(ctx, id, false)
			if err != nil {
				t.Fatal(err)
			}
			var add, remove []string
			for _, m := range g.Members {
				if !slices.Contains(cur, m) {
					add = append(add, m)
				}
			}
			for _, m := range cur {
				if !slices.Contains(g.Members, m) {
					remove = append(remove, m)
				}
			}
			if err := a.AddMembers(ctx, id, add); err != nil {
				t.Fatal(err)
			}
			if err := a.RemoveMembers(ctx, id, remove); err != nil {
				t.Fatal(err)
			}
			return id
		},
		DeleteGroup: func(t *testing.T, id string) {
			if err := admin(t).DeleteGroup(t.Context(), id); err != nil {
				t.Fatalf("delete group %s: %v", id, err)
			}
		},
		PageSize:   5,
		Attributes: []string{"title", "department", "employeeNumber"},
		Expect: func(u connectors.User) connectors.User {
			if u.Email == "" {
				u.Email = strings.ToLower(u.UserName + "@" + f.Domain)
			}
			return u
		},
		Skip: map[string]string{
			"hard-characters": "userName is the account's primaryEmail, which Google refuses (400 Invalid Input: primary_user_email) with spaces, quotes, commas, parentheses, * or non-ASCII letters",
		},
	})
}

// TestPollBySnapshot: with changes "snapshot", the engine polls a google
// source through connectors.Incrementally (a digest of a full listing). A poll costs
// ceil(users/pageSize) + ceil(groups/min(pageSize,200)) + one members
// listing a group (more past 200 members) requests; nothing changed is an
// empty change set, a change anywhere a ResyncRequired.
func TestPollBySnapshot(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{})
	s := settings(t, f)
	s["changes"] = "snapshot"
	conn := open(t, s)
	tgt, _ := connectors.AsTarget(conn)
	gt := tgt.(connectors.GroupTarget)
	ctx := t.Context()
	var ids []string
	for i := range 12 {
		id, err := tgt.CreateUser(ctx, connectors.User{UserName: "poll" + string(rune('a'+i)), GivenName: "g", FamilyName: "f", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i := range 3 {
		gid, err := gt.CreateGroup(ctx, connectors.Group{ExternalID: "pg" + string(rune('a'+i)), DisplayName: "Poll " + string(rune('a'+i))})
		if err != nil {
			t.Fatal(err)
		}
		if err := gt.AddMembers(ctx, gid, ids[i*4:i*4+4]); err != nil {
			t.Fatal(err)
		}
	}
	src, _ := connectors.AsSource(conn)
	inc := connectors.Incrementally(src)
	cursor, err := inc.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := f.Stats().Requests
	cs, err := inc.Changes(ctx, cursor)
	if err != nil || cs.ResyncRequired || len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) > 0 {
		t.Fatalf("a poll with nothing changed: %+v, %v", cs, err)
	}
	// 12 users in pages of 5, 3 groups in one page, 3 member listings.
	if n := f.Stats().Requests - before; n != 3+1+3 {
		t.Errorf("a poll cost %d requests, want 7", n)
	}
	if err := gt.RemoveMembers(ctx, mustGroup(t, gt, "pgb"), ids[4:5]); err != nil {
		t.Fatal(err)
	}
	if cs, err := inc.Changes(ctx, cs.Cursor); err != nil || !cs.ResyncRequired {
		t.Errorf("a poll after a membership change: %+v, %v, want ResyncRequired", cs, err)
	}
}

func mustGroup(t *testing.T, gt connectors.GroupTarget, ext string) string {
	t.Helper()
	found, err := gt.LookupGroups(t.Context(), connectors.MatchExternalID, ext)
	if err != nil || len(found) != 1 {
		t.Fatalf("group %s: %v, %v", ext, found, err)
	}
	return found[0].ID
}
