package workosfake_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/workosfake"
)

// TestListPaging: after and before walk a list both ways in each order,
// without losing or repeating an object, and list_metadata says where
// the ends are.
func TestListPaging(t *testing.T) {
	a := newAPI(t, workosfake.Options{})
	dir := a.srv.Directory()
	users, _ := dir.Populate(23)
	var all []string
	for _, u := range users {
		all = append(all, u.ID)
	}
	desc := slices.Clone(all)
	slices.Reverse(desc)
	for _, tt := range []struct {
		order string
		want  []string
	}{{"", desc}, {"desc", desc}, {"asc", all}} {
		t.Run("order="+tt.order, func(t *testing.T) {
			var got []string
			after := ""
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("paging does not end")
				}
				st, body := a.get("/directory_users", q("directory", dir.ID, "limit", "5", "order", tt.order, "after", after))
				if st != 200 {
					t.Fatalf("status %d: %v", st, body)
				}
				if pages == 0 && meta(body, "before") != "" {
					t.Errorf("first page: before = %q, want null", meta(body, "before"))
				}
				got = append(got, ids(body)...)
				if after = meta(body, "after"); after == "" {
					break
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("after-paging gives %v, want %v", got, tt.want)
			}
			// Back from the end with before: the page just before.
			last := tt.want[len(tt.want)-1]
			st, body := a.get("/directory_users", q("directory", dir.ID, "limit", "5", "order", tt.order, "before", last))
			if st != 200 || !slices.Equal(ids(body), tt.want[len(tt.want)-6:len(tt.want)-1]) {
				t.Errorf("before %s: %d %v, want %v", last, st, ids(body), tt.want[len(tt.want)-6:len(tt.want)-1])
			}
			if meta(body, "after") != tt.want[len(tt.want)-2] || meta(body, "before") != tt.want[len(tt.want)-6] {
				t.Errorf("before-page metadata %v", body["list_metadata"])
			}
		})
	}
}

// TestListLimits: limit is 1–100, default 10.
func TestListLimits(t *testing.T) {
	a := newAPI(t, workosfake.Options{})
	dir := a.srv.Directory()
	dir.Populate(120)
	for _, tt := range []struct {
		limit  string
		status int
		n      int
	}{{"", 200, 10}, {"1", 200, 1}, {"100", 200, 100}, {"0", 422, 0}, {"101", 422, 0}, {"x", 422, 0}} {
		t.Run("limit="+tt.limit, func(t *testing.T) {
			a.raw = tt.status != 200 // the spec bounds limit too
			st, body := a.get("/directory_users", q("directory", dir.ID, "limit", tt.limit))
			if st != tt.status || len(ids(body)) != tt.n {
				t.Errorf("status %d with %d users, want %d with %d", st, len(ids(body)), tt.status, tt.n)
			}
		})
	}
}

// TestMembersAndGroups: /directory_users?group= and
// /directory_groups?user= follow memberships; get by id; 404s.
func TestMembersAndGroups(t *testing.T) {
	a := newAPI(t, workosfake.Options{})
	dir := a.srv.Directory()
	users, groups := dir.Populate(6, "eng", "ops")
	st, body := a.get("/directory_users", q("group", groups[0].ID, "limit", "100"))
	if want := []string{users[4].ID, users[2].ID, users[0].ID}; st != 200 || !slices.Equal(ids(body), want) {
		t.Errorf("members of eng: %d %v, want %v", st, ids(body), want)
	}
	st, body = a.get("/directory_groups", q("user", users[1].ID))
	if st != 200 || !slices.Equal(ids(body), []string{groups[1].ID}) {
		t.Errorf("groups of user 1: %d %v", st, ids(body))
	}
	if st, body = a.get("/directory_users/"+users[3].ID, ""); st != 200 || body["email"] != "user3@example.org" {
		t.Errorf("get user: %d %v", st, body)
	}
	if st, body = a.get("/directory_groups/"+groups[1].ID, ""); st != 200 || body["name"] != "ops" {
		t.Errorf("get group: %d %v", st, body)
	}
	if st, _ = a.get("/directory_users/directory_user_01NOPE", ""); st != 404 {
		t.Errorf("get of an unknown user: %d, want 404", st)
	}
	if st, _ = a.get("/directory_groups/directory_group_01NOPE", ""); st != 404 {
		t.Errorf("get of an unknown group: %d, want 404", st)
	}
}

// TestAuth: a wrong or missing key is 401.
func TestAuth(t *testing.T) {
	a := newAPI(t, workosfake.Options{APIKey: "sk_test_right"})
	a.key = "sk_test_wrong"
	if st, _ := a.get("/events", ""); st != 401 {
		t.Errorf("wrong key: %d, want 401", st)
	}
	a.key = ""
	if st, _ := a.get("/directory_users", q("directory", a.srv.Directory().ID)); st != 401 {
		t.Errorf("no key: %d, want 401", st)
	}
}

