package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/idsync/idsync/connectors"
)

// Reads by target id, so that an incremental run costs what changed: a
// group member that may leave is read by its id, and a deprovisioned
// user's groups are found by one filtered query instead of a listing of
// every group.

var (
	_ connectors.UserReader = (*scimConnector)(nil)
	_ connectors.MemberOf   = (*scimConnector)(nil)
)

// GetUserByID implements connectors.UserReader.
func (c *scimConnector) GetUserByID(ctx context.Context, id string) (connectors.TargetUser, bool, error) {
	var su scimUser
	err := c.do(ctx, http.MethodGet, userPath(id), nil, nil, &su)
	if errors.Is(err, connectors.ErrNotFound) {
		return connectors.TargetUser{}, false, nil
	}
	if err != nil {
		return connectors.TargetUser{}, false, fmt.Errorf("scim: read user %s: %w", id, err)
	}
	c.ids.put(su.ID, su.ExternalID)
	tu, err := c.targetUser(ctx, su)
	if err != nil {
		return tu, false, fmt.Errorf("scim: read user %s: %w", id, err)
	}
	return tu, true, nil
}

// formMembers is the filter form GroupsOfUser asks with.
const formMembers = "members.value eq"

// GroupsOfUser implements connectors.MemberOf with the filter
// `members.value eq "<id>"` (RFC 7644 §3.4.2.2). A server that refuses the form is remembered as
// refusing it, and the error wraps connectors.ErrLookupUnsupported: the
// caller then lists the groups instead.
func (c *scimConnector) GroupsOfUser(ctx context.Context, userID string) ([]connectors.TargetGroup, error) {
	feat, err := c.features(ctx)
	if err != nil {
		return nil, err
	}
	if !feat.filter || c.refusals.refused("/Groups", formMembers) {
		return nil, fmt.Errorf("scim: groups of user %s: %w", userID, connectors.ErrLookupUnsupported)
	}
	var out []connectors.TargetGroup
	err = list(ctx, c, "/Groups", "members.value eq "+filterValue(userID), func(sg scimGroup) error {
		out = append(out, groupFromSCIM(sg))
		return nil
	})
	if filterRefused(err) {
		c.refusals.add("/Groups", formMembers, err)
		return nil, fmt.Errorf("scim: groups of user %s: %w", userID, connectors.ErrLookupUnsupported)
	}
	if err != nil {
		return nil, fmt.Errorf("scim: groups of user %s: %w", userID, err)
	}
	return out, nil
}
