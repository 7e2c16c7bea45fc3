package scimfake

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Discovery (RFC 7644 §4, RFC 7643 §5–7): /ServiceProviderConfig,
// /ResourceTypes and /Schemas, minimal but valid. GitHub's enterprise
// SCIM API documents no discovery endpoints, so that flavor has none.

type attrDef struct {
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	MultiValued   bool      `json:"multiValued"`
	Required      bool      `json:"required"`
	CaseExact     bool      `json:"caseExact"`
	Mutability    string    `json:"mutability"`
	Returned      string    `json:"returned"`
	Uniqueness    string    `json:"uniqueness"`
	SubAttributes []attrDef `json:"subAttributes,omitempty"`
}

// attr builds an attribute definition; flags: multi, required, exact,
// readOnly, writeOnly, server (unique), never, always, complex,
// boolean, reference, dateTime.
func attr(name string, flags string, subs ...attrDef) attrDef {
	a := attrDef{Name: name, Type: "string", Mutability: "readWrite", Returned: "default", Uniqueness: "none", SubAttributes: subs}
	for _, f := range strings.Fields(flags) {
		switch f {
		case "multi":
			a.MultiValued = true
		case "required":
			a.Required = true
		case "exact":
			a.CaseExact = true
		case "readOnly", "writeOnly":
			a.Mutability = f
		case "server":
			a.Uniqueness = "server"
		case "never", "always":
			a.Returned = f
		case "complex", "boolean", "reference", "dateTime":
			a.Type = f
		}
	}
	if subs != nil {
		a.Type = "complex"
	}
	return a
}

func multiValuedAttr(name string) attrDef {
	return attr(name, "multi", attr("value", ""), attr("display", ""), attr("type", ""), attr("primary", "boolean"))
}

func userSchema() []attrDef {
	return []attrDef{
		attr("userName", "required server"),
		attr("name", "",
			attr("formatted", ""), attr("familyName", ""), attr("givenName", ""),
			attr("middleName", ""), attr("honorificPrefix", ""), attr("honorificSuffix", "")),
		attr("displayName", ""), attr("nickName", ""), attr("profileUrl", "reference"),
		attr("title", ""), attr("userType", ""), attr("preferredLanguage", ""),
		attr("locale", ""), attr("timezone", ""), attr("active", "boolean"),
		attr("password", "writeOnly never"),
		multiValuedAttr("emails"), multiValuedAttr("phoneNumbers"), multiValuedAttr("roles"),
		attr("groups", "multi readOnly",
			attr("value", "readOnly exact"), attr("$ref", "reference readOnly"),
			attr("display", "readOnly"), attr("type", "readOnly")),
	}
}

func enterpriseSchema() []attrDef {
	return []attrDef{
		attr("employeeNumber", ""), attr("costCenter", ""), attr("organization", ""),
		attr("division", ""), attr("department", ""),
		attr("manager", "", attr("value", "exact"), attr("$ref", "reference"), attr("displayName", "readOnly")),
	}
}

func groupSchema() []attrDef {
	return []attrDef{
		attr("displayName", "required"),
		attr("members", "multi",
			attr("value", "exact"), attr("$ref", "reference"),
			attr("display", ""), attr("type", "")),
	}
}

type schemaDoc struct {
	Schemas     []string       `json:"schemas"`
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Attributes  []attrDef      `json:"attributes"`
	Meta        map[string]any `json:"meta"`
}

type resourceTypeDoc struct {
	Schemas          []string          `json:"schemas"`
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Endpoint         string            `json:"endpoint"`
	Description      string            `json:"description"`
	Schema           string            `json:"schema"`
	SchemaExtensions []map[string]any  `json:"schemaExtensions,omitempty"`
	Meta             map[string]string `json:"meta"`
}

// buildDiscovery renders the discovery documents once, keyed by
// lower-cased "kind/id".
func buildDiscovery(s *Server) map[string][]byte {
	base := s.URL
	schemas := []schemaDoc{
		{ID: SchemaUser, Name: "User", Description: "User Account", Attributes: userSchema()},
		{ID: SchemaEnterpriseUser, Name: "EnterpriseUser", Description: "Enterprise User", Attributes: enterpriseSchema()},
		{ID: SchemaGroup, Name: "Group", Description: "Group", Attributes: groupSchema()},
	}
	for i := range schemas {
		schemas[i].Schemas = []string{schemaSchema}
		schemas[i].Meta = map[string]any{"resourceType": "Schema", "location": base + "/Schemas/" + schemas[i].ID}
	}
	types := []resourceTypeDoc{
		{ID: "User", Name: "User", Endpoint: "/Users", Description: "User Account", Schema: SchemaUser,
			SchemaExtensions: []map[string]any{{"schema": SchemaEnterpriseUser, "required": false}}},
		{ID: "Group", Name: "Group", Endpoint: "/Groups", Description: "Group", Schema: SchemaGroup},
	}
	for i := range types {
		types[i].Schemas = []string{schemaResourceType}
		types[i].Meta = map[string]string{"resourceType": "ResourceType", "location": base + "/ResourceTypes/" + types[i].ID}
	}
	docs := map[string][]byte{
		"serviceproviderconfig/": mustJSON(spConfig(s)),
		"schemas/":               mustJSON(listOf(schemas, len(schemas))),
		"resourcetypes/":         mustJSON(listOf(types, len(types))),
	}
	for _, sc := range schemas {
		docs["schemas/"+strings.ToLower(sc.ID)] = mustJSON(sc)
	}
	for _, t := range types {
		docs["resourcetypes/"+strings.ToLower(t.ID)] = mustJSON(t)
	}
	if s.opts.Flavor == Slack { // Slack documents GET /Schemas/Users and /Schemas/Groups
		docs["schemas/users"] = docs["schemas/"+strings.ToLower(SchemaUser)]
		docs["schemas/groups"] = docs["schemas/"+strings.ToLower(SchemaGroup)]
	}
	return docs
}

func listOf(resources any, n int) listResponse {
	return listResponse{Schemas: []string{schemaListResponse}, TotalResults: n, ItemsPerPage: n, StartIndex: 1, Resources: resources}
}

func spConfig(s *Server) map[string]any {
	supported := func(ok bool) map[string]any { return map[string]any{"supported": ok} }
	return map[string]any{
		"schemas":          []string{schemaSPConfig},
		"documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
		"patch":            supported(true),
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": s.opts.MaxPageSize},
		"changePassword":   supported(false),
		"sort":             supported(false),
		"etag":             supported(true),
		"authenticationSchemes": []map[string]any{{
			"type": "oauthbearertoken", "name": "OAuth Bearer Token",
			"description": "Authentication with a bearer token (RFC 6750)", "primary": true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": s.URL + "/ServiceProviderConfig"},
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, rt route) {
	if r.Method != http.MethodGet {
		s.methodNotAllowed(w, "GET")
		return
	}
	b, ok := s.discovery[strings.ToLower(rt.kind+"/"+rt.id)]
	if !ok {
		s.writeError(w, errNotFound("no "+rt.kind+" "+rt.id))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/scim+json")
	_, _ = w.Write(b)
}
