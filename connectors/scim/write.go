package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// patchOrReplace changes the resource at path by PATCH with ops when the
// server does PATCH, else by reading it and writing it back (PUT) after
// edit. A server that refuses the PATCH method (501, 405) although it
// advertised it gets the PUT, now and from then on.
func (c *scimConnector) patchOrReplace(ctx context.Context, path string, ops []patchOp, edit func(map[string]any) bool) error {
	feat, err := c.features(ctx)
	if err != nil {
		return err
	}
	if feat.patch {
		err := c.patch(ctx, path, ops)
		if !isStatus(err, http.StatusNotImplemented, http.StatusMethodNotAllowed) {
			return err
		}
		c.noPatch(ctx)
	}
	return c.replace(ctx, path, edit)
}

// AddMembers implements connectors.Target, by PATCH "add" of up to
// membersPerRequest members at a time, or, without PATCH, by one PUT of
// the group with the members added.
func (c *scimConnector) AddMembers(ctx context.Context, groupID string, userIDs []string) error {
	ids := dedupe(userIDs)
	if len(ids) == 0 {
		return nil
	}
	err := c.changeMembers(ctx, groupID, ids, nil, func(chunk []string) []patchOp {
		members := make([]map[string]string, len(chunk))
		for i, id := range chunk {
			members[i] = map[string]string{"value": id}
		}
		return []patchOp{{Op: "add", Path: "members", Value: members}}
	})
	if err != nil {
		return fmt.Errorf("scim: add %d members to group %s: %w", len(ids), groupID, err)
	}
	return nil
}

// RemoveMembers implements connectors.Target, by PATCH "remove" with the
// path members[value eq "id"], up to membersPerRequest operations at a
// time, or, without PATCH, by one PUT of the group without the members.
func (c *scimConnector) RemoveMembers(ctx context.Context, groupID string, userIDs []string) error {
	ids := dedupe(userIDs)
	if len(ids) == 0 {
		return nil
	}
	err := c.changeMembers(ctx, groupID, nil, ids, func(chunk []string) []patchOp {
		ops := make([]patchOp, len(chunk))
		for i, id := range chunk {
			ops[i] = patchOp{Op: "remove", Path: memberPath(id)}
		}
		return ops
	})
	if err != nil {
		return fmt.Errorf("scim: remove %d members from group %s: %w", len(ids), groupID, err)
	}
	return nil
}

// changeMembers adds or removes members by PATCH, membersPerRequest at a
// time, with the operations ops builds; or by GET and PUT.
func (c *scimConnector) changeMembers(ctx context.Context, groupID string, add, remove []string, ops func([]string) []patchOp) error {
	feat, err := c.features(ctx)
	if err != nil {
		return err
	}
	if feat.patch {
		first := true
		for chunk := range slices.Chunk(slices.Concat(add, remove), c.membersPerRequest) {
			err := c.patch(ctx, groupPath(groupID), ops(chunk))
			if first && isStatus(err, http.StatusNotImplemented, http.StatusMethodNotAllowed) {
				c.noPatch(ctx)
				break
			}
			if err != nil {
				return err
			}
			first = false
		}
		if !first {
			return nil
		}
	}
	return c.replace(ctx, groupPath(groupID), func(res map[string]any) bool { return editMembers(res, add, remove) })
}

// editMembers adds the users add to the members of res, a SCIM Group,
// and removes the members remove; it keeps the other entries (nested
// groups, display names) as they are. It reports whether anything
// changed.
func editMembers(res map[string]any, add, remove []string) bool {
	k := canonicalKey(res, "members")
	old, _ := res[k].([]any)
	drop := make(map[string]bool, len(remove))
	for _, id := range remove {
		drop[id] = true
	}
	have := make(map[string]bool, len(old))
	members := make([]any, 0, len(old)+len(add))
	changed := false
	for _, m := range old {
		if e, ok := m.(map[string]any); ok {
			v, _ := e[canonicalKey(e, "value")].(string)
			if drop[v] {
				changed = true
				continue
			}
			have[v] = true
		}
		members = append(members, m)
	}
	for _, id := range add {
		if !have[id] {
			members = append(members, map[string]any{"value": id})
			have[id] = true
			changed = true
		}
	}
	res[k] = members
	return changed
}

// resource is a SCIM resource as the server returned it, whole, so that a
// PUT keeps what idsync does not map. Numbers stay json.Number, so that
// large ones are not rounded.
type resource map[string]any

func (r *resource) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	if m == nil {
		return errors.New("not a JSON object")
	}
	*r = m
	return nil
}

func (r *resource) checkShape() error {
	if id, _ := (*r)[canonicalKey(*r, "id")].(string); id == "" {
		return errNoID
	}
	return nil
}

// version is the resource's version for If-Match: meta.version, else the
// response's ETag header (RFC 7644 §3.14).
func (r resource) version(resp *response) string {
	if meta, ok := r[canonicalKey(r, "meta")].(map[string]any); ok {
		if v, _ := meta[canonicalKey(meta, "version")].(string); v != "" {
			return v
		}
	}
	return resp.header.Get("ETag")
}

// replace reads the resource at path, lets edit change it and, if edit
// reports a change, writes it back with PUT. With ETags, the PUT carries
// If-Match with the version read; a 412 (someone changed it meanwhile)
// reads it again and retries once.
func (c *scimConnector) replace(ctx context.Context, path string, edit func(map[string]any) bool) error {
	feat, err := c.features(ctx)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		resp, err := c.send(ctx, request{method: http.MethodGet, path: path})
		if err != nil {
			return err
		}
		var res resource
		if err := c.decode(http.MethodGet, path, resp, &res); err != nil {
			return err
		}
		put := request{method: http.MethodPut, path: path, body: res}
		if feat.etag {
			put.ifMatch = res.version(resp)
		}
		delete(res, canonicalKey(res, "meta")) // read-only
		if !edit(res) {
			return nil
		}
		_, err = c.send(ctx, put)
		if attempt == 1 && isStatus(err, http.StatusPreconditionFailed) {
			c.logger.InfoContext(ctx, "resource changed since read; reading it again", "path", path)
			continue
		}
		if isStatus(err, http.StatusPreconditionFailed) {
			return fmt.Errorf("changed by someone else twice while being updated: %w", err)
		}
		return err
	}
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
