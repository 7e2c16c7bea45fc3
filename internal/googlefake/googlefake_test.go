package googlefake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/google"
	admin "google.golang.org/api/admin/directory/v1"
	reports "google.golang.org/api/admin/reports/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/idsync/idsync/internal/googlefake"
)

// service is the official client against f, authorized by the JWT flow
// with f's service account key, impersonating subject.
func service(t *testing.T, f *googlefake.Fake, subject string) *admin.Service {
	t.Helper()
	cfg, err := google.JWTConfigFromJSON(f.ServiceAccountKey(), admin.AdminDirectoryUserScope, admin.AdminDirectoryGroupScope)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Subject = subject
	svc, err := admin.NewService(t.Context(), option.WithEndpoint(f.Endpoint()), option.WithHTTPClient(cfg.Client(t.Context())))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func reason(err error) string {
	var ge *googleapi.Error
	if errors.As(err, &ge) && len(ge.Errors) > 0 {
		return fmt.Sprintf("%d %s", ge.Code, ge.Errors[0].Reason)
	}
	return fmt.Sprint(err)
}

func newUser(email string) *admin.User {
	return &admin.User{PrimaryEmail: email, Name: &admin.UserName{GivenName: "Ada", FamilyName: "Lovelace"}, Password: "s3cret-Passw0rd",
		ExternalIds:   []map[string]string{{"type": "custom", "customType": "idsync", "value": "ext-1"}},
		Organizations: []map[string]any{{"title": "Countess", "department": "Math", "primary": true}},
		Relations:     []map[string]string{{"type": "manager", "value": "boss@example.org"}}}
}

func TestUsersThroughOfficialClient(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{})
	svc := service(t, f, "admin@example.org")
	ctx := t.Context()
	u, err := svc.Users.Insert(newUser("Ada.Lovelace@example.org")).Context(ctx).Do()
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	if u.Id == "" || u.PrimaryEmail != "ada.lovelace@example.org" || u.Name.FullName != "Ada Lovelace" {
		t.Errorf("inserted %+v", u)
	}
	if _, err := svc.Users.Insert(newUser("ADA.lovelace@example.org")).Context(ctx).Do(); reason(err) != "409 duplicate" {
		t.Errorf("duplicate insert: %v, want 409 duplicate", err)
	}
	got, err := svc.Users.Get("ADA.LOVELACE@example.org").Context(ctx).Do()
	if err != nil || got.Id != u.Id {
		t.Fatalf("get by email in another case: %v, %v", got, err)
	}
	if _, err := svc.Users.Patch(u.Id, &admin.User{Suspended: true, Name: &admin.UserName{GivenName: "Augusta"}}).Context(ctx).Do(); err != nil {
		t.Fatalf("patch: %v", err)
	}
	got, _ = svc.Users.Get(u.Id).Context(ctx).Do()
	if !got.Suspended || got.Name.GivenName != "Augusta" || got.Name.FamilyName != "Lovelace" {
		t.Errorf("after patch: suspended %t, name %+v", got.Suspended, got.Name)
	}
	found, err := svc.Users.List().Customer("my_customer").Query("externalId:ext-1").Context(ctx).Do()
	if err != nil || len(found.Users) != 1 {
		t.Fatalf("query externalId: %v, %v", found, err)
	}
	if err := svc.Users.Delete(u.Id).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Users.Get(u.Id).Context(ctx).Do(); reason(err) != "404 notFound" {
		t.Errorf("get deleted: %v", err)
	}
	st := f.Stats()
	if st.Tokens != 1 || st.Subjects[0] != "admin@example.org" {
		t.Errorf("tokens %d, subjects %v", st.Tokens, st.Subjects)
	}
}

func TestPaging(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{})
	svc := service(t, f, "admin@example.org")
	ctx := t.Context()
	for i := range 7 {
		if _, err := svc.Users.Insert(newUser(fmt.Sprintf("u%d@example.org", i))).Context(ctx).Do(); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	pages := 0
	err := svc.Users.List().Customer("my_customer").MaxResults(3).Pages(ctx, func(p *admin.Users) error {
		pages++
		for _, u := range p.Users {
			if seen[u.Id] {
				t.Errorf("user %s twice", u.Id)
			}
			seen[u.Id] = true
		}
		return nil
	})
	if err != nil || pages != 3 || len(seen) != 7 {
		t.Errorf("paging: %v, %d pages, %d users", err, pages, len(seen))
	}
	if _, err := svc.Users.List().Context(ctx).Do(); reason(err) != "400 invalid" {
		t.Errorf("list without customer or domain: %v", err)
	}
}

