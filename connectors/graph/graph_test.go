package graph

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/graphfake"
)

func TestValidate(t *testing.T) {
	c := &Config{Tenant: "t", ClientID: "ab-cd", ClientSecret: "env:X"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ExternalIDAttribute != "extension_abcd_idsyncExternalId" || c.PageSize != 999 || c.Deprovision != "disable" ||
		c.TokenURL != "https://login.microsoftonline.com/t/oauth2/v2.0/token" || c.GraphURL != DefaultGraphURL || c.limit != DefaultLimit {
		t.Errorf("defaults: %+v", c)
	}
	for _, tt := range []struct {
		secret, cert, want string
	}{
		{"", "", "clientSecret is required, or clientCertificate"},
		{"env:S", "file:/c.pem", "give one credential, not both"},
		{"", "pasted-pem", "clientCertificate"},
	} {
		c := &Config{Tenant: "t", ClientID: "c", ClientSecret: tt.secret, ClientCertificate: tt.cert}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("clientSecret %q, clientCertificate %q: %v, want it to say %q", tt.secret, tt.cert, err, tt.want)
		}
	}
	if err := (&Config{Tenant: "t", ClientID: "c", ClientCertificate: "env:PEM"}).Validate(); err != nil {
		t.Errorf("a certificate alone: %v", err)
	}
	bad := &Config{ClientSecret: "plain", PageSize: 1000, Deprovision: "suspend", ExternalIDAttribute: "employeeId", Domain: "x"}
	err := bad.Validate()
	for _, want := range []string{"tenant is required", "clientId is required", "clientSecret", "pageSize 1000", "deprovision", "externalIdAttribute", "domain"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want it to say %q", err, want)
		}
	}
}

func TestTokenRefused(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{})
	s := settings(t, srv, nil)
	s["clientId"] = "someone-else"
	tgt := openTarget(t, s)
	_, err := tgt.CreateUser(t.Context(), connectors.User{UserName: "a", Active: true})
	if !errors.Is(err, connectors.ErrUnauthorized) || !strings.Contains(err.Error(), "AADSTS700016") {
		t.Errorf("CreateUser with an unknown client: %v, want ErrUnauthorized quoting AADSTS700016", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("the error shows the secret: %v", err)
	}
	var te *connectors.TestError
	if err := tgt.(connectors.Tester).Test(t.Context()); !errors.As(err, &te) || te.Stage != connectors.StageAuth {
		t.Errorf("Test: %v, want a TestError at stage auth", err)
	}
	if err := openTarget(t, settings(t, srv, nil)).(connectors.Tester).Test(t.Context()); err != nil {
		t.Errorf("Test with good credentials: %v", err)
	}
}

// TestRateLimitHandedBack: with maxRetryWait 0s a 429 is no wait here
// but a RateLimitError carrying the Retry-After.
func TestRateLimitHandedBack(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{ThrottleEvery: 1, RetryAfter: 7 * time.Second})
	tgt := openTarget(t, settings(t, srv, map[string]any{"maxRetryWait": "0s"}))
	_, err := tgt.LookupUsers(t.Context(), connectors.MatchEmail, "a@example.org")
	var rl *connectors.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second || !strings.Contains(err.Error(), "TooManyRequests") {
		t.Errorf("LookupUsers when throttled: %v, want a RateLimitError after 7s quoting the code", err)
	}
}

