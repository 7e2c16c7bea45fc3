// Package ldap implements a source connector for LDAP directories: it lists
// users and groups with paged searches and follows changes with the RFC 4533
// content sync control (OpenLDAP's syncprov) in refreshOnly mode.
//
// An example connection config, as YAML:
//
//	name: corp-directory
//	type: ldap
//	settings:
//	  url: ldaps://ldap.example.org
//	  # or url: ldap://ldap.example.org with startTls: true
//	  caFile: /etc/idsync/ldap-ca.pem
//	  bindDn: uid=idsync,ou=services,dc=example,dc=org
//	  bindPassword: env:IDSYNC_LDAP_PASSWORD   # or file:/run/secrets/ldap
//	  baseDn: dc=example,dc=org
//	  userBaseDn: ou=people,dc=example,dc=org
//	  groupBaseDn: ou=groups,dc=example,dc=org
//	  userFilter: (&(objectClass=inetOrgPerson)(!(employeeType=disabled)))
//	  groupFilter: (objectClass=groupOfNames)
//	  idAttribute: entryUUID
//	  pageSize: 500
//	  timeout: 30s
//	  userAttributes:
//	    userName: uid
//	    displayName: [displayName, cn]
//	    department: ou
//
// and the same settings as the JSON the registry parses:
//
//	{
//	  "url": "ldaps://ldap.example.org",
//	  "bindDn": "uid=idsync,ou=services,dc=example,dc=org",
//	  "bindPassword": "env:IDSYNC_LDAP_PASSWORD",
//	  "baseDn": "dc=example,dc=org",
//	  "userFilter": "(objectClass=inetOrgPerson)"
//	}
//
// Profiles. profile names the kind of server: openldap (the default),
// 389ds or activedirectory. It supplies the defaults of idAttribute, the
// filters, the attribute maps, groupKinds and disabled, every one of which
// the connection may set itself, and chooses how changes are followed
// (profiles.go). For example, settings for Active Directory:
//
//	profile: activedirectory   # objectGUID ids, DirSync, userAccountControl
//	url: ldaps://dc1.corp.example.com
//	bindDn: CN=svc-idsync,OU=Service Accounts,DC=corp,DC=example,DC=com
//	bindPassword: env:IDSYNC_AD_PASSWORD
//	baseDn: DC=corp,DC=example,DC=com
//	userBaseDn: OU=Staff,DC=corp,DC=example,DC=com
//	userAttributes:
//	  userName: userPrincipalName
//
// and for 389 Directory Server, marking disabled users with employeeType
// instead of the default nsAccountLock:
//
//	profile: 389ds             # nsUniqueId ids, content sync, nsAccountLock
//	disabled: {attribute: employeeType, value: disabled}
//
// Scope. A user is an entry under userBaseDn that matches userFilter; a group
// is an entry under groupBaseDn that matches groupFilter. A group's members
// are the values of the member attribute of each of its kinds (groupKinds)
// that name in-scope users: DNs (member, uniqueMember) or, for posixGroup's
// memberUid, uids; other values (nested groups, users out of scope, refint's
// placeholder) are left out. A user bearing the disabled mark is listed with
// Active false.
//
// Ids. ExternalID is the value of idAttribute, which never changes, not even
// on a rename: entryUUID, nsUniqueId (389ds) or objectGUID (activedirectory,
// rendered as the canonical GUID string). The content sync control reports
// deletions by the server's own id (entryUUID on OpenLDAP, nsUniqueId on
// 389-ds) and DirSync by objectGUID, so with another idAttribute a sync that
// reports a deletion sets ChangeSet.ResyncRequired: the full resync finds
// deletions by comparison. Keep the profile's id.
//
// Changes. When one of userBaseDn and groupBaseDn holds the other (they
// are equal by default), one refreshOnly sync search over that base, with
// the filter (|(userFilter)(groupFilter)), follows both, from one cookie:
// an idle poll is that one search, on the connection kept from the last
// operation. It returns the changed entries without attributes, which are
// then read back by sync UUID with each kind's base DN and filter, so that
// the server itself says what is a user and what a group. With the bases
// apart, one sync search follows users and another groups, each from its
// own cookie. Cursor returns the cookie (or the pair) without transferring
// any entry: each comes from a sync search whose filter matches nothing.
// Added and modified entries come back whole, and with each changed user
// every group it is a member of, so that a user who re-enters scope
// regains memberships whose groups did not change. Deleted entries,
// entries moved out of their base DN and entries that stopped matching
// their filter come back as DeletedIDs, from syncprov's session log. When
// the server cannot tell what was deleted (the cookie is older than its
// session log), or the scope settings changed since the cursor was taken,
// ResyncRequired is set. A cursor of an earlier version, with a cookie per
// kind, still works: it moves to the one cookie.
//
// 389-ds (profile 389ds) offers the same control through its Content
// Synchronization plugin, but binds a cookie to the search base and filter
// and never reports an entry that stops matching the filter: there the
// sync searches select every entry under the base, and the changed ones
// are read back with the scope's filters (sync389.go). Active Directory is
// followed with DirSync (activedirectory.go).
//
// Deleting a user removes it from its groups through the refint overlay
// without changing the groups' entryCSN, so Changes does not report those
// groups: the user's id in DeletedIDs is the whole news, and the engine
// treats a deleted user as having left every group.
//
// Connections. A connector is safe for concurrent use, and is meant to be
// kept open: each operation takes a bound connection that an earlier one
// left idle (a few are kept), or dials one. A read that fails because an
// idle connection was lost meanwhile (the server's idle timeout or
// restart, a NAT that forgot it) runs again, once, on a new connection.
//
// Limits. OpenLDAP enforces a bind's size limit on paged searches too
// (size.prtotal defaults to the hard size limit, by default 500): a listing
// that hits it fails with an error that says so rather than returning a
// truncated directory. Give the bind account "limits dn.exact=<bindDn>
// size=unlimited".
package ldap

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
)

