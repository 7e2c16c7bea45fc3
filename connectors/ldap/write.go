package ldap

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
)

// Defaults of WriteSettings.
const (
	DefaultExternalIDAttribute = "description"
	DefaultExternalIDPrefix    = "idsync:"
)

// targetDisabled is how a target marks a disabled user when the
// connection's disabled setting names no mark (the openldap profile): it
// matches a source userFilter such as
// (&(objectClass=inetOrgPerson)(!(employeeType=disabled))).
func targetDisabled(d AccountDisable) AccountDisable {
	if d.IsZero() {
		return AccountDisable{Attribute: "employeeType", Value: "disabled"}
	}
	return d
}

// Deprovision modes of WriteSettings.Deprovision.
const (
	DeprovisionDisable = connectors.DeprovisionDisable
	DeprovisionDelete  = connectors.DeprovisionDelete
)

// WriteSettings are what a connection needs as a target (see TargetConfig):
// where idsync creates entries, how it marks the entries it manages, and how
// it deprovisions users. A source ignores them. Every field has a default
// that suits an OpenLDAP directory of inetOrgPerson users and groupOfNames
// groups.
//
// The marker. An entry idsync created or adopted holds the source's
// ExternalID in ExternalIDAttribute, prefixed with ExternalIDPrefix:
// "description: idsync:1c8c…". An entry without such a value is not
// managed: idsync may adopt it (by userName or email) but never disables
// or deletes it. description is in inetOrgPerson and in groupOfNames, so it
// works without a schema change; the prefix keeps idsync's value apart from
// descriptions people write, which are left alone. A dedicated attribute is
// better (an auxiliary class with, say, idsyncExternalId, added to
// userObjectClasses and groupObjectClasses): set externalIdAttribute to it
// and externalIdPrefix to "".
type WriteSettings struct {
	// UserDN is the template of a new user's DN: one RDN with {{field}}
	// placeholders, then a parent DN at or under userBaseDn. Default
	// "<userAttributes.userName>={{userName}},<userBaseDn>", that is
	// uid={{userName}},ou=people,dc=example,dc=org. Fields: userName,
	// givenName, familyName, displayName, email, externalId,
	// employeeNumber. Each value is DN-escaped. When the fields of the RDN
	// change, UpdateUser renames the entry (modrdn), keeping its parent.
	UserDN string `json:"userDn,omitempty"`
	// GroupDN is the template of a new group's DN; default
	// "<groupAttributes.displayName>={{displayName}},<groupBaseDn>".
	// Fields: displayName, externalId.
	GroupDN string `json:"groupDn,omitempty"`
	// UserObjectClasses of a new user; default the profile's (openldap:
	// top, person, organizationalPerson, inetOrgPerson).
	UserObjectClasses []string `json:"userObjectClasses,omitempty"`
	// GroupObjectClasses of a new group; default top and the object class
	// of the first of groupKinds (openldap: groupOfNames).
	GroupObjectClasses []string `json:"groupObjectClasses,omitempty"`
	// ExternalIDAttribute holds the marker on users; default description.
	ExternalIDAttribute string `json:"externalIdAttribute,omitempty"`
	// GroupExternalIDAttribute holds the marker on groups; default
	// ExternalIDAttribute.
	GroupExternalIDAttribute string `json:"groupExternalIdAttribute,omitempty"`
	// ExternalIDPrefix starts the marker value; default "idsync:". With a
	// dedicated attribute, set it to "": every value is then idsync's.
	ExternalIDPrefix *string `json:"externalIdPrefix,omitempty"`
	// Deprovision is what removing a user does: "disable" (the default)
	// or "delete". A rule may override it. Disabling sets the mark of the
	// connection's disabled setting (the profile's: 389ds nsAccountLock
	// true, activedirectory bit 2 of userAccountControl), or, where it
	// names none, employeeType: disabled. A value mark is added to the
	// attribute's values and removed on enabling, leaving the other values
	// (employeeType may also say "Contractor").
	Deprovision string `json:"deprovision,omitempty"`
	// PlaceholderMember is the member value an empty groupOfNames or
	// groupOfUniqueNames holds, since both classes require a member;
	// default bindDn. idsync adds it when a group would otherwise be left
	// without members and removes it when a real member arrives. Set it to
	// refint_nothing's value where OpenLDAP's refint overlay runs; "" for
	// none (a group then cannot lose its last member).
	PlaceholderMember *string `json:"placeholderMember,omitempty"`
}

// userDNFields and groupDNFields are the placeholders of the DN templates.
var (
	userDNFields  = []string{"userName", "givenName", "familyName", "displayName", "email", "externalId", "employeeNumber"}
	groupDNFields = []string{"displayName", "externalId"}
)

