package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/idsync/idsync/connectors"
)

// graphSource is a graph connection as idsync opens it: a Source (users
// and groups, by their Graph object ids, which are immutable) and,
// through AsTarget, the target. One Go value cannot be both: Source and
// Target have different ListUsers.
type graphSource struct{ t *graphConnector }

var (
	_ connectors.Source      = (*graphSource)(nil)
	_ connectors.GroupSource = (*graphSource)(nil)
	_ connectors.TargetRole  = (*graphSource)(nil)
	_ connectors.Tester      = (*graphSource)(nil)
)

func (s *graphSource) Close() error                         { return s.t.Close() }
func (s *graphSource) AsTarget() (connectors.Target, error) { return s.t, nil }
func (s *graphSource) Test(ctx context.Context) error       { return s.t.Test(ctx) }

// sourceUser reads a Graph user as a source user: its ExternalID is its
// object id.
func (s *graphSource) sourceUser(raw json.RawMessage) (connectors.User, error) {
	tu, err := s.t.toUser(raw)
	if err != nil {
		return connectors.User{}, err
	}
	u := tu.User
	u.ExternalID = tu.ID
	// A source names the manager by its ExternalID, which here is its
	// object id.
	delete(u.Attributes, attrManager)
	if mid, _ := s.t.expandedManager(raw); mid != "" {
		if u.Attributes == nil {
			u.Attributes = map[string]string{}
		}
		u.Attributes[attrManager] = mid
	}
	return u, nil
}

// ListUsers streams every user of the directory.
func (s *graphSource) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	q := url.Values{"$top": {fmt.Sprint(s.t.pageSize)}}
	return each(ctx, s.t, "/users"+s.t.userQuery(q), s.sourceUser, fn)
}

// GetUser reads a user by object id.
func (s *graphSource) GetUser(ctx context.Context, externalID string) (connectors.User, bool, error) {
	var raw json.RawMessage
	err := s.t.do(ctx, http.MethodGet, "/users/"+url.PathEscape(externalID)+s.t.userQuery(url.Values{}), nil, &raw)
	if errors.Is(err, connectors.ErrNotFound) {
		return connectors.User{}, false, nil
	}
	if err != nil {
		return connectors.User{}, false, fmt.Errorf("graph: read user %s: %w", externalID, err)
	}
	u, err := s.sourceUser(raw)
	return u, err == nil, err
}

func sourceGroup(g connectors.TargetGroup) connectors.Group {
	return connectors.Group{ExternalID: g.ID, DisplayName: g.DisplayName, Members: g.MemberIDs}
}

// ListGroups streams every group with its user members (by object id).
func (s *graphSource) ListGroups(ctx context.Context, fn func(connectors.Group) error) error {
	return s.t.ListGroups(ctx, func(g connectors.TargetGroup) error { return fn(sourceGroup(g)) })
}

// GetGroup reads a group and its members by object id.
func (s *graphSource) GetGroup(ctx context.Context, externalID string) (connectors.Group, bool, error) {
	var raw json.RawMessage
	err := s.t.do(ctx, http.MethodGet, "/groups/"+url.PathEscape(externalID)+query(url.Values{"$select": {s.t.groupSelect()}}), nil, &raw)
	if errors.Is(err, connectors.ErrNotFound) {
		return connectors.Group{}, false, nil
	}
	if err != nil {
		return connectors.Group{}, false, fmt.Errorf("graph: read group %s: %w", externalID, err)
	}
	g, err := s.t.readGroup(ctx, raw, true)
	if errors.Is(err, connectors.ErrNotFound) {
		return connectors.Group{}, false, nil
	}
	return sourceGroup(g), err == nil, err
}
