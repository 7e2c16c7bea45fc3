package ldap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
)

// An LDAP connection is a source and, when its settings have what writing
// needs (see WriteSettings), a target: Config.Open returns the source, and
// its AsTarget the target, which shares the source's settings and search
// helpers. One Go value cannot be both, since Source.ListUsers and
// Target.ListUsers differ.
//
// Ids. A target user's and group's id (TargetUser.ID, TargetGroup.ID and
// the ids in TargetGroup.MemberIDs) is the entry's idAttribute, entryUUID
// by default: it survives renames, so an id the engine holds stays valid
// after UpdateUser moves the entry to a new RDN. Members are stored as
// each group kind's member attribute wants them (DNs; posixGroup's
// memberUid: uids); the connector maps them to ids and back.
//
// Scope. The target sees the users under userBaseDn that match userFilter
// and the groups under groupBaseDn that match groupFilter, as a source
// does; new entries must land in that scope (the DN templates are checked
// to be under the bases). The user filter must also select disabled
// users: a filter such as (!(employeeType=disabled)) would hide the users
// idsync disabled, and it would create them again.
//
// Mapping. Each canonical field is written to, and read from, the first
// attribute of its list in userAttributes (displayName to displayName,
// department to departmentNumber, …), so that what idsync writes reads
// back the same. cn and sn, which person requires, are written too: cn
// from displayName (else "givenName familyName", else userName), sn from
// familyName, else userName. An sn equal to userName therefore reads back
// as no family name. Only the attributes that differ are modified, and an
// attribute the source cleared is deleted.

// AsTarget implements connectors.TargetRole: the directory as a target,
// built once and closed with the connector.
func (c *ldapConnector) AsTarget() (connectors.Target, error) {
	c.targetOnce.Do(func() {
		c.target, c.targetErr = newTarget(c)
	})
	return c.target, c.targetErr
}

// ldapTarget is an open LDAP target.
type ldapTarget struct {
	c          *ldapConnector // the connection settings and the source's search helpers
	logger     *slog.Logger
	w          WriteSettings
	prefix     string         // of the marker value
	disable    AccountDisable // how a disabled user is marked
	userDN     dnTemplate
	groupDN    dnTemplate
	fields     []fieldAttr // canonical user field → attribute written and read
	kept       []string    // the User.Attributes keys among fields (KeptAttributes)
	person     bool        // the user classes include person: cn and sn are required
	userAttrs  []string    // requested for a user
	groupAttrs []string    // requested for a group
	groupName  string      // the attribute of a group's displayName
	chunk      int         // member values per modify request

	mu     sync.Mutex
	idle   []*ldap.Conn
	closed bool
}

var (
	_ connectors.Target            = (*ldapTarget)(nil)
	_ connectors.GroupTarget       = (*ldapTarget)(nil)
	_ connectors.ModeDeprovisioner = (*ldapTarget)(nil)
	_ connectors.Tester            = (*ldapTarget)(nil)
	_ connectors.Describer         = (*ldapTarget)(nil)
)

// fieldAttr is a canonical user field (userName, …, and the keys of
// User.Attributes) and the attribute that holds it.
type fieldAttr struct{ field, attr string }

// coreFields are the User fields among fieldAttr's; the others are keys
// of User.Attributes.
var coreFields = map[string]struct{}{"userName": {}, "givenName": {}, "familyName": {}, "displayName": {}, "email": {}}

// KeptAttributes: the User.Attributes among the fields the target writes
// (userAttributes; a field mapped to [] is not written), found once when
// the target is built, as reconciliation asks for every user.
func (t *ldapTarget) KeptAttributes() []string { return t.kept }

// maxIdleConns bounds the bound connections kept between operations: the
// engine writes to a target from a few goroutines at once, and one source
// connector serves the activities of several rules at once.
const maxIdleConns = 4

