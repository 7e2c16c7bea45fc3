package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/option"

	"github.com/idsync/idsync/internal/googlefake"
	"github.com/idsync/idsync/internal/graphfake"
	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/webhook"
)

// The Graph fake's tenant and application, as an Entra admin would
// register them; the secret reaches the worker as GRAPH_SECRET.
const (
	graphTenant = "contoso.example"
	graphClient = "11111111-2222-3333-4444-555555555555"
	graphSecret = "e2e~graph~secret"
	// graphExt is the directory extension that keeps the ExternalID
	// (connectors/graph's default for graphClient).
	graphExt = "extension_11111111222233334444555555555555_idsyncExternalId"
)

// ldapPeople is the directory both cloud rules read: 24 plain users, an
// apostrophe and non-ASCII letters in one name, mixed letter case in
// another, two groups.
func ldapPeople(base string) string {
	var b strings.Builder
	uids := []string{"o'brien", "Mary.Jones"}
	for i := range 24 {
		uids = append(uids, fmt.Sprintf("user%02d", i))
	}
	for i, uid := range uids {
		cn, sn := fmt.Sprintf("User %d", i), fmt.Sprint(i)
		switch uid {
		case "o'brien":
			cn, sn = "Zoë O'Brien", "O'Brien"
		case "Mary.Jones":
			cn, sn = "Mary Jones", "Jones"
		}
		fmt.Fprintf(&b, "dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\ngivenName: %s\nsn: %s\n"+
			"mail: %s@corp.example\ntitle: Engineer\nemployeeNumber: %d\n\n",
			uid, base, uid, cn, strings.Fields(cn)[0], sn, strings.ToLower(uid), 1000+i)
	}
	for g, members := range map[string][]string{"engineering": uids[:10], "sales": uids[10:15]} {
		fmt.Fprintf(&b, "dn: cn=%s,ou=groups,%s\nobjectClass: groupOfNames\ncn: %s\n", g, base, g)
		for _, m := range members {
			fmt.Fprintf(&b, "member: uid=%s,ou=people,%s\n", m, base)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// deprovisionedSome finds a count of deprovisions other than zero in the
// output of `sync --wait`.
var deprovisionedSome = regexp.MustCompile(`deprovisioned [1-9]`)

// ldapContractors is another part of the directory, read by a second
// rule into the same Entra tenant: three users, no groups.
func ldapContractors(base string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: ou=contractors,%[1]s\nobjectClass: organizationalUnit\nou: contractors\n\n"+
		"dn: ou=contractor-groups,%[1]s\nobjectClass: organizationalUnit\nou: contractor-groups\n\n", base)
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "dn: uid=c%02[1]d,ou=contractors,%[2]s\nobjectClass: inetOrgPerson\nuid: c%02[1]d\ncn: Contractor %[1]d\n"+
			"givenName: Contractor\nsn: %[1]d\nmail: c%02[1]d@corp.example\ntitle: Contractor\nemployeeNumber: %[3]d\n\n", i, base, 2000+i)
	}
	return b.String()
}

