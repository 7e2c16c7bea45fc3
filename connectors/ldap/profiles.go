package ldap

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Profile names, the values of Config.Profile.
const (
	ProfileOpenLDAP        = "openldap"
	Profile389DS           = "389ds"
	ProfileActiveDirectory = "activedirectory"
)

// Profile is a kind of directory server: the defaults a connection of that
// kind starts from, and how its changes are followed. Every default can be
// overridden by the connection's own settings.
type Profile struct {
	Name string
	// IDAttribute holds the immutable id: entryUUID, nsUniqueId or
	// objectGUID (binary, rendered as the canonical GUID string).
	IDAttribute string
	// UserObjectClasses are the object classes a new user entry gets; for
	// writers. UserFilter is what selects users when reading.
	UserObjectClasses []string
	UserFilter        string
	// GroupKinds are the kinds of group, each with its member attribute; a
	// new group gets the first kind. GroupFilter selects all of them.
	GroupKinds  []GroupKind
	GroupFilter string
	// UserAttributes and GroupAttributes are the attribute maps.
	UserAttributes  UserAttributes
	GroupAttributes GroupAttributes
	// Disabled is how the directory marks a disabled account.
	Disabled AccountDisable

	changes changeTracking
}

// changeTracking is how Changes follows a kind of server.
type changeTracking int

const (
	// syncOpenLDAP: RFC 4533 content sync as syncprov does it; sync UUIDs
	// are entryUUIDs; a syncDone with refreshDeletes false ends a present
	// phase.
	syncOpenLDAP changeTracking = iota
	// sync389: RFC 4533 content sync as 389-ds's Content Synchronization
	// plugin does it: sync UUIDs are nsUniqueIds; the cookie is bound to
	// the search filter; every syncDone has refreshDeletes false; entries
	// that stop matching the filter are not reported.
	sync389
	// dirSync: Active Directory's DirSync control, tombstones for
	// deletions.
	dirSync
)

// GroupKind is one kind of group entry: its object class and the attribute
// that lists its members.
type GroupKind struct {
	// ObjectClass marks a group of this kind; empty matches every group.
	ObjectClass string `json:"objectClass,omitempty"`
	// Member is the attribute that holds the members.
	Member string `json:"member"`
	// MemberKey is the user attribute whose values Member holds; empty
	// means Member holds DNs. posixGroup's memberUid holds uids: "uid".
	MemberKey string `json:"memberKey,omitempty"`
}

// AccountDisable says how a directory marks a disabled account.
type AccountDisable struct {
	// Attribute holds the mark; empty means no account is read as
	// disabled (the filter alone decides what is in scope).
	Attribute string `json:"attribute,omitempty"`
	// Value is the mark, compared case-insensitively (389-ds:
	// nsAccountLock "true"). Empty means any value marks the account
	// (as OpenLDAP ppolicy's pwdAccountLockedTime does).
	Value string `json:"value,omitempty"`
	// Bit, when not 0, makes Attribute an integer of flags; the account
	// is disabled when Bit is set in it (Active Directory:
	// userAccountControl, 2 = ACCOUNTDISABLE).
	Bit int64 `json:"bit,omitempty"`
}

// IsZero reports whether nothing is configured.
func (d AccountDisable) IsZero() bool { return d == AccountDisable{} }

// IsDisabled reports whether values, the entry's values of d.Attribute,
// mark the account disabled.
func (d AccountDisable) IsDisabled(values []string) bool {
	if d.Attribute == "" || len(values) == 0 {
		return false
	}
	if d.Bit != 0 {
		n, err := strconv.ParseInt(strings.TrimSpace(values[0]), 10, 64)
		return err == nil && n&d.Bit != 0
	}
	if d.Value == "" {
		return true
	}
	return slices.ContainsFunc(values, func(v string) bool { return strings.EqualFold(strings.TrimSpace(v), d.Value) })
}

// Values returns what d.Attribute should hold so that an account whose
// attribute holds current is disabled (or enabled); nil means remove the
// attribute. With Bit it keeps the other flags of current (an empty
// current counts as 512, NORMAL_ACCOUNT).
func (d AccountDisable) Values(current []string, disabled bool) ([]string, error) {
	switch {
	case d.Attribute == "":
		return nil, errors.New("ldap: no disabled attribute is configured")
	case d.Bit != 0:
		n := int64(512)
		if len(current) > 0 {
			var err error
			if n, err = strconv.ParseInt(strings.TrimSpace(current[0]), 10, 64); err != nil {
				return nil, fmt.Errorf("ldap: %s holds %q, not an integer", d.Attribute, current[0])
			}
		}
		if disabled {
			n |= d.Bit
		} else {
			n &^= d.Bit
		}
		return []string{strconv.FormatInt(n, 10)}, nil
	case !disabled:
		return nil, nil
	case d.Value == "":
		return nil, fmt.Errorf("ldap: disabled.value is empty: any value of %s marks an account, so there is none to write", d.Attribute)
	}
	return []string{d.Value}, nil
}