// createUsers creates n users named prefix0…, with ExternalIDs
// "e-"+name, and returns their ids.
func createUsers(t *testing.T, tgt connectors.Target, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		name := fmt.Sprint(prefix, i)
		id, err := tgt.CreateUser(t.Context(), connectors.User{ExternalID: "e-" + name, UserName: name, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestMembersInBulk: 45 members go in three PATCHes of at most 20;
// adding them again (Graph refuses the whole PATCH) is done one by one
// without error; removing non-members is done.
func TestMembersInBulk(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{})
	tgt := openTarget(t, settings(t, srv, nil))
	gt := tgt.(connectors.GroupTarget)
	ctx := t.Context()
	ids := createUsers(t, tgt, "bulk", 45)
	gid, err := gt.CreateGroup(ctx, connectors.Group{ExternalID: "g", DisplayName: "Bulk"})
	if err != nil {
		t.Fatal(err)
	}
	before := srv.Stats().Writes
	if err := gt.AddMembers(ctx, gid, ids[:40]); err != nil {
		t.Fatal(err)
	}
	if w := srv.Stats().Writes - before; w != 2 {
		t.Errorf("40 members took %d writes, want 2", w)
	}
	if err := gt.AddMembers(ctx, gid, ids); err != nil {
		t.Fatalf("add again with 5 new: %v", err)
	}
	if err := gt.RemoveMembers(ctx, gid, []string{ids[0], ids[0]}); err != nil {
		t.Fatalf("remove twice: %v", err)
	}
	found, err := gt.LookupGroups(ctx, connectors.MatchExternalID, "g")
	if err != nil || len(found) != 1 {
		t.Fatalf("lookup: %v %v", found, err)
	}
	got := slices.Sorted(slices.Values(found[0].MemberIDs))
	want := slices.Sorted(slices.Values(ids[1:]))
	if !slices.Equal(got, want) {
		t.Errorf("members: %d, want %d", len(got), len(want))
	}
}

// TestUserPrincipalName: a userName without "@" gets the domain and reads
// back without it; one with "@" is kept; an apostrophe and case are
// looked up through the filter.
// TestUserPrincipalName: an apostrophe is taken and looked up again in
// another letter case; a full UPN in another domain is kept; a UPN
// Entra ID refuses (accents, a leading period) is refused before it is
// sent, with an error that says why.
func TestUserPrincipalName(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{})
	tgt := openTarget(t, settings(t, srv, nil))
	ctx := t.Context()
	for _, tt := range []struct {
		userName, lookup string // lookup: the userName looked up after the create
		wantUPN          string
		wantErr          string // the create fails, ErrRejected, saying this
	}{
		{userName: "O'Neil.Zoe", lookup: "o'neil.ZOE", wantUPN: "O'Neil.Zoe@" + testDomain},
		{userName: "full@other.example", lookup: "FULL@other.example", wantUPN: "full@other.example"},
		{userName: "a!b#c^d~e_f-g", lookup: "A!B#C^D~E_F-G", wantUPN: "a!b#c^d~e_f-g@" + testDomain},
		{userName: "O'Neil.Zoë", wantErr: `not 'ë' (map the userName to an ASCII form)`},
		{userName: "Łukasz", wantErr: `not 'Ł'`},
		{userName: ".dot", wantErr: "a period at the start or the end"},
		{userName: "with space", wantErr: `not ' '`},
	} {
		before := srv.Stats().Writes
		id, err := tgt.CreateUser(ctx, connectors.User{ExternalID: "x-" + tt.userName, UserName: tt.userName, Active: true})
		if tt.wantErr != "" {
			if !errors.Is(err, connectors.ErrRejected) || !strings.Contains(err.Error(), tt.wantErr) || srv.Stats().Writes != before {
				t.Errorf("create %q: %v, want ErrRejected saying %q, nothing sent", tt.userName, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("create %q: %v", tt.userName, err)
		}
		u, _, _ := tgt.(connectors.UserReader).GetUserByID(ctx, id)
		if got := srv.Users()[len(srv.Users())-1].Props["userPrincipalName"]; got != tt.wantUPN || u.UserName != tt.userName {
			t.Errorf("create %q: userPrincipalName %v, reads back %q", tt.userName, got, u.UserName)
		}
		found, err := tgt.LookupUsers(ctx, connectors.MatchUserName, tt.lookup)
		if err != nil || len(found) != 1 || found[0].ID != id {
			t.Errorf("lookup %q: %+v %v", tt.lookup, found, err)
		}
	}
}

// TestTokenRevoked: a 401 to a cached token fetches a new one, once.
func TestTokenRevoked(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{})
	tgt := openTarget(t, settings(t, srv, nil))
	if _, err := tgt.LookupUsers(t.Context(), connectors.MatchEmail, "a@example.org"); err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	if _, err := tgt.LookupUsers(t.Context(), connectors.MatchEmail, "a@example.org"); err != nil {
		t.Errorf("after the token was revoked: %v", err)
	}
	if n := srv.Stats().Tokens; n != 2 {
		t.Errorf("%d tokens fetched, want 2", n)
	}
}

// TestMalformedAnswer: a 200 that is not JSON is a clear error that
// quotes the start of the body.
func TestMalformedAnswer(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"token_type":"Bearer","expires_in":3599,"access_token":"t"}`))
			return
		}
		_, _ = w.Write([]byte("<html>proxy error</html>"))
	}))
	t.Cleanup(ts.Close)
	s := settings(t, &graphfake.Server{URL: ts.URL}, map[string]any{"authority": ts.URL, "graphUrl": ts.URL + "/v1.0"})
	tgt := openTarget(t, s)
	err := tgt.ListUsers(t.Context(), func(connectors.TargetUser) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "malformed 200 answer") || !strings.Contains(err.Error(), "proxy error") {
		t.Errorf("ListUsers over a non-JSON answer: %v", err)
	}
}

// TestRemoveMembersBatched: 45 removals go in three $batch requests; an
// inner 429 is sent again alone; every member leaves once.
func TestRemoveMembersBatched(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{})
	tgt := openTarget(t, settings(t, srv, nil))
	gt := tgt.(connectors.GroupTarget)
	ctx := t.Context()
	ids := createUsers(t, tgt, "r", 45)
	gid, err := gt.CreateGroup(ctx, connectors.Group{DisplayName: "Batched"})
	if err != nil {
		t.Fatal(err)
	}
	if err := gt.AddMembers(ctx, gid, ids); err != nil {
		t.Fatal(err)
	}
	srv.SetKnobs(graphfake.Knobs{ThrottleEvery: 7})
	if err := gt.RemoveMembers(ctx, gid, append(ids, ids[0])); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.Batches < 3 || st.Throttled == 0 {
		t.Errorf("stats %+v: want 3 or more batches and some 429s", st)
	}
	for _, g := range srv.Groups() {
		if g.ID == gid && len(g.MemberIDs) != 0 {
			t.Errorf("%d members left", len(g.MemberIDs))
		}
	}
	srv.SetKnobs(graphfake.Knobs{})
	if err := gt.DeleteGroup(ctx, gid); err != nil {
		t.Fatal(err)
	}
	if err := gt.RemoveMembers(ctx, gid, ids[:2]); !errors.Is(err, connectors.ErrNotFound) {
		t.Errorf("RemoveMembers of a deleted group in a batch: %v, want ErrNotFound", err)
	}
}

func TestQueryEncoding(t *testing.T) {
	got := query(url.Values{"$filter": {"mail eq " + literal("o'x+tag@a.org")}})
	if want := "?$filter=mail%20eq%20%27o%27%27x%2Btag%40a.org%27"; got != want {
		t.Errorf("query = %s, want %s", got, want)
	}
}

// TestHardValues puts the values that break naive quoting (an OData
// literal's quote, parentheses, an injected "or", non-ASCII and
// decomposed letters) everywhere but the userPrincipalName: they are
// written and read back as they are, and lookups by ExternalID and by
// email (with an apostrophe, in another letter case) find exactly the
// user.
func TestHardValues(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{})
	tgt := openTarget(t, settings(t, srv, nil))
	ctx := t.Context()
	for i, v := range []string{`o'brien "the" quote`, `paren(s) (x)`, `x' or userPrincipalName eq '`, `star*`, `zoë-ünïcødé-日本`, "Rene\u0301e Zoe\u0308", `back\slash\`} {
		u := connectors.User{ExternalID: "ext/" + v, UserName: fmt.Sprint("hv", i), GivenName: v, FamilyName: "Family " + v,
			DisplayName: v, Email: fmt.Sprintf("hv%d+o'tag@example.org", i), Active: true, Attributes: map[string]string{"title": v}}
		id, err := tgt.CreateUser(ctx, u)
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		got, _, err := tgt.(connectors.UserReader).GetUserByID(ctx, id)
		if err != nil || got.ExternalID != u.ExternalID || got.GivenName != v || got.FamilyName != u.FamilyName ||
			got.DisplayName != v || got.Email != u.Email || got.Attributes["title"] != v {
			t.Errorf("%q reads back as %+v, %v", v, got.User, err)
		}
		for _, lk := range []struct{ attr, value string }{{connectors.MatchExternalID, u.ExternalID}, {connectors.MatchEmail, strings.ToUpper(u.Email)}} {
			found, err := tgt.LookupUsers(ctx, lk.attr, lk.value)
			if err != nil || len(found) != 1 || found[0].ID != id {
				t.Errorf("%q: lookup by %s %q: %d found, %v", v, lk.attr, lk.value, len(found), err)
			}
		}
	}
}
