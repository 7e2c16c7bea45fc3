package google

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/idsync/idsync/connectors"
)

// groupNamespace is the namespace of the group's externalIds entry that
// holds its ExternalID.
const groupNamespace = "idsync"

// groupEmail is the address a new group gets: its name made an address
// part, and a digest of its ExternalID, which keeps it unique when two
// names make the same part. A rename keeps the address.
func (g *googleConnector) groupEmail(gr connectors.Group) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(gr.DisplayName) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	sum := sha256.Sum256([]byte(gr.ExternalID))
	return strings.Trim(b.String(), "-") + "-" + hex.EncodeToString(sum[:4]) + "@" + g.cfg.Domain
}

func (g *googleConnector) toGroup(ag *admin.Group) connectors.TargetGroup {
	tg := connectors.TargetGroup{ID: ag.Id, DisplayName: ag.Name}
	for _, e := range ag.ExternalIds {
		if e != nil && e.Namespace == groupNamespace {
			tg.ExternalID = e.Id
		}
	}
	return tg
}

func (g *googleConnector) groupPage() int64 { return int64(min(g.cfg.PageSize, maxGroupPage)) }

// listGroups streams groups (of the customer, or of userKey), members not
// read.
func (g *googleConnector) listGroups(ctx context.Context, userKey string, fn func(connectors.TargetGroup) error) error {
	token := ""
	for {
		var page *admin.Groups
		err := g.call(ctx, "list groups", func() error {
			call := g.svc.Groups.List().MaxResults(g.groupPage()).Fields("nextPageToken", "groups(id,name,externalIds)").Context(ctx)
			if userKey != "" {
				call = call.UserKey(userKey)
			} else {
				call = call.Customer(g.cfg.Customer)
			}
			if token != "" {
				call = call.PageToken(token)
			}
			var err error
			page, err = call.Do()
			return err
		})
		if err != nil {
			return err
		}
		for _, ag := range page.Groups {
			if err := fn(g.toGroup(ag)); err != nil {
				return err
			}
		}
		if token = page.NextPageToken; token == "" {
			return nil
		}
	}
}

// members reads the ids of a group's direct members: all of them for the
// target, which compares every member it holds, or (usersOnly) those of
// type USER for the source, which expands no nested group and has no
// customer-wide member. A 404 of a group this connection just created is
// its propagation, retried.
func (g *googleConnector) members(ctx context.Context, groupID string, usersOnly bool) ([]string, error) {
	var ids []string
	token := ""
	for {
		var page *admin.Members
		err := g.call(ctx, "list members of group "+groupID, func() error {
			call := g.svc.Members.List(groupID).MaxResults(g.groupPage()).Fields("nextPageToken", "members(id,type)").Context(ctx)
			if token != "" {
				call = call.PageToken(token)
			}
			var err error
			page, err = call.Do()
			return err
		}, groupID)
		if err != nil {
			return nil, err
		}
		for _, m := range page.Members {
			if !usersOnly || m.Type == "USER" {
				ids = append(ids, m.Id)
			}
		}
		if token = page.NextPageToken; token == "" {
			return ids, nil
		}
	}
}

func (g *googleConnector) withMembers(ctx context.Context, tg connectors.TargetGroup) (connectors.TargetGroup, error) {
	ids, err := g.members(ctx, tg.ID, false)
	tg.MemberIDs = ids
	return tg, err
}

// ListGroups implements connectors.GroupTarget: a page of groups, then
// each group's members.
func (g *googleConnector) ListGroups(ctx context.Context, fn func(connectors.TargetGroup) error) error {
	return g.listGroups(ctx, "", func(tg connectors.TargetGroup) error {
		tg, err := g.withMembers(ctx, tg)
		if err != nil {
			return err
		}
		return fn(tg)
	})
}

