package ldap

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
)

func profileConfig(profile string) Config {
	return Config{URL: "ldap://ldap.example.org", BindDN: "cn=x,dc=example,dc=org", BindPassword: "env:PW",
		BaseDN: "dc=example,dc=org", DirectorySettings: DirectorySettings{Profile: profile}}
}

// TestProfileDefaults checks what each profile fills in, the table the
// README shows.
func TestProfileDefaults(t *testing.T) {
	tests := []struct {
		profile     string
		id          string
		userFilter  string
		groupFilter string
		kinds       []GroupKind
		userName    AttrList
		employee    AttrList
		department  AttrList
		disabled    AccountDisable
		tracking    changeTracking
	}{
		{"", "entryUUID", "(objectClass=inetOrgPerson)",
			"(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))",
			openLDAPGroupKinds, AttrList{"uid"}, AttrList{"employeeNumber"}, AttrList{"departmentNumber", "ou"}, AccountDisable{}, syncOpenLDAP},
		{"389ds", "nsUniqueId", "(|(objectClass=inetOrgPerson)(objectClass=nsPerson))",
			"(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))",
			openLDAPGroupKinds, AttrList{"uid"}, AttrList{"employeeNumber"}, AttrList{"departmentNumber", "ou"},
			AccountDisable{Attribute: "nsAccountLock", Value: "true"}, sync389},
		{"ActiveDirectory", "objectGUID", "(&(objectCategory=person)(objectClass=user))", "(objectClass=group)",
			[]GroupKind{{ObjectClass: "group", Member: "member"}}, AttrList{"sAMAccountName", "userPrincipalName"},
			AttrList{"employeeID", "employeeNumber"}, AttrList{"department"},
			AccountDisable{Attribute: "userAccountControl", Bit: 2}, dirSync},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			c := profileConfig(tt.profile)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if c.IDAttribute != tt.id || c.UserFilter != tt.userFilter || c.GroupFilter != tt.groupFilter ||
				!slices.Equal(c.GroupKinds, tt.kinds) || !slices.Equal(c.UserAttributes.UserName, tt.userName) ||
				!slices.Equal(c.UserAttributes.EmployeeNumber, tt.employee) || !slices.Equal(c.UserAttributes.Department, tt.department) ||
				c.Disabled != tt.disabled || c.GroupAttributes.Member != tt.kinds[0].Member {
				t.Errorf("filled in:\n%+v", c)
			}
			p, err := c.DirectoryProfile()
			if err != nil || p.changes != tt.tracking || len(p.UserObjectClasses) == 0 || p.IDAttribute != tt.id {
				t.Errorf("DirectoryProfile = %+v, %v", p, err)
			}
		})
	}
}