func TestGroupsAndMembers(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{})
	svc := service(t, f, "admin@example.org")
	ctx := t.Context()
	u, err := svc.Users.Insert(newUser("m@example.org")).Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	g, err := svc.Groups.Insert(&admin.Group{Email: "Eng@example.org", Name: "Engineering"}).Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Groups.Insert(&admin.Group{Email: "eng@example.org"}).Context(ctx).Do(); reason(err) != "409 duplicate" {
		t.Errorf("duplicate group: %v", err)
	}
	if _, err := svc.Members.Insert(g.Id, &admin.Member{Id: u.Id, Role: "MEMBER"}).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Members.Insert(g.Id, &admin.Member{Email: "M@example.org"}).Context(ctx).Do()
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != 409 || ge.Message != "Member already exists." {
		t.Errorf("duplicate member: %v", err)
	}
	ms, err := svc.Members.List("eng@example.org").Context(ctx).Do()
	if err != nil || len(ms.Members) != 1 || ms.Members[0].Id != u.Id || ms.Members[0].Type != "USER" {
		t.Fatalf("members: %+v, %v", ms, err)
	}
	of, err := svc.Groups.List().UserKey(u.Id).Context(ctx).Do()
	if err != nil || len(of.Groups) != 1 || of.Groups[0].DirectMembersCount != 1 {
		t.Errorf("groups of user: %+v, %v", of, err)
	}
	if err := svc.Members.Delete(g.Id, u.Id).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Members.Delete(g.Id, u.Id).Context(ctx).Do(); reason(err) != "404 notFound" {
		t.Errorf("delete a non-member: %v", err)
	}
}

func TestThrottlingKnobs(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{RateLimitEvery: 2})
	svc := service(t, f, "admin@example.org")
	var got []string
	for range 8 {
		_, err := svc.Users.Get("nobody@example.org").Context(t.Context()).Do()
		got = append(got, reason(err))
	}
	want := "404 notFound|403 userRateLimitExceeded|404 notFound|403 quotaExceeded|404 notFound|429 rateLimitExceeded|404 notFound|403 rateLimitExceeded"
	if strings.Join(got, "|") != want {
		t.Errorf("got %s\nwant %s", strings.Join(got, "|"), want)
	}
	if st := f.Stats(); st.Requests != 8 || st.RateLimited != 4 || st.ByOp["GET users"] != 8 {
		t.Errorf("stats %+v", st)
	}
}

func TestAuth(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{})
	// No token.
	resp, err := http.Get(f.URL + "/admin/directory/v1/users?customer=my_customer")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	// A key the fake does not trust.
	other := googlefake.New(t, googlefake.Knobs{})
	var key map[string]string
	_ = json.Unmarshal(other.ServiceAccountKey(), &key)
	key["token_uri"] = f.TokenURL()
	raw, _ := json.Marshal(key)
	cfg, err := google.JWTConfigFromJSON(raw, admin.AdminDirectoryUserScope)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Subject = "admin@example.org"
	if _, err := cfg.TokenSource(context.Background()).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("untrusted key: %v, want invalid_grant", err)
	}
	// No subject: no domain-wide delegation.
	cfg, _ = google.JWTConfigFromJSON(f.ServiceAccountKey(), admin.AdminDirectoryUserScope)
	if _, err := cfg.TokenSource(context.Background()).Token(); err == nil || !strings.Contains(err.Error(), "unauthorized_client") {
		t.Errorf("no subject: %v, want unauthorized_client", err)
	}
}

// TestResponsesMatchDiscovery checks every property the fake returns for
// User, Group, Member, Users, Groups and Members against the discovery
// document that ships in the client module.
func TestResponsesMatchDiscovery(t *testing.T) {
	doc := discovery(t)
	f := googlefake.New(t, googlefake.Knobs{})
	tok := f.Token("admin@example.org")
	call := func(method, path, body string) any {
		t.Helper()
		req, _ := http.NewRequest(method, f.URL+"/admin/directory/v1/"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d, %v", method, path, resp.StatusCode, err)
		}
		return v
	}
	u := newUser("s@example.org")
	ub, _ := json.Marshal(u)
	user := call("POST", "users", string(ub))
	id := user.(map[string]any)["id"].(string)
	checks := map[string]any{
		"User":  user,
		"Users": call("GET", "users?customer=my_customer&maxResults=1", ""),
		"Group": call("POST", "groups", `{"email":"g@example.org","name":"G","description":"d","externalIds":[{"namespace":"idsync","id":"x"}]}`),
	}
	checks["Member"] = call("POST", "groups/g@example.org/members", `{"id":"`+id+`"}`)
	checks["Groups"] = call("GET", "groups?customer=my_customer", "")
	checks["Members"] = call("GET", "groups/g@example.org/members", "")
	checks["User patched"] = call("PATCH", "users/"+id, `{"suspended":true,"name":{"givenName":"X"}}`)
	for name, v := range checks {
		schema := strings.Fields(name)[0]
		for _, p := range conform(doc, map[string]any{"$ref": schema}, v, schema) {
			t.Errorf("%s: %s", name, p)
		}
	}
}

