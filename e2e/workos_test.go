package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/workosfake"
	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

const workosUsers = 1000

// TestWorkOSToSCIM runs a WorkOS → SCIM rule through the dev server and
// the worker binary, against a fake WorkOS that allows 4 user-list
// requests a second per directory and answers slowly, as the real one:
// 1,000 users converge; 500 events (creates, updates, deactivations,
// deletions, group adds and removes) reach the target in order, brought
// by webhooks delivered twice and out of order; an event that a webhook
// and a poll both bring is applied once; a cursor past the events'
// retention leads to a full resync.
func TestWorkOSToSCIM(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 users through the dev server")
	}
	fake := workosfake.ForTest(t, workosfake.Options{Knobs: workosfake.Knobs{Latency: 10 * time.Millisecond, UsersPerSecond: 4}})
	dir := fake.Directory()
	groupNames := make([]string, 10)
	for i := range groupNames {
		groupNames[i] = fmt.Sprintf("team-%d", i)
	}
	users, groups := dir.Populate(workosUsers, groupNames...)
	e := setup(t, "WORKOS_API_KEY="+fake.APIKey())
	ctx := context.Background()
	pickySCIM(t, e)
	e.starter(false, "connection", "create", "idp", "--type", "workos", "--url", fake.URL(),
		"--api-key", "env:WORKOS_API_KEY", "--directory", dir.ID, "--webhook-secret", "env:HOOK_KEY")
	e.starter(false, "connection", "create", "app", "--type", "scim",
		"--set", "baseUrl="+e.scim.URL, "--set", "token=env:SCIM_TOKEN")
	// Polls an hour apart: until the end, only webhooks make the rule poll.
	e.starter(false, "rule", "create", "idp-to-app", "--source", "idp", "--target", "app",
		"--poll-interval", "1h", "--resync-interval", "off", "--concurrency", "8")

	began := time.Now()
	e.eventually("1,000 users converge", 4*time.Minute, func() error {
		return workosConverged(e, dir)
	})
	t.Logf("initial sync of %d users: %s", workosUsers, time.Since(began).Round(time.Second))
	hook := e.hookURL + "/v1/connections/idp/changes"
	deliver := func(opts workosfake.DeliveryOptions) {
		t.Helper()
		opts.Client = &http.Client{Transport: vendorRetries{}}
		for _, d := range fake.Deliver(ctx, hook, []byte(e.hookKey), opts) {
			if d.Status != 202 {
				t.Fatalf("webhook for %s: status %d, %v", d.EventID, d.Status, d.Err)
			}
		}
	}
	// The events up to now (the initial population) ring once, so that
	// the cursor is past them.
	deliver(workosfake.DeliveryOptions{})
	e.eventually("quiet after the initial events", time.Minute, func() error {
		if st := e.ruleStatus(t, "idp-to-app"); st.State != workflows.StateIdle || st.LastPoll.IsZero() {
			return fmt.Errorf("state %s, last poll %s", st.State, st.LastPollResult)
		}
		return nil
	})

	// One change, its webhook delivered twice, then a regular poll: the
	// change is applied once.
	before := e.ruleStatus(t, "idp-to-app").Totals.Users
	if _, err := dir.UpdateUser(users[0].ID, func(u *workosfake.User) { u.LastName = "Once" }); err != nil {
		t.Fatal(err)
	}
	deliver(workosfake.DeliveryOptions{Duplicate: true})
	e.eventually("the change", 30*time.Second, func() error {
		if u := e.targetByExternalID(users[0].ID); u.FamilyName != "Once" {
			return fmt.Errorf("family name %q", u.FamilyName)
		}
		return nil
	})
	e.starter(false, "rule", "update", "idp-to-app", "--poll-interval", "2s")
	e.waitPolls(t, "idp-to-app", 2)
	after := e.ruleStatus(t, "idp-to-app").Totals.Users
	if got := after.Updated - before.Updated; got != 1 {
		t.Errorf("the change was applied %d times (updated %d → %d), want once", got, before.Updated, after.Updated)
	}
	e.starter(false, "rule", "update", "idp-to-app", "--poll-interval", "1h")

	// 500 events, order-sensitive ones among them (a user updated twice,
	// a membership added then removed), their webhooks duplicated and
	// shuffled.
	n0 := len(fake.Events())
	var added []workosfake.User
	for i := range 100 {
		added = append(added, dir.CreateUser(workosfake.UserInput{Email: fmt.Sprintf("new%d@example.org", i), FirstName: "New", LastName: fmt.Sprint(i)}))
	}
	for i := range 100 {
		u := users[100+i]
		if _, err := dir.UpdateUser(u.ID, func(w *workosfake.User) { w.LastName = "First" }); err != nil {
			t.Fatal(err)
		}
		if _, err := dir.UpdateUser(u.ID, func(w *workosfake.User) { w.LastName = "Second" }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		g, u := groups[(i+1)%len(groups)], users[300+i] // not yet a member: Populate put it in group i mod 10
		if err := dir.AddMember(g.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		if err := dir.RemoveMember(g.ID, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		if _, err := dir.SetActive(users[400+i].ID, false); err != nil {
			t.Fatal(err)
		}
		if err := dir.DeleteUser(users[500+i].ID); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(fake.Events()) - n0; got != 500 {
		t.Fatalf("%d events, want 500", got)
	}
	began = time.Now()
	deliver(workosfake.DeliveryOptions{Duplicate: true, Reorder: true, Seed: 7})
	e.eventually("500 events applied", 2*time.Minute, func() error {
		return workosConverged(e, dir)
	})
	t.Logf("500 events: %s", time.Since(began).Round(time.Second))
	for _, u := range added[:3] {
		if got := e.targetByExternalID(u.ID); !got.Active || got.Email != u.Email {
			t.Errorf("created %s: %+v", u.ID, got)
		}
	}
	if st := e.ruleStatus(t, "idp-to-app"); st.LastResync != nil && st.LastResync.Reason != workflows.ReasonInitial {
		t.Errorf("the events took a full resync (%s): they should take polls", st.LastResync.Reason)
	}

	// Events older than the retention are gone: the rule's cursor is
	// refused, and a full resync runs instead, finding the change.
	if _, err := dir.UpdateUser(users[1].ID, func(u *workosfake.User) { u.LastName = "Expired" }); err != nil {
		t.Fatal(err)
	}
	fake.ExpireEvents()
	e.starter(false, "rule", "update", "idp-to-app", "--poll-interval", "2s")
	e.eventually("a full resync after an expired cursor", 2*time.Minute, func() error {
		st := e.ruleStatus(t, "idp-to-app")
		if st.LastResync == nil || st.LastResync.Reason != workflows.ReasonSource || st.LastResync.Finished.IsZero() {
			return fmt.Errorf("last resync %+v", st.LastResync)
		}
		if u := e.targetByExternalID(users[1].ID); u.FamilyName != "Expired" {
			return fmt.Errorf("family name %q", u.FamilyName)
		}
		return nil
	})
}

// vendorRetries sends a webhook again after a 5xx, waiting its
// Retry-After, as WorkOS does (with backoff, for up to three days): the
// worker answers 503 when Temporal is slow to answer, which on a busy
// 2-core machine happens a few times in a thousand.
type vendorRetries struct{}

func (vendorRetries) RoundTrip(r *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil || resp.StatusCode < 500 || attempt == 10 {
			return resp, err
		}
		wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		time.Sleep(time.Duration(max(wait, 1)) * time.Second)
		body, err := r.GetBody()
		if err != nil {
			return nil, err
		}
		r = r.Clone(r.Context())
		r.Body = body
	}
}

// targetByExternalID reads the rule's target user for a source id.
func (e *env) targetByExternalID(ext string) connectors.TargetUser {
	found, err := e.target.LookupUsers(context.Background(), connectors.MatchExternalID, reconcile.OwnedExternalID("idp-to-app", ext))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, u := range found {
		return u
	}
	return connectors.TargetUser{}
}

// workosConverged compares the target with the fake directory: every
// user there is in the target with its email, family name and state
// (deleted ones disabled), and every group has the active members the
// directory has.
func workosConverged(e *env, dir *workosfake.Directory) error {
	users, groups := e.targetState()
	byExt := map[string]connectors.TargetUser{}
	for _, u := range users {
		byExt[u.ExternalID] = u
	}
	live := map[string]bool{}
	for _, u := range dir.Users() {
		live[u.ID] = true
		got, ok := byExt[u.ID]
		if !ok {
			return fmt.Errorf("user %s (%s) is not in the target (%d users)", u.ID, u.Email, len(users))
		}
		if got.Email != u.Email || got.FamilyName != u.LastName || got.Active != (u.State == "active") {
			return fmt.Errorf("user %s: target %s/%s active=%v, directory %s/%s %s", u.ID, got.Email, got.FamilyName, got.Active, u.Email, u.LastName, u.State)
		}
	}
	for ext, u := range byExt {
		if !live[ext] && u.Active {
			return fmt.Errorf("user %s left the directory but is active in the target", ext)
		}
	}
	idOf := map[string]string{}
	for _, u := range users {
		idOf[u.ID] = u.ExternalID
	}
	for _, g := range dir.Groups() {
		tg, ok := groups[g.Name]
		if !ok {
			return fmt.Errorf("group %s is not in the target", g.Name)
		}
		var want, got []string
		for _, m := range dir.Members(g.ID) {
			if u, ok := dir.User(m); ok && u.State == "active" {
				want = append(want, m)
			}
		}
		for _, id := range tg.MemberIDs {
			if ext := idOf[id]; ext != "" && byExt[ext].Active {
				got = append(got, ext)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			return fmt.Errorf("group %s: %d active members in the target, %d in the directory", g.Name, len(got), len(want))
		}
	}
	return nil
}