// DirectorySettings are the Config settings that a profile fills in.
// Config embeds them, so in JSON they sit beside the others.
type DirectorySettings struct {
	// Profile is the kind of directory: openldap (the default), 389ds or
	// activedirectory. It supplies the defaults of idAttribute,
	// userFilter, groupFilter, userAttributes, groupAttributes,
	// groupKinds and disabled, and chooses how changes are followed.
	Profile string `json:"profile,omitempty"`
	// GroupKinds lists the kinds of group and their member attributes;
	// default the profile's. A group's members are read from the member
	// attribute of every kind whose object class the group has.
	GroupKinds []GroupKind `json:"groupKinds,omitempty"`
	// Disabled says how a disabled account is marked; default the
	// profile's (OpenLDAP: none). A user so marked is listed with Active
	// false.
	Disabled AccountDisable `json:"disabled,omitzero"`
}

// openLDAPGroupKinds are the group kinds of OpenLDAP and 389-ds.
var openLDAPGroupKinds = []GroupKind{
	{ObjectClass: "groupOfNames", Member: "member"},
	{ObjectClass: "groupOfUniqueNames", Member: "uniqueMember"},
	{ObjectClass: "posixGroup", Member: "memberUid", MemberKey: "uid"},
}

// profiles returns the profile table; a function, so that callers get
// their own copies of its slices.
func profiles() map[string]Profile {
	ldapUsers := UserAttributes{
		UserName:       AttrList{"uid"},
		GivenName:      AttrList{"givenName"},
		FamilyName:     AttrList{"sn"},
		DisplayName:    AttrList{"displayName", "cn"},
		Email:          AttrList{"mail"},
		Title:          AttrList{"title"},
		Department:     AttrList{"departmentNumber", "ou"},
		EmployeeNumber: AttrList{"employeeNumber"},
		PhoneNumber:    AttrList{"telephoneNumber"},
	}
	inetOrgPerson := []string{"top", "person", "organizationalPerson", "inetOrgPerson"}
	return map[string]Profile{
		ProfileOpenLDAP: {
			Name:              ProfileOpenLDAP,
			IDAttribute:       DefaultIDAttribute,
			UserObjectClasses: inetOrgPerson,
			UserFilter:        DefaultUserFilter,
			GroupKinds:        slices.Clone(openLDAPGroupKinds),
			UserAttributes:    ldapUsers,
			GroupAttributes:   GroupAttributes{DisplayName: AttrList{"cn"}},
			changes:           syncOpenLDAP,
		},
		Profile389DS: {
			Name:              Profile389DS,
			IDAttribute:       "nsUniqueId",
			UserObjectClasses: inetOrgPerson,
			// dsidm creates nsPerson entries, without inetOrgPerson.
			UserFilter:      "(|(objectClass=inetOrgPerson)(objectClass=nsPerson))",
			GroupKinds:      slices.Clone(openLDAPGroupKinds),
			UserAttributes:  ldapUsers,
			GroupAttributes: GroupAttributes{DisplayName: AttrList{"cn"}},
			Disabled:        AccountDisable{Attribute: "nsAccountLock", Value: "true"},
			changes:         sync389,
		},
		ProfileActiveDirectory: {
			Name:              ProfileActiveDirectory,
			IDAttribute:       "objectGUID",
			UserObjectClasses: []string{"top", "person", "organizationalPerson", "user"},
			UserFilter:        "(&(objectCategory=person)(objectClass=user))",
			GroupKinds:        []GroupKind{{ObjectClass: "group", Member: "member"}},
			UserAttributes: UserAttributes{
				UserName:       AttrList{"sAMAccountName", "userPrincipalName"},
				GivenName:      AttrList{"givenName"},
				FamilyName:     AttrList{"sn"},
				DisplayName:    AttrList{"displayName", "cn"},
				Email:          AttrList{"mail"},
				Title:          AttrList{"title"},
				Department:     AttrList{"department"},
				EmployeeNumber: AttrList{"employeeID", "employeeNumber"},
				PhoneNumber:    AttrList{"telephoneNumber"},
			},
			GroupAttributes: GroupAttributes{DisplayName: AttrList{"cn"}},
			Disabled:        AccountDisable{Attribute: "userAccountControl", Bit: 2},
			changes:         dirSync,
		},
	}
}

// LookupProfile returns the profile named name; "" is openldap.
func LookupProfile(name string) (Profile, error) {
	if name == "" {
		name = ProfileOpenLDAP
	}
	p, ok := profiles()[strings.ToLower(name)]
	if !ok {
		return Profile{}, fmt.Errorf("want %s, %s or %s, got %q", ProfileOpenLDAP, Profile389DS, ProfileActiveDirectory, name)
	}
	p.GroupFilter = groupKindsFilter(p.GroupKinds)
	return p, nil
}