// Defaults of Config.
const (
	DefaultUserFilter  = "(objectClass=inetOrgPerson)"
	DefaultGroupFilter = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))"
	DefaultIDAttribute = "entryUUID"
	DefaultPageSize    = 500
	DefaultTimeout     = 30 * time.Second
)

// Config is the settings of an LDAP source connection.
type Config struct {
	// URL is the server, ldap://host[:port] or ldaps://host[:port].
	URL string `json:"url"`
	// StartTLS upgrades an ldap:// connection with the StartTLS extended
	// operation before binding.
	StartTLS bool `json:"startTls,omitempty"`
	// CAFile is a PEM file of CA certificates to verify the server with,
	// instead of the system pool.
	CAFile string `json:"caFile,omitempty"`
	// InsecureSkipVerify turns off verification of the server's
	// certificate. Discouraged: anyone on the path can read the bind
	// password. Use CAFile instead.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// BindDN is the DN to bind as.
	BindDN string `json:"bindDn,omitempty"`
	// BindPassword is a secret reference to the bind password: env:NAME or
	// file:PATH, resolved by the worker. Never the password itself.
	BindPassword string `json:"bindPassword,omitempty" secret:"ref"`
	// Anonymous binds without credentials; it must be set explicitly, with
	// BindDN and BindPassword empty.
	Anonymous bool `json:"anonymous,omitempty"`
	// BaseDN is the default of UserBaseDN and GroupBaseDN.
	BaseDN string `json:"baseDn"`
	// UserBaseDN is where users are searched (subtree); default BaseDN.
	UserBaseDN string `json:"userBaseDn,omitempty"`
	// GroupBaseDN is where groups are searched (subtree); default BaseDN.
	GroupBaseDN string `json:"groupBaseDn,omitempty"`
	// UserFilter selects users; default the profile's, with openldap
	// (objectClass=inetOrgPerson). It is used as it is, so it must be a
	// valid filter in parentheses.
	UserFilter string `json:"userFilter,omitempty"`
	// GroupFilter selects groups; default the object classes of
	// groupKinds: with the openldap profile, groupOfNames,
	// groupOfUniqueNames and posixGroup.
	GroupFilter string `json:"groupFilter,omitempty"`
	// IDAttribute holds each user's and group's immutable id, the
	// ExternalID; default the profile's: entryUUID, nsUniqueId (389ds),
	// objectGUID (activedirectory). See the package doc before changing
	// it: only the profile's id lets Changes report deletions.
	IDAttribute string `json:"idAttribute,omitempty"`
	// PageSize is the paged-results page size; default 500.
	PageSize int `json:"pageSize,omitempty"`
	// Timeout bounds connecting and each request, as a Go duration
	// ("30s"); default 30s.
	Timeout string `json:"timeout,omitempty"`
	// UserAttributes says which LDAP attributes the user fields come from.
	UserAttributes UserAttributes `json:"userAttributes,omitzero"`
	// GroupAttributes says which LDAP attributes the group fields come from.
	GroupAttributes GroupAttributes `json:"groupAttributes,omitzero"`
	// DirectorySettings: profile, groupKinds and disabled (profiles.go).
	DirectorySettings
	// Write holds the settings of the connection as a target (see
	// TargetConfig); a source ignores them.
	Write WriteSettings `json:"write,omitzero"`
	// Realtime keeps a persistent content-sync search open (OpenLDAP's
	// syncprov) so that rules whose source this is poll at once when the
	// directory changes; polling on the interval goes on as the fallback.
	Realtime bool `json:"realtime,omitempty"`
}

