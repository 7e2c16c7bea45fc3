package workos

import (
	"encoding/json"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/workosfake"
)

// keyEnv is the environment variable the tests' apiKey references.
const keyEnv = "IDSYNC_TEST_WORKOS_API_KEY"

// open opens a connection to the fake's first directory with settings
// over the defaults, its requests checked against the OpenAPI spec.
func open(t *testing.T, srv *workosfake.Server, settings map[string]any) *workosConnector {
	t.Helper()
	t.Setenv(keyEnv, srv.APIKey())
	s := map[string]any{"url": srv.URL(), "apiKey": "env:" + keyEnv, "directory": srv.Directory().ID,
		"usersPerSecond": 1000}
	maps.Copy(s, settings)
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := connectors.Registry{"workos": Type}.Parse("workos", raw)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := cfg.Open(t.Context(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := conn.(*workosConnector)
	c.client.http.Transport = workosfake.SpecTransport(t, nil)
	c.client.maxWait = 2 * time.Second
	return c
}

// toInput is a canonical user as the identity provider behind WorkOS
// holds it: userName in the username custom attribute, the profile
// attributes in the auto-mapped ones.
func toInput(u connectors.User) workosfake.UserInput {
	ca := map[string]any{"username": u.UserName}
	for k, v := range map[string]string{"title": "job_title", "department": "department_name", "employeeNumber": "employee_number"} {
		if s := u.Attributes[k]; s != "" {
			ca[v] = s
		}
	}
	return workosfake.UserInput{Email: u.Email, FirstName: u.GivenName, LastName: u.FamilyName,
		Name: u.DisplayName, CustomAttributes: ca, Inactive: !u.Active}
}

// put creates or replaces a user in the fake's directory.
func put(t *testing.T, dir *workosfake.Directory, u connectors.User) string {
	t.Helper()
	in := toInput(u)
	if u.ExternalID == "" {
		return dir.CreateUser(in).ID
	}
	_, err := dir.UpdateUser(u.ExternalID, func(w *workosfake.User) {
		w.Email, w.FirstName, w.LastName, w.Name = in.Email, in.FirstName, in.LastName, in.Name
		w.CustomAttributes = in.CustomAttributes
		w.State = "active"
		if in.Inactive {
			w.State = "inactive"
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return u.ExternalID
}

// expect is how the connector reads a user the fake holds: as put, with
// its idp_id.
func expect(dir *workosfake.Directory) func(connectors.User) connectors.User {
	return func(u connectors.User) connectors.User {
		w, ok := dir.User(u.ExternalID)
		if !ok {
			return u
		}
		u.Attributes = maps.Clone(u.Attributes)
		u.SetField(AttrIdpID, w.IdpID)
		return u
	}
}

// state is the fake directory as the canonical users and groups.
func state(dir *workosfake.Directory) (map[string]connectors.User, map[string]connectors.Group) {
	users := map[string]connectors.User{}
	for _, w := range dir.Users() {
		users[w.ID] = fakeUser(w)
	}
	groups := map[string]connectors.Group{}
	for _, g := range dir.Groups() {
		groups[g.ID] = connectors.Group{ExternalID: g.ID, DisplayName: g.Name, Members: dir.Members(g.ID)}
	}
	return users, groups
}

// fakeUser maps a fake user independently of the connector's mapping.
func fakeUser(w workosfake.User) connectors.User {
	u := connectors.User{ExternalID: w.ID, UserName: w.Email, GivenName: w.FirstName, FamilyName: w.LastName,
		DisplayName: w.Name, Email: w.Email, Active: w.State == "active",
		Attributes: map[string]string{AttrIdpID: w.IdpID}}
	if s, ok := w.CustomAttributes["username"].(string); ok && s != "" {
		u.UserName = s
	}
	for k, v := range map[string]string{"job_title": "title", "department_name": "department", "employee_number": "employeeNumber"} {
		if s, ok := w.CustomAttributes[k].(string); ok && s != "" {
			u.Attributes[v] = s
		}
	}
	return u
}
