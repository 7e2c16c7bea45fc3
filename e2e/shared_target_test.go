package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/peers"
)

// TestTwoRulesOnePickyTarget: two rules, from two directories (two
// subtrees of slapd, two connections), provision one SCIM service that is
// slow, refuses the `emails.value` filter form and answers 15 % of its
// requests with 429, through the real worker and dev server. Each rule
// provisions its own users once, a deletion in one directory disables
// that rule's user and nothing of the other, and a userName both
// directories have is a conflict, reported, not a duplicate or a takeover.
func TestTwoRulesOnePickyTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	e := setup(t)
	ctx := context.Background()
	if err := e.scim.SetKnobs(ctx, peers.SCIMKnobs{
		Latency: 20 * time.Millisecond, ListLatency: 200 * time.Millisecond,
		RefuseFilters: []string{"emails.value"},
		ThrottleRate:  0.15, RetryAfter: time.Second,
	}); err != nil {
		t.Fatal(err)
	}
	base := e.slapd.BaseDN
	for _, ou := range []string{"east", "west"} {
		var ldif strings.Builder
		fmt.Fprintf(&ldif, "dn: ou=%s,%s\nobjectClass: organizationalUnit\n\n", ou, base)
		var members []string
		for i := range 12 {
			dn := fmt.Sprintf("uid=%s%02d,ou=%s,%s", ou, i, ou, base)
			members = append(members, "member: "+dn)
			fmt.Fprintf(&ldif, "dn: %s\nobjectClass: inetOrgPerson\nuid: %s%02d\ncn: %s %d\nsn: Test\nmail: %s%02d@example.org\n\n", dn, ou, i, ou, i, ou, i)
		}
		fmt.Fprintf(&ldif, "dn: cn=%s-team,ou=%s,%s\nobjectClass: groupOfNames\ncn: %s-team\n%s\n", ou, ou, base, ou, strings.Join(members[:4], "\n"))
		if err := e.slapd.Add(ctx, ldif.String()); err != nil {
			t.Fatal(err)
		}
		e.starter(false, "connection", "create", ou, "--type", "ldap",
			"--set", "url="+e.slapd.URL, "--set", fmt.Sprintf("baseDn=ou=%s,%s", ou, base),
			"--set", "bindDn="+e.slapd.AdminDN, "--set", "bindPassword=env:LDAP_PASSWORD")
	}
	e.starter(false, "connection", "create", "app", "--type", "scim",
		"--set", "baseUrl="+e.scim.URL, "--set", "token=env:SCIM_TOKEN")
	for _, ou := range []string{"east", "west"} {
		e.starter(false, "rule", "create", ou+"-to-app", "--source", ou, "--target", "app", "--poll-interval", "2s")
	}

	owners := func() map[string]map[string]connectors.TargetUser {
		users, _ := e.targetState()
		out := map[string]map[string]connectors.TargetUser{}
		for name, u := range users {
			if out[u.Owner] == nil {
				out[u.Owner] = map[string]connectors.TargetUser{}
			}
			out[u.Owner][name] = u
		}
		return out
	}
	e.eventually("both rules provision their own users and group", 3*time.Minute, func() error {
		o := owners()
		_, groups := e.targetState()
		if len(o["east-to-app"]) != 12 || len(o["west-to-app"]) != 12 || len(groups) != 2 {
			return fmt.Errorf("east %d, west %d users, %d groups", len(o["east-to-app"]), len(o["west-to-app"]), len(groups))
		}
		return nil
	})

	// A user leaves the west directory: west disables it, east's stay.
	if err := e.slapd.Delete(ctx, fmt.Sprintf("uid=west00,ou=west,%s", base)); err != nil {
		t.Fatal(err)
	}
	// A new east user, looked up by email before it is created: the
	// target refuses the first filter form and the connector uses another.
	if err := e.slapd.Add(ctx, fmt.Sprintf("dn: uid=east99,ou=east,%s\nobjectClass: inetOrgPerson\nuid: east99\ncn: East 99\nsn: Test\nmail: east99@example.org\n", base)); err != nil {
		t.Fatal(err)
	}
	// Both directories now have a "shared" user: one target account.
	for _, ou := range []string{"east", "west"} {
		if err := e.slapd.Add(ctx, fmt.Sprintf("dn: uid=shared,ou=%s,%s\nobjectClass: inetOrgPerson\nuid: shared\ncn: Shared\nsn: Test\n", ou, base)); err != nil {
			t.Fatal(err)
		}
	}
	e.eventually("west's deletion, and the shared userName once", 2*time.Minute, func() error {
		o := owners()
		if u := o["west-to-app"]["west00"]; u.Active {
			return fmt.Errorf("west00 is still active")
		}
		if u := o["east-to-app"]["east99"]; !u.Active {
			return fmt.Errorf("east99 is not in the target yet")
		}
		for name, u := range o["east-to-app"] {
			if !u.Active && name != "shared" {
				return fmt.Errorf("east's %s was disabled", name)
			}
		}
		east, west := o["east-to-app"]["shared"], o["west-to-app"]["shared"]
		if east.ID == "" && west.ID == "" {
			return fmt.Errorf("nobody created shared yet")
		}
		if east.ID != "" && west.ID != "" {
			return fmt.Errorf("shared is owned by both rules: %+v, %+v", east, west)
		}
		return nil
	})
	loser := "west-to-app"
	if owners()["west-to-app"]["shared"].ID != "" {
		loser = "east-to-app"
	}
	e.eventually("the other rule reports the collision", time.Minute, func() error {
		st := e.ruleStatus(t, loser)
		if st.Totals.Users.Conflicts == 0 || !strings.Contains(st.LastError, "shared") {
			return fmt.Errorf("conflicts %d, last error %q", st.Totals.Users.Conflicts, st.LastError)
		}
		return nil
	})

	// The target was as picky as promised.
	st, err := e.scim.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Throttled == 0 || st.RefusedFilters["emails.value"] == 0 {
		t.Errorf("the knobs did nothing: throttled %d, refused %v", st.Throttled, st.RefusedFilters)
	}
	t.Logf("target: %d requests, %d throttled, refused filters %v", st.Total, st.Throttled, st.RefusedFilters)
	if n := len(owners()[""]); n != 0 {
		t.Errorf("%d users without an owning rule", n)
	}
}
