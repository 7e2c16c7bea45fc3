package graph

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/idsync/idsync/connectors"
)

// attrEmployeeNumber is the attribute kept in employeeId, and the one
// besides userName and email a rule can adopt users by.
const attrEmployeeNumber = "employeeNumber"

// attrProps maps User.Attributes keys to Graph user properties.
var attrProps = map[string]string{"title": "jobTitle", "department": "department", attrEmployeeNumber: "employeeId", "phoneNumber": "mobilePhone"}

// userSelect is the $select of every user read: only what is mapped.
func (c *graphConnector) userSelect() string {
	return "id,userPrincipalName,displayName,givenName,surname,mail,accountEnabled,jobTitle,department,employeeId,mobilePhone," + c.extAttr
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// toUser reads a Graph user.
func (c *graphConnector) toUser(raw json.RawMessage) (connectors.TargetUser, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return connectors.TargetUser{}, fmt.Errorf("graph: malformed user: %w", err)
	}
	upn := str(m, "userPrincipalName")
	u := connectors.TargetUser{ID: str(m, "id"), User: connectors.User{
		ExternalID: str(m, c.extAttr), UserName: c.nameOf(upn), GivenName: str(m, "givenName"),
		FamilyName: str(m, "surname"), DisplayName: str(m, "displayName"), Email: str(m, "mail"),
	}}
	if u.ID == "" {
		return u, errors.New("graph: a user without an id")
	}
	u.Active, _ = m["accountEnabled"].(bool)
	if u.DisplayName == upn {
		u.DisplayName = ""
	}
	for a, p := range attrProps {
		if v := str(m, p); v != "" {
			if u.Attributes == nil {
				u.Attributes = map[string]string{}
			}
			u.Attributes[a] = v
		}
	}
	mid, mext := c.expandedManager(raw)
	if mext != "" {
		if u.Attributes == nil {
			u.Attributes = map[string]string{}
		}
		u.Attributes[attrManager] = mext
	}
	c.noteManager(u.ID, mid, mext)
	if u.ExternalID != "" {
		c.mu.Lock()
		c.known[u.ExternalID] = u.ID
		c.mu.Unlock()
	}
	return u, nil
}

// upnOf is the userPrincipalName of a userName.
func (c *graphConnector) upnOf(name string) (string, error) {
	if strings.Contains(name, "@") {
		return name, nil
	}
	if c.domain == "" {
		return "", fmt.Errorf("graph: userName %q has no domain and the connection sets none (setting domain): %w", name, connectors.ErrRejected)
	}
	return name + "@" + c.domain, nil
}

// checkUPN refuses, before sending it, a userPrincipalName Entra ID
// would answer with a bare "Property userPrincipalName is invalid.":
// before the @, 1 to 64 of A-Z a-z 0-9 ' . - _ ! # ^ ~, not starting or
// ending with a period
// (https://learn.microsoft.com/en-us/troubleshoot/microsoft-365/admin/users/username-contains-special-character).
// A letter with an accent is the usual cause: the error says so, and
// that the userName must be mapped to an ASCII form.
func checkUPN(upn string) error {
	local, _, _ := strings.Cut(upn, "@")
	bad := strings.IndexFunc(local, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("'.-_!#^~", r))
	})
	switch {
	case bad >= 0:
		r, _ := utf8.DecodeRuneInString(local[bad:])
		return fmt.Errorf("graph: userPrincipalName %q: Entra ID takes only A-Z a-z 0-9 ' . - _ ! # ^ ~ before the @, not %q (map the userName to an ASCII form): %w", upn, r, connectors.ErrRejected)
	case local == "" || len(local) > 64:
		return fmt.Errorf("graph: userPrincipalName %q: Entra ID takes 1 to 64 characters before the @: %w", upn, connectors.ErrRejected)
	case local[0] == '.' || local[len(local)-1] == '.':
		return fmt.Errorf("graph: userPrincipalName %q: Entra ID refuses a period at the start or the end of the part before the @: %w", upn, connectors.ErrRejected)
	}
	return nil
}

