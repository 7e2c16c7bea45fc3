package ldap

import (
	"strings"
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/connectortest"
)

// ldapAttributes are the profile attributes the openldap profile maps
// (manager is not one).
var ldapAttributes = []string{"title", "department", "employeeNumber", "phoneNumber"}

// TestConformanceTarget runs the target suite against slapd, in a
// subtree of its own, with the default write settings.
func TestConformanceTarget(t *testing.T) {
	f := newFixture(t)
	connectortest.RunTarget(t, connectortest.TargetHarness{
		Open:       func(t *testing.T) connectors.Target { return f.openTarget(t) },
		PageSize:   f.cfg.PageSize,
		Attributes: ldapAttributes,
	})
}

// TestConformanceSource runs the source suite against slapd: the
// harness writes entries as a directory administrator would, and users
// are disabled by employeeType.
func TestConformanceSource(t *testing.T) {
	f := newFixture(t)
	f.cfg.Disabled = AccountDisable{Attribute: "employeeType", Value: "disabled"}
	d := &directoryAdmin{f: f, dns: map[string]string{}}
	connectortest.RunSource(t, connectortest.SourceHarness{
		Open:        func(t *testing.T) connectors.Source { return f.open(t) },
		PutUser:     d.putUser,
		DeleteUser:  d.delete,
		PutGroup:    d.putGroup,
		DeleteGroup: d.delete,
		PageSize:    f.cfg.PageSize,
		Attributes:  ldapAttributes,
		// cn and sn are required: they hold userName when there is no
		// display name or family name, and the connector reads cn as the
		// display name when there is no displayName.
		Expect: func(u connectors.User) connectors.User {
			if u.DisplayName == "" {
				u.DisplayName = u.UserName
			}
			if u.FamilyName == "" {
				u.FamilyName = u.UserName
			}
			return u
		},
	})
}

// directoryAdmin writes users and groups under a fixture's ou=people and
// ou=groups, and remembers their DNs by entryUUID.
type directoryAdmin struct {
	f   *fixture
	mu  sync.Mutex
	dns map[string]string // entryUUID → DN
}

func (d *directoryAdmin) conn(t *testing.T) *ldap.Conn {
	t.Helper()
	conn, err := d.f.slapd.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// userEntry is the entry of u: its attributes, with nil for those it
// does not have.
func userEntry(u connectors.User) [][2]any {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	employeeType := ""
	if !u.Active {
		employeeType = "disabled"
	}
	return [][2]any{
		{"uid", u.UserName}, {"cn", or(u.DisplayName, u.UserName)}, {"sn", or(u.FamilyName, u.UserName)},
		{"givenName", u.GivenName}, {"displayName", u.DisplayName}, {"mail", u.Email},
		{"title", u.Attributes["title"]}, {"departmentNumber", u.Attributes["department"]},
		{"employeeNumber", u.Attributes["employeeNumber"]}, {"telephoneNumber", u.Attributes["phoneNumber"]},
		{"employeeType", employeeType},
	}
}

func values(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

// putUser adds uid=<userName> under ou=people, or modifies (and renames)
// the entry of u.ExternalID.
func (d *directoryAdmin) putUser(t *testing.T, u connectors.User) string {
	t.Helper()
	rdn := "uid=" + ldap.EscapeDN(u.UserName)
	attrs := userEntry(u)
	if u.ExternalID == "" {
		add := ldap.NewAddRequest(rdn+","+d.f.people, nil)
		add.Attribute("objectClass", []string{"inetOrgPerson"})
		for _, a := range attrs {
			if v := values(a[1].(string)); v != nil {
				add.Attribute(a[0].(string), v)
			}
		}
		return d.add(t, add)
	}
	dn := d.rename(t, u.ExternalID, rdn, d.f.people)
	mod := ldap.NewModifyRequest(dn, nil)
	for _, a := range attrs {
		mod.Replace(a[0].(string), values(a[1].(string)))
	}
	if err := d.conn(t).Modify(mod); err != nil {
		t.Fatalf("modify %s: %v", dn, err)
	}
	return u.ExternalID
}

// putGroup adds a groupOfNames cn=<displayName> under ou=groups, or
// modifies (and renames) the group of g.ExternalID. A group without
// members holds the admin DN, which is no user in scope.
func (d *directoryAdmin) putGroup(t *testing.T, g connectors.Group) string {
	t.Helper()
	members := []string{d.f.slapd.AdminDN}
	if len(g.Members) > 0 {
		members = nil
		d.mu.Lock()
		for _, m := range g.Members {
			members = append(members, d.dns[m])
		}
		d.mu.Unlock()
	}
	rdn := "cn=" + ldap.EscapeDN(g.DisplayName)
	if g.ExternalID == "" {
		add := ldap.NewAddRequest(rdn+","+d.f.groups, nil)
		add.Attribute("objectClass", []string{"groupOfNames"})
		add.Attribute("cn", []string{g.DisplayName})
		add.Attribute("member", members)
		return d.add(t, add)
	}
	dn := d.rename(t, g.ExternalID, rdn, d.f.groups)
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Replace("member", members)
	if err := d.conn(t).Modify(mod); err != nil {
		t.Fatalf("modify %s: %v", dn, err)
	}
	return g.ExternalID
}

func (d *directoryAdmin) add(t *testing.T, add *ldap.AddRequest) string {
	t.Helper()
	if err := d.conn(t).Add(add); err != nil {
		t.Fatalf("add %s: %v", add.DN, err)
	}
	id := d.f.uuid(t, add.DN)
	d.mu.Lock()
	d.dns[id] = add.DN
	d.mu.Unlock()
	return id
}

// rename moves the entry of id to rdn under parent when its RDN is
// another, and returns its DN.
func (d *directoryAdmin) rename(t *testing.T, id, rdn, parent string) string {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	dn, ok := d.dns[id]
	if !ok {
		t.Fatalf("no entry with entryUUID %s was put", id)
	}
	if strings.EqualFold(dn, rdn+","+parent) {
		return dn
	}
	if err := d.conn(t).ModifyDN(ldap.NewModifyDNRequest(dn, rdn, true, "")); err != nil {
		t.Fatalf("rename %s to %s: %v", dn, rdn, err)
	}
	d.dns[id] = rdn + "," + parent
	return d.dns[id]
}

func (d *directoryAdmin) delete(t *testing.T, id string) {
	t.Helper()
	d.mu.Lock()
	dn := d.dns[id]
	delete(d.dns, id)
	d.mu.Unlock()
	if err := d.conn(t).Del(ldap.NewDelRequest(dn, nil)); err != nil {
		t.Fatalf("delete %s: %v", dn, err)
	}
}
