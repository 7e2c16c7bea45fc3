package google

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/idsync/idsync/connectors"
)

// The externalIds entries this connector owns. The ExternalID is a custom
// entry named "idsync" rather than the "organization" type: that type is
// the console's Employee ID, which HR numbers (employeeNumber) already use
// and admins edit, and a custom type tells idsync's entry apart from any
// other tool's, so that it can be replaced without touching theirs.
const (
	extType       = "custom"
	extCustomType = "idsync"
	loginType     = "login_id"     // the userName as written, letter case kept
	employeeType  = "organization" // employeeNumber
)

// userFields are the fields of users.get and users.list's users.
const userFields = "id,primaryEmail,name,suspended,externalIds,emails,organizations,relations"

// entries is an "any" list field of admin.User (externalIds, emails,
// organizations, relations) as JSON objects.
func entries(v any) []map[string]any {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out []map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// keep returns the entries that drop does not match.
func keep(es []map[string]any, drop func(map[string]any) bool) []map[string]any {
	out := []map[string]any{}
	for _, e := range es {
		if !drop(e) {
			out = append(out, e)
		}
	}
	return out
}

func isOurs(e map[string]any) bool {
	switch str(e, "type") {
	case extType:
		return str(e, "customType") == extCustomType
	case loginType, employeeType:
		return true
	}
	return false
}

// primaryEmail is the address of userName: itself when it has an @, else
// userName@domain.
func (g *googleConnector) primaryEmail(userName string) string {
	if strings.Contains(userName, "@") {
		return userName
	}
	return userName + "@" + g.cfg.Domain
}

// toGoogle is u as the fields idsync writes, cur's other entries kept
// (an admin's other external ids, addresses, organizations, relations).
func (g *googleConnector) toGoogle(u connectors.User, cur *admin.User) *admin.User {
	var curExt, curEmails, curOrgs, curRels []map[string]any
	if cur != nil {
		curExt, curEmails, curOrgs, curRels = entries(cur.ExternalIds), entries(cur.Emails), entries(cur.Organizations), entries(cur.Relations)
	}
	ext := keep(curExt, isOurs)
	if u.ExternalID != "" {
		ext = append(ext, map[string]any{"type": extType, "customType": extCustomType, "value": u.ExternalID})
	}
	ext = append(ext, map[string]any{"type": loginType, "value": u.UserName})
	if v := u.Attributes["employeeNumber"]; v != "" {
		ext = append(ext, map[string]any{"type": employeeType, "value": v})
	}
	emails := keep(curEmails, func(e map[string]any) bool { return str(e, "type") == "work" && e["primary"] != true })
	if u.Email != "" {
		emails = append(emails, map[string]any{"address": u.Email, "type": "work"})
	}
	orgs := curOrgs
	primary := -1
	for i, o := range orgs {
		if o["primary"] == true {
			primary = i
			break
		}
	}
	title, dept := u.Attributes["title"], u.Attributes["department"]
	if primary < 0 && (title != "" || dept != "") {
		orgs = append(orgs, map[string]any{"primary": true})
		primary = len(orgs) - 1
	}
	if primary >= 0 {
		for k, v := range map[string]string{"title": title, "department": dept} {
			if v == "" {
				delete(orgs[primary], k)
			} else {
				orgs[primary][k] = v
			}
		}
	}
	if orgs == nil {
		orgs = []map[string]any{}
	}
	rels := keep(curRels, func(e map[string]any) bool { return str(e, "type") == "manager" })
	if m := u.Attributes["manager"]; m != "" {
		rels = append(rels, map[string]any{"type": "manager", "value": m})
	}
	return &admin.User{
		PrimaryEmail: g.primaryEmail(u.UserName),
		Name: &admin.UserName{GivenName: u.GivenName, FamilyName: u.FamilyName, DisplayName: u.DisplayName,
			ForceSendFields: []string{"GivenName", "FamilyName", "DisplayName"}},
		Suspended:       !u.Active,
		ExternalIds:     ext,
		Emails:          emails,
		Organizations:   orgs,
		Relations:       rels,
		ForceSendFields: []string{"Suspended"},
	}
}

// fromGoogle reads a user as idsync compares it.
func (g *googleConnector) fromGoogle(au *admin.User) connectors.TargetUser {
	tu := connectors.TargetUser{ID: au.Id}
	u := &tu.User
	u.Active = !au.Suspended
	if au.Name != nil {
		u.GivenName, u.FamilyName, u.DisplayName = au.Name.GivenName, au.Name.FamilyName, au.Name.DisplayName
	}
	u.UserName = au.PrimaryEmail
	if local, ok := strings.CutSuffix(strings.ToLower(au.PrimaryEmail), "@"+strings.ToLower(g.cfg.Domain)); ok {
		u.UserName = au.PrimaryEmail[:len(local)]
	}
	for _, e := range entries(au.ExternalIds) {
		switch v := str(e, "value"); {
		case str(e, "type") == extType && str(e, "customType") == extCustomType:
			u.ExternalID = v
		case str(e, "type") == loginType && strings.EqualFold(g.primaryEmail(v), au.PrimaryEmail):
			u.UserName = v
		case str(e, "type") == employeeType:
			u.SetField("employeeNumber", v)
		}
	}
	for _, e := range entries(au.Emails) {
		if str(e, "type") == "work" && e["primary"] != true && u.Email == "" {
			u.Email = str(e, "address")
		}
	}
	for _, o := range entries(au.Organizations) {
		if o["primary"] == true {
			u.SetField("title", str(o, "title"))
			u.SetField("department", str(o, "department"))
			break
		}
	}
	for _, r := range entries(au.Relations) {
		if str(r, "type") == "manager" {
			u.SetField("manager", str(r, "value"))
		}
	}
	return tu
}

// ListUsers implements connectors.Target, page by page.
func (g *googleConnector) ListUsers(ctx context.Context, fn func(connectors.TargetUser) error) error {
	return g.listUsers(ctx, "", func(au *admin.User) error { return fn(g.fromGoogle(au)) })
}

func (g *googleConnector) listUsers(ctx context.Context, query string, fn func(*admin.User) error) error {
	token := ""
	for {
		var page *admin.Users
		err := g.call(ctx, "list users", func() error {
			call := g.svc.Users.List().Customer(g.cfg.Customer).MaxResults(int64(g.cfg.PageSize)).
				Fields("nextPageToken", "users("+userFields+")").Context(ctx)
			if query != "" {
				call = call.Query(query)
			}
			if token != "" {
				call = call.PageToken(token)
			}
			var err error
			page, err = call.Do()
			return err
		})
		if err != nil {
			return err
		}
		for _, au := range page.Users {
			if err := fn(au); err != nil {
				return err
			}
		}
		if token = page.NextPageToken; token == "" {
			return nil
		}
	}
}

// get reads a user by key (an id or an address); found is false on a 404.
func (g *googleConnector) get(ctx context.Context, key string) (*admin.User, bool, error) {
	var au *admin.User
	err := g.call(ctx, "read user "+key, func() error {
		var err error
		au, err = g.svc.Users.Get(key).Fields(userFields).Context(ctx).Do()
		return err
	}, key, strings.ToLower(key))
	if errors.Is(err, connectors.ErrNotFound) {
		return nil, false, nil
	}
	return au, err == nil, err
}

// GetUserByID implements connectors.UserReader.
func (g *googleConnector) GetUserByID(ctx context.Context, id string) (connectors.TargetUser, bool, error) {
	au, found, err := g.get(ctx, id)
	if !found {
		return connectors.TargetUser{}, false, err
	}
	return g.fromGoogle(au), true, nil
}

// LookupUsers implements connectors.Target. userName is a users.get of
// its address, which is current at once; externalId is what this
// connection wrote (KnownUsers, read back by id) and a users.list search,
// which Google's index can let lag behind writes. email (a secondary
// address) cannot be found but by that lagging search, and is not
// offered: adopt by userName, the account's address.
func (g *googleConnector) LookupUsers(ctx context.Context, attr, value string) ([]connectors.TargetUser, error) {
	switch attr {
	case connectors.MatchUserName:
		addr := g.primaryEmail(value)
		au, found, err := g.get(ctx, addr)
		if !found {
			return nil, err
		}
		if !strings.EqualFold(au.PrimaryEmail, addr) {
			// An alias: Google keeps a renamed user's old address as
			// one, and users.get finds the user by it. That user is
			// someone else now, not this userName's account.
			return nil, nil
		}
		return []connectors.TargetUser{g.fromGoogle(au)}, nil
	case connectors.MatchExternalID:
		return g.lookupExternalID(ctx, value)
	}
	return nil, connectors.ErrLookupUnsupported
}

func (g *googleConnector) lookupExternalID(ctx context.Context, value string) ([]connectors.TargetUser, error) {
	var out []connectors.TargetUser
	seen := map[string]bool{}
	add := func(au *admin.User) {
		if tu := g.fromGoogle(au); tu.ExternalID == value && !seen[tu.ID] {
			seen[tu.ID] = true
			out = append(out, tu)
		}
	}
	if id, ok := g.KnownUserID(value); ok {
		au, found, err := g.get(ctx, id)
		if err != nil {
			return nil, err
		}
		if found {
			add(au)
		}
	}
	q := "externalId:'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(value) + "'"
	err := g.listUsers(ctx, q, func(au *admin.User) error { add(au); return nil })
	return out, err
}

// CreateUser implements connectors.Target. Google requires a password:
// a random one is set, which nobody knows (users sign in by SSO, or an
// admin resets it).
// keptAttributes: employeeNumber (an externalId of type organization),
// title and department (the primary organization) and the manager (a
// relation); Google has a place for no other (toGoogle).
var keptAttributes = []string{"title", "department", "employeeNumber", "manager"}

// KeptAttributes implements connectors.AttributeKeeper.
func (g *googleConnector) KeptAttributes() []string { return keptAttributes }

func (g *googleConnector) CreateUser(ctx context.Context, u connectors.User) (string, error) {
	au := g.toGoogle(u, nil)
	if strings.TrimSpace(u.GivenName) == "" || strings.TrimSpace(u.FamilyName) == "" {
		// Google answers 400 "Invalid Given/Family Name": say why
		// without a request.
		return "", fmt.Errorf("google: create user %s: Google requires a given and a family name (name.givenName, name.familyName): %w",
			au.PrimaryEmail, connectors.ErrRejected)
	}
	au.Password = rand.Text() + rand.Text()
	var made *admin.User
	err := g.call(ctx, "create user "+au.PrimaryEmail, func() error {
		var err error
		made, err = g.svc.Users.Insert(au).Fields("id").Context(ctx).Do()
		return err
	})
	if err != nil {
		return "", err
	}
	g.remember(u.ExternalID, made.Id)
	g.created(made.Id, strings.ToLower(au.PrimaryEmail))
	return made.Id, nil
}

// UpdateUser implements connectors.Target: a read, so that entries of
// others are kept, then a patch.
func (g *googleConnector) UpdateUser(ctx context.Context, id string, u connectors.User) error {
	cur, found, err := g.get(ctx, id)
	if err != nil {
		return err
	}
	if !found {
		return connectors.ErrNotFound
	}
	err = g.call(ctx, "update user "+id, func() error {
		_, err := g.svc.Users.Patch(id, g.toGoogle(u, cur)).Fields("id").Context(ctx).Do()
		return err
	}, id)
	if err == nil {
		g.remember(u.ExternalID, id)
		g.renamed(id, strings.ToLower(g.primaryEmail(u.UserName)))
	}
	return err
}

// DeprovisionUser implements connectors.Target, as the connection's
// deprovision setting says.
func (g *googleConnector) DeprovisionUser(ctx context.Context, id string) error {
	return g.DeprovisionUserAs(ctx, id, g.cfg.Deprovision)
}

// DeprovisionUserAs implements connectors.ModeDeprovisioner: disable
// suspends, delete deletes.
func (g *googleConnector) DeprovisionUserAs(ctx context.Context, id, mode string) error {
	if mode == connectors.DeprovisionDelete {
		err := g.call(ctx, "delete user "+id, func() error { return g.svc.Users.Delete(id).Context(ctx).Do() }, id)
		if err == nil || errors.Is(err, connectors.ErrNotFound) {
			g.forget(id)
		}
		return err
	}
	return g.call(ctx, "suspend user "+id, func() error {
		_, err := g.svc.Users.Patch(id, &admin.User{Suspended: true}).Fields("id").Context(ctx).Do()
		return err
	}, id)
}