// nameOf is the userName of a userPrincipalName: without "@domain" in
// the connection's domain.
func (c *graphConnector) nameOf(upn string) string {
	if c.domain != "" {
		suffix := "@" + c.domain
		if len(upn) > len(suffix) && strings.EqualFold(upn[len(upn)-len(suffix):], suffix) {
			return upn[:len(upn)-len(suffix)]
		}
	}
	return upn
}

// userBody is the properties of u as Graph takes them; an empty field
// is null, which clears it on PATCH.
func (c *graphConnector) userBody(u connectors.User) (map[string]any, error) {
	upn, err := c.upnOf(u.UserName)
	if err != nil {
		return nil, err
	}
	if err := checkUPN(upn); err != nil {
		return nil, err
	}
	orNull := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	display := u.DisplayName
	if display == "" {
		display = upn // required by Graph; reads back empty
	}
	b := map[string]any{
		"accountEnabled": u.Active, "userPrincipalName": upn, "displayName": display,
		"givenName": orNull(u.GivenName), "surname": orNull(u.FamilyName), "mail": orNull(u.Email),
		c.extAttr: orNull(u.ExternalID),
	}
	for a, p := range attrProps {
		b[p] = orNull(u.Attributes[a])
	}
	return b, nil
}

// mailNickname is a user's or group's alias: the ASCII letters, digits
// and . - _ of s, at most 56 characters (room for a suffix).
func mailNickname(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 56 {
			break
		}
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			b.WriteRune(r)
		}
	}
	n := strings.Trim(b.String(), ".")
	if n == "" {
		n = "idsync"
	}
	return n
}

// password is a random initial password that meets Entra ID's complexity
// rules (upper, lower, digit, symbol); it must be changed at the first
// sign-in and is never kept.
func password() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return "Id!" + base64.RawURLEncoding.EncodeToString(b[:]) + "a9Z"
}

// CreateUser: POST /users (https://learn.microsoft.com/en-us/graph/api/user-post-users).
// keptAttributes are those of attrProps, and the manager (a reference).
var keptAttributes = append(slices.Sorted(maps.Keys(attrProps)), attrManager)

// KeptAttributes implements connectors.AttributeKeeper.
func (c *graphConnector) KeptAttributes() []string { return keptAttributes }

func (c *graphConnector) CreateUser(ctx context.Context, u connectors.User) (string, error) {
	b, err := c.userBody(u)
	if err != nil {
		return "", err
	}
	for k, v := range b {
		if v == nil {
			delete(b, k)
		}
	}
	local, _, _ := strings.Cut(b["userPrincipalName"].(string), "@")
	b["mailNickname"] = mailNickname(local)
	b["passwordProfile"] = map[string]any{"password": password(), "forceChangePasswordNextSignIn": true}
	var out struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, "/users", b, &out); err != nil {
		return "", fmt.Errorf("graph: create user %q: %w", u.UserName, err)
	}
	if out.ID == "" {
		return "", fmt.Errorf("graph: create user %q: the answer has no id", u.UserName)
	}
	c.created(out.ID)
	c.noteManager(out.ID, "", "") // a new user has none
	if u.ExternalID != "" {
		c.mu.Lock()
		c.known[u.ExternalID] = out.ID
		c.mu.Unlock()
	}
	// The user exists now: a manager that cannot be set is logged, not
	// returned (a retried create would collide with it), and the next
	// full sync, reading the user without it, sets it.
	if err := c.setManager(ctx, out.ID, u.Attributes[attrManager]); err != nil {
		c.logger.WarnContext(ctx, "user created without its manager; the next full sync sets it", "user_id", out.ID, "error", err)
	}
	c.settleManagers(ctx, u.ExternalID, out.ID)
	return out.ID, nil
}

// UpdateUser: PATCH /users/{id} (204).
func (c *graphConnector) UpdateUser(ctx context.Context, id string, u connectors.User) error {
	b, err := c.userBody(u)
	if err != nil {
		return err
	}
	err = c.retryFresh(ctx, func() error { return c.do(ctx, http.MethodPatch, "/users/"+url.PathEscape(id), b, nil) }, id)
	if err != nil {
		return fmt.Errorf("graph: update user %s: %w", id, err)
	}
	if u.ExternalID != "" {
		c.mu.Lock()
		c.known[u.ExternalID] = id
		c.mu.Unlock()
	}
	if err := c.setManager(ctx, id, u.Attributes[attrManager]); err != nil {
		return fmt.Errorf("graph: update user %s: %w", id, err)
	}
	c.settleManagers(ctx, u.ExternalID, id)
	return nil
}

