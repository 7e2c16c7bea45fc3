package scimfake

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Schema and message URNs (RFC 7643 §8.7, RFC 7644 §3.12, §3.4.3, §3.5.2).
const (
	SchemaUser           = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaEnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

	schemaListResponse  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaPatchOp       = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	schemaError         = "urn:ietf:params:scim:api:messages:2.0:Error"
	schemaSearchRequest = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	schemaSPConfig      = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	schemaResourceType  = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	schemaSchema        = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Name is the User "name" complex attribute (RFC 7643 §4.1.1).
type Name struct {
	Formatted       string `json:"formatted,omitempty"`
	FamilyName      string `json:"familyName,omitempty"`
	GivenName       string `json:"givenName,omitempty"`
	MiddleName      string `json:"middleName,omitempty"`
	HonorificPrefix string `json:"honorificPrefix,omitempty"`
	HonorificSuffix string `json:"honorificSuffix,omitempty"`
}

// MultiValue is one entry of emails, phoneNumbers or roles (RFC 7643 §2.4).
type MultiValue struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

// UnmarshalJSON accepts "primary" as a boolean or as the strings "true"
// and "false", which some clients send.
func (m *MultiValue) UnmarshalJSON(b []byte) error {
	type plain MultiValue
	var w struct {
		plain
		Primary flexBool `json:"primary"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = MultiValue(w.plain)
	m.Primary = bool(w.Primary)
	return nil
}

// Member is one entry of a Group's "members", or of a User's read-only
// "groups" (RFC 7643 §4.1.2, §4.2).
type Member struct {
	Value   string `json:"value"`
	Ref     string `json:"$ref,omitempty"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
}

// Manager is the enterprise extension's "manager" (RFC 7643 §4.3).
type Manager struct {
	Value       string `json:"value,omitempty"`
	Ref         string `json:"$ref,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// UnmarshalJSON accepts the manager as an object or as a bare id string,
// which some clients send.
func (m *Manager) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*m = Manager{Value: s}
		return nil
	}
	type plain Manager
	return json.Unmarshal(b, (*plain)(m))
}

// Enterprise holds the enterprise User extension (RFC 7643 §4.3).
type Enterprise struct {
	EmployeeNumber string   `json:"employeeNumber,omitempty"`
	CostCenter     string   `json:"costCenter,omitempty"`
	Organization   string   `json:"organization,omitempty"`
	Division       string   `json:"division,omitempty"`
	Department     string   `json:"department,omitempty"`
	Manager        *Manager `json:"manager,omitempty"`
}

// Meta is a resource's "meta" (RFC 7643 §3.1). Version is the weak ETag
// W/"n" that the server also sends in the ETag header.
type Meta struct {
	ResourceType string    `json:"resourceType"`
	Created      time.Time `json:"created"`
	LastModified time.Time `json:"lastModified"`
	Location     string    `json:"location"`
	Version      string    `json:"version"`
}

// User is a SCIM User as the fake stores it: the core attributes a
// provisioning client writes, and the enterprise extension. Groups is
// read-only and computed from group memberships.
type User struct {
	ID                string       `json:"id"`
	ExternalID        string       `json:"externalId,omitempty"`
	UserName          string       `json:"userName"`
	Name              *Name        `json:"name,omitempty"`
	DisplayName       string       `json:"displayName,omitempty"`
	NickName          string       `json:"nickName,omitempty"`
	ProfileURL        string       `json:"profileUrl,omitempty"`
	Title             string       `json:"title,omitempty"`
	UserType          string       `json:"userType,omitempty"`
	PreferredLanguage string       `json:"preferredLanguage,omitempty"`
	Locale            string       `json:"locale,omitempty"`
	Timezone          string       `json:"timezone,omitempty"`
	Active            bool         `json:"active"`
	Emails            []MultiValue `json:"emails,omitempty"`
	PhoneNumbers      []MultiValue `json:"phoneNumbers,omitempty"`
	Roles             []MultiValue `json:"roles,omitempty"`
	Groups            []Member     `json:"groups,omitempty"`
	Enterprise        *Enterprise  `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,omitempty"`
	Meta              Meta         `json:"meta"`

	// schemas is what a request body declared; it is not stored.
	schemas []string
}

// MarshalJSON writes the user with its "schemas".
func (u User) MarshalJSON() ([]byte, error) {
	type plain User
	schemas := []string{SchemaUser}
	if u.Enterprise != nil {
		schemas = append(schemas, SchemaEnterpriseUser)
	}
	return json.Marshal(struct {
		Schemas []string `json:"schemas"`
		plain
	}{schemas, plain(u)})
}

// UnmarshalJSON reads a user as a client sends it: attribute names in any
// letter case (encoding/json matches them so), "active" as a boolean or a
// string, and true when absent (RFC 7643 leaves the default to the
// service provider).
func (u *User) UnmarshalJSON(b []byte) error {
	type plain User
	var w struct {
		plain
		Schemas []string        `json:"schemas"`
		Active  *flexBool       `json:"active"`
		Meta    json.RawMessage `json:"meta"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*u = User(w.plain)
	u.schemas = w.Schemas
	u.Active = w.Active == nil || bool(*w.Active)
	u.Meta = lenientMeta(w.Meta)
	return nil
}

// lenientMeta reads "meta" when it is well formed. It is read-only: the
// server ignores what a client sends, and must not refuse a body over it.
func lenientMeta(raw json.RawMessage) Meta {
	var m Meta
	if len(raw) > 0 && json.Unmarshal(raw, &m) != nil {
		return Meta{}
	}
	return m
}

// Group is a SCIM Group as the fake stores it.
type Group struct {
	ID          string   `json:"id"`
	ExternalID  string   `json:"externalId,omitempty"`
	DisplayName string   `json:"displayName"`
	Members     []Member `json:"members,omitempty"`
	Meta        Meta     `json:"meta"`

	schemas []string
}

// MarshalJSON writes the group with its "schemas".
func (g Group) MarshalJSON() ([]byte, error) {
	type plain Group
	return json.Marshal(struct {
		Schemas []string `json:"schemas"`
		plain
	}{[]string{SchemaGroup}, plain(g)})
}

// UnmarshalJSON reads a group and remembers its declared schemas.
func (g *Group) UnmarshalJSON(b []byte) error {
	type plain Group
	var w struct {
		plain
		Schemas []string        `json:"schemas"`
		Meta    json.RawMessage `json:"meta"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*g = Group(w.plain)
	g.schemas = w.Schemas
	g.Meta = lenientMeta(w.Meta)
	return nil
}

// flexBool reads a JSON boolean or the strings "true"/"false" in any case.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch strings.ToLower(strings.Trim(string(b), `"`)) {
	case "true":
		*f = true
	case "false", "null":
		*f = false
	default:
		return fmt.Errorf("not a boolean: %s", b)
	}
	return nil
}

// clone returns a deep copy, so that a caller's later changes do not reach
// the store.
func (u User) clone() User {
	c := u
	if u.Name != nil {
		n := *u.Name
		c.Name = &n
	}
	c.Emails = cloneSlice(u.Emails)
	c.PhoneNumbers = cloneSlice(u.PhoneNumbers)
	c.Roles = cloneSlice(u.Roles)
	c.Groups = cloneSlice(u.Groups)
	if u.Enterprise != nil {
		e := *u.Enterprise
		if e.Manager != nil {
			m := *e.Manager
			e.Manager = &m
		}
		c.Enterprise = &e
	}
	c.schemas = nil
	return c
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append([]T(nil), s...)
}

// normalize fixes what a client may send loosely: at most one primary per
// multi-valued attribute (the last one wins, so that a value added with
// primary true takes over, RFC 7644 §3.5.2), and empty complex attributes
// dropped.
func (u *User) normalize() {
	u.Emails = onePrimary(u.Emails)
	u.PhoneNumbers = onePrimary(u.PhoneNumbers)
	u.Roles = onePrimary(u.Roles)
	if u.Name != nil && *u.Name == (Name{}) {
		u.Name = nil
	}
	if e := u.Enterprise; e != nil {
		if e.Manager != nil && *e.Manager == (Manager{}) {
			e.Manager = nil
		}
		if *e == (Enterprise{}) {
			u.Enterprise = nil
		}
	}
}

func onePrimary(items []MultiValue) []MultiValue {
	last := -1
	for i, it := range items {
		if it.Primary {
			last = i
		}
	}
	for i := range items {
		if i != last {
			items[i].Primary = false
		}
	}
	return items
}

// validate checks what the store requires of a user.
func (u *User) validate() *apiError {
	if strings.TrimSpace(u.UserName) == "" {
		return errInvalidValue("userName is required")
	}
	for _, e := range u.Emails {
		if strings.TrimSpace(e.Value) == "" {
			return errInvalidValue("emails.value must not be empty")
		}
	}
	return nil
}

// hasSchema reports whether a request body declared the schema URN.
func hasSchema(schemas []string, urn string) bool {
	for _, s := range schemas {
		if strings.EqualFold(s, urn) {
			return true
		}
	}
	return false
}