// UserAttributes maps canonical user fields to LDAP attributes. Each field
// takes one attribute name or a list, of which the first one the entry has
// wins. An omitted field takes its default; an empty list ([]) turns the
// field off.
type UserAttributes struct {
	// UserName defaults to uid.
	UserName AttrList `json:"userName,omitempty"`
	// GivenName defaults to givenName.
	GivenName AttrList `json:"givenName,omitempty"`
	// FamilyName defaults to sn.
	FamilyName AttrList `json:"familyName,omitempty"`
	// DisplayName defaults to [displayName, cn].
	DisplayName AttrList `json:"displayName,omitempty"`
	// Email defaults to mail.
	Email AttrList `json:"email,omitempty"`
	// Title defaults to title.
	Title AttrList `json:"title,omitempty"`
	// Department defaults to [departmentNumber, ou].
	Department AttrList `json:"department,omitempty"`
	// EmployeeNumber defaults to employeeNumber.
	EmployeeNumber AttrList `json:"employeeNumber,omitempty"`
	// PhoneNumber defaults to telephoneNumber.
	PhoneNumber AttrList `json:"phoneNumber,omitempty"`
}

// GroupAttributes maps canonical group fields to LDAP attributes.
type GroupAttributes struct {
	// DisplayName defaults to cn.
	DisplayName AttrList `json:"displayName,omitempty"`
	// Member, when set without groupKinds, is the one attribute that
	// holds the members' DNs in every group. Otherwise it is filled with
	// the member attribute of the first of groupKinds.
	Member string `json:"member,omitempty"`
}

// AttrList is a list of attribute names; in JSON, a string or an array.
type AttrList []string

// UnmarshalJSON accepts "attr" as well as ["attr1", "attr2"].
func (l *AttrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = AttrList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want an attribute name or a list of them")
	}
	if many == nil {
		many = []string{}
	}
	*l = many
	return nil
}

// Validate checks the settings and fills the defaults; it reports every
// problem it finds.
func (c *Config) Validate() error {
	c.fillDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || u.Host == "" {
		bad("url: want ldap://host[:port] or ldaps://host[:port], got %q", c.URL)
	} else if u.Scheme != "ldap" && u.Scheme != "ldaps" {
		bad("url: scheme must be ldap or ldaps, got %q", u.Scheme)
	} else if c.StartTLS && u.Scheme == "ldaps" {
		bad("startTls: not with an ldaps:// url, which is TLS already")
	}
	if c.Anonymous {
		if c.BindDN != "" || c.BindPassword != "" {
			bad("anonymous: set neither bindDn nor bindPassword")
		}
	} else {
		if c.BindDN == "" {
			bad("bindDn: required (or set anonymous: true)")
		} else if _, err := ldap.ParseDN(c.BindDN); err != nil {
			bad("bindDn: %w", err)
		}
		if c.BindPassword == "" {
			bad("bindPassword: required (or set anonymous: true)")
		} else if err := connectors.ValidateSecretRef(c.BindPassword); err != nil {
			bad("bindPassword: %w", err)
		}
	}
	if c.BaseDN == "" && (c.UserBaseDN == "" || c.GroupBaseDN == "") {
		bad("baseDn: required unless userBaseDn and groupBaseDn are both set")
	}
	for _, f := range []struct{ name, dn string }{{"baseDn", c.BaseDN}, {"userBaseDn", c.UserBaseDN}, {"groupBaseDn", c.GroupBaseDN}} {
		if _, err := ldap.ParseDN(f.dn); f.dn != "" && err != nil {
			bad("%s: %w", f.name, err)
		}
	}
	for _, f := range []struct{ name, filter string }{{"userFilter", c.UserFilter}, {"groupFilter", c.GroupFilter}} {
		if _, err := ldap.CompileFilter(f.filter); err != nil {
			bad("%s: not a valid LDAP filter (it needs its parentheses): %w", f.name, err)
		}
	}
	if !validAttrName(c.IDAttribute) {
		bad("idAttribute: %q is not an attribute name", c.IDAttribute)
	}
	if c.PageSize < 1 || c.PageSize > 100000 {
		bad("pageSize: want 1 to 100000, got %d", c.PageSize)
	}
	if d, err := time.ParseDuration(c.Timeout); err != nil || d <= 0 {
		bad("timeout: want a positive duration such as 30s, got %q", c.Timeout)
	}
	for name, l := range c.attrLists() {
		for _, a := range l {
			if !validAttrName(a) {
				bad("%s: %q is not an attribute name", name, a)
			}
		}
	}
	if !validAttrName(c.GroupAttributes.Member) {
		bad("groupAttributes.member: %q is not an attribute name", c.GroupAttributes.Member)
	}
	c.validateProfile(bad)
	errs = append(errs, c.Write.validate(c)...)
	return errors.Join(errs...)
}

