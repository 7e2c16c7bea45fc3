package workday

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/workdayfake"
)

// TestTestAndDescribe: a working connection passes with one small
// request; an outage fails at the network stage; Describe says what the
// connection found and never the password.
func TestTestAndDescribe(t *testing.T) {
	srv := newFake(t, workdayfake.Options{})
	srv.Populate(12)
	c := openConn(t, srv, map[string]any{"maxRetryWait": "0s"})
	before := srv.Requests("Get_Workers")
	if err := c.Test(t.Context()); err != nil {
		t.Fatalf("Test: %v", err)
	}
	if n := srv.Requests("Get_Workers") - before; n != 1 {
		t.Errorf("Test made %d requests, want 1", n)
	}
	lines, err := c.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(lines, "\n")
	for _, s := range []string{"tenant acme", "12 worker records", "America/Los_Angeles", "SUPERVISORY", "update-only"} {
		if !strings.Contains(all, s) {
			t.Errorf("Describe does not say %q:\n%s", s, all)
		}
	}
	if strings.Contains(all, srv.Password()) {
		t.Errorf("Describe quotes the password")
	}
	srv.SetOutage(true)
	var te *connectors.TestError
	if err := c.Test(t.Context()); !errors.As(err, &te) || te.Stage != connectors.StageTCP {
		t.Errorf("Test in an outage: %v; want a TestError at stage tcp", err)
	}
	var rl *connectors.RateLimitError
	if _, _, err := c.GetUser(t.Context(), "100000"); !errors.As(err, &rl) {
		t.Errorf("GetUser in an outage: %v; want a rate limit (503)", err)
	}
	srv.SetOutage(false)
	if _, found, err := c.GetUser(t.Context(), "100000"); err != nil || !found {
		t.Errorf("GetUser after the outage: found %t, %v", found, err)
	}
}

// TestReport: a listing by the RaaS report reads one request and gives
// the users the SOAP listing gives, pre-hires and rehires included.
func TestReport(t *testing.T) {
	srv := newFake(t, workdayfake.Options{})
	ids := srv.Populate(40)
	srv.Terminate(ids[5], "2026-01-05")
	srv.Rehire(ids[5], "")
	srv.Hire(workdayfake.Hire{FirstName: "Pre", HireDate: workdayfake.AddDays(srv.Today(), 5), Orgs: map[string]string{"SUPERVISORY": "SUP-01"}})
	srv.Hire(workdayfake.Hire{FirstName: "Far", HireDate: workdayfake.AddDays(srv.Today(), 50)})
	settings := map[string]any{"preHireDays": 7}
	soap := collect(t, openConn(t, srv, settings))
	settings["report"] = srv.ReportPath()
	c := openConn(t, srv, settings)
	before := srv.RequestCounts()
	raas := collect(t, c)
	after := srv.RequestCounts()
	if after["RaaS"]-before["RaaS"] != 1 {
		t.Errorf("the report listing made %d RaaS requests", after["RaaS"]-before["RaaS"])
	}
	if len(raas) != 41 || len(soap) != 41 {
		t.Fatalf("listed %d users by the report, %d by SOAP; want 41 (40, a pre-hire, not the far hire)", len(raas), len(soap))
	}
	for id, u := range soap {
		r := raas[id]
		if d := sameUserShort(r, u); d != "" {
			t.Errorf("user %s: report %s", id, d)
		}
	}
}

func collect(t *testing.T, c *conn) map[string]connectors.User {
	t.Helper()
	out := map[string]connectors.User{}
	if err := c.ListUsers(t.Context(), func(u connectors.User) error { out[u.ExternalID] = u; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameUserShort(a, b connectors.User) string {
	var diffs []string
	for _, f := range []string{"externalId", "userName", "givenName", "familyName", "displayName", "email", "title", "manager", "department", "phoneNumber", "hireDate"} {
		if a.Field(f) != b.Field(f) {
			diffs = append(diffs, f+" "+a.Field(f)+" != "+b.Field(f))
		}
	}
	if a.Active != b.Active {
		diffs = append(diffs, "active")
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "; ")
}