func discovery(t *testing.T) map[string]any {
	t.Helper()
	return discoveryOf(t, "directory")
}

// discoveryOf reads admin/<api>/v1/admin-api.json of the client module.
func discoveryOf(t *testing.T, api string) map[string]any {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "google.golang.org/api").Output()
	if err != nil {
		t.Fatalf("go list google.golang.org/api: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "admin", api, "v1", "admin-api.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// conform returns how v breaks schema s of the discovery document doc.
func conform(doc, s map[string]any, v any, at string) []string {
	if ref, ok := s["$ref"].(string); ok {
		s = doc["schemas"].(map[string]any)[ref].(map[string]any)
	}
	typ, _ := s["type"].(string)
	bad := func() []string { return []string{fmt.Sprintf("%s: %T %v, want %s (%v)", at, v, v, typ, s["format"])} }
	switch typ {
	case "any", "":
		return nil
	case "string":
		if _, ok := v.(string); !ok {
			return bad()
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case "integer", "number":
		if _, ok := v.(float64); !ok {
			return bad()
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return bad()
		}
		var out []string
		for i, e := range a {
			out = append(out, conform(doc, s["items"].(map[string]any), e, fmt.Sprintf("%s[%d]", at, i))...)
		}
		return out
	case "object":
		o, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		props, _ := s["properties"].(map[string]any)
		var out []string
		for k, e := range o {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if ap, ok := s["additionalProperties"].(map[string]any); ok {
					ps = ap
				} else {
					out = append(out, fmt.Sprintf("%s.%s: not in the schema", at, k))
					continue
				}
			}
			out = append(out, conform(doc, ps, e, at+"."+k)...)
		}
		return out
	}
	return nil
}

func TestSearchFrozen(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{})
	svc := service(t, f, "admin@example.org")
	ctx := t.Context()
	f.SetKnobs(googlefake.Knobs{SearchFrozen: true})
	if _, err := svc.Users.Insert(newUser("late@example.org")).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	found, err := svc.Users.List().Customer("my_customer").Query("externalId:ext-1").Context(ctx).Do()
	if err != nil || len(found.Users) != 0 {
		t.Errorf("a frozen index finds %v, %v", found, err)
	}
	if all, err := svc.Users.List().Customer("my_customer").Context(ctx).Do(); err != nil || len(all.Users) != 1 {
		t.Errorf("a plain listing: %v, %v", all, err)
	}
	f.SetKnobs(googlefake.Knobs{})
	found, err = svc.Users.List().Customer("my_customer").Query("externalId:ext-1").Context(ctx).Do()
	if err != nil || len(found.Users) != 1 {
		t.Errorf("a caught-up index finds %v, %v", found, err)
	}
}

func TestNotReadyAfterCreate(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{NotReadyAfterCreate: 2})
	svc := service(t, f, "admin@example.org")
	ctx := t.Context()
	u, err := svc.Users.Insert(newUser("new@example.org")).Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	g, err := svc.Groups.Insert(&admin.Group{Email: "new-group@example.org"}).Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := svc.Users.Get(u.Id).Context(ctx).Do(); reason(err) != "404 notFound" {
			t.Errorf("get %d right after insert: %v, want 404", i, err)
		}
		if _, err := svc.Members.Insert(g.Id, &admin.Member{Id: u.Id}).Context(ctx).Do(); reason(err) != "404 notFound" {
			t.Errorf("member insert %d right after group insert: %v, want 404", i, err)
		}
	}
	if _, err := svc.Users.Get(u.Id).Context(ctx).Do(); err != nil {
		t.Errorf("get after it settled: %v", err)
	}
	if _, err := svc.Members.Insert(g.Id, &admin.Member{Id: u.Id}).Context(ctx).Do(); err != nil {
		t.Errorf("member insert after both settled: %v", err)
	}
}