func (c *Config) fillDefaults() {
	c.applyProfile()
	if c.UserBaseDN == "" {
		c.UserBaseDN = c.BaseDN
	}
	if c.GroupBaseDN == "" {
		c.GroupBaseDN = c.BaseDN
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Timeout, DefaultTimeout.String())
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
}

// attrLists names every attribute list of the config, for validation.
func (c *Config) attrLists() map[string]AttrList {
	ua := c.UserAttributes
	return map[string]AttrList{
		"userAttributes.userName":       ua.UserName,
		"userAttributes.givenName":      ua.GivenName,
		"userAttributes.familyName":     ua.FamilyName,
		"userAttributes.displayName":    ua.DisplayName,
		"userAttributes.email":          ua.Email,
		"userAttributes.title":          ua.Title,
		"userAttributes.department":     ua.Department,
		"userAttributes.employeeNumber": ua.EmployeeNumber,
		"userAttributes.phoneNumber":    ua.PhoneNumber,
		"groupAttributes.displayName":   c.GroupAttributes.DisplayName,
	}
}

// validAttrName accepts an attribute description: a name or an OID,
// optionally with options (;lang-en).
func validAttrName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == ';') {
			return false
		}
	}
	return true
}

// Open validates the config, resolves the bind password, connects and
// binds, so that a wrong setting fails here rather than at the first poll.
func (c *Config) Open(ctx context.Context, logger *slog.Logger) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("ldap: %w", err)
	}
	conn, err := newConnector(*c, logger)
	if err != nil {
		return nil, err
	}
	lc, _, err := conn.acquire(ctx)
	if err != nil {
		return nil, err
	}
	conn.release(lc, nil)
	return conn, nil
}

// ldapConnector is an open LDAP source.
type ldapConnector struct {
	cfg       Config
	url       *url.URL
	password  string
	tlsConfig *tls.Config // nil for plain ldap:// without StartTLS
	timeout   time.Duration
	logger    *slog.Logger
	userBase  *ldap.DN
	userAttrs []string       // attributes to request for a user
	idKind    idKind         // how idAttribute's values become ids
	tracking  changeTracking // how Changes follows the server (the profile's)
	// syncBase is the base of the one sync search that follows users and
	// groups together: whichever of the user and group base DNs holds the
	// other. Empty when neither does (then each has its own search) and
	// with DirSync.
	syncBase string

	// The connector is shared by the activities of a worker, at once:
	// each operation takes a connection of its own from idle, or dials.
	mu     sync.Mutex
	idle   []*ldap.Conn // bound connections kept for later operations, the most recently used last
	closed bool

	// The connection as a target, built by the first AsTarget.
	targetOnce sync.Once
	target     *ldapTarget
	targetErr  error
}

var (
	_ connectors.Source      = (*ldapConnector)(nil)
	_ connectors.GroupSource = (*ldapConnector)(nil)
	_ connectors.Incremental = (*ldapConnector)(nil)
	_ connectors.TargetRole  = (*ldapConnector)(nil)
	_ connectors.Tester      = (*ldapConnector)(nil)
)

func newConnector(cfg Config, logger *slog.Logger) (*ldapConnector, error) {
	c := &ldapConnector{cfg: cfg}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c.logger = logger.With(slog.Group("connector", "type", "ldap", "url", cfg.URL))
	c.url, _ = url.Parse(cfg.URL)
	c.timeout, _ = time.ParseDuration(cfg.Timeout)
	c.userBase, _ = ldap.ParseDN(cfg.UserBaseDN)
	c.idKind = idKindOf(cfg.IDAttribute)
	p, err := LookupProfile(cfg.Profile)
	if err != nil {
		return nil, fmt.Errorf("ldap: profile: %w", err)
	}
	c.tracking = p.changes
	if c.tracking != dirSync {
		c.syncBase = commonBase(cfg.UserBaseDN, cfg.GroupBaseDN)
	}
	c.userAttrs = c.userAttributeNames()
	if !cfg.Anonymous {
		pw, err := connectors.ResolveSecret(cfg.BindPassword)
		if err != nil {
			return nil, fmt.Errorf("ldap: bindPassword: %w", err)
		}
		c.password = pw
	}
	tc, err := c.newTLSConfig()
	if err != nil {
		return nil, err
	}
	c.tlsConfig = tc
	return c, nil
}

// Close closes the idle connections; later operations fail, and those
// under way close their connections when they end.
func (c *ldapConnector) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	var errs []error
	// After Close, AsTarget builds nothing; a target built before closes.
	c.targetOnce.Do(func() { c.targetErr = errors.New("ldap: the connection is closed") })
	if c.target != nil {
		errs = append(errs, c.target.Close())
	}
	for _, conn := range idle {
		errs = append(errs, conn.Close())
	}
	return errors.Join(errs...)
}