// LookupGroups implements connectors.GroupTarget by externalId (exactly)
// or displayName (without regard to case), over the listing: groups.list
// has no search.
func (g *googleConnector) LookupGroups(ctx context.Context, attr, value string) ([]connectors.TargetGroup, error) {
	var match func(connectors.TargetGroup) bool
	switch attr {
	case connectors.MatchExternalID:
		match = func(tg connectors.TargetGroup) bool { return tg.ExternalID == value }
	case "displayName":
		match = func(tg connectors.TargetGroup) bool { return strings.EqualFold(tg.DisplayName, value) }
	default:
		return nil, connectors.ErrLookupUnsupported
	}
	var out []connectors.TargetGroup
	err := g.listGroups(ctx, "", func(tg connectors.TargetGroup) error {
		if !match(tg) {
			return nil
		}
		tg, err := g.withMembers(ctx, tg)
		out = append(out, tg)
		return err
	})
	return out, err
}

// GroupsOfUser implements connectors.MemberOf.
func (g *googleConnector) GroupsOfUser(ctx context.Context, userID string) ([]connectors.TargetGroup, error) {
	var out []connectors.TargetGroup
	err := g.listGroups(ctx, userID, func(tg connectors.TargetGroup) error {
		tg, err := g.withMembers(ctx, tg)
		out = append(out, tg)
		return err
	})
	if errors.Is(err, connectors.ErrNotFound) {
		return nil, nil
	}
	return out, err
}

func groupIDs(ext string) []*admin.ExternalId {
	if ext == "" {
		return []*admin.ExternalId{}
	}
	return []*admin.ExternalId{{Namespace: groupNamespace, Id: ext}}
}

// CreateGroup implements connectors.GroupTarget.
func (g *googleConnector) CreateGroup(ctx context.Context, gr connectors.Group) (string, error) {
	var made *admin.Group
	err := g.call(ctx, "create group "+gr.DisplayName, func() error {
		var err error
		made, err = g.svc.Groups.Insert(&admin.Group{Email: g.groupEmail(gr), Name: gr.DisplayName,
			ExternalIds: groupIDs(gr.ExternalID)}).Fields("id").Context(ctx).Do()
		return err
	})
	if err != nil {
		return "", err
	}
	g.created(made.Id, "")
	return made.Id, nil
}

// UpdateGroup implements connectors.GroupTarget: name and ExternalID; the
// address stays.
func (g *googleConnector) UpdateGroup(ctx context.Context, id string, gr connectors.Group) error {
	return g.call(ctx, "update group "+id, func() error {
		_, err := g.svc.Groups.Patch(id, &admin.Group{Name: gr.DisplayName, ExternalIds: groupIDs(gr.ExternalID),
			ForceSendFields: []string{"ExternalIds"}}).Fields("id").Context(ctx).Do()
		return err
	}, id)
}

// DeleteGroup implements connectors.GroupTarget.
func (g *googleConnector) DeleteGroup(ctx context.Context, id string) error {
	err := g.call(ctx, "delete group "+id, func() error { return g.svc.Groups.Delete(id).Context(ctx).Do() }, id)
	if err == nil {
		g.forget(id)
	}
	return err
}

// AddMembers implements connectors.GroupTarget, one insert a member (the
// API has no bulk add); 409 "Member already exists." is done.
func (g *googleConnector) AddMembers(ctx context.Context, groupID string, userIDs []string) error {
	for _, uid := range userIDs {
		err := g.callSettling(ctx, "add member "+uid+" to group "+groupID, func() error {
			_, err := g.svc.Members.Insert(groupID, &admin.Member{Id: uid, Role: "MEMBER"}).Fields("id").Context(ctx).Do()
			return err
		}, func(err error) bool {
			return (notFoundOf(err, "groupKey") && g.isFresh(groupID)) || (notFoundOf(err, "memberKey") && g.isFresh(uid))
		})
		if err := done(err, connectors.ErrAlreadyExists); err != nil {
			return err
		}
	}
	return nil
}

// RemoveMembers implements connectors.GroupTarget; a 404 of the member
// (not a member) is done, one of the group is ErrNotFound.
func (g *googleConnector) RemoveMembers(ctx context.Context, groupID string, userIDs []string) error {
	for _, uid := range userIDs {
		gone := false
		err := g.call(ctx, "remove member "+uid+" from group "+groupID, func() error {
			err := g.svc.Members.Delete(groupID, uid).Context(ctx).Do()
			gone = memberGone(err)
			return err
		})
		if err != nil && !gone {
			return err
		}
	}
	return nil
}