func newTarget(c *ldapConnector) (*ldapTarget, error) {
	cfg := c.cfg
	w := cfg.Write
	switch {
	case w.UserDN == "":
		return nil, errors.New("ldap: write.userDn: required when userAttributes.userName is turned off")
	case w.GroupDN == "" || len(cfg.GroupAttributes.DisplayName) == 0:
		return nil, errors.New("ldap: write.groupDn and groupAttributes.displayName: required for a target")
	case len(w.GroupObjectClasses) == 0:
		return nil, errors.New("ldap: write.groupObjectClasses: required when the first of groupKinds has no objectClass")
	}
	t := &ldapTarget{c: c, logger: c.logger.With("role", "target"), w: w, prefix: *w.ExternalIDPrefix, disable: targetDisabled(cfg.Disabled), chunk: membersPerModify}
	t.groupName = cfg.GroupAttributes.DisplayName[0]
	// Validate checked both templates.
	t.userDN, _ = parseDNTemplate(w.UserDN, userDNFields, cfg.UserBaseDN)
	t.groupDN, _ = parseDNTemplate(w.GroupDN, groupDNFields, cfg.GroupBaseDN)
	ua := cfg.UserAttributes
	for _, f := range []struct {
		field string
		l     AttrList
	}{
		{"userName", ua.UserName}, {"givenName", ua.GivenName}, {"familyName", ua.FamilyName},
		{"displayName", ua.DisplayName}, {"email", ua.Email}, {"title", ua.Title},
		{"department", ua.Department}, {"employeeNumber", ua.EmployeeNumber}, {"phoneNumber", ua.PhoneNumber},
	} {
		if len(f.l) > 0 {
			t.fields = append(t.fields, fieldAttr{f.field, f.l[0]})
			if _, core := coreFields[f.field]; !core {
				t.kept = append(t.kept, f.field)
			}
		}
	}
	for _, oc := range w.UserObjectClasses {
		switch strings.ToLower(oc) {
		case "person", "organizationalperson", "inetorgperson":
			t.person = true
		}
	}
	t.userAttrs = []string{cfg.IDAttribute, w.ExternalIDAttribute, t.disable.Attribute}
	for _, f := range t.fields {
		t.userAttrs = append(t.userAttrs, f.attr)
	}
	if t.person {
		t.userAttrs = append(t.userAttrs, "cn", "sn")
	}
	t.userAttrs = append(t.userAttrs, c.memberKeys()...)
	t.userAttrs = dedupeFold(append(t.userAttrs, rdnTypes(t.userDN)...))
	t.groupAttrs = append(c.groupAttributeNames(), w.GroupExternalIDAttribute, t.groupName)
	t.groupAttrs = dedupeFold(append(t.groupAttrs, rdnTypes(t.groupDN)...))
	if strings.Contains(strings.ToLower(cfg.UserFilter), strings.ToLower(t.disable.Attribute)+"=") {
		t.logger.Warn("userFilter mentions the disable attribute; if it leaves disabled users out, idsync cannot see the users it disabled",
			"user_filter", cfg.UserFilter, "disable_attribute", t.disable.Attribute)
	}
	return t, nil
}

// rdnTypes returns the attribute types of a template's RDN.
func rdnTypes(t dnTemplate) []string {
	var types []string
	for _, ava := range splitUnescaped(t.rdn, '+') {
		typ, _, _ := strings.Cut(ava, "=")
		types = append(types, strings.TrimSpace(typ))
	}
	return types
}

// Close closes the target's idle connections; later operations fail. The
// connector it is a role of closes it too.
func (t *ldapTarget) Close() error {
	t.mu.Lock()
	idle := t.idle
	t.idle, t.closed = nil, true
	t.mu.Unlock()
	var errs []error
	for _, conn := range idle {
		errs = append(errs, conn.Close())
	}
	return errors.Join(errs...)
}

// Test implements connectors.Tester: DNS, TCP, TLS, bind, and a read of
// the user and group base DNs.
func (t *ldapTarget) Test(ctx context.Context) error { return t.c.Test(ctx) }