// TestLDAPToGraphAndGoogle runs two rules from one LDAP directory
// (slapd), through the dev server and the worker binary, into the Graph
// fake and the Google Directory fake, and a third rule from another part
// of the directory into the same Entra tenant; both fakes slow (a second
// a page of any listing) and throttling, Graph
// answering 404 for objects created in the last seconds and Google's
// search index frozen: both converge (an apostrophe, non-ASCII letters
// and letter case included); then a change polled from LDAP (an
// attribute, a new user, a member removed) reaches both, and with polls
// an hour apart a change brought by the webhook does too, as does a
// deletion (the account disabled, not deleted).
func TestLDAPToGraphAndGoogle(t *testing.T) {
	if testing.Short() {
		t.Skip("two cloud targets through the dev server")
	}
	graph := graphfake.Start(graphfake.Options{Tenant: graphTenant, ClientID: graphClient, ClientSecret: graphSecret})
	t.Cleanup(graph.Close)
	// Each page of a listing takes a second, as on real tenants.
	graph.SetKnobs(graphfake.Knobs{Latency: 10 * time.Millisecond, PageLatency: time.Second, ThrottleEvery: 13, RetryAfter: time.Second,
		UnavailableEvery: 29, ReplicationDelay: 2 * time.Second})
	gws := googlefake.New(t, googlefake.Knobs{Latency: 10 * time.Millisecond, PageLatency: time.Second, RateLimitEvery: 11, ServerErrorEvery: 31,
		SearchFrozen: true, NotReadyAfterCreate: 1})
	key := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(key, gws.ServiceAccountKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	e := setup(t, "GRAPH_SECRET="+graphSecret)
	ctx := context.Background()
	base := e.slapd.BaseDN
	if err := e.slapd.Add(ctx, ldapPeople(base)+ldapContractors(base)); err != nil {
		t.Fatal(err)
	}
	e.starter(false, "connection", "create", "corp", "--type", "ldap",
		"--set", "url="+e.slapd.URL, "--set", "baseDn="+base, "--set", "userBaseDn=ou=people,"+base,
		"--set", "bindDn="+e.slapd.AdminDN, "--set", "bindPassword=env:LDAP_PASSWORD",
		"--webhook-secret", "env:HOOK_KEY")
	// A second rule on the same Entra tenant, from another part of the
	// directory: the rules must leave each other's users alone.
	e.starter(false, "connection", "create", "contractors", "--type", "ldap",
		"--set", "url="+e.slapd.URL, "--set", "baseDn="+base, "--set", "userBaseDn=ou=contractors,"+base,
		"--set", "groupBaseDn=ou=contractor-groups,"+base,
		"--set", "bindDn="+e.slapd.AdminDN, "--set", "bindPassword=env:LDAP_PASSWORD")
	e.starter(false, "connection", "create", "entra", "--type", "graph", "--tenant", graphTenant,
		"--client-id", graphClient, "--client-secret", "env:GRAPH_SECRET", "--set", "domain="+graphTenant,
		"--set", "tokenUrl="+graph.TokenURL(), "--set", "graphUrl="+graph.GraphURL())
	e.starter(false, "connection", "create", "gws", "--type", "google", "--domain", gws.Domain,
		"--subject", "idsync-admin@"+gws.Domain, "--credentials", "file:"+key,
		"--set", "endpoint="+gws.Endpoint(), "--set", "tokenUrl="+gws.TokenURL())
	for _, conn := range []string{"entra", "gws"} {
		if out := e.starter(false, "connection", "test", conn); !strings.Contains(out, "ok") {
			t.Errorf("connection test %s: %q", conn, out)
		}
	}
	for _, target := range []string{"entra", "gws"} {
		e.starter(false, "rule", "create", "corp-to-"+target, "--source", "corp", "--target", target,
			"--poll-interval", "2s", "--resync-interval", "off")
	}
	e.starter(false, "rule", "create", "contractors-to-entra", "--source", "contractors", "--target", "entra",
		"--poll-interval", "2s", "--resync-interval", "off")
	svc := googleAdmin(t, gws)

	type want struct {
		users   map[string]string   // userName → title, of active users
		off     []string            // userNames that must be disabled
		members map[string][]string // group → userNames
	}
	w := want{users: map[string]string{}, members: map[string][]string{}}
	contractors := map[string]string{"c01": "Contractor", "c02": "Contractor", "c03": "Contractor"}
	uids := []string{"o'brien", "Mary.Jones"}
	for i := range 24 {
		uids = append(uids, fmt.Sprintf("user%02d", i))
	}
	for _, uid := range uids {
		w.users[uid] = "Engineer"
	}
	w.members["engineering"], w.members["sales"] = slices.Clone(uids[:10]), slices.Clone(uids[10:15])
	converged := func(what string) {
		t.Helper()
		began := time.Now()
		e.eventually(what+" in Graph", 2*time.Minute, func() error {
			users := maps.Clone(w.users)
			maps.Copy(users, contractors)
			return graphHas(graph, users, w.off, w.members)
		})
		e.eventually(what+" in Google", time.Minute, func() error {
			return googleHas(svc, gws.Domain, w.users, w.off, w.members)
		})
		t.Logf("%s: %s", what, time.Since(began).Round(time.Second))
	}
	converged("initial sync")

	// The names that Graph and Google treat differently from LDAP.
	if u := graphUser(graph, "o'brien@"+graphTenant); u == nil || u.Props["displayName"] != "Zoë O'Brien" || u.Props["employeeId"] != "1000" {
		t.Errorf("o'brien in Graph: %+v", u)
	}
	// The test's own reads meet the fake's throttling too: asked again.
	if u, err := googleRetry(func() (*admin.User, error) { return svc.Users.Get("mary.jones@" + gws.Domain).Do() }); err != nil || u.Name.FullName != "Mary Jones" {
		t.Errorf("Mary.Jones in Google: %+v, %v", u, err)
	}

	// Polled from LDAP: a title, a new user in a group, a member removed.
	mods := fmt.Sprintf("dn: uid=user03,ou=people,%[1]s\nchangetype: modify\nreplace: title\ntitle: Architect\n\n"+
		"dn: uid=newhire,ou=people,%[1]s\nchangetype: add\nobjectClass: inetOrgPerson\nuid: newhire\ncn: New Hire\ngivenName: New\nsn: Hire\ntitle: Intern\n\n"+
		"dn: cn=sales,ou=groups,%[1]s\nchangetype: modify\nadd: member\nmember: uid=newhire,ou=people,%[1]s\n-\ndelete: member\nmember: uid=user08,ou=people,%[1]s\n",
		base)
	if err := e.slapd.Modify(ctx, mods); err != nil {
		t.Fatal(err)
	}
	w.users["user03"], w.users["newhire"] = "Architect", "Intern"
	w.members["sales"] = append(slices.DeleteFunc(w.members["sales"], func(s string) bool { return s == "user08" }), "newhire")
	converged("polled changes")

	// Full resyncs of both rules on the shared tenant deprovision nothing
	// of the other's; a contractor's change still reaches Entra.
	for _, rule := range []string{"corp-to-entra", "contractors-to-entra"} {
		if out := e.starter(false, "sync", rule, "--wait"); !strings.Contains(out, "deprovisioned 0, unchanged") || deprovisionedSome.MatchString(out) {
			t.Errorf("sync %s on the shared tenant:\n%s", rule, out)
		}
	}
	if err := e.slapd.Modify(ctx, fmt.Sprintf("dn: uid=c02,ou=contractors,%s\nchangetype: modify\nreplace: title\ntitle: Auditor\n", base)); err != nil {
		t.Fatal(err)
	}
	contractors["c02"] = "Auditor"
	converged("resyncs on the shared tenant and a contractor's change")

	// Polls an hour apart: only the webhook brings the next changes.
	for _, target := range []string{"entra", "gws"} {
		e.starter(false, "rule", "update", "corp-to-"+target, "--poll-interval", "1h")
	}
	if err := e.slapd.Modify(ctx, fmt.Sprintf("dn: uid=user05,ou=people,%s\nchangetype: modify\nreplace: title\ntitle: Manager\n", base)); err != nil {
		t.Fatal(err)
	}
	if err := e.slapd.Delete(ctx, "uid=user06,ou=people,"+base); err != nil {
		t.Fatal(err)
	}
	ext := func(userName string) string {
		u := graphUser(graph, userName+"@"+graphTenant)
		if u == nil {
			t.Fatalf("%s is not in Graph", userName)
		}
		_, id := reconcile.SplitExternalID(fmt.Sprint(u.Props[graphExt]))
		return id
	}
	e.postChanges(t, "corp", fmt.Sprintf(`{"changes":[{"kind":"user","op":"upsert","id":%q},{"kind":"user","op":"delete","id":%q}]}`,
		ext("user05"), ext("user06")))
	w.users["user05"] = "Manager"
	delete(w.users, "user06")
	w.off = append(w.off, "user06")
	w.members["engineering"] = slices.DeleteFunc(w.members["engineering"], func(s string) bool { return s == "user06" })
	converged("webhook changes")
}

// postChanges sends a signed change webhook for a connection.
func (e *env) postChanges(t *testing.T, conn, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.hookURL+"/v1/connections/"+conn+"/changes", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, webhook.Sign([]byte(body), []byte(e.hookKey), time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %s", resp.Status)
	}
}

// graphUser is the fake's user with that userPrincipalName (Graph
// compares it without regard to case), or nil.
func graphUser(graph *graphfake.Server, upn string) *graphfake.User {
	for _, u := range graph.Users() {
		if strings.EqualFold(fmt.Sprint(u.Props["userPrincipalName"]), upn) {
			return &u
		}
	}
	return nil
}

// graphHas says how the Graph fake differs from what a rule should have
// written: each of users (userName → jobTitle) enabled, each of off
// disabled, groups with exactly those members.
func graphHas(graph *graphfake.Server, users map[string]string, off []string, members map[string][]string) error {
	byID := map[string]string{}
	seen := map[string]bool{}
	for _, u := range graph.Users() {
		upn := fmt.Sprint(u.Props["userPrincipalName"])
		name, ok := strings.CutSuffix(upn, "@"+graphTenant)
		if !ok {
			return fmt.Errorf("user %s: not in the domain", upn)
		}
		if seen[strings.ToLower(name)] {
			return fmt.Errorf("user %s: twice", upn)
		}
		seen[strings.ToLower(name)] = true
		byID[u.ID] = name
		enabled := u.Props["accountEnabled"] == true
		if title, ok := users[name]; ok && (!enabled || u.Props["jobTitle"] != title) {
			return fmt.Errorf("user %s: enabled %t, jobTitle %v; want enabled, %q", name, enabled, u.Props["jobTitle"], title)
		}
		if slices.Contains(off, name) && enabled {
			return fmt.Errorf("user %s: enabled; want disabled", name)
		}
	}
	if len(seen) != len(users)+len(off) {
		return fmt.Errorf("%d users; want %d", len(seen), len(users)+len(off))
	}
	groups := 0
	for _, g := range graph.Groups() {
		name := fmt.Sprint(g.Props["displayName"])
		want, ok := members[name]
		if !ok {
			return fmt.Errorf("group %s: not wanted", name)
		}
		groups++
		var got []string
		for _, id := range g.MemberIDs {
			got = append(got, byID[id])
		}
		if !sameSet(got, want) {
			return fmt.Errorf("group %s: members %v; want %v", name, got, want)
		}
	}
	if groups != len(members) {
		return fmt.Errorf("%d groups; want %d", groups, len(members))
	}
	return nil
}

// googleAdmin is Google's official client on the fake, as an admin
// reading the console would see the domain.
func googleAdmin(t *testing.T, gws *googlefake.Fake) *admin.Service {
	ctx := context.Background()
	svc, err := admin.NewService(ctx, option.WithEndpoint(gws.Endpoint()), option.WithHTTPClient(gws.Client(ctx)))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// googleHas is graphHas for the Google fake: users by primaryEmail (which
// Google lower-cases) with the letter case of the userName kept in the
// login_id external id, title in the primary organization.
func googleHas(svc *admin.Service, domain string, users map[string]string, off []string, members map[string][]string) error {
	// The fake may throttle these reads as it does the worker's.
	retry := func(fn func() error) error {
		var err error
		for range 5 {
			if err = fn(); err == nil {
				return nil
			}
			time.Sleep(200 * time.Millisecond)
		}
		return err
	}
	byEmail := map[string]string{} // primaryEmail → userName
	seen := 0
	token := ""
	for {
		var page *admin.Users
		if err := retry(func() (err error) {
			page, err = svc.Users.List().Customer("my_customer").Projection("full").MaxResults(500).PageToken(token).Do()
			return err
		}); err != nil {
			return err
		}
		for _, u := range page.Users {
			name := strings.TrimSuffix(u.PrimaryEmail, "@"+domain)
			for _, id := range googleEntries(u.ExternalIds) {
				if id["type"] == "login_id" {
					name = fmt.Sprint(id["value"])
				}
			}
			title := ""
			if orgs := googleEntries(u.Organizations); len(orgs) > 0 {
				title = fmt.Sprint(orgs[0]["title"])
			}
			byEmail[u.PrimaryEmail] = name
			seen++
			if want, ok := users[name]; ok && (u.Suspended || title != want) {
				return fmt.Errorf("user %s: suspended %t, title %q; want active, %q", name, u.Suspended, title, want)
			}
			if slices.Contains(off, name) && !u.Suspended {
				return fmt.Errorf("user %s: active; want suspended", name)
			}
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if seen != len(users)+len(off) {
		return fmt.Errorf("%d users; want %d", seen, len(users)+len(off))
	}
	var groups *admin.Groups
	if err := retry(func() (err error) {
		groups, err = svc.Groups.List().Customer("my_customer").Do()
		return err
	}); err != nil {
		return err
	}
	if len(groups.Groups) != len(members) {
		return fmt.Errorf("%d groups; want %d", len(groups.Groups), len(members))
	}
	for _, g := range groups.Groups {
		want, ok := members[g.Name]
		if !ok {
			return fmt.Errorf("group %s: not wanted", g.Name)
		}
		var ms *admin.Members
		if err := retry(func() (err error) {
			ms, err = svc.Members.List(g.Id).Do()
			return err
		}); err != nil {
			return err
		}
		var got []string
		for _, m := range ms.Members {
			got = append(got, byEmail[m.Email])
		}
		if !sameSet(got, want) {
			return fmt.Errorf("group %s: members %v; want %v", g.Name, got, want)
		}
	}
	return nil
}

// googleEntries reads one of the admin.User fields the client leaves
// as interface{} (externalIds, organizations) as Google sends it.
func googleEntries(v any) []map[string]any {
	list, _ := v.([]any)
	var out []map[string]any
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