// validate fills the defaults from c (whose own defaults are filled) and
// checks the settings. A template that cannot be defaulted (userName or
// the group's displayName mapped to no attribute) is left empty: only
// OpenTarget requires it.
func (w *WriteSettings) validate(c *Config) []error {
	w.fillDefaults(c)
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if w.UserDN != "" {
		if _, err := parseDNTemplate(w.UserDN, userDNFields, c.UserBaseDN); err != nil {
			bad("write.userDn: %w", err)
		}
	}
	if w.GroupDN != "" {
		if _, err := parseDNTemplate(w.GroupDN, groupDNFields, c.GroupBaseDN); err != nil {
			bad("write.groupDn: %w", err)
		}
	}
	for name, l := range map[string][]string{"write.userObjectClasses": w.UserObjectClasses, "write.groupObjectClasses": w.GroupObjectClasses} {
		for _, oc := range l {
			if !validAttrName(oc) {
				bad("%s: %q is not an object class name", name, oc)
			}
		}
	}
	for _, f := range []struct{ name, attr string }{
		{"write.externalIdAttribute", w.ExternalIDAttribute},
		{"write.groupExternalIdAttribute", w.GroupExternalIDAttribute},
	} {
		if !validAttrName(f.attr) {
			bad("%s: %q is not an attribute name", f.name, f.attr)
		}
	}
	switch w.Deprovision {
	case DeprovisionDisable, DeprovisionDelete:
	default:
		bad("write.deprovision: %q is not %q or %q", w.Deprovision, DeprovisionDisable, DeprovisionDelete)
	}
	if p := *w.PlaceholderMember; p != "" {
		if _, err := ldap.ParseDN(p); err != nil {
			bad("write.placeholderMember: %w", err)
		}
	}
	return errs
}

func (w *WriteSettings) fillDefaults(c *Config) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	if w.UserDN == "" && len(c.UserAttributes.UserName) > 0 && c.UserBaseDN != "" {
		rdn := c.UserAttributes.UserName[0]
		if strings.EqualFold(c.Profile, ProfileActiveDirectory) {
			rdn = "CN" // sAMAccountName cannot name an entry
		}
		w.UserDN = rdn + "={{userName}}," + c.UserBaseDN
	}
	if w.GroupDN == "" && len(c.GroupAttributes.DisplayName) > 0 && c.GroupBaseDN != "" {
		w.GroupDN = c.GroupAttributes.DisplayName[0] + "={{displayName}}," + c.GroupBaseDN
	}
	if w.UserObjectClasses == nil {
		w.UserObjectClasses = []string{"top", "person", "organizationalPerson", "inetOrgPerson"}
		if p, err := LookupProfile(c.Profile); err == nil && len(p.UserObjectClasses) > 0 {
			w.UserObjectClasses = slices.Clone(p.UserObjectClasses)
		}
	}
	if w.GroupObjectClasses == nil {
		if oc := defaultGroupClass(c); oc != "" {
			w.GroupObjectClasses = []string{"top", oc}
		}
	}
	def(&w.ExternalIDAttribute, DefaultExternalIDAttribute)
	def(&w.GroupExternalIDAttribute, w.ExternalIDAttribute)
	if w.ExternalIDPrefix == nil {
		p := DefaultExternalIDPrefix
		w.ExternalIDPrefix = &p
	}
	def(&w.Deprovision, DeprovisionDisable)
	if w.PlaceholderMember == nil {
		p := c.BindDN
		w.PlaceholderMember = &p
	}
}

// defaultGroupClass is the object class of a new group: the first group
// kind's, or, for a kind of any class, the class its member attribute
// belongs to.
func defaultGroupClass(c *Config) string {
	if len(c.GroupKinds) == 0 {
		return ""
	}
	k := c.GroupKinds[0]
	if k.ObjectClass != "" {
		return k.ObjectClass
	}
	switch strings.ToLower(k.Member) {
	case "member":
		return "groupOfNames"
	case "uniquemember":
		return "groupOfUniqueNames"
	}
	return ""
}

// dnTemplate is a parsed DN template: an RDN with {{field}} placeholders
// in its values, and a fixed parent DN.
type dnTemplate struct {
	rdn    string // the first RDN, with placeholders
	parent string // the parent DN
}

