package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/idsync/idsync/connectors"
)

// maxBind is the most members one PATCH members@odata.bind adds
// (https://learn.microsoft.com/en-us/graph/api/group-update, example 3).
const maxBind = 20

func (c *graphConnector) groupSelect() string { return "id,displayName," + c.extAttr }

// readGroup reads a Graph group, with its members when withMembers.
func (c *graphConnector) readGroup(ctx context.Context, raw json.RawMessage, withMembers bool) (connectors.TargetGroup, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return connectors.TargetGroup{}, fmt.Errorf("graph: malformed group: %w", err)
	}
	g := connectors.TargetGroup{ID: str(m, "id"), DisplayName: str(m, "displayName"), ExternalID: str(m, c.extAttr)}
	if g.ID == "" {
		return g, errors.New("graph: a group without an id")
	}
	if !withMembers {
		return g, nil
	}
	q := url.Values{"$select": {"id"}, "$top": {fmt.Sprint(c.pageSize)}}
	err := c.retryFresh(ctx, func() error {
		g.MemberIDs = nil
		return c.list(ctx, "/groups/"+url.PathEscape(g.ID)+"/members"+query(q), func(raw json.RawMessage) error {
			var mem struct {
				ID   string `json:"id"`
				Type string `json:"@odata.type"`
			}
			if err := json.Unmarshal(raw, &mem); err != nil {
				return fmt.Errorf("graph: malformed member: %w", err)
			}
			if mem.Type == "" || mem.Type == "#microsoft.graph.user" {
				g.MemberIDs = append(g.MemberIDs, mem.ID)
			}
			return nil
		})
	}, g.ID)
	if err != nil {
		return g, fmt.Errorf("graph: list members of group %s: %w", g.ID, err)
	}
	return g, nil
}

// ListGroups streams every group with its user members.
func (c *graphConnector) ListGroups(ctx context.Context, fn func(connectors.TargetGroup) error) error {
	q := url.Values{"$select": {c.groupSelect()}, "$top": {fmt.Sprint(c.pageSize)}}
	return each(ctx, c, "/groups"+query(q), c.readGroupMembers(ctx), fn)
}

// readGroupMembers reads a group and its members.
func (c *graphConnector) readGroupMembers(ctx context.Context) func(json.RawMessage) (connectors.TargetGroup, error) {
	return func(raw json.RawMessage) (connectors.TargetGroup, error) { return c.readGroup(ctx, raw, true) }
}

// LookupGroups filters by the ExternalID's extension property (compared
// again exactly) or displayName (without regard to case, as Graph does).
func (c *graphConnector) LookupGroups(ctx context.Context, attr, value string) ([]connectors.TargetGroup, error) {
	var prop string
	switch attr {
	case connectors.MatchExternalID:
		prop = c.extAttr
	case "displayName":
		prop = "displayName"
	default:
		return nil, fmt.Errorf("graph: look up groups by %q: %w", attr, connectors.ErrLookupUnsupported)
	}
	q := url.Values{"$filter": {prop + " eq " + literal(value)}, "$select": {c.groupSelect()}, "$top": {fmt.Sprint(c.pageSize)}}
	return lookup(ctx, c, "groups", "/groups"+query(q), c.readGroupMembers(ctx), attr, value,
		func(g connectors.TargetGroup) string { return g.ExternalID })
}

// groupNickname is a mailNickname from the name with a random suffix:
// it must be unique among groups, and a name need not be.
func groupNickname(name string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return mailNickname(name) + "-" + hex.EncodeToString(b[:])
}

// groupBody is the POST body of a new group of the connection's
// groupType (https://learn.microsoft.com/en-us/graph/api/group-post-groups,
// its examples 1 and 2): a security group (mailEnabled false,
// securityEnabled true, no groupTypes), or a Microsoft 365 group
// (groupTypes ["Unified"], mailEnabled true, securityEnabled false),
// whose mailNickname is its email alias.
func (c *graphConnector) groupBody(g connectors.Group, nickname string) map[string]any {
	b := map[string]any{"displayName": g.DisplayName, "mailNickname": nickname, "mailEnabled": false, "securityEnabled": true}
	if c.groupType == GroupMicrosoft365 {
		b["groupTypes"] = []string{"Unified"}
		b["mailEnabled"], b["securityEnabled"] = true, false
	}
	if g.ExternalID != "" {
		b[c.extAttr] = g.ExternalID
	}
	return b
}

