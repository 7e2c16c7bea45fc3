package scim

import (
	"fmt"
	"strings"
	"sync"

	"github.com/idsync/idsync/connectors"
)

// Schema URNs (RFC 7643 §8.7.1 and §4.3).
const (
	schemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// Keys of connectors.User.Attributes that this connector maps.
const (
	attrTitle          = "title"
	attrDepartment     = "department"
	attrEmployeeNumber = "employeeNumber"
	attrPhoneNumber    = "phoneNumber"
	attrManager        = "manager"
)

// multiValue is an entry of emails or phoneNumbers.
type multiValue struct {
	Value   string   `json:"value"`
	Type    string   `json:"type,omitempty"`
	Primary flexBool `json:"primary,omitempty"`
}

// flexBool reads a JSON boolean, or the strings "true" and "false" that
// some service providers send instead.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch strings.ToLower(strings.Trim(string(data), `"`)) {
	case "true":
		*b = true
	case "false", "null", "":
		*b = false
	default:
		return fmt.Errorf("not a boolean: %s", data)
	}
	return nil
}

// scimUser is what this connector reads of a SCIM User. Writes go through
// applyUser on the resource as the server returned it, so that attributes
// idsync does not map survive an update.
type scimUser struct {
	ID          string `json:"id"`
	ExternalID  string `json:"externalId"`
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	Title       string `json:"title"`
	Name        struct {
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
	} `json:"name"`
	Active       *flexBool    `json:"active"`
	Emails       []multiValue `json:"emails"`
	PhoneNumbers []multiValue `json:"phoneNumbers"`
	Enterprise   struct {
		EmployeeNumber string `json:"employeeNumber"`
		Department     string `json:"department"`
		Manager        struct {
			Value string `json:"value"`
		} `json:"manager"`
	} `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
}

// scimGroup is what this connector reads of a SCIM Group.
type scimGroup struct {
	ID          string `json:"id"`
	ExternalID  string `json:"externalId"`
	DisplayName string `json:"displayName"`
	Members     []struct {
		Value string `json:"value"`
		Type  string `json:"type"`
	} `json:"members"`
}

func (su *scimUser) checkShape() error {
	if su.ID == "" {
		return errNoID
	}
	return nil
}

func (sg *scimGroup) checkShape() error {
	if sg.ID == "" {
		return errNoID
	}
	return nil
}

// pick chooses the entry of a multi-valued attribute that maps to the
// canonical single value: the primary one, else the first of type "work",
// else the first. It returns -1 for an empty list. Reads and writes use
// the same choice, so a value written is the value read back.
func pick(items []multiValue) int {
	for i, it := range items {
		if it.Primary {
			return i
		}
	}
	for i, it := range items {
		if strings.EqualFold(it.Type, "work") {
			return i
		}
	}
	if len(items) > 0 {
		return 0
	}
	return -1
}

// userFromSCIM maps a SCIM User to the canonical one. It returns the
// manager's target id apart: the caller resolves it to an ExternalID.
// A missing "active" counts as active.
func userFromSCIM(su scimUser) (tu connectors.TargetUser, managerID string) {
	tu = connectors.TargetUser{
		ID: su.ID,
		User: connectors.User{
			ExternalID:  su.ExternalID,
			UserName:    su.UserName,
			GivenName:   su.Name.GivenName,
			FamilyName:  su.Name.FamilyName,
			DisplayName: su.DisplayName,
			Active:      su.Active == nil || bool(*su.Active),
		},
	}
	if i := pick(su.Emails); i >= 0 {
		tu.Email = su.Emails[i].Value
	}
	attrs := map[string]string{
		attrTitle:          su.Title,
		attrDepartment:     su.Enterprise.Department,
		attrEmployeeNumber: su.Enterprise.EmployeeNumber,
	}
	if i := pick(su.PhoneNumbers); i >= 0 {
		attrs[attrPhoneNumber] = su.PhoneNumbers[i].Value
	}
	for k, v := range attrs {
		if v == "" {
			continue
		}
		if tu.Attributes == nil {
			tu.Attributes = make(map[string]string)
		}
		tu.Attributes[k] = v
	}
	return tu, su.Enterprise.Manager.Value
}

// applyUser writes u onto res, a SCIM User as the server returned it (or
// an empty map for a create), changing only the attributes idsync maps.
// managerID is the manager's target id, "" for none.
func applyUser(res map[string]any, u connectors.User, managerID string) {
	delete(res, "meta")   // read-only
	delete(res, "groups") // read-only, and some servers refuse it on PUT
	setString(res, "externalId", u.ExternalID)
	setString(res, "userName", u.UserName)
	setString(res, "displayName", u.DisplayName)
	setString(res, "title", u.Attributes[attrTitle])
	res[canonicalKey(res, "active")] = u.Active

	name := subMap(res, "name")
	setString(name, "givenName", u.GivenName)
	setString(name, "familyName", u.FamilyName)
	setSubMap(res, "name", name)

	setMultiValue(res, "emails", u.Email)
	setMultiValue(res, "phoneNumbers", u.Attributes[attrPhoneNumber])

	ext := subMap(res, schemaEnterprise)
	setString(ext, "employeeNumber", u.Attributes[attrEmployeeNumber])
	setString(ext, "department", u.Attributes[attrDepartment])
	setSubMap(res, schemaEnterprise, ext)
	applyManager(res, managerID)
}

// applyManager sets the enterprise manager of a user resource to the user
// whose target id is managerID, or none when it is "".
func applyManager(res map[string]any, managerID string) {
	ext := subMap(res, schemaEnterprise)
	mgr := subMap(ext, "manager")
	setString(mgr, "value", managerID)
	if managerID == "" {
		mgr = nil // drop $ref and displayName with the value
	}
	setSubMap(ext, "manager", mgr)
	setSubMap(res, schemaEnterprise, ext)

	// Keep the schemas of other extensions the resource carries.
	k := canonicalKey(res, "schemas")
	old, _ := res[k].([]any)
	schemas := []any{schemaUser}
	for _, s := range old {
		if s, ok := s.(string); ok && !strings.EqualFold(s, schemaUser) && !strings.EqualFold(s, schemaEnterprise) {
			schemas = append(schemas, s)
		}
	}
	if _, ok := res[canonicalKey(res, schemaEnterprise)]; ok {
		schemas = append(schemas, schemaEnterprise)
	}
	res[k] = schemas
}

// canonicalKey returns the key under which m holds name, matched
// case-insensitively as SCIM attribute names are, or name itself.
func canonicalKey(m map[string]any, name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

// setString sets m[name] to v, or removes it when v is empty.
func setString(m map[string]any, name, v string) {
	k := canonicalKey(m, name)
	if v == "" {
		delete(m, k)
		return
	}
	m[k] = v
}

// subMap returns a copy of the complex attribute m[name], or a new map.
func subMap(m map[string]any, name string) map[string]any {
	out := make(map[string]any)
	if sub, ok := m[canonicalKey(m, name)].(map[string]any); ok {
		for k, v := range sub {
			out[k] = v
		}
	}
	return out
}

// setSubMap sets m[name] to sub, or removes it when sub is empty.
func setSubMap(m map[string]any, name string, sub map[string]any) {
	k := canonicalKey(m, name)
	if len(sub) == 0 {
		delete(m, k)
		return
	}
	m[k] = sub
}

// setMultiValue sets the entry of the multi-valued attribute m[name] that
// pick chooses to value, adds a primary "work" entry if there is none, or
// removes the chosen entry when value is empty. Other entries are kept.
func setMultiValue(m map[string]any, name, value string) {
	k := canonicalKey(m, name)
	raw, _ := m[k].([]any)
	items := make([]multiValue, len(raw))
	for i, r := range raw {
		if e, ok := r.(map[string]any); ok {
			items[i].Value, _ = e[canonicalKey(e, "value")].(string)
			items[i].Type, _ = e[canonicalKey(e, "type")].(string)
			switch p := e[canonicalKey(e, "primary")].(type) {
			case bool:
				items[i].Primary = flexBool(p)
			case string: // as flexBool reads it
				items[i].Primary = flexBool(strings.EqualFold(p, "true"))
			}
		}
	}
	i := pick(items)
	switch {
	case value == "" && i >= 0:
		raw = append(raw[:i:i], raw[i+1:]...)
	case value != "" && i >= 0:
		e, ok := raw[i].(map[string]any)
		if !ok {
			e = map[string]any{}
		}
		e[canonicalKey(e, "value")] = value
		raw[i] = e
	case value != "":
		raw = append(raw, map[string]any{"value": value, "type": "work", "primary": true})
	}
	if len(raw) == 0 {
		delete(m, k)
		return
	}
	m[k] = raw
}

func groupFromSCIM(sg scimGroup) connectors.TargetGroup {
	tg := connectors.TargetGroup{ID: sg.ID, ExternalID: sg.ExternalID, DisplayName: sg.DisplayName}
	for _, m := range sg.Members {
		// Nested groups are not memberships idsync manages.
		if m.Value != "" && (m.Type == "" || strings.EqualFold(m.Type, "User")) {
			tg.MemberIDs = append(tg.MemberIDs, m.Value)
		}
	}
	return tg
}

// maxCachedIDs bounds idCache (two map entries per user, ~150 bytes).
// Past it, ids already known are still updated but new ones are not
// added: starting again empty made a directory of that size thrash,
// every put of a full resync emptying the cache.
const maxCachedIDs = 250_000

// idCache maps target ids to ExternalIDs and back, to translate the
// enterprise manager attribute (a target id in SCIM, an ExternalID in the
// canonical user) without a request per user.
type idCache struct {
	mu      sync.Mutex
	extByID map[string]string // "" when the user has no ExternalID
	idByExt map[string]string
}

func (c *idCache) put(id, ext string) {
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.extByID == nil {
		c.extByID = make(map[string]string)
		c.idByExt = make(map[string]string)
	}
	old, known := c.extByID[id]
	if !known && len(c.extByID) >= maxCachedIDs {
		return
	}
	if known && old != ext {
		delete(c.idByExt, old)
	}
	c.extByID[id] = ext
	if ext != "" {
		c.idByExt[ext] = id
	}
}

func (c *idCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ext, ok := c.extByID[id]; ok {
		delete(c.idByExt, ext)
		delete(c.extByID, id)
	}
}

func (c *idCache) ext(id string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ext, ok := c.extByID[id]
	return ext, ok
}

func (c *idCache) id(ext string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.idByExt[ext]
	return id, ok
}
