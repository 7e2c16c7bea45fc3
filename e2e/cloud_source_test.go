package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"
	admin "google.golang.org/api/admin/directory/v1"

	"github.com/idsync/idsync/internal/googlefake"
	"github.com/idsync/idsync/internal/graphfake"
	"github.com/idsync/idsync/internal/peers"
	"github.com/idsync/idsync/workflows"
)

// The directories the source tests fill: users, groups, each user in
// sourceGroupsPerUser consecutive groups.
const (
	sourceUsers         = 200
	sourceGroups        = 12
	sourceGroupsPerUser = 3
)

// pickySCIM makes scimmy as slow and choosy as a production target: it
// throttles, and refuses the emails.value filter forms (emails.value eq,
// emails[value eq]) so that lookups by email take the form left,
// emails eq. (Refusing that one too makes each lookup by email page
// through the target, at most maxScan resources: connectors/scim's
// degrade tests cover that path.)
func pickySCIM(t *testing.T, e *env) {
	t.Helper()
	if err := e.scim.SetKnobs(context.Background(), peers.SCIMKnobs{Latency: time.Millisecond, LatencyMax: 10 * time.Millisecond,
		ListLatency: 200 * time.Millisecond, ListLatencyMax: 800 * time.Millisecond,
		ThrottleRate: 0.02, RetryAfter: time.Second, RefuseFilters: []string{"emails.value"}}); err != nil {
		t.Fatal(err)
	}
}

// waitResync waits for the rule's first full resync to finish, and
// returns its summary.
func (e *env) waitResync(t *testing.T, rule string, timeout time.Duration) workflows.ResyncSummary {
	t.Helper()
	var st workflows.RuleStatus
	e.eventually(rule+": resync done", timeout, func() error {
		st = e.ruleStatus(t, rule)
		if st.LastResync == nil || st.LastResync.Finished.IsZero() {
			return fmt.Errorf("state %s, last error %q", st.State, st.LastError)
		}
		return nil
	})
	if st.LastResync.Error != "" {
		t.Fatalf("%s: resync failed: %s", rule, st.LastResync.Error)
	}
	return *st.LastResync
}

