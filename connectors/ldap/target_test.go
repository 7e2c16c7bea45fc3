package ldap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// openTarget opens the fixture's config, changed by edit, as a target.
func (f *fixture) openTarget(t *testing.T, edit ...func(*Config)) *ldapTarget {
	t.Helper()
	cfg := f.cfg
	for _, e := range edit {
		e(&cfg)
	}
	conn, err := cfg.Open(context.Background(), testLogger(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	tgt, err := connectors.AsTarget(conn)
	if err != nil {
		t.Fatalf("open as a target: %v", err)
	}
	return tgt.(*ldapTarget)
}

// audit is one successful write in slapd's access log.
type audit struct {
	typ  string   // add, modify, modrdn, delete
	dn   string   // the entry's DN before the write
	mods []string // "attr:= value", "attr:+ value", "attr:- value", "attr:-"; operational ones left out
}

func (a audit) String() string { return a.typ + " " + a.dn + " " + strings.Join(a.mods, " | ") }

// operational are the attributes slapd itself writes with every change.
var operational = []string{"entrycsn", "modifiersname", "modifytimestamp", "structuralobjectclass", "entryuuid", "creatorsname", "createtimestamp"}

// audits returns the successful writes under the fixture's base, oldest
// first, from the accesslog database: the server's own modify counter.
func (f *fixture) audits(t *testing.T) []audit {
	t.Helper()
	conn, err := f.slapd.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	filter := fmt.Sprintf("(&(objectClass=auditWriteObject)(reqDN:dnSubtreeMatch:=%s))", ldap.EscapeFilter(f.base))
	res, err := conn.Search(ldap.NewSearchRequest("cn=accesslog", ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		filter, []string{"reqStart", "reqType", "reqDN", "reqMod"}, nil))
	if err != nil {
		t.Fatalf("read the access log: %v", err)
	}
	sort.Slice(res.Entries, func(i, j int) bool {
		return res.Entries[i].GetAttributeValue("reqStart") < res.Entries[j].GetAttributeValue("reqStart")
	})
	var out []audit
	for _, e := range res.Entries {
		a := audit{typ: e.GetAttributeValue("reqType"), dn: e.GetAttributeValue("reqDN")}
		for _, m := range e.GetAttributeValues("reqMod") {
			attr, _, _ := strings.Cut(m, ":")
			if !slices.Contains(operational, strings.ToLower(attr)) {
				a.mods = append(a.mods, m)
			}
		}
		out = append(out, a)
	}
	return out
}

// writesDuring returns the writes under the fixture's base that fn makes.
func (f *fixture) writesDuring(t *testing.T, fn func()) []audit {
	t.Helper()
	before := len(f.audits(t))
	fn()
	return f.audits(t)[before:]
}

// entry reads dn with the given attributes (all user attributes and
// entryUUID when none are given); nil when it does not exist.
func (f *fixture) entry(t *testing.T, dn string, attrs ...string) *ldap.Entry {
	t.Helper()
	if len(attrs) == 0 {
		attrs = []string{"*", "entryUUID", "entryCSN"}
	}
	conn, err := f.slapd.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", attrs, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil
	}
	if err != nil {
		t.Fatalf("read %s: %v", dn, err)
	}
	return res.Entries[0]
}

func targetUsers(t *testing.T, tgt *ldapTarget) map[string]connectors.TargetUser {
	t.Helper()
	users := map[string]connectors.TargetUser{}
	if err := tgt.ListUsers(context.Background(), func(u connectors.TargetUser) error { users[u.ID] = u; return nil }); err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	return users
}

func targetGroups(t *testing.T, tgt *ldapTarget) map[string]connectors.TargetGroup {
	t.Helper()
	groups := map[string]connectors.TargetGroup{}
	if err := tgt.ListGroups(context.Background(), func(g connectors.TargetGroup) error { groups[g.ID] = g; return nil }); err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	return groups
}

func mustCreateUser(t *testing.T, tgt *ldapTarget, u connectors.User) string {
	t.Helper()
	id, err := tgt.CreateUser(context.Background(), u)
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", u.UserName, err)
	}
	return id
}