// Describe implements connectors.Describer.
func (t *ldapTarget) Describe(context.Context) ([]string, error) {
	w := t.w
	lines := []string{
		fmt.Sprintf("ids: %s; group members are kept in %s", t.c.cfg.IDAttribute, t.memberAttrs()),
		fmt.Sprintf("new users: %s (objectClass %s)", w.UserDN, strings.Join(w.UserObjectClasses, ", ")),
		fmt.Sprintf("new groups: %s (objectClass %s)", w.GroupDN, strings.Join(w.GroupObjectClasses, ", ")),
		fmt.Sprintf("managed entries: %s holds %q + the source id (groups: %s)", w.ExternalIDAttribute, t.prefix, w.GroupExternalIDAttribute),
	}
	if w.Deprovision == DeprovisionDelete {
		lines = append(lines, "deprovisioning: delete (the user's DN is first removed from every group under the group base)")
	} else {
		lines = append(lines, "deprovisioning: disable, "+t.disableDescription())
	}
	if p := *w.PlaceholderMember; p != "" {
		lines = append(lines, fmt.Sprintf("an empty group holds the placeholder member %q", p))
	}
	return lines, nil
}

func (t *ldapTarget) disableDescription() string {
	d := t.disable
	switch {
	case d.Bit != 0:
		return fmt.Sprintf("bit %d of %s", d.Bit, d.Attribute)
	case d.Value == "":
		return fmt.Sprintf("any value of %s (which idsync can remove but not set)", d.Attribute)
	}
	return fmt.Sprintf("%s: %s", d.Attribute, d.Value)
}

// memberAttrs names the member attributes of the group kinds.
func (t *ldapTarget) memberAttrs() string {
	var attrs []string
	for _, k := range t.c.cfg.GroupKinds {
		a := k.Member
		if k.ObjectClass != "" {
			a += " (" + k.ObjectClass + ")"
		}
		attrs = append(attrs, a)
	}
	return strings.Join(attrs, ", ")
}

// withConn runs fn with a bound connection of the pool.
func (t *ldapTarget) withConn(ctx context.Context, fn func(*ldap.Conn) error) (err error) {
	conn, err := t.acquire(ctx)
	if err != nil {
		return err
	}
	defer func() { t.release(conn, err) }()
	return fn(conn)
}

func (t *ldapTarget) acquire(ctx context.Context) (*ldap.Conn, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, errors.New("ldap: connector is closed")
	}
	for len(t.idle) > 0 {
		conn := t.idle[len(t.idle)-1]
		t.idle = t.idle[:len(t.idle)-1]
		if !conn.IsClosing() {
			t.mu.Unlock()
			return conn, nil
		}
		conn.Close()
	}
	t.mu.Unlock()
	conn, err := t.c.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("ldap: %w", err)
	}
	return conn, nil
}

// release keeps conn after a success or an error the server answered with;
// after any other error (a network failure, a timeout, an abandoned paged
// search) it closes it.
func (t *ldapTarget) release(conn *ldap.Conn, opErr error) {
	if (opErr == nil || serverAnswered(opErr)) && !conn.IsClosing() {
		t.mu.Lock()
		if len(t.idle) < maxIdleConns && !t.closed {
			t.idle, conn = append(t.idle, conn), nil
		}
		t.mu.Unlock()
	}
	if conn != nil {
		conn.Close()
	}
}

// serverAnswered reports whether err is the server's answer to a complete
// request, after which the connection is fine.
func serverAnswered(err error) bool {
	var le *ldap.Error
	if errors.As(err, &le) {
		return le.ResultCode < ldap.LDAPResultOther
	}
	return errors.Is(err, connectors.ErrNotFound) || errors.Is(err, connectors.ErrRejected)
}