// resyncWritesNothing runs `starter sync --wait` and checks that it found
// every user and group unchanged and sent the target no write.
func (e *env) resyncWritesNothing(t *testing.T, rule string, users, groups int) {
	t.Helper()
	ctx := context.Background()
	if err := e.scim.ResetStats(ctx); err != nil {
		t.Fatal(err)
	}
	var res workflows.ResyncResult
	if err := json.Unmarshal([]byte(e.starter(false, "sync", rule, "--wait", "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	u, g := res.Result.Users, res.Result.Groups
	if u.Changed()+g.Changed() != 0 || u.Unchanged != users || g.Unchanged != groups || u.Failed+g.Failed != 0 {
		t.Errorf("second full sync: users %+v, groups %+v; want %d and %d unchanged", u, g, users, groups)
	}
	st, err := e.scim.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		if n := st.ByMethod[m]; n != 0 {
			t.Errorf("second full sync sent %d %s requests to the target (%v)", n, m, st.ByRoute)
		}
	}
	if st.ByMethod["GET"] == 0 {
		t.Error("second full sync did not read the target: drift there would go unseen")
	}
}

// directoryToSCIM creates the SCIM connection "app" and a rule into it
// from the source connection (polls every 2 s, no scheduled resync), and
// waits for its initial full resync to create every user and group of
// the directory the source tests fill.
func (e *env) directoryToSCIM(t *testing.T, source, rule string) workflows.ResyncSummary {
	t.Helper()
	e.starter(false, "connection", "create", "app", "--type", "scim",
		"--set", "baseUrl="+e.scim.URL, "--set", "token=env:SCIM_TOKEN")
	e.starter(false, "rule", "create", rule, "--source", source, "--target", "app",
		"--poll-interval", "2s", "--resync-interval", "off", "--concurrency", "8")
	began := time.Now()
	first := e.waitResync(t, rule, 3*time.Minute)
	t.Logf("initial sync of %d users, %d groups: %s", sourceUsers, sourceGroups, time.Since(began).Round(time.Second))
	if u, g := first.Result.Users, first.Result.Groups; u.Created != sourceUsers || g.Created != sourceGroups || u.Failed+g.Failed != 0 {
		t.Fatalf("initial sync: users %+v, groups %+v", u, g)
	}
	return first
}

// TestGoogleToSCIM runs a Google Workspace → SCIM rule through the dev
// server and the worker binary: the Google fake throttles (403
// rateLimitExceeded and the like, 429) and answers slowly, scimmy too and
// refuses filters on emails. 200 users and 12 groups converge; a second
// full sync writes nothing but still reads the target; changes made by an
// admin (a title, a suspension, a new user in a group, a member removed)
// reach the target with the next polls.
func TestGoogleToSCIM(t *testing.T) {
	if testing.Short() {
		t.Skip("a Google source through the dev server")
	}
	gws := googlefake.New(t, googlefake.Knobs{})
	key := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(key, gws.ServiceAccountKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	svc := googleAdmin(t, gws)
	userIDs := make([]string, sourceUsers)
	for i := range sourceUsers {
		userIDs[i] = googleInsertUser(t, svc, gws.Domain, fmt.Sprintf("user%03d", i), fmt.Sprintf("Engineer %d", i%5))
	}
	groupIDs := make([]string, sourceGroups)
	for g := range sourceGroups {
		gr, err := svc.Groups.Insert(&admin.Group{Email: fmt.Sprintf("team-%02d@%s", g, gws.Domain), Name: fmt.Sprintf("Team %02d", g)}).Do()
		if err != nil {
			t.Fatal(err)
		}
		groupIDs[g] = gr.Id
		for i := range sourceUsers {
			if (i+g)%sourceGroups < sourceGroupsPerUser {
				if _, err := svc.Members.Insert(gr.Id, &admin.Member{Id: userIDs[i], Role: "MEMBER"}).Do(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	gws.SetKnobs(googlefake.Knobs{Latency: 5 * time.Millisecond, RateLimitEvery: 17})

	e := setup(t)
	pickySCIM(t, e)
	e.starter(false, "connection", "create", "gws", "--type", "google", "--domain", gws.Domain,
		"--subject", "idsync-admin@"+gws.Domain, "--credentials", "file:"+key,
		"--set", "endpoint="+gws.Endpoint(), "--set", "tokenUrl="+gws.TokenURL(), "--set", "readOnly=true")
	e.directoryToSCIM(t, "gws", "gws-to-app")
	u7 := e.userNamed("user007")
	if u7.Attributes["title"] != "Engineer 2" || !u7.Active || u7.ExternalID != userIDs[7] {
		t.Errorf("user007 in the target: %+v", u7)
	}
	want := 0
	for i := range sourceUsers {
		if i%sourceGroups < sourceGroupsPerUser {
			want++
		}
	}
	if team0 := e.groupNamed("Team 00"); len(team0.MemberIDs) != want {
		t.Errorf("Team 00 has %d members in the target, want %d", len(team0.MemberIDs), want)
	}
	e.resyncWritesNothing(t, "gws-to-app", sourceUsers, sourceGroups)
	second := e.ruleStatus(t, "gws-to-app").LastResync.WorkflowID

	// An admin's changes, polled.
	if _, err := googleRetry(func() (*admin.User, error) {
		return svc.Users.Patch(userIDs[7], &admin.User{Organizations: []map[string]any{{"title": "Architect", "primary": true}}}).Do()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := googleRetry(func() (*admin.User, error) {
		return svc.Users.Patch(userIDs[8], &admin.User{Suspended: true}).Do()
	}); err != nil {
		t.Fatal(err)
	}
	newID := googleInsertUser(t, svc, gws.Domain, "newhire", "Intern")
	if _, err := googleRetry(func() (*admin.Member, error) {
		return svc.Members.Insert(groupIDs[0], &admin.Member{Id: newID, Role: "MEMBER"}).Do()
	}); err != nil {
		t.Fatal(err)
	}
	// user000 is in groups 0, 11 and 10; it leaves group 0.
	if _, err := googleRetry(func() (struct{}, error) { return struct{}{}, svc.Members.Delete(groupIDs[0], userIDs[0]).Do() }); err != nil {
		t.Fatal(err)
	}
	e.eventually("polled changes", 2*time.Minute, func() error {
		if u := e.userNamed("user007"); u.Attributes["title"] != "Architect" {
			return fmt.Errorf("user007's title is %q", u.Attributes["title"])
		}
		if u := e.userNamed("user008"); u.Active {
			return fmt.Errorf("user008 is active")
		}
		hire := e.userNamed("newhire")
		if hire.ID == "" || hire.Attributes["title"] != "Intern" {
			return fmt.Errorf("newhire: %+v", hire)
		}
		g := e.groupNamed("Team 00")
		if !hasMember(g, hire.ID) || hasMember(g, e.userNamed("user000").ID) {
			return fmt.Errorf("Team 00 members: newhire %t, user000 %t", hasMember(g, hire.ID), hasMember(g, e.userNamed("user000").ID))
		}
		return nil
	})
	if st := e.ruleStatus(t, "gws-to-app"); st.LastResync.WorkflowID != second {
		t.Errorf("a full resync ran for the polled changes: %+v", st.LastResync)
	}
}

// googleInsertUser creates a user as an admin would, with a password
// Google requires and nobody keeps.
func googleInsertUser(t *testing.T, svc *admin.Service, domain, name, title string) string {
	t.Helper()
	u, err := googleRetry(func() (*admin.User, error) {
		return svc.Users.Insert(&admin.User{PrimaryEmail: name + "@" + domain, Password: "Unused-" + name + "-9",
			Name:          &admin.UserName{GivenName: "User", FamilyName: name},
			Organizations: []map[string]any{{"title": title, "primary": true}}}).Do()
	})
	if err != nil {
		t.Fatal(err)
	}
	return u.Id
}

// googleRetry retries a call the throttling fake refused.
func googleRetry[T any](fn func() (T, error)) (T, error) {
	var v T
	var err error
	for range 10 {
		if v, err = fn(); err == nil {
			return v, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return v, err
}

// graphAdmin is an Entra admin's Graph client on the fake: its own
// client credentials, JSON in and out, a throttled request sent again.
type graphAdmin struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newGraphAdmin(t *testing.T, graph *graphfake.Server) *graphAdmin {
	cc := clientcredentials.Config{ClientID: graphClient, ClientSecret: graphSecret, TokenURL: graph.TokenURL(),
		Scopes: []string{"https://graph.microsoft.com/.default"}}
	return &graphAdmin{t: t, base: graph.GraphURL(), hc: cc.Client(context.Background())}
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (g *graphAdmin) do(method, path string, body, out any) {
	g.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest(method, g.base+path, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		resp, err := g.hc.Do(req)
		if err != nil {
			g.t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) && attempt < 10:
			time.Sleep(200 * time.Millisecond)
			continue
		case resp.StatusCode == http.StatusNotFound && method == "POST" && attempt < 10:
			// A reference to an object created a moment ago: replication delay.
			time.Sleep(300 * time.Millisecond)
			continue
		case resp.StatusCode >= 300:
			g.t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				g.t.Fatalf("%s %s: %v", method, path, err)
			}
		}
		return
	}
}

func (g *graphAdmin) createUser(name, title string) string {
	var u struct{ ID string }
	g.do("POST", "/users", map[string]any{"accountEnabled": true, "displayName": "User " + name, "mailNickname": name,
		"userPrincipalName": name + "@" + graphTenant, "jobTitle": title,
		"passwordProfile": map[string]any{"forceChangePasswordNextSignIn": true, "password": "Unused-" + name + "-9"}}, &u)
	return u.ID
}

func (g *graphAdmin) addMember(group, user string) {
	g.do("POST", "/groups/"+group+"/members/$ref", map[string]string{"@odata.id": g.base + "/directoryObjects/" + user}, nil)
}

// TestGraphDeltaToSCIM runs a Microsoft Graph → SCIM rule through the dev
// server and the worker binary, against the Graph fake with throttling,
// 503s, small delta pages and replication delay: 200 users and 12 groups
// converge; then adds, updates, deletions (delta's "@removed") and member
// adds and removals (members@delta) reach the target through delta polls,
// without a full resync; an expired delta token makes the rule resync
// from the source, which finds nothing to change.
func TestGraphDeltaToSCIM(t *testing.T) {
	if testing.Short() {
		t.Skip("a Graph source through the dev server")
	}
	graph := graphfake.Start(graphfake.Options{Tenant: graphTenant, ClientID: graphClient, ClientSecret: graphSecret})
	t.Cleanup(graph.Close)
	ga := newGraphAdmin(t, graph)
	userIDs := make([]string, sourceUsers)
	for i := range sourceUsers {
		userIDs[i] = ga.createUser(fmt.Sprintf("user%03d", i), fmt.Sprintf("Engineer %d", i%5))
	}
	groupIDs := make([]string, sourceGroups)
	for g := range sourceGroups {
		var gr struct{ ID string }
		ga.do("POST", "/groups", map[string]any{"displayName": fmt.Sprintf("Team %02d", g), "mailEnabled": false,
			"mailNickname": fmt.Sprintf("team%02d", g), "securityEnabled": true}, &gr)
		groupIDs[g] = gr.ID
		for i := range sourceUsers {
			if (i+g)%sourceGroups < sourceGroupsPerUser {
				ga.addMember(gr.ID, userIDs[i])
			}
		}
	}
	graph.SetKnobs(graphfake.Knobs{Latency: 5 * time.Millisecond, ThrottleEvery: 11, RetryAfter: time.Second,
		UnavailableEvery: 37, DeltaPageSize: 40, ReplicationDelay: time.Second})

	e := setup(t, "GRAPH_SECRET="+graphSecret)
	pickySCIM(t, e)
	e.starter(false, "connection", "create", "entra", "--type", "graph", "--tenant", graphTenant,
		"--client-id", graphClient, "--client-secret", "env:GRAPH_SECRET", "--set", "domain="+graphTenant,
		"--set", "tokenUrl="+graph.TokenURL(), "--set", "graphUrl="+graph.GraphURL())
	first := e.directoryToSCIM(t, "entra", "entra-to-app")
	if u := e.userNamed("user007"); u.Attributes["title"] != "Engineer 2" || !u.Active || u.ExternalID != userIDs[7] {
		t.Errorf("user007 in the target: %+v", u)
	}

	// Changes in Entra, seen through delta.
	hire := ga.createUser("newhire", "Intern")
	ga.addMember(groupIDs[0], hire)
	ga.do("PATCH", "/users/"+userIDs[7], map[string]any{"jobTitle": "Architect"}, nil)
	ga.do("PATCH", "/users/"+userIDs[8], map[string]any{"accountEnabled": false}, nil)
	ga.do("DELETE", "/users/"+userIDs[9], nil, nil)
	ga.do("DELETE", "/groups/"+groupIDs[0]+"/members/"+userIDs[0]+"/$ref", nil, nil)
	ga.do("PATCH", "/groups/"+groupIDs[5], map[string]any{"displayName": "Team Five"}, nil)
	ga.do("DELETE", "/groups/"+groupIDs[11], nil, nil)
	e.eventually("delta changes", 2*time.Minute, func() error {
		if u := e.userNamed("user007"); u.Attributes["title"] != "Architect" {
			return fmt.Errorf("user007's title is %q", u.Attributes["title"])
		}
		if u := e.userNamed("user008"); u.Active {
			return fmt.Errorf("user008 is active")
		}
		if u := e.userNamed("user009"); u.Active {
			return fmt.Errorf("user009, deleted in Entra, is active")
		}
		h := e.userNamed("newhire")
		if h.ExternalID != hire || h.Attributes["title"] != "Intern" {
			return fmt.Errorf("newhire: %+v", h)
		}
		g := e.groupNamed("Team 00")
		if !hasMember(g, h.ID) || hasMember(g, e.userNamed("user000").ID) {
			return fmt.Errorf("Team 00 members: newhire %t, user000 %t", hasMember(g, h.ID), hasMember(g, e.userNamed("user000").ID))
		}
		if g := e.groupNamed("Team Five"); g.ID == "" {
			return fmt.Errorf("Team 05 not renamed")
		}
		if g := e.groupNamed("Team 11"); g.ID != "" {
			return fmt.Errorf("Team 11, deleted in Entra, is in the target")
		}
		return nil
	})
	st := e.ruleStatus(t, "entra-to-app")
	if st.LastResync.WorkflowID != first.WorkflowID {
		t.Errorf("a full resync ran for delta changes: %+v", st.LastResync)
	}

	// An expired delta token: the rule resyncs from the source.
	graph.ExpireDeltaTokens()
	e.eventually("resync after an expired delta token", 2*time.Minute, func() error {
		st = e.ruleStatus(t, "entra-to-app")
		if st.LastResync.WorkflowID == first.WorkflowID || st.LastResync.Finished.IsZero() {
			return fmt.Errorf("no new resync; state %s, last poll %q, error %q", st.State, st.LastPollResult, st.LastError)
		}
		return nil
	})
	if r := st.LastResync; r.Reason != "source" || r.Error != "" || r.Result.Users.Changed()+r.Result.Groups.Changed() != 0 {
		t.Errorf("resync after an expired delta token: %+v; want reason source, nothing changed", r)
	}
}
