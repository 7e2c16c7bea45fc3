package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/idsync/idsync/connectors"
)

func userPath(id string) string  { return "/Users/" + url.PathEscape(id) }
func groupPath(id string) string { return "/Groups/" + url.PathEscape(id) }

// ListUsers implements connectors.Target.
func (c *scimConnector) ListUsers(ctx context.Context, fn func(connectors.TargetUser) error) error {
	var fnErr error
	err := list(ctx, c, "/Users", "", func(su scimUser) error {
		c.ids.put(su.ID, su.ExternalID)
		tu, err := c.targetUser(ctx, su)
		if err != nil {
			return err
		}
		fnErr = fn(tu)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("scim: list users: %w", err)
	}
	return nil
}

// ListGroups implements connectors.Target.
func (c *scimConnector) ListGroups(ctx context.Context, fn func(connectors.TargetGroup) error) error {
	var fnErr error
	err := list(ctx, c, "/Groups", "", func(sg scimGroup) error {
		fnErr = fn(groupFromSCIM(sg))
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("scim: list groups: %w", err)
	}
	return nil
}

// LookupUsers implements connectors.Target. The server is asked with a
// filter (or, when it does not filter, every user is read); its answers
// are checked again here (exactly for externalId, case-insensitively for
// userName and email), so that a server that filters loosely does not
// make idsync adopt the wrong account.
func (c *scimConnector) LookupUsers(ctx context.Context, attr, value string) ([]connectors.TargetUser, error) {
	m, err := userMatcher(attr, value)
	if err != nil {
		return nil, fmt.Errorf("scim: lookup users: %w", err)
	}
	if value == "" {
		return nil, nil
	}
	var found []connectors.TargetUser
	err = lookup(ctx, c, "/Users", m, func(su scimUser) error {
		c.ids.put(su.ID, su.ExternalID)
		if !m.keep(su) {
			return nil
		}
		tu, err := c.targetUser(ctx, su)
		found = append(found, tu)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("scim: lookup users by %s: %w", attr, err)
	}
	return found, nil
}

// LookupGroups implements connectors.Target: by externalId (exact) or
// displayName (case-insensitive, as RFC 7643 defines it).
func (c *scimConnector) LookupGroups(ctx context.Context, attr, value string) ([]connectors.TargetGroup, error) {
	m, err := groupMatcher(attr, value)
	if err != nil {
		return nil, fmt.Errorf("scim: lookup groups: %w", err)
	}
	if value == "" {
		return nil, nil
	}
	var found []connectors.TargetGroup
	err = lookup(ctx, c, "/Groups", m, func(sg scimGroup) error {
		if m.keep(sg) {
			found = append(found, groupFromSCIM(sg))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scim: lookup groups by %s: %w", attr, err)
	}
	return found, nil
}

// keptAttributes are the User.Attributes this connector maps to the core
// and enterprise schemas (mapping.go); a source's others (a Workday
// hireDate) have no place in a SCIM User.
var keptAttributes = []string{attrTitle, attrDepartment, attrEmployeeNumber, attrPhoneNumber, attrManager}

// KeptAttributes implements connectors.AttributeKeeper.
func (c *scimConnector) KeptAttributes() []string { return keptAttributes }

// CreateUser implements connectors.Target.
func (c *scimConnector) CreateUser(ctx context.Context, u connectors.User) (string, error) {
	if err := c.requireExternalID("scim: create user "+u.UserName, u.ExternalID); err != nil {
		return "", err
	}
	managerID, err := c.managerID(ctx, u.Attributes[attrManager])
	if err != nil {
		return "", fmt.Errorf("scim: create user %q: %w", u.UserName, err)
	}
	res := make(map[string]any)
	applyUser(res, u, managerID)
	var created scimUser
	if err := c.do(ctx, http.MethodPost, "/Users", nil, res, &created); err != nil {
		return "", fmt.Errorf("scim: create user %q: %w", u.UserName, err)
	}
	c.ids.put(created.ID, u.ExternalID)
	c.awaitManager(ctx, created.ID, u.Attributes[attrManager], managerID)
	c.settleManagers(ctx, u.ExternalID, created.ID)
	return created.ID, nil
}

// UpdateUser implements connectors.Target. It reads the user and writes
// it back whole (PUT) with idsync's attributes changed, so that the
// attributes idsync does not map are kept.
func (c *scimConnector) UpdateUser(ctx context.Context, id string, u connectors.User) error {
	managerID, err := c.managerID(ctx, u.Attributes[attrManager])
	if err != nil {
		return fmt.Errorf("scim: update user %s: %w", id, err)
	}
	err = c.replace(ctx, userPath(id), func(res map[string]any) bool { applyUser(res, u, managerID); return true })
	if err != nil {
		return fmt.Errorf("scim: update user %s: %w", id, err)
	}
	c.awaitManager(ctx, id, u.Attributes[attrManager], managerID)
	c.ids.put(id, u.ExternalID)
	return nil
}

// DeprovisionUser implements connectors.Target: "disable" sets active to
// false by PATCH (by GET and PUT if the server does not do PATCH),
// "delete" deletes the user.
func (c *scimConnector) DeprovisionUser(ctx context.Context, id string) error {
	return c.DeprovisionUserAs(ctx, id, c.deprovision)
}

var _ connectors.ModeDeprovisioner = (*scimConnector)(nil)

// DeprovisionUserAs implements connectors.ModeDeprovisioner: a rule's own
// mode, over the connection's.
func (c *scimConnector) DeprovisionUserAs(ctx context.Context, id, mode string) error {
	if mode == DeprovisionDelete && c.profile != nil && c.profile.DeleteDeactivates {
		// The service's DELETE only deactivates: disabling says so honestly.
		mode = DeprovisionDisable
	}
	switch mode {
	case DeprovisionDisable, DeprovisionDelete:
	default:
		return fmt.Errorf("scim: deprovision user %s: unknown mode %q: %w", id, mode, connectors.ErrRejected)
	}
	if mode == DeprovisionDelete {
		if err := c.do(ctx, http.MethodDelete, userPath(id), nil, nil, nil); err != nil {
			return fmt.Errorf("scim: delete user %s: %w", id, err)
		}
		c.ids.forget(id)
		return nil
	}
	err := c.patchOrReplace(ctx, userPath(id),
		[]patchOp{{Op: "replace", Path: "active", Value: false}},
		func(res map[string]any) bool { res[canonicalKey(res, "active")] = false; return true })
	if err != nil {
		return fmt.Errorf("scim: disable user %s: %w", id, err)
	}
	return nil
}

// CreateGroup implements connectors.Target.
func (c *scimConnector) CreateGroup(ctx context.Context, g connectors.Group) (string, error) {
	if err := c.requireExternalID("scim: create group "+g.DisplayName, g.ExternalID); err != nil {
		return "", err
	}
	res := map[string]any{"schemas": []string{schemaGroup}, "displayName": g.DisplayName}
	setString(res, "externalId", g.ExternalID)
	var created scimGroup
	if err := c.do(ctx, http.MethodPost, "/Groups", nil, res, &created); err != nil {
		return "", fmt.Errorf("scim: create group %q: %w", g.DisplayName, err)
	}
	return created.ID, nil
}

// UpdateGroup implements connectors.Target: it changes the name and the
// externalId by PATCH (by GET and PUT if the server does not do PATCH),
// leaving the members alone.
func (c *scimConnector) UpdateGroup(ctx context.Context, id string, g connectors.Group) error {
	ops := []patchOp{{Op: "replace", Path: "displayName", Value: g.DisplayName}}
	if g.ExternalID != "" {
		ops = append(ops, patchOp{Op: "replace", Path: "externalId", Value: g.ExternalID})
	} else {
		ops = append(ops, patchOp{Op: "remove", Path: "externalId"})
	}
	err := c.patchOrReplace(ctx, groupPath(id), ops, func(res map[string]any) bool {
		setString(res, "displayName", g.DisplayName)
		setString(res, "externalId", g.ExternalID)
		return true
	})
	if err != nil {
		return fmt.Errorf("scim: update group %s: %w", id, err)
	}
	return nil
}

// DeleteGroup implements connectors.Target.
func (c *scimConnector) DeleteGroup(ctx context.Context, id string) error {
	if err := c.do(ctx, http.MethodDelete, groupPath(id), nil, nil, nil); err != nil {
		return fmt.Errorf("scim: delete group %s: %w", id, err)
	}
	return nil
}

// targetUser maps a SCIM User, translating its manager's target id to the
// manager's ExternalID.
func (c *scimConnector) targetUser(ctx context.Context, su scimUser) (connectors.TargetUser, error) {
	tu, managerID := userFromSCIM(su)
	if managerID == "" {
		return tu, nil
	}
	ext, err := c.managerExternalID(ctx, managerID)
	if err != nil {
		return tu, fmt.Errorf("user %s: manager: %w", su.ID, err)
	}
	if ext != "" {
		if tu.Attributes == nil {
			tu.Attributes = make(map[string]string)
		}
		tu.Attributes[attrManager] = ext
	}
	return tu, nil
}

// managerExternalID returns the ExternalID of the user with target id id,
// "" if it has none or does not exist.
func (c *scimConnector) managerExternalID(ctx context.Context, id string) (string, error) {
	if ext, ok := c.ids.ext(id); ok {
		return ext, nil
	}
	var su scimUser
	err := c.do(ctx, http.MethodGet, userPath(id), url.Values{"attributes": {"externalId"}}, nil, &su)
	if errors.Is(err, connectors.ErrNotFound) {
		c.ids.put(id, "")
		return "", nil
	}
	if err != nil {
		return "", err
	}
	c.ids.put(id, su.ExternalID)
	return su.ExternalID, nil
}

var _ connectors.KnownUsers = (*scimConnector)(nil)

// KnownUserID implements connectors.KnownUsers from the id cache that
// also translates managers.
func (c *scimConnector) KnownUserID(externalID string) (string, bool) {
	if externalID == "" {
		return "", false
	}
	return c.ids.id(externalID)
}

// managerID returns the target id of the user whose ExternalID is ext, ""
// if ext is empty or no such user exists yet (a later sync sets the
// manager, once the manager is there). Without filters, the lookup reads
// every user, and remembers them all, so that the next manager is found
// without a request.
func (c *scimConnector) managerID(ctx context.Context, ext string) (string, error) {
	if ext == "" {
		return "", nil
	}
	if id, ok := c.ids.id(ext); ok {
		return id, nil
	}
	m, err := userMatcher(connectors.MatchExternalID, ext)
	if err != nil {
		return "", err
	}
	var id string
	err = lookup(ctx, c, "/Users", m, func(su scimUser) error {
		c.ids.put(su.ID, su.ExternalID)
		if m.keep(su) && id == "" {
			id = su.ID
		}
		return nil
	})
	if errors.Is(err, connectors.ErrLookupUnsupported) {
		// Failing the user for its manager would lose the whole change;
		// the manager is set by a later sync that finds it (a full listing
		// fills the id cache).
		c.logger.WarnContext(ctx, "cannot look the manager up on this target; left unset", "manager_external_id", ext, "error", err)
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find manager: %w", err)
	}
	if id == "" {
		c.logger.DebugContext(ctx, "manager not on the target yet; left unset", "manager_external_id", ext)
		return "", nil
	}
	c.ids.put(id, ext)
	return id, nil
}