// CreateGroup makes a group of the connection's groupType. A security
// group's mailNickname is the name with a random suffix, unique at the
// first try. A Microsoft 365 group's is its mail alias
// ({mailNickname}@{the tenant's default domain}), so the name alone is
// tried first, and with the suffix when another object has it.
func (c *graphConnector) CreateGroup(ctx context.Context, g connectors.Group) (string, error) {
	nick := groupNickname(g.DisplayName)
	if c.groupType == GroupMicrosoft365 {
		nick = mailNickname(g.DisplayName)
	}
	var out struct {
		ID string `json:"id"`
	}
	err := c.do(ctx, http.MethodPost, "/groups", c.groupBody(g, nick), &out)
	if c.groupType == GroupMicrosoft365 && errors.Is(err, connectors.ErrAlreadyExists) && strings.Contains(err.Error(), "mailNickname") {
		err = c.do(ctx, http.MethodPost, "/groups", c.groupBody(g, groupNickname(g.DisplayName)), &out)
	}
	if err != nil {
		return "", fmt.Errorf("graph: create group %q: %w", g.DisplayName, err)
	}
	if out.ID == "" {
		return "", fmt.Errorf("graph: create group %q: the answer has no id", g.DisplayName)
	}
	c.created(out.ID)
	return out.ID, nil
}

// UpdateGroup changes the name and the ExternalID.
func (c *graphConnector) UpdateGroup(ctx context.Context, id string, g connectors.Group) error {
	var ext any
	if g.ExternalID != "" {
		ext = g.ExternalID
	}
	b := map[string]any{"displayName": g.DisplayName, c.extAttr: ext}
	err := c.retryFresh(ctx, func() error { return c.do(ctx, http.MethodPatch, "/groups/"+url.PathEscape(id), b, nil) }, id)
	if err != nil {
		return fmt.Errorf("graph: update group %s: %w", id, err)
	}
	return nil
}

// DeleteGroup deletes a group.
func (c *graphConnector) DeleteGroup(ctx context.Context, id string) error {
	err := c.retryFresh(ctx, func() error { return c.do(ctx, http.MethodDelete, "/groups/"+url.PathEscape(id), nil, nil) }, id)
	c.forget(id)
	if err != nil {
		return fmt.Errorf("graph: delete group %s: %w", id, err)
	}
	return nil
}

func (c *graphConnector) ref(id string) string { return c.base + "/directoryObjects/" + id }

// AddMembers adds 20 at a time with members@odata.bind; when Graph
// refuses a batch because one is a member already (all or nothing), the
// batch goes one by one through members/$ref, where that 400 is done.
func (c *graphConnector) AddMembers(ctx context.Context, groupID string, userIDs []string) error {
	for start := 0; start < len(userIDs); start += maxBind {
		chunk := userIDs[start:min(start+maxBind, len(userIDs))]
		refs := make([]string, len(chunk))
		for i, id := range chunk {
			refs[i] = c.ref(id)
		}
		ids := append([]string{groupID}, chunk...)
		err := c.retryFresh(ctx, func() error {
			return c.do(ctx, http.MethodPatch, "/groups/"+url.PathEscape(groupID), map[string]any{"members@odata.bind": refs}, nil)
		}, ids...)
		if err == nil {
			continue
		}
		if !isMemberExists(err) && !(len(chunk) > 1 && errors.Is(err, connectors.ErrNotFound)) {
			return fmt.Errorf("graph: add members to group %s: %w", groupID, err)
		}
		for _, id := range chunk {
			if err := c.addMember(ctx, groupID, id); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *graphConnector) addMember(ctx context.Context, groupID, userID string) error {
	err := c.retryFresh(ctx, func() error {
		return c.do(ctx, http.MethodPost, "/groups/"+url.PathEscape(groupID)+"/members/$ref", map[string]any{"@odata.id": c.ref(userID)}, nil)
	}, groupID, userID)
	if err != nil && !isMemberExists(err) {
		return fmt.Errorf("graph: add user %s to group %s: %w", userID, groupID, err)
	}
	return nil
}

// RemoveMembers removes members through members/{id}/$ref, 20 to a
// $batch (one alone goes without); a 404 naming the member (not a
// member, or gone) is done, one naming the group is ErrNotFound.
func (c *graphConnector) RemoveMembers(ctx context.Context, groupID string, userIDs []string) error {
	if len(userIDs) == 1 {
		if err := removed(c.do(ctx, http.MethodDelete, memberRefPath(groupID, userIDs[0]), nil, nil), groupID); err != nil {
			return fmt.Errorf("graph: remove user %s from group %s: %w", userIDs[0], groupID, err)
		}
		return nil
	}
	for start := 0; start < len(userIDs); start += maxBatch {
		if err := c.removeBatch(ctx, groupID, userIDs[start:min(start+maxBatch, len(userIDs))]); err != nil {
			return err
		}
	}
	return nil
}

func memberRefPath(groupID, userID string) string {
	return "/groups/" + url.PathEscape(groupID) + "/members/" + url.PathEscape(userID) + "/$ref"
}
