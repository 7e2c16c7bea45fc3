package connectors_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/idsync/idsync/connectors"
)

// listSource is a source without a change feed: it only lists.
type listSource struct {
	users  []connectors.User
	groups []connectors.Group
	err    error
}

func (s *listSource) Close() error { return nil }

func (s *listSource) ListUsers(_ context.Context, fn func(connectors.User) error) error {
	if s.err != nil {
		return s.err
	}
	for _, u := range s.users {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}

func (s *listSource) GetUser(context.Context, string) (connectors.User, bool, error) {
	return connectors.User{}, false, nil
}

// groupListSource has groups too.
type groupListSource struct{ listSource }

func (s *groupListSource) ListGroups(_ context.Context, fn func(connectors.Group) error) error {
	for _, g := range s.groups {
		if err := fn(g); err != nil {
			return err
		}
	}
	return nil
}

func (s *groupListSource) GetGroup(context.Context, string) (connectors.Group, bool, error) {
	return connectors.Group{}, false, nil
}

// TestIncrementally: a source without a change feed is polled by a digest
// of its listing. The same listing, in any order, is "nothing changed"
// (an empty ChangeSet, so the poll touches no target); any difference in
// a user, a group or a membership asks for a full resync.
func TestIncrementally(t *testing.T) {
	ada := connectors.User{ExternalID: "1", UserName: "ada", Active: true, Attributes: map[string]string{"title": "Eng", "department": "R&D"}}
	bob := connectors.User{ExternalID: "2", UserName: "bob", Active: true}
	eng := connectors.Group{ExternalID: "g1", DisplayName: "eng", Members: []string{"1", "2"}}
	base := func() *groupListSource {
		return &groupListSource{listSource{users: []connectors.User{ada, bob}, groups: []connectors.Group{eng}}}
	}
	tests := []struct {
		name        string
		change      func(s *groupListSource)
		wantChanged bool
	}{
		{name: "nothing", change: func(*groupListSource) {}},
		{name: "users in another order", change: func(s *groupListSource) { slices.Reverse(s.users) }},
		{name: "members in another order", change: func(s *groupListSource) {
			s.groups = []connectors.Group{{ExternalID: "g1", DisplayName: "eng", Members: []string{"2", "1"}}}
		}},
		{name: "a user disabled", wantChanged: true, change: func(s *groupListSource) {
			s.users = []connectors.User{ada, {ExternalID: "2", UserName: "bob"}}
		}},
		{name: "an attribute changed", wantChanged: true, change: func(s *groupListSource) {
			a := ada
			a.Attributes = map[string]string{"title": "Lead", "department": "R&D"}
			s.users = []connectors.User{a, bob}
		}},
		{name: "a user left", wantChanged: true, change: func(s *groupListSource) { s.users = s.users[:1] }},
		{name: "a member left", wantChanged: true, change: func(s *groupListSource) {
			s.groups = []connectors.Group{{ExternalID: "g1", DisplayName: "eng", Members: []string{"1"}}}
		}},
		{name: "a group renamed", wantChanged: true, change: func(s *groupListSource) {
			s.groups = []connectors.Group{{ExternalID: "g1", DisplayName: "engineering", Members: eng.Members}}
		}},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base()
			inc := connectors.Incrementally(src)
			cursor, err := inc.Cursor(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tt.change(src)
			cs, err := inc.Changes(ctx, cursor)
			if err != nil {
				t.Fatal(err)
			}
			if cs.ResyncRequired != tt.wantChanged {
				t.Errorf("ResyncRequired = %v, want %v", cs.ResyncRequired, tt.wantChanged)
			}
			if len(cs.Users)+len(cs.Groups)+len(cs.DeletedIDs) != 0 {
				t.Errorf("a digest cannot say what changed, yet the change set names objects: %+v", cs)
			}
			if (cs.Cursor == cursor) == tt.wantChanged {
				t.Errorf("cursor %q after %q: a new listing must give a new cursor, the same the same", cs.Cursor, cursor)
			}
		})
	}
}

// feedSource has a change feed of its own.
type feedSource struct{ listSource }

func (feedSource) Cursor(context.Context) (string, error) { return "own", nil }
func (feedSource) Changes(context.Context, string) (connectors.ChangeSet, error) {
	return connectors.ChangeSet{Cursor: "own-next"}, nil
}

// TestIncrementallyKeepsAFeed: a source with its own change feed is used
// as it is, and a listing error is reported, not taken for a change.
func TestIncrementallyKeepsAFeed(t *testing.T) {
	if c, err := connectors.Incrementally(&feedSource{}).Cursor(context.Background()); err != nil || c != "own" {
		t.Errorf("cursor %q (%v): want the source's own", c, err)
	}
	src := &listSource{err: errors.New("directory unreachable")}
	if _, err := connectors.Incrementally(src).Changes(context.Background(), "snapshot:v1:0:x"); err == nil {
		t.Error("a failed listing gave no error")
	}
	// A source without groups is digested by its users alone.
	users := &listSource{users: []connectors.User{{ExternalID: "1", UserName: "ada"}}}
	c1, err := connectors.Incrementally(users).Cursor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	users.users = append(users.users, connectors.User{ExternalID: "2", UserName: "bob"})
	c2, err := connectors.Incrementally(users).Cursor(context.Background())
	if err != nil || c1 == c2 {
		t.Errorf("cursor %q then %q (%v): a new user must change it", c1, c2, err)
	}
}