// TestProfileOverrides: the connection's own settings win over the
// profile's, and a config older than profiles keeps its meaning.
func TestProfileOverrides(t *testing.T) {
	c := profileConfig(ProfileActiveDirectory)
	c.IDAttribute = "objectSid"
	c.UserAttributes.UserName = AttrList{"userPrincipalName"}
	c.GroupKinds = []GroupKind{{ObjectClass: "group", Member: "member"}, {ObjectClass: "groupOfNames", Member: "member"}}
	c.Disabled = AccountDisable{Attribute: "extensionAttribute1", Value: "gone"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.IDAttribute != "objectSid" || !slices.Equal(c.UserAttributes.UserName, AttrList{"userPrincipalName"}) ||
		c.GroupFilter != "(|(objectClass=group)(objectClass=groupOfNames))" || c.Disabled.Value != "gone" ||
		!slices.Equal(c.UserAttributes.GivenName, AttrList{"givenName"}) {
		t.Errorf("overrides lost:\n%+v", c)
	}

	// groupAttributes.member alone: one kind, every group, that attribute.
	old := profileConfig("")
	old.GroupFilter = "(objectClass=groupOfUniqueNames)"
	old.GroupAttributes.Member = "uniqueMember"
	if err := old.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(old.GroupKinds, []GroupKind{{Member: "uniqueMember"}}) || old.GroupFilter != "(objectClass=groupOfUniqueNames)" {
		t.Errorf("old-style member attribute: %+v, %s", old.GroupKinds, old.GroupFilter)
	}
	// Without a filter of its own it keeps the profile's, never every entry.
	old = profileConfig("")
	old.GroupAttributes.Member = "uniqueMember"
	if err := old.Validate(); err != nil || old.GroupFilter != DefaultGroupFilter {
		t.Errorf("old-style member attribute without a filter: %s, %v", old.GroupFilter, err)
	}

	// JSON: the profile settings sit beside the others.
	reg := connectors.Registry{"ldap": {New: func() connectors.Config { return new(Config) }}}
	cfg, err := reg.Parse("ldap", json.RawMessage(`{
		"url": "ldap://127.0.0.1:389", "bindDn": "cn=admin,dc=example,dc=org", "bindPassword": "env:PW",
		"baseDn": "dc=example,dc=org", "profile": "openldap",
		"groupKinds": [{"objectClass": "posixGroup", "member": "memberUid", "memberKey": "uid"}],
		"disabled": {"attribute": "pwdAccountLockedTime"}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.(*Config); c.GroupFilter != "(objectClass=posixGroup)" || c.Disabled.Attribute != "pwdAccountLockedTime" {
		t.Errorf("from JSON: %+v", c)
	}
}

func TestProfileValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"unknown profile", func(c *Config) { c.Profile = "novell" }, []string{"profile: want openldap, 389ds or activedirectory"}},
		{"bad kind", func(c *Config) { c.GroupKinds = []GroupKind{{ObjectClass: "a b", Member: "", MemberKey: "u)"}} },
			[]string{"groupKinds[0].objectClass", "groupKinds[0].member", "groupKinds[0].memberKey"}},
		{"no kinds", func(c *Config) { c.GroupKinds = []GroupKind{} }, []string{"groupKinds: want at least one"}},
		{"value without attribute", func(c *Config) { c.Disabled = AccountDisable{Value: "x"} }, []string{"disabled.attribute: required"}},
		{"value and bit", func(c *Config) { c.Disabled = AccountDisable{Attribute: "a", Value: "x", Bit: 2} }, []string{"not both"}},
		{"negative bit", func(c *Config) { c.Disabled = AccountDisable{Attribute: "a", Bit: -2} }, []string{"disabled.bit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := profileConfig("")
			tt.edit(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestAccountDisable(t *testing.T) {
	uac := AccountDisable{Attribute: "userAccountControl", Bit: 2}
	lock := AccountDisable{Attribute: "nsAccountLock", Value: "true"}
	any := AccountDisable{Attribute: "pwdAccountLockedTime"}
	tests := []struct {
		d      AccountDisable
		values []string
		want   bool
	}{
		{uac, []string{"512"}, false},     // NORMAL_ACCOUNT
		{uac, []string{"514"}, true},      // NORMAL_ACCOUNT | ACCOUNTDISABLE
		{uac, []string{"66048"}, false},   // | DONT_EXPIRE_PASSWORD
		{uac, []string{"66050"}, true},    // | DONT_EXPIRE_PASSWORD | ACCOUNTDISABLE
		{uac, []string{"garbage"}, false}, // not a number: not a mark
		{uac, nil, false},
		{lock, []string{"TRUE"}, true},
		{lock, []string{"false"}, false},
		{lock, nil, false},
		{any, []string{"000001010000Z"}, true},
		{AccountDisable{}, []string{"x"}, false},
	}
	for _, tt := range tests {
		if got := tt.d.IsDisabled(tt.values); got != tt.want {
			t.Errorf("%+v.IsDisabled(%q) = %v, want %v", tt.d, tt.values, got, tt.want)
		}
	}

	writes := []struct {
		d        AccountDisable
		current  []string
		disabled bool
		want     []string
		err      bool
	}{
		{uac, []string{"66048"}, true, []string{"66050"}, false},
		{uac, []string{"66050"}, false, []string{"66048"}, false},
		{uac, nil, true, []string{"514"}, false},
		{uac, []string{"x"}, true, nil, true},
		{lock, nil, true, []string{"true"}, false},
		{lock, []string{"true"}, false, nil, false},
		{any, nil, true, nil, true},
		{AccountDisable{}, nil, true, nil, true},
	}
	for _, tt := range writes {
		got, err := tt.d.Values(tt.current, tt.disabled)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("%+v.Values(%q, %v) = %q, %v; want %q (error %v)", tt.d, tt.current, tt.disabled, got, err, tt.want, tt.err)
		}
	}
}

// TestGUID checks objectGUID rendering against the documented
// schemaIDGUID of the user class: bf967aba-0de6-11d0-a285-00aa003049e2,
// stored as the bytes ba 7a 96 bf e6 0d d0 11 a2 85 00 aa 00 30 49 e2.
func TestGUID(t *testing.T) {
	raw, _ := hex.DecodeString("ba7a96bfe60dd011a28500aa003049e2")
	if got := formatGUID(raw); got != "bf967aba-0de6-11d0-a285-00aa003049e2" {
		t.Errorf("formatGUID = %s", got)
	}
	for _, s := range []string{"bf967aba-0de6-11d0-a285-00aa003049e2", "{BF967ABA-0DE6-11D0-A285-00AA003049E2}"} {
		b, err := parseGUID(s)
		if err != nil || hex.EncodeToString(b) != "ba7a96bfe60dd011a28500aa003049e2" {
			t.Errorf("parseGUID(%s) = %x, %v", s, b, err)
		}
	}
	for _, s := range []string{"", "bf967aba0de611d0a28500aa003049e2", "bf967aba-0de6-11d0-a285-00aa003049eZ"} {
		if _, err := parseGUID(s); err == nil {
			t.Errorf("parseGUID(%q): no error", s)
		}
	}
	if got := escapeBytes(raw[:3]); got != `\ba\7a\96` {
		t.Errorf("escapeBytes = %s", got)
	}
	if _, err := ldap.CompileFilter("(objectGUID=" + escapeBytes(raw) + ")"); err != nil {
		t.Errorf("escaped GUID filter: %v", err)
	}
}

func TestSyncIDs(t *testing.T) {
	ol := &ldapConnector{tracking: syncOpenLDAP, idKind: idEntryUUID}
	ds := &ldapConnector{tracking: sync389, idKind: idNsUniqueID}
	other := &ldapConnector{tracking: sync389, idKind: idEntryUUID}
	key := syncKey("7A72BDBA-E678-11F1-A629-B89B64C78ED4")
	if id, ok := ol.syncIDOf(key); !ok || id != "7a72bdba-e678-11f1-a629-b89b64c78ed4" {
		t.Errorf("openldap: %s %v", id, ok)
	}
	if id, ok := ds.syncIDOf(key); !ok || id != "7a72bdba-e67811f1-a629b89b-64c78ed4" {
		t.Errorf("389ds: %s %v", id, ok)
	}
	if _, ok := other.syncIDOf(key); ok {
		t.Error("389ds with entryUUID ids: a sync UUID was mapped")
	}
	if syncKey("7a72bdba-e67811f1-a629b89b-64c78ed4") != key {
		t.Error("an nsUniqueId and its sync UUID have different keys")
	}
}

func TestRanges(t *testing.T) {
	for _, tt := range []struct {
		attr      string
		name      string
		low, high int
		ok        bool
	}{
		{"member;range=0-1499", "member", 0, 1499, true},
		{"member;Range=1500-*", "member", 1500, -1, true},
		{"member", "", 0, 0, false},
		{"member;range=5-2", "", 0, 0, false},
		{"member;range=x-*", "", 0, 0, false},
	} {
		name, low, high, ok := parseRange(tt.attr)
		if name != tt.name || low != tt.low || high != tt.high || ok != tt.ok {
			t.Errorf("parseRange(%s) = %s %d %d %v", tt.attr, name, low, high, ok)
		}
	}

	// 3500 members in parts of 1500, as a domain controller sends them.
	var all []string
	for i := range 3500 {
		all = append(all, fmt.Sprintf("CN=u%04d,OU=Staff,DC=corp,DC=example,DC=com", i))
	}
	e := ldap.NewEntry("CN=big,OU=Groups,DC=corp,DC=example,DC=com", map[string][]string{"cn": {"big"}, "member;range=0-1499": all[:1500]})
	var asked []string
	fetch := func(dn, attr string) (*ldap.Entry, error) {
		asked = append(asked, attr)
		_, low, _, _ := parseRange(attr)
		high := min(low+1500, len(all))
		name := fmt.Sprintf("member;range=%d-%d", low, high-1)
		if high == len(all) {
			name = fmt.Sprintf("member;range=%d-*", low)
		}
		return ldap.NewEntry(dn, map[string][]string{name: all[low:high]}), nil
	}
	if err := completeRanges(e, fetch); err != nil {
		t.Fatal(err)
	}
	if got := e.GetAttributeValues("member"); !slices.Equal(got, all) {
		t.Errorf("member has %d values, want %d", len(got), len(all))
	}
	if !slices.Equal(asked, []string{"member;range=1500-*", "member;range=3000-*"}) {
		t.Errorf("asked for %v", asked)
	}
	// A whole attribute in one part needs no request.
	e = ldap.NewEntry("CN=small", map[string][]string{"member;range=0-*": all[:2]})
	if err := completeRanges(e, func(string, string) (*ldap.Entry, error) { t.Fatal("fetched"); return nil, nil }); err != nil ||
		len(e.GetAttributeValues("member")) != 2 {
		t.Errorf("one part: %v, %v", err, e.Attributes)
	}
}

func TestFilterAttributes(t *testing.T) {
	got := filterAttributes("(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2))(mail=*)(cn=a*))")
	want := []string{"objectCategory", "objectClass", "userAccountControl", "mail", "cn"}
	if !slices.Equal(got, want) {
		t.Errorf("filterAttributes = %v, want %v", got, want)
	}
}

func TestPickNamingContext(t *testing.T) {
	ncs := []string{"DC=corp,DC=example,DC=com", "CN=Configuration,DC=corp,DC=example,DC=com", "DC=DomainDnsZones,DC=corp,DC=example,DC=com"}
	nc, err := pickNamingContext(ncs, "OU=Staff,DC=corp,DC=example,DC=com", "ou=groups,dc=corp,dc=example,dc=com")
	if err != nil || nc != "DC=corp,DC=example,DC=com" {
		t.Errorf("pickNamingContext = %s, %v", nc, err)
	}
	if _, err := pickNamingContext(ncs, "OU=Staff,DC=other,DC=com"); err == nil {
		t.Error("a base outside every naming context: no error")
	}
}
