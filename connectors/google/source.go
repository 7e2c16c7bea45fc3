package google

import (
	"context"
	"errors"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/idsync/idsync/connectors"
)

// source is a google connection's source role; its target role is the
// googleConnector (connectors.AsTarget). As a source, a user's and a
// group's ExternalID is Google's immutable id, which survives renames of
// the address; users read as the target writes them (userName the part
// before @domain, letter case kept), email the work address or, when
// there is none, the primary address. source itself has no Incremental
// (the Directory API has no modified-since filter): with changes
// "snapshot" the engine polls it by digest (connectors.Incrementally);
// with changes "reports" it is wrapped in a reportsSource (changes.go).
type source struct {
	*googleConnector
}

var (
	_ connectors.Source      = source{}
	_ connectors.GroupSource = source{}
	_ connectors.TargetRole  = source{}
	_ connectors.Tester      = source{}
)

// AsTarget implements connectors.TargetRole.
func (s source) AsTarget() (connectors.Target, error) { return s.googleConnector, nil }

func (s source) toUser(au *admin.User) connectors.User {
	u := s.fromGoogle(au).User
	u.ExternalID = au.Id
	if u.Email == "" {
		u.Email = au.PrimaryEmail
	}
	return u
}

// ListUsers implements connectors.Source.
func (s source) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	return s.listUsers(ctx, "", func(au *admin.User) error { return fn(s.toUser(au)) })
}

// GetUser implements connectors.Source: a users.get by id.
func (s source) GetUser(ctx context.Context, externalID string) (connectors.User, bool, error) {
	au, found, err := s.get(ctx, externalID)
	if !found {
		return connectors.User{}, false, err
	}
	return s.toUser(au), true, nil
}

func (s source) toGroup(ctx context.Context, id, name string) (connectors.Group, error) {
	members, err := s.members(ctx, id, true)
	return connectors.Group{ExternalID: id, DisplayName: name, Members: members}, err
}

// ListGroups implements connectors.GroupSource: a page of groups, then
// each group's user members (nested groups are not expanded).
func (s source) ListGroups(ctx context.Context, fn func(connectors.Group) error) error {
	return s.listGroups(ctx, "", func(tg connectors.TargetGroup) error {
		g, err := s.toGroup(ctx, tg.ID, tg.DisplayName)
		if err != nil {
			return err
		}
		return fn(g)
	})
}

// GetGroup implements connectors.GroupSource.
func (s source) GetGroup(ctx context.Context, externalID string) (connectors.Group, bool, error) {
	var ag *admin.Group
	err := s.call(ctx, "read group "+externalID, func() error {
		var err error
		ag, err = s.svc.Groups.Get(externalID).Fields("id,name").Context(ctx).Do()
		return err
	})
	if errors.Is(err, connectors.ErrNotFound) {
		return connectors.Group{}, false, nil
	}
	if err != nil {
		return connectors.Group{}, false, err
	}
	g, err := s.toGroup(ctx, ag.Id, ag.Name)
	return g, err == nil, err
}