// parseDNTemplate checks a template: known placeholders, in the values of
// the first RDN only, at least one of them, and a parent at or under base.
func parseDNTemplate(s string, fields []string, base string) (dnTemplate, error) {
	i := firstUnescaped(s, ',')
	if i < 0 {
		return dnTemplate{}, fmt.Errorf("%q: want an RDN and a parent DN, such as uid={{userName}},ou=people,dc=example,dc=org", s)
	}
	t := dnTemplate{rdn: strings.TrimSpace(s[:i]), parent: strings.TrimSpace(s[i+1:])}
	if strings.Contains(t.parent, "{{") {
		return t, fmt.Errorf("%q: placeholders belong in the first RDN only; the parent DN is fixed", s)
	}
	parent, err := ldap.ParseDN(t.parent)
	if err != nil {
		return t, fmt.Errorf("%q: parent DN: %w", s, err)
	}
	if baseDN, err := ldap.ParseDN(base); err == nil && !baseDN.EqualFold(parent) && !baseDN.AncestorOfFold(parent) {
		return t, fmt.Errorf("%q: the parent is not at or under %q, where idsync looks for these entries", s, base)
	}
	n := 0
	for _, ava := range splitUnescaped(t.rdn, '+') {
		typ, _, ok := strings.Cut(ava, "=")
		if !ok || strings.Contains(typ, "{{") {
			return t, fmt.Errorf("%q: each part of the RDN must be attribute={{field}} or attribute=value", s)
		}
	}
	rendered, err := t.render(func(name string) (string, bool) {
		n++
		return "x", slices.Contains(fields, name)
	})
	if err != nil {
		return t, fmt.Errorf("%q: %w (fields: %s)", s, err, strings.Join(fields, ", "))
	}
	if n == 0 {
		return t, fmt.Errorf("%q: the RDN needs a placeholder, such as {{%s}}, or every entry gets the same DN", s, fields[0])
	}
	dn, err := ldap.ParseDN(rendered + "," + t.parent)
	if err != nil || len(dn.RDNs) != len(parent.RDNs)+1 {
		return t, fmt.Errorf("%q: not a DN: %v", s, err)
	}
	return t, nil
}

// render fills the RDN's placeholders with DN-escaped values from value,
// which reports false for an unknown field. An empty value is an error: an
// RDN value cannot be empty.
func (t dnTemplate) render(value func(field string) (string, bool)) (string, error) {
	var b strings.Builder
	rest := t.rdn
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return "", errors.New("unclosed {{")
		}
		name := strings.TrimSpace(rest[i+2 : i+j])
		v, ok := value(name)
		if !ok {
			return "", fmt.Errorf("unknown field {{%s}}", name)
		}
		if v == "" {
			return "", fmt.Errorf("the DN needs %s, which is empty", name)
		}
		b.WriteString(rest[:i])
		b.WriteString(escapeDNValue(v))
		rest = rest[i+j+2:]
	}
}

// escapeDNValue escapes an RDN value (RFC 4514), "=" included, which some
// servers want escaped.
func escapeDNValue(v string) string {
	return strings.ReplaceAll(ldap.EscapeDN(v), "=", `\=`)
}

// firstUnescaped returns the index of the first c in s not escaped by a
// backslash, or -1.
func firstUnescaped(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case c:
			return i
		}
	}
	return -1
}

// splitUnescaped splits s at each c not escaped by a backslash.
func splitUnescaped(s string, c byte) []string {
	var parts []string
	for {
		i := firstUnescaped(s, c)
		if i < 0 {
			return append(parts, s)
		}
		parts = append(parts, s[:i])
		s = s[i+1:]
	}
}

// writeErr adds what an LDAP result code of a write means for the caller:
// ErrAlreadyExists, ErrNotFound, ErrRejected for what the server refuses
// to store (schema, syntax, constraints), and classify's classes for the
// rest.
func writeErr(err error) error {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return err
	}
	switch le.ResultCode {
	case ldap.LDAPResultEntryAlreadyExists:
		return fmt.Errorf("%w: %w", connectors.ErrAlreadyExists, err)
	case ldap.LDAPResultNoSuchObject:
		return fmt.Errorf("%w: %w", connectors.ErrNotFound, err)
	case ldap.LDAPResultObjectClassViolation:
		return fmt.Errorf("%w: the entry would break its object classes' rules (a required attribute missing, or one they do not allow): %w", connectors.ErrRejected, err)
	case ldap.LDAPResultConstraintViolation, ldap.LDAPResultInvalidAttributeSyntax, ldap.LDAPResultUndefinedAttributeType,
		ldap.LDAPResultNamingViolation, ldap.LDAPResultNotAllowedOnRDN, ldap.LDAPResultObjectClassModsProhibited,
		ldap.LDAPResultInvalidDNSyntax, ldap.LDAPResultNotAllowedOnNonLeaf, ldap.LDAPResultUnwillingToPerform,
		ldap.LDAPResultAttributeOrValueExists, ldap.LDAPResultNoSuchAttribute, ldap.LDAPResultInappropriateMatching:
		return fmt.Errorf("%w: %w", connectors.ErrRejected, err)
	case ldap.LDAPResultReferral:
		return fmt.Errorf("the server refers writes elsewhere (is this a read-only replica?): %w", err)
	}
	return classify(err)
}