// eventTypesOf is the types of an events body, in order.
func eventTypesOf(body map[string]any) []string {
	var out []string
	for _, d := range body["data"].([]any) {
		out = append(out, d.(map[string]any)["event"].(string))
	}
	return out
}

// TestEventsFilterEncodings: the three encodings of the events filter
// select the same events.
func TestEventsFilterEncodings(t *testing.T) {
	a := newAPI(t, workosfake.Options{})
	dir := a.srv.Directory()
	users, groups := dir.Populate(3, "eng")
	if _, err := dir.UpdateUser(users[0].ID, func(u *workosfake.User) { u.FirstName = "Changed" }); err != nil {
		t.Fatal(err)
	}
	if err := dir.DeleteGroup(groups[0].ID); err != nil {
		t.Fatal(err)
	}
	want := []string{workosfake.UserUpdated, workosfake.GroupDeleted}
	for name, raw := range map[string]string{
		"repeated":        "events=dsync.user.updated&events=dsync.group.deleted",
		"comma-separated": "events=dsync.user.updated,dsync.group.deleted",
		"brackets":        "events%5B%5D=dsync.user.updated&events%5B%5D=dsync.group.deleted",
	} {
		t.Run(name, func(t *testing.T) {
			st, body := a.get("/events", raw+"&limit=100")
			if st != 200 || !slices.Equal(eventTypesOf(body), want) {
				t.Errorf("%s: %d %v, want %v", raw, st, eventTypesOf(body), want)
			}
		})
	}
	// No filter: every event, in the order they happened.
	st, body := a.get("/events", "limit=100")
	wantAll := []string{workosfake.UserCreated, workosfake.UserCreated, workosfake.UserCreated, workosfake.GroupCreated,
		workosfake.GroupUserAdded, workosfake.GroupUserAdded, workosfake.GroupUserAdded, workosfake.UserUpdated, workosfake.GroupDeleted}
	if st != 200 || !slices.Equal(eventTypesOf(body), wantAll) {
		t.Errorf("unfiltered: %d %v, want %v", st, eventTypesOf(body), wantAll)
	}
}

// TestEventsStream: events come oldest first whatever order says, after
// a cursor page by page, with after null at the end; range_start and
// range_end bound them; a cursor past the retention, or unknown, is 400.
func TestEventsStream(t *testing.T) {
	clock := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	a := newAPI(t, workosfake.Options{Clock: func() time.Time { return clock }})
	dir := a.srv.Directory()
	dir.Populate(12)
	a.srv.Advance(time.Hour)
	late := dir.CreateUser(workosfake.UserInput{Email: "late@example.org"})
	all := a.srv.Events()
	if len(all) != 13 {
		t.Fatalf("%d events, want 13", len(all))
	}
	for _, order := range []string{"", "asc", "desc", "normal"} {
		var got []string
		after := ""
		for pages := 0; pages < 10; pages++ {
			st, body := a.get("/events", q("limit", "5", "order", order, "after", after))
			if st != 200 {
				t.Fatalf("order %q: %d %v", order, st, body)
			}
			got = append(got, ids(body)...)
			if after = meta(body, "after"); after == "" {
				break
			}
		}
		want := make([]string, len(all))
		for i, e := range all {
			want[i] = e.ID
		}
		if !slices.Equal(got, want) {
			t.Errorf("order %q: the stream reads %v, want %v", order, got, want)
		}
	}
	st, body := a.get("/events", q("after", all[len(all)-1].ID))
	if st != 200 || len(ids(body)) != 0 || meta(body, "after") != "" {
		t.Errorf("after the last event: %d %v", st, body)
	}
	st, body = a.get("/events", q("range_start", clock.Add(30*time.Minute).Format(time.RFC3339), "limit", "100"))
	if st != 200 || !slices.Equal(ids(body), []string{all[12].ID}) {
		t.Errorf("range_start: %d %v, want the late event", st, ids(body))
	}
	st, body = a.get("/events", q("range_end", clock.Add(30*time.Minute).Format(time.RFC3339), "limit", "100"))
	if st != 200 || len(ids(body)) != 12 {
		t.Errorf("range_end: %d, %d events, want 12", st, len(ids(body)))
	}
	a.raw = true // the spec says nothing of the format
	if st, _ = a.get("/events", q("range_start", "yesterday")); st != 422 {
		t.Errorf("a bad range_start: %d, want 422", st)
	}
	a.raw = false
	if st, _ = a.get("/events", q("after", "event_01UNKNOWN")); st != 400 {
		t.Errorf("an unknown cursor: %d, want 400", st)
	}
	// 30 days on, the first 12 events are gone, the late one is not.
	a.srv.Advance(30*24*time.Hour - 30*time.Minute)
	if st, body = a.get("/events", q("after", all[3].ID)); st != 400 {
		t.Errorf("an expired cursor: %d %v, want 400", st, body)
	}
	if st, body = a.get("/events", ""); st != 200 || !slices.Equal(ids(body), []string{all[12].ID}) {
		t.Errorf("after expiry: %d %v, want only %s", st, ids(body), late.ID)
	}
}