// DeprovisionUser disables or deletes, as the connection is configured.
func (c *graphConnector) DeprovisionUser(ctx context.Context, id string) error {
	return c.DeprovisionUserAs(ctx, id, c.deprovision)
}

// DeprovisionUserAs: PATCH accountEnabled false, or DELETE (to the
// recycle bin, https://learn.microsoft.com/en-us/graph/api/user-delete).
func (c *graphConnector) DeprovisionUserAs(ctx context.Context, id, mode string) error {
	var err error
	switch mode {
	case connectors.DeprovisionDisable:
		err = c.retryFresh(ctx, func() error {
			return c.do(ctx, http.MethodPatch, "/users/"+url.PathEscape(id), map[string]any{"accountEnabled": false}, nil)
		}, id)
	case connectors.DeprovisionDelete:
		err = c.retryFresh(ctx, func() error { return c.do(ctx, http.MethodDelete, "/users/"+url.PathEscape(id), nil, nil) }, id)
		c.forget(id)
	default:
		return fmt.Errorf("graph: deprovision mode %q: want disable or delete", mode)
	}
	if err != nil {
		return fmt.Errorf("graph: %s user %s: %w", mode, id, err)
	}
	return nil
}

// ListUsers streams every user, $top pageSize, by @odata.nextLink.
func (c *graphConnector) ListUsers(ctx context.Context, fn func(connectors.TargetUser) error) error {
	q := url.Values{"$top": {fmt.Sprint(c.pageSize)}}
	return each(ctx, c, "/users"+c.userQuery(q), c.toUser, fn)
}

// LookupUsers filters by the ExternalID's extension property,
// userPrincipalName, mail or (employeeNumber) employeeId with eq, each
// filterable without ConsistencyLevel: eventual, so that the lookup
// reads the directory and not a search index that lags writes. Graph
// compares without regard to case, so a rule adopts with --match
// employeeNumber,userName,email case-insensitively (the engine compares
// its ranked match values in lower case too); an ExternalID is compared
// again here, exactly.
func (c *graphConnector) LookupUsers(ctx context.Context, attr, value string) ([]connectors.TargetUser, error) {
	var prop string
	switch attr {
	case connectors.MatchExternalID:
		prop = c.extAttr
	case connectors.MatchUserName:
		prop = "userPrincipalName"
		upn, err := c.upnOf(value)
		if err != nil {
			return nil, nil // no user can have it
		}
		value = upn
	case connectors.MatchEmail:
		prop = "mail"
	case attrEmployeeNumber:
		prop = "employeeId"
	default:
		return nil, fmt.Errorf("graph: look up users by %q: %w", attr, connectors.ErrLookupUnsupported)
	}
	if value == "" {
		return nil, nil
	}
	q := url.Values{"$filter": {prop + " eq " + literal(value)}, "$top": {fmt.Sprint(c.pageSize)}}
	return lookup(ctx, c, "users", "/users"+c.userQuery(q), c.toUser, attr, value,
		func(u connectors.TargetUser) string { return u.ExternalID })
}

// GetUserByID reads one user; a 404 is "not found" unless this
// connection created it within the replication delay.
func (c *graphConnector) GetUserByID(ctx context.Context, id string) (connectors.TargetUser, bool, error) {
	var raw json.RawMessage
	err := c.retryFresh(ctx, func() error {
		return c.do(ctx, http.MethodGet, "/users/"+url.PathEscape(id)+c.userQuery(url.Values{}), nil, &raw)
	}, id)
	if errors.Is(err, connectors.ErrNotFound) {
		return connectors.TargetUser{}, false, nil
	}
	if err != nil {
		return connectors.TargetUser{}, false, fmt.Errorf("graph: read user %s: %w", id, err)
	}
	u, err := c.toUser(raw)
	return u, err == nil, err
}

// KnownUserID is the id of a user this connection listed, created or
// found by ExternalID.
func (c *graphConnector) KnownUserID(externalID string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.known[externalID]
	return id, ok
}
