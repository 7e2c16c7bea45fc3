package e2e

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/workdayfake"
)

// TestWorkdayWriteBack runs an LDAP → Workday rule through the dev
// server and the worker binary: the directory assigns work emails, phones
// and usernames, and the rule writes them back to the workers with the
// same employee number, and nothing else. A worker the directory does not
// have is left alone; a directory user Workday does not have is counted
// unmatched, never created; a user deleted in the directory, and a full
// resync after it, deprovision nothing.
func TestWorkdayWriteBack(t *testing.T) {
	wd := workdayfake.ForTest(t, workdayfake.Options{Knobs: workdayfake.Knobs{Latency: 5 * time.Millisecond, LatencyMax: 30 * time.Millisecond}})
	ids := wd.Populate(6)
	e := setup(t, "WORKDAY_PASSWORD="+wd.Password())
	ctx := context.Background()
	before := map[string]workdayfake.Worker{}
	for _, id := range ids {
		w, _ := wd.Worker(id)
		before[id] = w
	}

	// The directory has workers 0–2 (by employee number) and one
	// contractor Workday does not know.
	var ldif strings.Builder
	for i, id := range append(ids[:3:3], "999999") {
		fmt.Fprintf(&ldif, "dn: uid=dir%d,ou=people,%s\nobjectClass: inetOrgPerson\nuid: dir%d\ncn: Dir %d\nsn: %d\n"+
			"employeeNumber: %s\nmail: dir%d@corp.example\ntelephoneNumber: +1 650 555 01%02d\n\n", i, e.slapd.BaseDN, i, i, i, id, i, i)
	}
	if err := e.slapd.Add(ctx, ldif.String()); err != nil {
		t.Fatal(err)
	}
	e.starter(false, "connection", "create", "corp", "--type", "ldap",
		"--set", "url="+e.slapd.URL, "--set", "baseDn="+e.slapd.BaseDN,
		"--set", "bindDn="+e.slapd.AdminDN, "--set", "bindPassword=env:LDAP_PASSWORD")
	e.starter(false, "connection", "create", "hr", "--type", "workday", "--url", wd.URL(), "--tenant", wd.Tenant(),
		"--username", wd.Username(), "--password", "env:WORKDAY_PASSWORD")
	e.starter(false, "rule", "create", "corp-to-hr", "--source", "corp", "--target", "hr",
		"--match", "employeeNumber", "--poll-interval", "2s", "--resync-interval", "off")

	e.eventually("write-back", time.Minute, func() error {
		for i, id := range ids[:3] {
			w, _ := wd.Worker(id)
			if w.Email != fmt.Sprintf("dir%d@corp.example", i) || w.UserID != fmt.Sprintf("dir%d", i) || !strings.Contains(w.Phone, "555 01") {
				return fmt.Errorf("worker %s: email %q, user %q, phone %q", id, w.Email, w.UserID, w.Phone)
			}
		}
		return nil
	})
	checkOnlyContact := func(when string) {
		t.Helper()
		for i, id := range ids {
			w, _ := wd.Worker(id)
			want := before[id]
			if i < 3 {
				want.Email, want.UserID, want.Phone = w.Email, w.UserID, w.Phone
			}
			if !workersEqual(w, want) {
				t.Errorf("%s: worker %s changed beyond its contact data:\n got %+v\nwant %+v", when, id, w, want)
			}
		}
		for _, wr := range wd.Writes() {
			if wr.Op != "Maintain_Contact_Information" && wr.Op != "Update_Workday_Account" {
				t.Errorf("%s: write %s reached Workday", when, wr.Op)
			}
		}
	}
	checkOnlyContact("after the initial sync")
	st := e.ruleStatus(t, "corp-to-hr")
	if u := st.LastResync.Result.Users; u.Unmatched != 1 || u.Created+u.Deprovisioned != 0 {
		t.Errorf("initial sync: %+v; want the contractor unmatched, nothing created or deprovisioned", u)
	}
	writes := len(wd.Writes())

	// A user leaves the directory; then a full resync: nothing is
	// deprovisioned, and nothing already right is written again.
	if err := e.slapd.Delete(ctx, "uid=dir0,ou=people,"+e.slapd.BaseDN); err != nil {
		t.Fatal(err)
	}
	e.waitPolls(t, "corp-to-hr", 2)
	out := e.starter(false, "sync", "corp-to-hr", "--wait")
	t.Logf("sync: %s", out)
	st = e.ruleStatus(t, "corp-to-hr")
	if u := st.LastResync.Result.Users; u.Deprovisioned != 0 || u.Unchanged != 2 || u.Updated != 0 {
		t.Errorf("resync after a user left: %+v; want 2 unchanged, nothing deprovisioned or updated", u)
	}
	if w, _ := wd.Worker(ids[0]); !w.Active {
		t.Errorf("worker %s was deactivated", ids[0])
	}
	if n := len(wd.Writes()); n != writes {
		t.Errorf("%d more writes reached Workday, want none", n-writes)
	}
	checkOnlyContact("after the resync")
}

// workersEqual compares two workers field by field, attributes included.
func workersEqual(a, b workdayfake.Worker) bool {
	am, bm := a.Orgs, b.Orgs
	a.Orgs, b.Orgs = nil, nil
	return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b) && maps.Equal(am, bm)
}