// TestEventSemantics: the events a change records, as WorkOS's docs
// describe them.
func TestEventSemantics(t *testing.T) {
	srv := workosfake.ForTest(t, workosfake.Options{})
	dir := srv.Directory()
	users, groups := dir.Populate(2, "eng")
	before, _ := dir.User(users[0].ID)
	n := len(srv.Events())
	if err := dir.RemoveMember(groups[0].ID, users[0].ID); err != nil {
		t.Fatal(err)
	}
	after, _ := dir.User(users[0].ID)
	if !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("a membership change bumped updated_at")
	}
	if _, err := dir.SetActive(users[1].ID, false); err != nil {
		t.Fatal(err)
	}
	if err := dir.DeleteGroup(groups[0].ID); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range srv.Events()[n:] {
		got = append(got, e.Event)
	}
	if want := []string{workosfake.GroupUserRemoved, workosfake.UserUpdated, workosfake.GroupDeleted}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v (group.deleted sends no user_removed)", got, want)
	}
	upd := string(srv.Events()[n+1].Data)
	if !strings.Contains(upd, `"previous_attributes":{"state":"active"}`) || !strings.Contains(upd, `"state":"inactive"`) {
		t.Errorf("a soft delete's data: %s", upd)
	}
}

// TestKnobs: throttling answers 429 with Retry-After, the users budget
// too, an outage 503; Requests counts.
func TestKnobs(t *testing.T) {
	a := newAPI(t, workosfake.Options{Knobs: workosfake.Knobs{UsersPerSecond: 2, RetryAfter: 3 * time.Second}})
	dir := a.srv.Directory()
	statuses := map[int]int{}
	for range 5 {
		st, _ := a.get("/directory_users", q("directory", dir.ID))
		statuses[st]++
	}
	if statuses[200] != 2 || statuses[429] != 3 {
		t.Errorf("5 quick requests at 2/s: %v, want 2 × 200 and 3 × 429", statuses)
	}
	if a.srv.Requests("/directory_users") != 5 || a.srv.Statuses()[429] != 3 {
		t.Errorf("counters: %d requests, statuses %v", a.srv.Requests("/directory_users"), a.srv.Statuses())
	}
	a.srv.SetKnobs(workosfake.Knobs{Outage: true})
	if st, _ := a.get("/events", ""); st != 503 {
		t.Errorf("outage: %d, want 503", st)
	}
	a.srv.SetKnobs(workosfake.Knobs{ThrottleRate: 1, RetryAfter: 2 * time.Second})
	req, _ := http.NewRequest(http.MethodGet, a.srv.URL()+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+a.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("throttled: %d Retry-After %q, want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestDeliver: webhooks carry each new event once, signed; Duplicate and
// Reorder do what they say.
func TestDeliver(t *testing.T) {
	srv := workosfake.ForTest(t, workosfake.Options{})
	secret := []byte("whsec_test")
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sig := r.Header.Get(workosfake.SignatureHeader)
		ts, _, _ := strings.Cut(strings.TrimPrefix(sig, "t="), ",")
		var tm time.Time
		if n, err := parseMillis(ts); err == nil {
			tm = time.UnixMilli(n)
		}
		if sig != workosfake.Sign(secret, body, tm) || !strings.Contains(sig, ", v1=") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, string(body))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	dir := srv.Directory()
	dir.Populate(3)
	ctx := context.Background()
	for _, d := range srv.Deliver(ctx, hook.URL, secret, workosfake.DeliveryOptions{}) {
		if d.Status != 200 {
			t.Errorf("delivery of %s: %d %v", d.EventID, d.Status, d.Err)
		}
	}
	if len(got) != 3 {
		t.Fatalf("%d deliveries, want 3", len(got))
	}
	if ds := srv.Deliver(ctx, hook.URL, secret, workosfake.DeliveryOptions{}); len(ds) != 0 {
		t.Errorf("nothing new, yet %d deliveries", len(ds))
	}
	dir.Populate(4)
	ds := srv.Deliver(ctx, hook.URL, secret, workosfake.DeliveryOptions{Duplicate: true, Reorder: true, Seed: 7})
	if len(ds) != 8 {
		t.Errorf("4 events duplicated: %d deliveries, want 8", len(ds))
	}
	var order []string
	for _, d := range ds {
		order = append(order, d.EventID)
	}
	if slices.IsSorted(order) {
		t.Errorf("reordered deliveries came in order: %v", order)
	}
	if ds := srv.Deliver(ctx, hook.URL, []byte("other"), workosfake.DeliveryOptions{}); len(ds) != 0 {
		t.Errorf("redelivered %d", len(ds))
	}
}