func wantWrites(t *testing.T, what string, got []audit, want ...string) {
	t.Helper()
	var s []string
	for _, a := range got {
		s = append(s, a.typ+": "+strings.Join(a.mods, " | "))
	}
	if !slices.Equal(s, want) {
		t.Errorf("%s wrote\n  %s\nwant\n  %s", what, strings.Join(s, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestTargetValidate(t *testing.T) {
	valid := func() Config {
		return Config{URL: "ldap://ldap.example.org", BindDN: "cn=x,dc=example,dc=org", BindPassword: "env:PW",
			BaseDN: "dc=example,dc=org", UserBaseDN: "ou=people,dc=example,dc=org", GroupBaseDN: "ou=groups,dc=example,dc=org"}
	}
	tests := []struct {
		name string
		edit func(*Config)
		want []string // substrings of the error; none: valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"multi-valued RDN, deeper parent", func(c *Config) {
			c.Write.UserDN = "cn={{displayName}}+uid={{userName}},ou=staff,ou=people,dc=example,dc=org"
		}, nil},
		{"escaped comma", func(c *Config) { c.Write.GroupDN = `cn=team\, {{displayName}},ou=groups,dc=example,dc=org` }, nil},
		{"no placeholder", func(c *Config) { c.Write.UserDN = "uid=fixed,ou=people,dc=example,dc=org" }, []string{"write.userDn", "needs a placeholder"}},
		{"placeholder in parent", func(c *Config) { c.Write.UserDN = "uid={{userName}},ou={{department}},dc=example,dc=org" }, []string{"first RDN only"}},
		{"unknown field", func(c *Config) { c.Write.UserDN = "uid={{login}},ou=people,dc=example,dc=org" }, []string{"unknown field {{login}}"}},
		{"placeholder as type", func(c *Config) { c.Write.UserDN = "{{userName}}=x,ou=people,dc=example,dc=org" }, []string{"attribute={{field}}"}},
		{"outside the base", func(c *Config) { c.Write.UserDN = "uid={{userName}},ou=other,dc=example,dc=org" }, []string{"not at or under"}},
		{"no parent", func(c *Config) { c.Write.GroupDN = "cn={{displayName}}" }, []string{"write.groupDn", "parent DN"}},
		{"unclosed", func(c *Config) { c.Write.GroupDN = "cn={{displayName,ou=groups,dc=example,dc=org" }, []string{"unclosed"}},
		{"everything wrong", func(c *Config) {
			c.Write.Deprovision = "archive"
			c.Write.ExternalIDAttribute = "bad attr"
			c.Write.UserObjectClasses = []string{"inet(OrgPerson"}
			pm := "not a dn"
			c.Write.PlaceholderMember = &pm
		}, []string{"write.deprovision", "write.externalIdAttribute", "write.userObjectClasses", "write.placeholderMember"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}

	ad := valid()
	ad.Profile = ProfileActiveDirectory
	if err := ad.Validate(); err != nil {
		t.Fatal(err)
	}
	if aw := ad.Write; aw.UserDN != "CN={{userName}},ou=people,dc=example,dc=org" || !slices.Equal(aw.GroupObjectClasses, []string{"top", "group"}) ||
		!slices.Contains(aw.UserObjectClasses, "user") || targetDisabled(ad.Disabled).Bit != 2 {
		t.Errorf("activedirectory write defaults: %+v, disabled %+v", aw, ad.Disabled)
	}

	c := valid()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := targetDisabled(c.Disabled); d.Attribute != "employeeType" || d.Value != "disabled" {
		t.Errorf("openldap target disable mark: %+v", d)
	}
	w := c.Write
	if w.UserDN != "uid={{userName}},ou=people,dc=example,dc=org" || w.GroupDN != "cn={{displayName}},ou=groups,dc=example,dc=org" ||
		w.ExternalIDAttribute != "description" || w.GroupExternalIDAttribute != "description" || *w.ExternalIDPrefix != "idsync:" ||
		w.Deprovision != "disable" || *w.PlaceholderMember != c.BindDN ||
		!slices.Equal(w.GroupObjectClasses, []string{"top", "groupOfNames"}) || !slices.Contains(w.UserObjectClasses, "inetOrgPerson") {
		t.Errorf("write defaults not filled: %+v", w)
	}
}

func TestTargetConfigJSON(t *testing.T) {
	reg := connectors.Registry{"ldap-target": Type}
	cfg, err := reg.Parse("ldap-target", json.RawMessage(`{
		"url": "ldap://127.0.0.1:389", "bindDn": "cn=admin,dc=example,dc=org", "bindPassword": "env:PW",
		"baseDn": "dc=example,dc=org",
		"write": {"externalIdAttribute": "idsyncExternalId", "externalIdPrefix": "", "deprovision": "delete",
		          "userDn": "cn={{externalId}},ou=people,dc=example,dc=org", "placeholderMember": ""}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.(*Config).Write
	if w.ExternalIDAttribute != "idsyncExternalId" || *w.ExternalIDPrefix != "" || w.Deprovision != "delete" || *w.PlaceholderMember != "" {
		t.Errorf("write settings: %+v", w)
	}
	if _, err := reg.Parse("ldap-target", json.RawMessage(`{"url": "ldap://x", "baseDn": "dc=x", "anonymous": true, "write": {"userDN": "x"}}`)); err == nil {
		t.Error("a misspelt write field was accepted")
	}
}

func TestTargetUserWrites(t *testing.T) {
	f := newFixture(t)
	tgt := f.openTarget(t)
	ctx := context.Background()
	alice := connectors.User{
		ExternalID: "ext-alice", UserName: "alice", GivenName: "Alice", FamilyName: "Liddell", DisplayName: "Alice Liddell",
		Email: "alice@example.org", Active: true,
		Attributes: map[string]string{"title": "Engineer", "department": "R&D", "employeeNumber": "1001", "phoneNumber": "+1 555 0101"},
	}
	var id string
	writes := f.writesDuring(t, func() { id = mustCreateUser(t, tgt, alice) })
	wantWrites(t, "CreateUser", writes, "add: objectClass:+ top | objectClass:+ person | objectClass:+ organizationalPerson | objectClass:+ inetOrgPerson | "+
		"uid:+ alice | givenName:+ Alice | sn:+ Liddell | displayName:+ Alice Liddell | mail:+ alice@example.org | title:+ Engineer | "+
		"departmentNumber:+ R&D | employeeNumber:+ 1001 | telephoneNumber:+ +1 555 0101 | cn:+ Alice Liddell | description:+ idsync:ext-alice")
	dn := "uid=alice," + f.people
	if e := f.entry(t, dn); e == nil || e.GetAttributeValue("entryUUID") != id {
		t.Fatalf("created %s with id %s; the entry: %v", dn, id, e)
	}
	got := targetUsers(t, tgt)[id]
	if !reconcile.UsersEqual(got.User, alice) {
		t.Errorf("listed\n %+v\nwant\n %+v", got.User, alice)
	}

	// The same user again: nothing is written, not even entryCSN.
	csn := f.entry(t, dn).GetAttributeValue("entryCSN")
	writes = f.writesDuring(t, func() {
		if err := tgt.UpdateUser(ctx, id, alice); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "an unchanged UpdateUser", writes)
	if now := f.entry(t, dn).GetAttributeValue("entryCSN"); now != csn {
		t.Errorf("entryCSN changed from %s to %s", csn, now)
	}

	// A changed title and a cleared phone number: one modify of those two.
	changed := alice
	changed.Attributes = map[string]string{"title": "Lead", "department": "R&D", "employeeNumber": "1001"}
	writes = f.writesDuring(t, func() {
		if err := tgt.UpdateUser(ctx, id, changed); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "UpdateUser of title and phone", writes, "modify: title:= Lead | telephoneNumber:-")

	// A new userName renames the entry by modrdn; its entryUUID, the id,
	// stays.
	renamed := changed
	renamed.UserName = "alice.l"
	writes = f.writesDuring(t, func() {
		if err := tgt.UpdateUser(ctx, id, renamed); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "UpdateUser of userName", writes, "modrdn: ")
	newDN := `uid=alice.l,` + f.people
	if e := f.entry(t, newDN); e == nil || e.GetAttributeValue("entryUUID") != id || !slices.Equal(e.GetAttributeValues("uid"), []string{"alice.l"}) {
		t.Fatalf("after the rename, %s: %v", newDN, e)
	}
	if f.entry(t, dn) != nil {
		t.Errorf("%s still exists", dn)
	}
	// A change of letter case only is a modify: the DN stays.
	upper := renamed
	upper.UserName = "Alice.L"
	writes = f.writesDuring(t, func() {
		if err := tgt.UpdateUser(ctx, id, upper); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "UpdateUser of userName's case", writes, "modify: uid:= Alice.L")
	if got := targetUsers(t, tgt)[id]; !reconcile.UsersEqual(got.User, upper) {
		t.Errorf("listed\n %+v\nwant\n %+v", got.User, upper)
	}

	// The DN is taken: ErrAlreadyExists. No such id: ErrNotFound.
	other := alice
	other.ExternalID = "ext-other"
	other.UserName = "alice.l"
	if _, err := tgt.CreateUser(ctx, other); !errors.Is(err, connectors.ErrAlreadyExists) {
		t.Errorf("CreateUser of a taken DN: %v, want ErrAlreadyExists", err)
	}
	for name, err := range map[string]error{
		"UpdateUser":      tgt.UpdateUser(ctx, "00000000-1111-2222-3333-444444444444", alice),
		"DeprovisionUser": tgt.DeprovisionUser(ctx, "00000000-1111-2222-3333-444444444444"),
	} {
		if !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("%s of no such id: %v, want ErrNotFound", name, err)
		}
	}
	// A rename onto a taken DN is ErrAlreadyExists, too.
	mustCreateUser(t, tgt, connectors.User{ExternalID: "ext-bob", UserName: "bob", Active: true})
	clash := upper
	clash.UserName = "bob"
	if err := tgt.UpdateUser(ctx, id, clash); !errors.Is(err, connectors.ErrAlreadyExists) {
		t.Errorf("a rename onto a taken DN: %v, want ErrAlreadyExists", err)
	}
}

func TestTargetRequiredAttributes(t *testing.T) {
	f := newFixture(t)
	tgt := f.openTarget(t)
	// Without a family name, sn (which person requires) holds userName, and
	// reads back as no family name; cn falls back likewise.
	u := connectors.User{ExternalID: "e1", UserName: "svc-backup", Active: true}
	id := mustCreateUser(t, tgt, u)
	e := f.entry(t, "uid=svc-backup,"+f.people)
	if e.GetAttributeValue("sn") != "svc-backup" || e.GetAttributeValue("cn") != "svc-backup" {
		t.Errorf("sn %q, cn %q; want the userName", e.GetAttributeValue("sn"), e.GetAttributeValue("cn"))
	}
	if got := targetUsers(t, tgt)[id]; !reconcile.UsersEqual(got.User, u) {
		t.Errorf("listed\n %+v\nwant\n %+v", got.User, u)
	}
	// Unknown attributes and values the schema refuses are ErrRejected.
	bad := f.openTarget(t, func(c *Config) { c.UserAttributes.Title = AttrList{"noSuchAttribute"} })
	_, err := bad.CreateUser(context.Background(), connectors.User{ExternalID: "e2", UserName: "x", Attributes: map[string]string{"title": "T"}})
	if !errors.Is(err, connectors.ErrRejected) {
		t.Errorf("CreateUser with an unknown attribute: %v, want ErrRejected", err)
	}
	if _, err := tgt.CreateUser(context.Background(), connectors.User{ExternalID: "e3"}); !errors.Is(err, connectors.ErrRejected) {
		t.Errorf("CreateUser without the userName the DN needs: %v, want ErrRejected", err)
	}
	// A bind that may read but not write: ErrUnauthorized, which aborts
	// a run rather than failing every object.
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(limitedPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := f.openTarget(t, func(c *Config) { c.BindDN, c.BindPassword = limitedDN, "file:"+pwFile })
	if _, err := readOnly.CreateUser(context.Background(), connectors.User{ExternalID: "e4", UserName: "y"}); !errors.Is(err, connectors.ErrUnauthorized) {
		t.Errorf("CreateUser without write access: %v, want ErrUnauthorized", err)
	}
	if err := readOnly.UpdateUser(context.Background(), id, connectors.User{ExternalID: "e1", UserName: "svc-backup", Active: false}); !errors.Is(err, connectors.ErrUnauthorized) {
		t.Errorf("UpdateUser without write access: %v, want ErrUnauthorized", err)
	}
}

func TestTargetDeprovision(t *testing.T) {
	f := newFixture(t)
	tgt := f.openTarget(t)
	ctx := context.Background()
	u := connectors.User{ExternalID: "e-carol", UserName: "carol", FamilyName: "C", Active: true}
	id := mustCreateUser(t, tgt, u)
	dn := "uid=carol," + f.people
	// Someone else uses employeeType too: their value stays.
	f.modify(t, "dn: "+dn+"\nchangetype: modify\nadd: employeeType\nemployeeType: Contractor\n")

	writes := f.writesDuring(t, func() {
		if err := tgt.DeprovisionUser(ctx, id); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "disable", writes, "modify: employeeType:+ disabled")
	if got := targetUsers(t, tgt)[id]; got.Active {
		t.Errorf("after disabling, listed active: %+v", got)
	}
	// Disabling again writes nothing.
	writes = f.writesDuring(t, func() {
		if err := tgt.DeprovisionUserAs(ctx, id, connectors.DeprovisionDisable); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "a second disable", writes)
	// An active user from the source enables it again.
	writes = f.writesDuring(t, func() {
		if err := tgt.UpdateUser(ctx, id, u); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "enable", writes, "modify: employeeType:- disabled")
	if e := f.entry(t, dn); !slices.Equal(e.GetAttributeValues("employeeType"), []string{"Contractor"}) {
		t.Errorf("employeeType %q, want Contractor alone", e.GetAttributeValues("employeeType"))
	}

	// Delete takes the user out of its groups first.
	gid, err := tgt.CreateGroup(ctx, connectors.Group{ExternalID: "g1", DisplayName: "Team"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tgt.AddMembers(ctx, gid, []string{id}); err != nil {
		t.Fatal(err)
	}
	if err := tgt.DeprovisionUserAs(ctx, id, "archive"); !errors.Is(err, connectors.ErrRejected) {
		t.Errorf("unknown mode: %v, want ErrRejected", err)
	}
	writes = f.writesDuring(t, func() {
		if err := tgt.DeprovisionUserAs(ctx, id, connectors.DeprovisionDelete); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "delete", writes,
		fmt.Sprintf("modify: member:+ %s | member:- %s", f.slapd.AdminDN, dn), "delete: ")
	if f.entry(t, dn) != nil {
		t.Errorf("%s still exists", dn)
	}
	if err := tgt.DeprovisionUserAs(ctx, id, connectors.DeprovisionDelete); !errors.Is(err, connectors.ErrNotFound) {
		t.Errorf("deleting again: %v, want ErrNotFound", err)
	}

	// A flag bit, as Active Directory's userAccountControl; here in
	// roomNumber, which OpenLDAP has.
	bits := f.openTarget(t, func(c *Config) { c.Disabled = AccountDisable{Attribute: "roomNumber", Bit: 2} })
	dave := connectors.User{ExternalID: "e-dave", UserName: "dave", Active: false}
	did := mustCreateUser(t, bits, dave)
	if e := f.entry(t, "uid=dave,"+f.people); e.GetAttributeValue("roomNumber") != "514" {
		t.Errorf("a disabled user's flags: %q, want 514", e.GetAttributeValue("roomNumber"))
	}
	dave.Active = true
	if err := bits.UpdateUser(ctx, did, dave); err != nil {
		t.Fatal(err)
	}
	if got := targetUsers(t, bits)[did]; !got.Active || f.entry(t, "uid=dave,"+f.people).GetAttributeValue("roomNumber") != "512" {
		t.Errorf("after enabling: %+v, flags %q", got, f.entry(t, "uid=dave,"+f.people).GetAttributeValue("roomNumber"))
	}
}

func TestTargetGroups(t *testing.T) {
	f := newFixture(t)
	tgt := f.openTarget(t)
	ctx := context.Background()
	var ids, dns []string
	for _, name := range []string{"u1", "u2", "u3"} {
		ids = append(ids, mustCreateUser(t, tgt, connectors.User{ExternalID: "e-" + name, UserName: name, Active: true}))
		dns = append(dns, "uid="+name+","+f.people)
	}
	admin := f.slapd.AdminDN
	lines, err := tgt.Describe(ctx)
	if err != nil || !strings.Contains(strings.Join(lines, "\n"), "ids: entryUUID") {
		t.Errorf("Describe = %q, %v", lines, err)
	}

	// A new group holds the placeholder, which is no member.
	var gid string
	writes := f.writesDuring(t, func() {
		var err error
		if gid, err = tgt.CreateGroup(ctx, connectors.Group{ExternalID: "g-eng", DisplayName: "Engineering"}); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "CreateGroup", writes, "add: objectClass:+ top | objectClass:+ groupOfNames | cn:+ Engineering | description:+ idsync:g-eng | member:+ "+admin)
	want := connectors.TargetGroup{ID: gid, ExternalID: "g-eng", DisplayName: "Engineering"}
	if got := targetGroups(t, tgt)[gid]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("listed %+v, want %+v", got, want)
	}
	if _, err := tgt.CreateGroup(ctx, connectors.Group{ExternalID: "g-other", DisplayName: "engineering"}); !errors.Is(err, connectors.ErrAlreadyExists) {
		t.Errorf("CreateGroup of a taken name: %v, want ErrAlreadyExists", err)
	}

	// Adding members: one modify; the placeholder leaves. Adding them again
	// writes nothing.
	writes = f.writesDuring(t, func() {
		if err := tgt.AddMembers(ctx, gid, []string{ids[0], ids[1], ids[0]}); err != nil {
			t.Fatal(err)
		}
		if err := tgt.AddMembers(ctx, gid, ids[:2]); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "AddMembers", writes, fmt.Sprintf("modify: member:+ %s | member:+ %s | member:- %s", dns[0], dns[1], admin))
	if got := targetGroups(t, tgt)[gid]; !slices.Equal(sorted(got.MemberIDs), sorted(ids[:2])) {
		t.Errorf("members %v, want %v", got.MemberIDs, ids[:2])
	}
	// Removing one of them, and one that is no member: one modify.
	writes = f.writesDuring(t, func() {
		if err := tgt.RemoveMembers(ctx, gid, []string{ids[0], ids[2]}); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "RemoveMembers", writes, "modify: member:- "+dns[0])
	// Removing the last member brings the placeholder back, in the same
	// modify.
	writes = f.writesDuring(t, func() {
		if err := tgt.RemoveMembers(ctx, gid, ids); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "RemoveMembers of the last", writes, fmt.Sprintf("modify: member:+ %s | member:- %s", admin, dns[1]))

	// Chunks: with 2 values per modify, three members and the placeholder
	// take two modifies.
	tgt.chunk = 2
	writes = f.writesDuring(t, func() {
		if err := tgt.AddMembers(ctx, gid, ids); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "AddMembers in chunks", writes,
		fmt.Sprintf("modify: member:+ %s | member:+ %s", dns[0], dns[1]),
		fmt.Sprintf("modify: member:+ %s | member:- %s", dns[2], admin))
	// Unknown users are reported after the others are added.
	if err := tgt.AddMembers(ctx, gid, []string{"00000000-0000-0000-0000-000000000001"}); !errors.Is(err, connectors.ErrNotFound) {
		t.Errorf("AddMembers of no such user: %v, want ErrNotFound", err)
	}

	// A rename is a modrdn; the id stays; lookups find the group by
	// name, in any letter case, and by externalId.
	writes = f.writesDuring(t, func() {
		if err := tgt.UpdateGroup(ctx, gid, connectors.Group{ExternalID: "g-eng", DisplayName: "Platform"}); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "UpdateGroup", writes, "modrdn: ")
	if e := f.entry(t, "cn=Platform,"+f.groups); e == nil || e.GetAttributeValue("entryUUID") != gid {
		t.Errorf("after the rename: %v", e)
	}
	for _, tt := range []struct{ attr, value string }{{"displayName", "PLATFORM"}, {connectors.MatchExternalID, "g-eng"}} {
		found, err := tgt.LookupGroups(ctx, tt.attr, tt.value)
		if err != nil || len(found) != 1 || found[0].ID != gid || len(found[0].MemberIDs) != 3 {
			t.Errorf("LookupGroups(%s, %s) = %+v, %v", tt.attr, tt.value, found, err)
		}
	}
	if found, err := tgt.LookupGroups(ctx, connectors.MatchExternalID, "G-ENG"); err != nil || len(found) != 0 {
		t.Errorf("LookupGroups by externalId in other letter case = %+v, %v; want none (ids are exact)", found, err)
	}

	writes = f.writesDuring(t, func() {
		if err := tgt.DeleteGroup(ctx, gid); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "DeleteGroup", writes, "delete: ")
	for name, err := range map[string]error{
		"DeleteGroup":   tgt.DeleteGroup(ctx, gid),
		"UpdateGroup":   tgt.UpdateGroup(ctx, gid, connectors.Group{DisplayName: "x"}),
		"AddMembers":    tgt.AddMembers(ctx, gid, ids),
		"RemoveMembers": tgt.RemoveMembers(ctx, gid, ids),
	} {
		if !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("%s of a deleted group: %v, want ErrNotFound", name, err)
		}
	}
}

func TestMemberRequests(t *testing.T) {
	m := memberEdit{attr: "member", key: dnKey, placeholder: "cn=admin", chunk: 3}
	render := func(reqs []*ldap.ModifyRequest) []string {
		var out []string
		for _, r := range reqs {
			var ops []string
			for _, c := range r.Changes {
				op := map[uint]string{ldap.AddAttribute: "+", ldap.DeleteAttribute: "-"}[c.Operation]
				ops = append(ops, op+strings.Join(c.Modification.Vals, ","))
			}
			out = append(out, strings.Join(ops, " "))
		}
		return out
	}
	for _, tt := range []struct {
		name             string
		cur, add, remove []string
		want             []string
	}{
		{"nothing to do", []string{"uid=a"}, []string{"UID=A"}, []string{"uid=b"}, nil},
		{"first member", []string{"cn=admin"}, []string{"uid=a"}, nil, []string{"+uid=a -cn=admin"}},
		{"last member", []string{"uid=a"}, nil, []string{"uid=a"}, []string{"+cn=admin -uid=a"}},
		{"placeholder kept while others stay", []string{"cn=admin", "uid=x"}, nil, []string{"uid=x"}, []string{"-uid=x"}},
		{"in chunks, never empty", []string{"uid=a", "uid=b"}, []string{"uid=c", "uid=d"}, []string{"uid=a", "uid=b"},
			[]string{"+uid=c,uid=d -uid=a", "-uid=b"}},
		{"stored form is deleted", []string{"UID=A,OU=People"}, []string{"uid=c"}, []string{"uid=a,ou=people"}, []string{"+uid=c -UID=A,OU=People"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(m.requests("cn=g", tt.cur, tt.add, tt.remove)); !slices.Equal(got, tt.want) {
				t.Errorf("requests = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTargetSpecialCharacters(t *testing.T) {
	f := newFixture(t)
	tgt := f.openTarget(t)
	ctx := context.Background()
	u := connectors.User{
		ExternalID: `ext*(id)\,+"`, UserName: `we*ird(na)me\,+"ü`, GivenName: "Zoë", FamilyName: "Ñandú",
		DisplayName: "Zoë Ñandú (x*) 日本", Email: "zoe@example.org", Active: true,
	}
	id := mustCreateUser(t, tgt, u)
	if got := targetUsers(t, tgt)[id]; !reconcile.UsersEqual(got.User, u) {
		t.Errorf("listed\n %+v\nwant\n %+v", got.User, u)
	}
	dn := "uid=" + ldap.EscapeDN(u.UserName) + "," + f.people
	if e := f.entry(t, dn); e == nil || e.GetAttributeValue("entryUUID") != id {
		t.Fatalf("%s: %v", dn, e)
	}
	for _, tt := range []struct {
		attr, value string
		want        int
	}{
		{connectors.MatchExternalID, u.ExternalID, 1},
		{connectors.MatchExternalID, "ext*", 0},
		{connectors.MatchUserName, strings.ToUpper(u.UserName), 1},
		{connectors.MatchUserName, "*", 0},
		{connectors.MatchUserName, "we*", 0},
		{connectors.MatchEmail, "ZOE@example.org", 1},
		{"employeeNumber", "*", 0},
	} {
		found, err := tgt.LookupUsers(ctx, tt.attr, tt.value)
		if err != nil || len(found) != tt.want || (tt.want == 1 && found[0].ID != id) {
			t.Errorf("LookupUsers(%s, %q) = %+v, %v; want %d", tt.attr, tt.value, found, err, tt.want)
		}
	}
	// A rename to another odd name.
	u.UserName = `#lead ing=and trailing `
	if err := tgt.UpdateUser(ctx, id, u); err != nil {
		t.Fatal(err)
	}
	if got := targetUsers(t, tgt)[id]; !reconcile.UsersEqual(got.User, u) {
		t.Errorf("after the rename, listed\n %+v\nwant\n %+v", got.User, u)
	}

	g := connectors.Group{ExternalID: `g*()\`, DisplayName: `R&D (*), "x" + y \ z; Zoë`}
	gid, err := tgt.CreateGroup(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if err := tgt.AddMembers(ctx, gid, []string{id}); err != nil {
		t.Fatal(err)
	}
	found, err := tgt.LookupGroups(ctx, "displayName", strings.ToLower(g.DisplayName))
	if err != nil || len(found) != 1 || found[0].ExternalID != g.ExternalID || found[0].DisplayName != g.DisplayName ||
		!slices.Equal(found[0].MemberIDs, []string{id}) {
		t.Errorf("LookupGroups = %+v, %v", found, err)
	}
	g.DisplayName = "Ünïcode, again"
	if err := tgt.UpdateGroup(ctx, gid, g); err != nil {
		t.Fatal(err)
	}
	if got := targetGroups(t, tgt)[gid]; got.DisplayName != g.DisplayName || !slices.Equal(got.MemberIDs, []string{id}) {
		t.Errorf("after the rename: %+v", got)
	}
}

func TestTargetAdoption(t *testing.T) {
	f := newFixture(t)
	dn := f.addUser(t, "Bob", "Bob Builder", "mail: Bob@Example.ORG", "description: Site lead")
	f.addGroup(t, "Builders", dn)
	tgt := f.openTarget(t)
	ctx := context.Background()
	id := f.uuid(t, dn)

	// Not managed: no marker, although it has a description.
	if got := targetUsers(t, tgt)[id]; got.ExternalID != "" || got.UserName != "Bob" {
		t.Errorf("listed %+v, want an unmanaged Bob", got)
	}
	for _, tt := range []struct{ attr, value string }{{connectors.MatchUserName, "bob"}, {connectors.MatchEmail, "bob@example.org"}} {
		found, err := tgt.LookupUsers(ctx, tt.attr, tt.value)
		if err != nil || len(found) != 1 || found[0].ID != id || found[0].ExternalID != "" {
			t.Errorf("LookupUsers(%s, %s) = %+v, %v", tt.attr, tt.value, found, err)
		}
	}
	// Adopting writes the marker beside the description people wrote,
	// and what differs; the entry keeps its DN (named by uid=Bob).
	bob := connectors.User{ExternalID: "e-bob", UserName: "bob", FamilyName: "Bob Builder", DisplayName: "Bob Builder", Email: "bob@example.org", Active: true}
	writes := f.writesDuring(t, func() {
		if err := tgt.UpdateUser(ctx, id, bob); err != nil {
			t.Fatal(err)
		}
	})
	wantWrites(t, "adoption", writes, "modify: uid:= bob | displayName:= Bob Builder | mail:= bob@example.org | description:+ idsync:e-bob")
	e := f.entry(t, dn)
	if !slices.Equal(sorted(e.GetAttributeValues("description")), []string{"Site lead", "idsync:e-bob"}) {
		t.Errorf("description %q", e.GetAttributeValues("description"))
	}
	found, err := tgt.LookupUsers(ctx, connectors.MatchExternalID, "e-bob")
	if err != nil || len(found) != 1 || !reconcile.UsersEqual(found[0].User, bob) {
		t.Errorf("LookupUsers(externalId) = %+v, %v", found, err)
	}
	// The group is adopted by name, then marked.
	groups, err := tgt.LookupGroups(ctx, "displayName", "builders")
	if err != nil || len(groups) != 1 || groups[0].ExternalID != "" || !slices.Equal(groups[0].MemberIDs, []string{id}) {
		t.Fatalf("LookupGroups = %+v, %v", groups, err)
	}
	if err := tgt.UpdateGroup(ctx, groups[0].ID, connectors.Group{ExternalID: "g-b", DisplayName: "Builders"}); err != nil {
		t.Fatal(err)
	}
	if got := targetGroups(t, tgt)[groups[0].ID]; got.ExternalID != "g-b" {
		t.Errorf("after adoption: %+v", got)
	}
}

// TestTargetGroupKinds writes members in each kind's own way: DNs in
// uniqueMember (with the placeholder, which groupOfUniqueNames requires
// too), uids in posixGroup's memberUid (without one).
func TestTargetGroupKinds(t *testing.T) {
	f := newFixture(t)
	admin := f.slapd.AdminDN
	f.add(t, fmt.Sprintf("dn: cn=uniq,%s\nobjectClass: groupOfUniqueNames\ncn: uniq\nuniqueMember: %s\n", f.groups, admin))
	f.add(t, fmt.Sprintf("dn: cn=posix,%s\nobjectClass: posixGroup\ncn: posix\ngidNumber: 100\n", f.groups))
	tgt := f.openTarget(t)
	ctx := context.Background()
	uid := mustCreateUser(t, tgt, connectors.User{ExternalID: "e1", UserName: "u1", Active: true})
	dn := "uid=u1," + f.people
	ids := map[string]string{}
	for _, name := range []string{"uniq", "posix"} {
		ids[name] = f.uuid(t, "cn="+name+","+f.groups)
	}

	writes := f.writesDuring(t, func() {
		for _, name := range []string{"uniq", "posix"} {
			if err := tgt.AddMembers(ctx, ids[name], []string{uid}); err != nil {
				t.Fatal(err)
			}
		}
	})
	wantWrites(t, "AddMembers", writes,
		fmt.Sprintf("modify: uniqueMember:+ %s | uniqueMember:- %s", dn, admin),
		"modify: memberUid:+ u1")
	groups := targetGroups(t, tgt)
	for _, name := range []string{"uniq", "posix"} {
		if got := groups[ids[name]]; !slices.Equal(got.MemberIDs, []string{uid}) {
			t.Errorf("%s: members %v, want %v", name, got.MemberIDs, []string{uid})
		}
	}
	// Deleting the user takes it out of both.
	writes = f.writesDuring(t, func() {
		if err := tgt.DeprovisionUserAs(ctx, uid, connectors.DeprovisionDelete); err != nil {
			t.Fatal(err)
		}
	})
	if len(writes) == 3 { // the two groups in either order
		slices.SortFunc(writes[:2], func(a, b audit) int { return strings.Compare(a.String(), b.String()) })
	}
	wantWrites(t, "delete", writes,
		"modify: memberUid:- u1",
		fmt.Sprintf("modify: uniqueMember:+ %s | uniqueMember:- %s", admin, dn),
		"delete: ")
}