// groupKindsFilter selects the groups of every kind that names an object
// class; "" when none does.
func groupKindsFilter(kinds []GroupKind) string {
	var items []string
	for _, k := range kinds {
		if k.ObjectClass != "" {
			items = append(items, fmt.Sprintf("(objectClass=%s)", ldap.EscapeFilter(k.ObjectClass)))
		}
	}
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return "(|" + strings.Join(items, "") + ")"
}

// DirectoryProfile returns the profile the config names, with the config's own
// settings in place of the profile's defaults wherever it has them. Call
// it after Validate. The target side uses it for what a new entry gets
// (UserObjectClasses, the first of GroupKinds) and how to disable
// (Disabled.Values).
func (c *Config) DirectoryProfile() (Profile, error) {
	p, err := LookupProfile(c.Profile)
	if err != nil {
		return Profile{}, fmt.Errorf("ldap: profile: %w", err)
	}
	p.IDAttribute = c.IDAttribute
	p.UserFilter, p.GroupFilter = c.UserFilter, c.GroupFilter
	p.GroupKinds = c.GroupKinds
	p.UserAttributes, p.GroupAttributes = c.UserAttributes, c.GroupAttributes
	p.Disabled = c.Disabled
	return p, nil
}

// applyProfile fills what the config leaves unset from its profile. An
// unknown profile fills like openldap; validateProfile reports it.
func (c *Config) applyProfile() {
	p, err := LookupProfile(c.Profile)
	if err != nil {
		p, _ = LookupProfile(ProfileOpenLDAP)
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.IDAttribute, p.IDAttribute)
	def(&c.UserFilter, p.UserFilter)
	if c.GroupKinds == nil {
		if m := c.GroupAttributes.Member; m != "" {
			// The single member attribute of configs older than profiles.
			c.GroupKinds = []GroupKind{{Member: m}}
		} else {
			c.GroupKinds = p.GroupKinds
		}
	}
	// Kinds without object classes (an old groupAttributes.member) leave
	// the profile's filter.
	def(&c.GroupFilter, groupKindsFilter(c.GroupKinds))
	def(&c.GroupFilter, p.GroupFilter)
	if len(c.GroupKinds) > 0 {
		def(&c.GroupAttributes.Member, c.GroupKinds[0].Member)
	}
	if c.Disabled.IsZero() {
		c.Disabled = p.Disabled
	}
	deflist := func(l *AttrList, v AttrList) {
		if *l == nil {
			*l = slices.Clone(v)
		}
	}
	ua, pa := &c.UserAttributes, p.UserAttributes
	deflist(&ua.UserName, pa.UserName)
	deflist(&ua.GivenName, pa.GivenName)
	deflist(&ua.FamilyName, pa.FamilyName)
	deflist(&ua.DisplayName, pa.DisplayName)
	deflist(&ua.Email, pa.Email)
	deflist(&ua.Title, pa.Title)
	deflist(&ua.Department, pa.Department)
	deflist(&ua.EmployeeNumber, pa.EmployeeNumber)
	deflist(&ua.PhoneNumber, pa.PhoneNumber)
	deflist(&c.GroupAttributes.DisplayName, p.GroupAttributes.DisplayName)
}

// validateProfile reports what is wrong with the profile settings.
func (c *Config) validateProfile(bad func(format string, args ...any)) {
	if _, err := LookupProfile(c.Profile); err != nil {
		bad("profile: %w", err)
	}
	if len(c.GroupKinds) == 0 {
		bad("groupKinds: want at least one kind of group")
	}
	for i, k := range c.GroupKinds {
		if k.ObjectClass != "" && !validAttrName(k.ObjectClass) {
			bad("groupKinds[%d].objectClass: %q is not an object class name", i, k.ObjectClass)
		}
		if !validAttrName(k.Member) {
			bad("groupKinds[%d].member: %q is not an attribute name", i, k.Member)
		}
		if k.MemberKey != "" && !validAttrName(k.MemberKey) {
			bad("groupKinds[%d].memberKey: %q is not an attribute name", i, k.MemberKey)
		}
	}
	d := c.Disabled
	switch {
	case d.Attribute == "" && (d.Value != "" || d.Bit != 0):
		bad("disabled.attribute: required with disabled.value or disabled.bit")
	case d.Attribute != "" && !validAttrName(d.Attribute):
		bad("disabled.attribute: %q is not an attribute name", d.Attribute)
	case d.Bit < 0:
		bad("disabled.bit: want a positive flag such as 2, got %d", d.Bit)
	case d.Bit != 0 && d.Value != "":
		bad("disabled: set value or bit, not both")
	}
}
