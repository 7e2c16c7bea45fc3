package workos

import (
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/connectortest"
	"github.com/idsync/idsync/internal/workosfake"
)

// TestConformance runs the source suite against the fake, slow and
// throttled: latency on every request, a share of 429s (which the client
// waits out) and WorkOS's budget on /directory_users.
func TestConformance(t *testing.T) {
	srv := workosfake.ForTest(t, workosfake.Options{Knobs: workosfake.Knobs{
		Latency: 2 * time.Millisecond, ThrottleRate: 0.01, RetryAfter: time.Second, UsersPerSecond: 400,
	}})
	dir := srv.Directory()
	connectortest.RunSource(t, connectortest.SourceHarness{
		Open: func(t *testing.T) connectors.Source {
			return open(t, srv, map[string]any{"pageSize": 7, "usersPerSecond": 300})
		},
		PutUser: func(t *testing.T, u connectors.User) string { return put(t, dir, u) },
		DeleteUser: func(t *testing.T, id string) {
			if err := dir.DeleteUser(id); err != nil {
				t.Fatal(err)
			}
		},
		PutGroup: func(t *testing.T, g connectors.Group) string {
			id := g.ExternalID
			if id == "" {
				id = dir.CreateGroup(g.DisplayName).ID
			} else if _, err := dir.RenameGroup(id, g.DisplayName); err != nil {
				t.Fatal(err)
			}
			if err := dir.SetMembers(id, g.Members); err != nil {
				t.Fatal(err)
			}
			return id
		},
		DeleteGroup: func(t *testing.T, id string) {
			if err := dir.DeleteGroup(id); err != nil {
				t.Fatal(err)
			}
		},
		PageSize:   7,
		Attributes: []string{"title", "department", "employeeNumber"},
		Expect:     expect(dir),
	})
	t.Logf("requests: %d (events %d, users %d, groups %d); statuses %v", srv.Requests(""), srv.Requests("/events"),
		srv.Requests("/directory_users"), srv.Requests("/directory_groups"), srv.Statuses())
}
