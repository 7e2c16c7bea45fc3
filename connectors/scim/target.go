package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/idsync/idsync/connectors"
)

func userPath(id string) string  { return "/Users/" + url.PathEscape(id) }
func groupPath(id string) string { return "/Groups/" + url.PathEscape(id) }

// Capabilities implements connectors.Target.
func (c *scimConnector) Capabilities() connectors.Capabilities {
	return connectors.Capabilities{Groups: true}
}

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
// filter; its answers are checked again here (exactly for externalId,
// case-insensitively for userName and email), so that a server that
// filters loosely does not make idsync adopt the wrong account.
func (c *scimConnector) LookupUsers(ctx context.Context, attr, value string) ([]connectors.TargetUser, error) {
	var filter string
	var keep func(scimUser) bool
	switch attr {
	case connectors.MatchExternalID:
		filter = "externalId eq " + filterValue(value)
		keep = func(su scimUser) bool { return su.ExternalID == value }
	case connectors.MatchUserName:
		filter = "userName eq " + filterValue(value)
		keep = func(su scimUser) bool { return strings.EqualFold(su.UserName, value) }
	case connectors.MatchEmail:
		filter = "emails.value eq " + filterValue(value)
		keep = func(su scimUser) bool {
			return slices.ContainsFunc(su.Emails, func(e multiValue) bool { return strings.EqualFold(e.Value, value) })
		}
	default:
		return nil, fmt.Errorf("scim: lookup users: unknown match attribute %q", attr)
	}
	if value == "" {
		return nil, nil
	}
	var found []connectors.TargetUser
	err := list(ctx, c, "/Users", filter, func(su scimUser) error {
		if !keep(su) {
			return nil
		}
		c.ids.put(su.ID, su.ExternalID)
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
	var filter string
	var keep func(scimGroup) bool
	switch attr {
	case "externalId":
		filter = "externalId eq " + filterValue(value)
		keep = func(sg scimGroup) bool { return sg.ExternalID == value }
	case "displayName":
		filter = "displayName eq " + filterValue(value)
		keep = func(sg scimGroup) bool { return strings.EqualFold(sg.DisplayName, value) }
	default:
		return nil, fmt.Errorf("scim: lookup groups: unknown match attribute %q", attr)
	}
	if value == "" {
		return nil, nil
	}
	var found []connectors.TargetGroup
	err := list(ctx, c, "/Groups", filter, func(sg scimGroup) error {
		if keep(sg) {
			found = append(found, groupFromSCIM(sg))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scim: lookup groups by %s: %w", attr, err)
	}
	return found, nil
}

// CreateUser implements connectors.Target.
func (c *scimConnector) CreateUser(ctx context.Context, u connectors.User) (string, error) {
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
	if created.ID == "" {
		return "", fmt.Errorf("scim: create user %q: the response has no id", u.UserName)
	}
	c.ids.put(created.ID, u.ExternalID)
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
	err = c.replace(ctx, userPath(id), func(res map[string]any) { applyUser(res, u, managerID) })
	if err != nil {
		return fmt.Errorf("scim: update user %s: %w", id, err)
	}
	c.ids.put(id, u.ExternalID)
	return nil
}

// DeprovisionUser implements connectors.Target: "disable" sets active to
// false by PATCH (by GET and PUT if the server does not do PATCH),
// "delete" deletes the user.
func (c *scimConnector) DeprovisionUser(ctx context.Context, id string) error {
	if c.deprovision == DeprovisionDelete {
		if err := c.do(ctx, http.MethodDelete, userPath(id), nil, nil, nil); err != nil {
			return fmt.Errorf("scim: delete user %s: %w", id, err)
		}
		c.ids.forget(id)
		return nil
	}
	err := c.patch(ctx, userPath(id), []patchOp{{Op: "replace", Path: "active", Value: false}})
	if isStatus(err, http.StatusNotImplemented, http.StatusMethodNotAllowed) {
		err = c.replace(ctx, userPath(id), func(res map[string]any) { res[canonicalKey(res, "active")] = false })
	}
	if err != nil {
		return fmt.Errorf("scim: disable user %s: %w", id, err)
	}
	return nil
}

// CreateGroup implements connectors.Target.
func (c *scimConnector) CreateGroup(ctx context.Context, g connectors.Group) (string, error) {
	res := map[string]any{"schemas": []string{schemaGroup}, "displayName": g.DisplayName}
	setString(res, "externalId", g.ExternalID)
	var created scimGroup
	if err := c.do(ctx, http.MethodPost, "/Groups", nil, res, &created); err != nil {
		return "", fmt.Errorf("scim: create group %q: %w", g.DisplayName, err)
	}
	if created.ID == "" {
		return "", fmt.Errorf("scim: create group %q: the response has no id", g.DisplayName)
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
	err := c.patch(ctx, groupPath(id), ops)
	if isStatus(err, http.StatusNotImplemented, http.StatusMethodNotAllowed) {
		err = c.replace(ctx, groupPath(id), func(res map[string]any) {
			delete(res, "meta")
			setString(res, "displayName", g.DisplayName)
			setString(res, "externalId", g.ExternalID)
		})
	}
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

// AddMembers implements connectors.Target, by PATCH "add" of up to
// membersPerRequest members at a time.
func (c *scimConnector) AddMembers(ctx context.Context, groupID string, userIDs []string) error {
	for chunk := range slices.Chunk(dedupe(userIDs), c.membersPerRequest) {
		members := make([]map[string]string, len(chunk))
		for i, id := range chunk {
			members[i] = map[string]string{"value": id}
		}
		if err := c.patch(ctx, groupPath(groupID), []patchOp{{Op: "add", Path: "members", Value: members}}); err != nil {
			return fmt.Errorf("scim: add %d members to group %s: %w", len(chunk), groupID, err)
		}
	}
	return nil
}

// RemoveMembers implements connectors.Target, by PATCH "remove" with the
// path members[value eq "id"], up to membersPerRequest operations at a
// time.
func (c *scimConnector) RemoveMembers(ctx context.Context, groupID string, userIDs []string) error {
	for chunk := range slices.Chunk(dedupe(userIDs), c.membersPerRequest) {
		ops := make([]patchOp, len(chunk))
		for i, id := range chunk {
			ops[i] = patchOp{Op: "remove", Path: "members[value eq " + filterValue(id) + "]"}
		}
		if err := c.patch(ctx, groupPath(groupID), ops); err != nil {
			return fmt.Errorf("scim: remove %d members from group %s: %w", len(chunk), groupID, err)
		}
	}
	return nil
}

// replace reads the resource at path, lets edit change it and writes it
// back with PUT.
func (c *scimConnector) replace(ctx context.Context, path string, edit func(map[string]any)) error {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &raw); err != nil {
		return err
	}
	// UseNumber keeps large numbers of attributes idsync does not map intact.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var res map[string]any
	if err := dec.Decode(&res); err != nil || res == nil {
		return fmt.Errorf("GET %s: decode response: %w", path, errors.Join(err, errors.New("not a JSON object")))
	}
	edit(res)
	return c.do(ctx, http.MethodPut, path, nil, res, nil)
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

// managerID returns the target id of the user whose ExternalID is ext, ""
// if ext is empty or no such user exists yet (a later sync sets the
// manager, once the manager is there).
func (c *scimConnector) managerID(ctx context.Context, ext string) (string, error) {
	if ext == "" {
		return "", nil
	}
	if id, ok := c.ids.id(ext); ok {
		return id, nil
	}
	var id string
	err := list(ctx, c, "/Users", "externalId eq "+filterValue(ext), func(su scimUser) error {
		if su.ExternalID == ext && id == "" {
			id = su.ID
		}
		return nil
	})
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

// dedupe returns ids without repeats or empty ids, in their order.
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