func TestServerErrorKnob(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{ServerErrorEvery: 3})
	svc := service(t, f, "admin@example.org")
	var got []string
	for range 6 {
		_, err := svc.Users.List().Customer("my_customer").Context(t.Context()).Do()
		got = append(got, reason(err))
	}
	if want := "<nil>|<nil>|503 backendError|<nil>|<nil>|503 backendError"; strings.Join(got, "|") != want {
		t.Errorf("got %s, want %s", strings.Join(got, "|"), want)
	}
	if st := f.Stats(); st.ServerErrs != 2 {
		t.Errorf("stats %+v", st)
	}
}

// reportsService is the official Reports client against f, with a token
// of the audit scope for subject.
func reportsService(t *testing.T, f *googlefake.Fake, subject string) *reports.Service {
	t.Helper()
	cfg, err := google.JWTConfigFromJSON(f.ServiceAccountKey(), reports.AdminReportsAuditReadonlyScope)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Subject = subject
	svc, err := reports.NewService(t.Context(), option.WithEndpoint(f.Endpoint()), option.WithHTTPClient(cfg.Client(t.Context())))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// activityNames lists the admin activities from start, page by page, as
// "NAME PARAM=value …", oldest first.
func activityNames(t *testing.T, svc *reports.Service, start time.Time, pageSize int64) ([]string, int) {
	t.Helper()
	var out []string
	pages := 0
	call := svc.Activities.List("all", "admin").MaxResults(pageSize)
	if !start.IsZero() {
		call = call.StartTime(start.Format(time.RFC3339Nano))
	}
	err := call.Pages(t.Context(), func(p *reports.Activities) error {
		pages++
		for _, a := range p.Items {
			for _, e := range a.Events {
				s := e.Name
				for _, p := range e.Parameters {
					s += " " + p.Name + "=" + p.Value
				}
				out = append(out, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("activities.list: %v", err)
	}
	slices.Reverse(out)
	return out, pages
}

// TestReportsRecordWrites: every write of the Directory API is an admin
// activity of activities.list, newest first, in pages.
func TestReportsRecordWrites(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{})
	svc := service(t, f, "admin@example.org")
	rs := reportsService(t, f, "admin@example.org")
	ctx := t.Context()
	start := time.Now()
	u, err := svc.Users.Insert(newUser("ada@example.org")).Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Users.Patch(u.Id, &admin.User{PrimaryEmail: "augusta@example.org", Suspended: true}).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	if old, err := svc.Users.Get("Ada@example.org").Context(ctx).Do(); err != nil || old.Id != u.Id || len(old.Aliases) != 1 {
		t.Errorf("a get of the old address of a renamed user: %+v, %v; want the user, the address an alias", old, err)
	}
	if _, err := svc.Users.Insert(newUser("ada@example.org")).Context(ctx).Do(); reason(err) != "409 duplicate" {
		t.Errorf("a new user at a renamed user's old address: %v, want 409 duplicate", err)
	}
	g, err := svc.Groups.Insert(&admin.Group{Email: "eng@example.org", Name: "Eng"}).Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Members.Insert(g.Id, &admin.Member{Id: u.Id}).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Members.Delete(g.Id, u.Id).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Groups.Patch(g.Id, &admin.Group{Name: "Engineering"}).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Groups.Delete(g.Id).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Users.Delete(u.Id).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	f.RecordActivity("USER_SETTINGS", "CHANGE_FIRST_NAME", "USER_EMAIL", "someone@example.org")
	got, pages := activityNames(t, rs, start, 3)
	want := []string{
		"CREATE_USER USER_EMAIL=ada@example.org",
		"RENAME_USER USER_EMAIL=ada@example.org NEW_VALUE=augusta@example.org",
		"SUSPEND_USER USER_EMAIL=augusta@example.org",
		"CREATE_GROUP GROUP_EMAIL=eng@example.org",
		"ADD_GROUP_MEMBER USER_EMAIL=augusta@example.org GROUP_EMAIL=eng@example.org",
		"REMOVE_GROUP_MEMBER USER_EMAIL=augusta@example.org GROUP_EMAIL=eng@example.org",
		"CHANGE_GROUP_NAME GROUP_EMAIL=eng@example.org",
		"DELETE_GROUP GROUP_EMAIL=eng@example.org",
		"DELETE_USER USER_EMAIL=augusta@example.org",
		"CHANGE_FIRST_NAME USER_EMAIL=someone@example.org",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("activities:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if pages != 4 {
		t.Errorf("%d pages of 3 for 10 activities, want 4", pages)
	}
	if _, err := rs.Activities.List("all", "admin").StartTime(time.Now().Add(time.Minute).Format(time.RFC3339)).Context(ctx).Do(); reason(err) != "400 invalid" {
		t.Errorf("a startTime after now: %v, want 400", err)
	}
	deleted, err := svc.Users.List().Customer("my_customer").ShowDeleted("true").Context(ctx).Do()
	if err != nil || len(deleted.Users) != 1 || deleted.Users[0].Id != u.Id {
		t.Errorf("showDeleted: %+v, %v", deleted, err)
	}
	if f.EditUser("nobody@example.org", func(map[string]any) {}) {
		t.Errorf("EditUser found a user that does not exist")
	}
}

// TestReportLag: an activity is listed only once ReportLag has passed.
func TestReportLag(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{ReportLag: 300 * time.Millisecond})
	rs := reportsService(t, f, "admin@example.org")
	f.RecordActivity("USER_SETTINGS", "CREATE_USER", "USER_EMAIL", "a@example.org")
	if got, _ := activityNames(t, rs, time.Time{}, 10); len(got) != 0 {
		t.Errorf("before the lag: %v", got)
	}
	time.Sleep(350 * time.Millisecond)
	if got, _ := activityNames(t, rs, time.Time{}, 10); len(got) != 1 {
		t.Errorf("after the lag: %v", got)
	}
}

// TestReportsScope: a grant of a refused scope is unauthorized_client; a
// token of other scopes gets a 403 from activities.list.
func TestReportsScope(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{RefuseScopes: []string{reports.AdminReportsAuditReadonlyScope}})
	rs := reportsService(t, f, "admin@example.org")
	_, err := rs.Activities.List("all", "admin").Context(t.Context()).Do()
	if err == nil || !strings.Contains(err.Error(), "unauthorized_client") {
		t.Errorf("a refused scope: %v, want unauthorized_client", err)
	}
	cfg, _ := google.JWTConfigFromJSON(f.ServiceAccountKey(), admin.AdminDirectoryUserReadonlyScope)
	cfg.Subject = "admin@example.org"
	other, err := reports.NewService(t.Context(), option.WithEndpoint(f.Endpoint()), option.WithHTTPClient(cfg.Client(t.Context())))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Activities.List("all", "admin").Context(t.Context()).Do(); reason(err) != "403 insufficientPermissions" {
		t.Errorf("a token without the audit scope: %v, want 403 insufficientPermissions", err)
	}
}

// TestMalformedKnob: every Nth answer is a 200 whose JSON is cut short.
func TestMalformedKnob(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{MalformedEvery: 2})
	svc := service(t, f, "admin@example.org")
	var got []string
	for range 4 {
		_, err := svc.Users.List().Customer("my_customer").Context(t.Context()).Do()
		got = append(got, fmt.Sprint(err != nil))
	}
	if strings.Join(got, " ") != "false true false true" {
		t.Errorf("errors %v, want every second answer malformed", got)
	}
}

// TestReportsMatchDiscovery checks Activities and Activity as the fake
// returns them against the Reports discovery document in the client
// module.
func TestReportsMatchDiscovery(t *testing.T) {
	doc := discoveryOf(t, "reports")
	f := googlefake.New(t, googlefake.Knobs{})
	tok := f.Token("admin@example.org")
	f.RecordActivity("GROUP_SETTINGS", "ADD_GROUP_MEMBER", "USER_EMAIL", "a@example.org", "GROUP_EMAIL", "g@example.org")
	f.RecordActivity("USER_SETTINGS", "CREATE_USER", "USER_EMAIL", "a@example.org")
	req, _ := http.NewRequest("GET", f.URL+"/admin/reports/v1/activity/users/all/applications/admin?maxResults=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("activities: %d, %v", resp.StatusCode, err)
	}
	if v["nextPageToken"] == nil || len(v["items"].([]any)) != 1 {
		t.Errorf("a page of 1 of 2 activities: %v", v)
	}
	for _, p := range conform(doc, map[string]any{"$ref": "Activities"}, v, "Activities") {
		t.Errorf("%s", p)
	}
	// A property the schema lacks is caught: the check can fail.
	v["items"].([]any)[0].(map[string]any)["bogus"] = true
	if len(conform(doc, map[string]any{"$ref": "Activities"}, v, "Activities")) == 0 {
		t.Errorf("conform accepts a property outside the schema")
	}
}
