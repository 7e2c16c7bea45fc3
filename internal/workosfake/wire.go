package workosfake

import (
	"encoding/json"
	"maps"
)

// The JSON shapes of the API, as the OpenAPI spec's DirectoryUser,
// DirectoryUserWithGroups, DirectoryGroup and EventSchema.

func (u User) wire() map[string]any {
	m := map[string]any{
		"object":            "directory_user",
		"id":                u.ID,
		"directory_id":      u.DirectoryID,
		"organization_id":   u.OrganizationID,
		"idp_id":            u.IdpID,
		"email":             nullable(u.Email),
		"first_name":        nullable(u.FirstName),
		"last_name":         nullable(u.LastName),
		"name":              nullable(u.Name),
		"state":             u.State,
		"custom_attributes": orEmpty(u.CustomAttributes),
		// Deprecated but required by the spec; WorkOS sends {} for new
		// teams [U].
		"raw_attributes": map[string]any{},
		"created_at":     stamp(u.CreatedAt),
		"updated_at":     stamp(u.UpdatedAt),
	}
	if u.Username != "" {
		m["username"] = u.Username // deprecated, still sent where the IdP has one
	}
	return m
}

// wireListed is a user as the list and get endpoints return it
// (DirectoryUserWithGroups): with the deprecated groups array, which is
// empty for teams created after 2026-05-01 and here.
func (u User) wireListed() map[string]any {
	m := u.wire()
	m["groups"] = []any{}
	return m
}

func (g Group) wire() map[string]any {
	return map[string]any{
		"object":          "directory_group",
		"id":              g.ID,
		"idp_id":          g.IdpID,
		"directory_id":    g.DirectoryID,
		"organization_id": g.OrganizationID,
		"name":            g.Name,
		"raw_attributes":  map[string]any{},
		"created_at":      stamp(g.CreatedAt),
		"updated_at":      stamp(g.UpdatedAt),
	}
}

// wire is the directory as dsync.activated, dsync.deactivated and
// dsync.deleted carry it. The spec's states are active, validating,
// invalid_credentials, inactive and deleting (the notes' linked and
// unlinked are older names); activated also requires external_key and
// domains.
func (d *Directory) wire(state string) map[string]any {
	return map[string]any{
		"external_key":    "fake-" + d.ID,
		"object":          "directory",
		"id":              d.ID,
		"organization_id": d.OrganizationID,
		"type":            "generic scim v2.0",
		"state":           state,
		"name":            "Fake directory",
		"domains":         []any{},
		"created_at":      stamp(d.createdAt),
		"updated_at":      stamp(d.createdAt),
	}
}

// wire is the event as /events lists it and a webhook carries it.
func (e Event) wire() map[string]any {
	return map[string]any{
		"object":     "event",
		"id":         e.ID,
		"event":      e.Event,
		"data":       e.Data,
		"created_at": stamp(e.CreatedAt),
		"context":    map[string]any{},
	}
}

// JSON is the event's JSON, as a webhook body.
func (e Event) JSON() []byte {
	b, err := json.Marshal(e.wire())
	if err != nil {
		panic(err) // only maps, strings and raw JSON
	}
	return b
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return maps.Clone(m)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
