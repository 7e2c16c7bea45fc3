package workos

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/idsync/idsync/connectors"
)

// directoryUser is a directory user as the API sends it (the spec's
// DirectoryUser); the deprecated fields are not read.
type directoryUser struct {
	ID               string         `json:"id"`
	DirectoryID      string         `json:"directory_id"`
	IdpID            string         `json:"idp_id"`
	Email            *string        `json:"email"`
	FirstName        *string        `json:"first_name"`
	LastName         *string        `json:"last_name"`
	Name             *string        `json:"name"`
	State            string         `json:"state"`
	CustomAttributes map[string]any `json:"custom_attributes"`
}

// directoryGroup is a directory group (the spec's DirectoryGroup).
type directoryGroup struct {
	ID          string `json:"id"`
	DirectoryID string `json:"directory_id"`
	IdpID       string `json:"idp_id"`
	Name        string `json:"name"`
}

// list is a page of a list endpoint.
type list[T any] struct {
	Data         []T `json:"data"`
	ListMetadata struct {
		After *string `json:"after"`
	} `json:"list_metadata"`
}

// customAttributes maps WorkOS's auto-mapped custom attributes to the
// canonical attribute names (connectors.User.Attributes). manager_email
// stays an email: the canonical "manager" is the manager's ExternalID,
// which would cost a lookup per user [not done].
var customAttributes = map[string]string{
	"job_title":        "title",
	"department_name":  "department",
	"department":       "department", // the spec's example spells it so
	"employee_number":  "employeeNumber",
	"manager_email":    "managerEmail",
	"cost_center_name": "costCenter",
	"division_name":    "division",
	"employee_type":    "employeeType",
}

// Attribute names the connector sets beside the custom attributes.
const (
	AttrIdpID = "idpId"
	// usernameAttribute is the custom attribute that, when the directory
	// maps it, is the userName; otherwise the email is.
	usernameAttribute = "username"
)

// user maps a directory user: ExternalID is its WorkOS id, userName its
// username custom attribute or else its email, Active its state.
func (u directoryUser) user() connectors.User {
	out := connectors.User{
		ExternalID:  u.ID,
		Email:       deref(u.Email),
		GivenName:   deref(u.FirstName),
		FamilyName:  deref(u.LastName),
		DisplayName: deref(u.Name),
		Active:      u.State == "active",
	}
	out.UserName = out.Email
	if s := attrString(u.CustomAttributes[usernameAttribute]); s != "" {
		out.UserName = s
	}
	out.SetField(AttrIdpID, u.IdpID)
	for k, name := range customAttributes {
		if s := attrString(u.CustomAttributes[k]); s != "" {
			out.SetField(name, s)
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// attrString is a custom attribute's value as text: strings, numbers and
// booleans; nothing for objects and arrays.
func attrString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// pages calls fn for every object of a list endpoint, page by page.
func pages[T any](ctx context.Context, c *workosConnector, path string, q url.Values, fn func(T) error) error {
	q.Set("limit", strconv.Itoa(c.cfg.PageSize))
	for {
		var pg list[T]
		if err := c.client.get(ctx, path, q, &pg); err != nil {
			return err
		}
		for _, it := range pg.Data {
			if err := fn(it); err != nil {
				return err
			}
		}
		if pg.ListMetadata.After == nil || *pg.ListMetadata.After == "" || len(pg.Data) == 0 {
			return nil
		}
		q.Set("after", *pg.ListMetadata.After)
	}
}

// ListUsers implements connectors.Source: every user of the directory,
// active or not.
func (c *workosConnector) ListUsers(ctx context.Context, fn func(connectors.User) error) error {
	err := pages(ctx, c, "/directory_users", url.Values{"directory": {c.cfg.Directory}}, func(u directoryUser) error {
		return fn(u.user())
	})
	if err != nil {
		return fmt.Errorf("workos: list users: %w", err)
	}
	return nil
}

// GetUser implements connectors.Source. A user of another directory is
// out of scope: not found.
func (c *workosConnector) GetUser(ctx context.Context, externalID string) (connectors.User, bool, error) {
	var u directoryUser
	if found, err := c.getByID(ctx, "/directory_users/", externalID, &u); err != nil || !found {
		return connectors.User{}, false, err
	}
	if u.DirectoryID != c.cfg.Directory {
		return connectors.User{}, false, nil
	}
	return u.user(), true, nil
}

// getByID reads one object; found is false on 404.
func (c *workosConnector) getByID(ctx context.Context, base, id string, out any) (bool, error) {
	if id == "" {
		return false, nil
	}
	err := c.client.get(ctx, base+url.PathEscape(id), nil, out)
	switch {
	case isStatus(err, http.StatusNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("workos: get %s: %w", id, err)
	}
	return true, nil
}

// ListGroups implements connectors.GroupSource: each group with its
// members, read from /directory_users?group= (a request per page of
// members, from the /directory_users budget).
func (c *workosConnector) ListGroups(ctx context.Context, fn func(connectors.Group) error) error {
	err := pages(ctx, c, "/directory_groups", url.Values{"directory": {c.cfg.Directory}}, func(g directoryGroup) error {
		members, found, err := c.members(ctx, g.ID)
		if err != nil {
			return err
		}
		if !found {
			return nil // deleted since the page was read
		}
		return fn(connectors.Group{ExternalID: g.ID, DisplayName: g.Name, Members: members})
	})
	if err != nil {
		return fmt.Errorf("workos: list groups: %w", err)
	}
	return nil
}

// GetGroup implements connectors.GroupSource.
func (c *workosConnector) GetGroup(ctx context.Context, externalID string) (connectors.Group, bool, error) {
	var g directoryGroup
	if found, err := c.getByID(ctx, "/directory_groups/", externalID, &g); err != nil || !found {
		return connectors.Group{}, false, err
	}
	if g.DirectoryID != c.cfg.Directory {
		return connectors.Group{}, false, nil
	}
	members, found, err := c.members(ctx, g.ID)
	if err != nil || !found {
		return connectors.Group{}, false, err
	}
	return connectors.Group{ExternalID: g.ID, DisplayName: g.Name, Members: members}, true, nil
}

// members returns the ids of a group's members; found is false when the
// group is gone (404).
func (c *workosConnector) members(ctx context.Context, groupID string) ([]string, bool, error) {
	var ids []string
	err := pages(ctx, c, "/directory_users", url.Values{"group": {groupID}}, func(u struct {
		ID string `json:"id"`
	}) error {
		ids = append(ids, u.ID)
		return nil
	})
	switch {
	case isStatus(err, http.StatusNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("workos: members of group %s: %w", groupID, err)
	}
	return ids, true, nil
}