// ListUsers implements connectors.Target: every user in scope, managed or
// not, a page at a time.
func (t *ldapTarget) ListUsers(ctx context.Context, fn func(connectors.TargetUser) error) error {
	var fnErr error
	err := t.withConn(ctx, func(conn *ldap.Conn) error {
		return t.c.pagedSearch(ctx, conn, t.c.cfg.UserBaseDN, t.c.cfg.UserFilter, t.userAttrs, func(e *ldap.Entry) error {
			tu, ok := t.toTargetUser(e)
			if !ok {
				return nil
			}
			fnErr = fn(tu)
			return fnErr
		})
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("ldap: list users under %q: %w", t.c.cfg.UserBaseDN, err)
	}
	return nil
}

// ListGroups implements connectors.Target: every group in scope, with
// its members that are users in scope, by id.
func (t *ldapTarget) ListGroups(ctx context.Context, fn func(connectors.TargetGroup) error) error {
	var fnErr error
	err := t.withConn(ctx, func(conn *ldap.Conn) error {
		ids, err := t.c.memberIndexAll(ctx, conn)
		if err != nil {
			return err
		}
		return t.c.pagedSearch(ctx, conn, t.c.cfg.GroupBaseDN, t.c.cfg.GroupFilter, t.groupAttrs, func(e *ldap.Entry) error {
			if err := completeRanges(e, t.c.fetchRange(ctx, conn)); err != nil {
				return err
			}
			tg, ok := t.toTargetGroup(e, ids)
			if !ok {
				return nil
			}
			fnErr = fn(tg)
			return fnErr
		})
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("ldap: list groups under %q: %w", t.c.cfg.GroupBaseDN, err)
	}
	return nil
}

// LookupUsers implements connectors.Target: by externalId (the marker,
// exactly), userName, email or one of the other mapped fields (title,
// department, employeeNumber, phoneNumber), case-insensitively. The server
// filters with its matching rules; the answers are checked again here.
func (t *ldapTarget) LookupUsers(ctx context.Context, attr, value string) ([]connectors.TargetUser, error) {
	ldapAttr, assertion := "", value
	if attr == connectors.MatchExternalID {
		ldapAttr, assertion = t.w.ExternalIDAttribute, t.prefix+value
	} else {
		for _, f := range t.fields {
			if f.field == attr {
				ldapAttr = f.attr
			}
		}
	}
	if ldapAttr == "" {
		return nil, fmt.Errorf("ldap: lookup users: no attribute holds %q: %w", attr, connectors.ErrRejected)
	}
	if value == "" {
		return nil, nil
	}
	var found []connectors.TargetUser
	filter := fmt.Sprintf("(&%s(%s=%s))", t.c.cfg.UserFilter, ldapAttr, ldap.EscapeFilter(assertion))
	err := t.withConn(ctx, func(conn *ldap.Conn) error {
		return t.c.pagedSearch(ctx, conn, t.c.cfg.UserBaseDN, filter, t.userAttrs, func(e *ldap.Entry) error {
			tu, ok := t.toTargetUser(e)
			if ok && t.userMatches(tu, attr, value) {
				found = append(found, tu)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ldap: lookup users by %s: %w", attr, err)
	}
	return found, nil
}

func (t *ldapTarget) userMatches(tu connectors.TargetUser, attr, value string) bool {
	if attr == connectors.MatchExternalID {
		return tu.ExternalID == value
	}
	return strings.EqualFold(tu.Field(attr), value)
}

// LookupGroups implements connectors.Target: by externalId (the marker,
// exactly) or displayName (case-insensitively).
func (t *ldapTarget) LookupGroups(ctx context.Context, attr, value string) ([]connectors.TargetGroup, error) {
	var ldapAttr, assertion string
	switch attr {
	case connectors.MatchExternalID:
		ldapAttr, assertion = t.w.GroupExternalIDAttribute, t.prefix+value
	case "displayName":
		ldapAttr, assertion = t.groupName, value
	default:
		return nil, fmt.Errorf("ldap: lookup groups: by %q: want externalId or displayName: %w", attr, connectors.ErrRejected)
	}
	if value == "" {
		return nil, nil
	}
	var found []connectors.TargetGroup
	filter := fmt.Sprintf("(&%s(%s=%s))", t.c.cfg.GroupFilter, ldapAttr, ldap.EscapeFilter(assertion))
	err := t.withConn(ctx, func(conn *ldap.Conn) error {
		var entries []*ldap.Entry
		err := t.c.pagedSearch(ctx, conn, t.c.cfg.GroupBaseDN, filter, t.groupAttrs, func(e *ldap.Entry) error {
			entries = append(entries, e)
			return nil
		})
		if err != nil || len(entries) == 0 {
			return err
		}
		for _, e := range entries {
			if err := completeRanges(e, t.c.fetchRange(ctx, conn)); err != nil {
				return err
			}
		}
		ids, err := t.c.resolveGroupMembers(ctx, conn, entries)
		if err != nil {
			return err
		}
		for _, e := range entries {
			tg, ok := t.toTargetGroup(e, ids)
			if !ok {
				continue
			}
			if (attr == connectors.MatchExternalID && tg.ExternalID == value) ||
				(attr == "displayName" && strings.EqualFold(tg.DisplayName, value)) {
				found = append(found, tg)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ldap: lookup groups by %s: %w", attr, err)
	}
	return found, nil
}

// toTargetUser maps an entry; ok is false (and the entry is logged) when
// it has no id.
func (t *ldapTarget) toTargetUser(e *ldap.Entry) (tu connectors.TargetUser, ok bool) {
	tu.ID = t.c.entryID(e)
	if tu.ID == "" {
		t.logger.Warn("user entry has no id attribute; skipped", "dn", e.DN, "id_attribute", t.c.cfg.IDAttribute)
		return tu, false
	}
	tu.ExternalID = t.marker(e.GetEqualFoldAttributeValues(t.w.ExternalIDAttribute))
	for _, f := range t.fields {
		tu.SetField(f.field, e.GetEqualFoldAttributeValue(f.attr))
	}
	if t.person && tu.FamilyName == tu.UserName && strings.EqualFold(t.fieldAttr("familyName"), "sn") {
		// sn is required: without a family name, idsync wrote userName.
		tu.FamilyName = ""
	}
	tu.Active = !t.disable.IsDisabled(e.GetEqualFoldAttributeValues(t.disable.Attribute))
	return tu, true
}

func (t *ldapTarget) toTargetGroup(e *ldap.Entry, ids *memberIndex) (tg connectors.TargetGroup, ok bool) {
	tg.ID = t.c.entryID(e)
	if tg.ID == "" {
		t.logger.Warn("group entry has no id attribute; skipped", "dn", e.DN, "id_attribute", t.c.cfg.IDAttribute)
		return tg, false
	}
	tg.ExternalID = t.marker(e.GetEqualFoldAttributeValues(t.w.GroupExternalIDAttribute))
	tg.DisplayName = e.GetEqualFoldAttributeValue(t.groupName)
	seen := make(map[string]bool)
	for _, k := range t.c.kindsOf(e) {
		for _, v := range e.GetEqualFoldAttributeValues(k.Member) {
			if id, ok := ids.lookup(k, v); ok && !seen[id] {
				seen[id] = true
				tg.MemberIDs = append(tg.MemberIDs, id)
			}
		}
	}
	return tg, true
}

// fieldAttr returns the attribute of a canonical field, "" if it has none.
func (t *ldapTarget) fieldAttr(field string) string {
	for _, f := range t.fields {
		if f.field == field {
			return f.attr
		}
	}
	return ""
}

// marker returns the ExternalID among an entry's marker values: the first
// value that starts with the prefix, without it.
func (t *ldapTarget) marker(values []string) string {
	for _, v := range values {
		if ext, ok := t.cutPrefix(v); ok && ext != "" {
			return ext
		}
	}
	return ""
}

// cutPrefix returns v without the marker prefix, compared without regard
// to case as the attribute's matching rule would.
func (t *ldapTarget) cutPrefix(v string) (string, bool) {
	if len(v) < len(t.prefix) || !strings.EqualFold(v[:len(t.prefix)], t.prefix) {
		return "", false
	}
	return v[len(t.prefix):], true
}
