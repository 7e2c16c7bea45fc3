package google

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/connectortest"
	"github.com/idsync/idsync/internal/googlefake"
)

// settings are a connection's settings for f, its key in a file.
func settings(t *testing.T, f *googlefake.Fake) map[string]any {
	t.Helper()
	key := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(key, f.ServiceAccountKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]any{"domain": f.Domain, "subject": "idsync-admin@" + f.Domain, "credentials": "file:" + key,
		"endpoint": f.Endpoint(), "tokenUrl": f.TokenURL(), "pageSize": 5, "retryWait": "1ms", "maxRetries": 8}
}

func open(t *testing.T, s map[string]any) connectors.Connector {
	t.Helper()
	return connectortest.Open(t, Type, s)
}

// TestConformance runs the target suite against the fake, with latency
// and every 7th request refused by a 403 or 429 rate limit, and each new
// user and group answering its first request with a 404 (propagation
// after an insert), which the connector must absorb so that every change
// lands once.
func TestConformance(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{Latency: 200 * time.Microsecond, RateLimitEvery: 7, NotReadyAfterCreate: 1})
	s := settings(t, f)
	connectortest.RunTarget(t, connectortest.TargetHarness{
		Open: func(t *testing.T) connectors.Target {
			tgt, err := connectors.AsTarget(open(t, s))
			if err != nil {
				t.Fatal(err)
			}
			return tgt
		},
		PageSize:    5,
		Attributes:  []string{"title", "department", "employeeNumber"},
		Unsupported: []string{connectors.MatchEmail},
		Skip: map[string]string{
			"hard-characters": "userName is the account's primaryEmail, which Google refuses (400 Invalid Input: primary_user_email) with spaces, quotes, commas, parentheses, * or non-ASCII letters",
		},
	})
	st := f.Stats()
	if st.RateLimited == 0 {
		t.Errorf("no request was rate limited: the back-off path was not exercised")
	}
	if len(st.Subjects) == 0 || st.Subjects[0] != "idsync-admin@"+f.Domain {
		t.Errorf("token subjects %v, want the configured admin", st.Subjects)
	}
	t.Logf("requests %d, rate limited %d, tokens %d, by op %v", st.Requests, st.RateLimited, st.Tokens, st.ByOp)
}

func TestTester(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{})
	s := settings(t, f)
	if err := open(t, s).(connectors.Tester).Test(t.Context()); err != nil {
		t.Fatalf("Test: %v", err)
	}
	if n := f.Stats().ByOp["GET users"]; n != 1 {
		t.Errorf("Test sent %d user listings, want 1", n)
	}
	// A key the token endpoint does not trust: an auth failure.
	other := googlefake.New(t, googlefake.Knobs{})
	bad := settings(t, other)
	bad["endpoint"], bad["tokenUrl"] = f.Endpoint(), f.TokenURL()
	err := open(t, bad).(connectors.Tester).Test(t.Context())
	var te *connectors.TestError
	if !errors.As(err, &te) || te.Stage != connectors.StageAuth || !errors.Is(err, connectors.ErrUnauthorized) {
		t.Errorf("Test with an untrusted key: %v, want an auth-stage ErrUnauthorized", err)
	}
	// No subject in the grant is refused as Google refuses a key without
	// domain-wide delegation; here a subject the API has no token for.
	if !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("error %q does not quote the token endpoint's reason", err)
	}
}

func TestRateLimitExhausted(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{RateLimitEvery: 1})
	s := settings(t, f)
	s["maxRetries"] = 2
	tgt, _ := connectors.AsTarget(open(t, s))
	_, err := tgt.CreateUser(t.Context(), connectors.User{ExternalID: "e", UserName: "u", GivenName: "g", FamilyName: "f", Active: true})
	var rl *connectors.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 {
		t.Fatalf("CreateUser under a storm: %v, want a RateLimitError", err)
	}
	if st := f.Stats(); st.Requests != 3 || st.ByOp["POST users"] != 3 {
		t.Errorf("requests %+v, want 3 inserts (1 + 2 retries)", st)
	}
}

func TestMembersIdempotent(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{NotReadyAfterCreate: 2})
	conn := open(t, settings(t, f))
	tgt, _ := connectors.AsTarget(conn)
	gt := tgt.(connectors.GroupTarget)
	ctx := t.Context()
	uid, err := tgt.CreateUser(ctx, connectors.User{ExternalID: "e1", UserName: "m1", GivenName: "g", FamilyName: "f", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	gid, err := gt.CreateGroup(ctx, connectors.Group{ExternalID: "g1", DisplayName: "Eng"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := gt.AddMembers(ctx, gid, []string{uid}); err != nil {
			t.Fatalf("AddMembers (again): %v", err)
		}
	}
	for range 2 {
		if err := gt.RemoveMembers(ctx, gid, []string{uid}); err != nil {
			t.Fatalf("RemoveMembers (again): %v", err)
		}
	}
	// The first insert meets the new group's two 404s, then the new
	// user's two: four retries.
	if st := f.Stats(); st.ByOp["POST members"] != 6 || st.ByOp["DELETE members"] != 2 {
		t.Errorf("member requests %v", st.ByOp)
	}
}

func TestValidate(t *testing.T) {
	c := &Config{Credentials: "a-pasted-key", Deprovision: "archive", PageSize: 501}
	err := c.Validate()
	for _, want := range []string{"domain is required", "subject is required", "credentials: must be a secret reference", "deprovision", "pageSize"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "a-pasted-key") {
		t.Errorf("Validate quotes the credentials: %v", err)
	}
	ok := &Config{Domain: "example.org", Subject: "a@example.org", Credentials: "env:K"}
	if err := ok.Validate(); err != nil || ok.Customer != "my_customer" || ok.Deprovision != connectors.DeprovisionDisable || ok.PageSize != 500 {
		t.Errorf("defaults: %v %+v", err, ok)
	}
}

// TestSearchLag: while Google's search index lags, a user this connection
// created is found by externalId (KnownUsers), and by userName on any
// connection (a direct users.get); a new connection's externalId search
// finds nothing until the index catches up.
func TestSearchLag(t *testing.T) {
	f := googlefake.New(t, googlefake.Knobs{})
	s := settings(t, f)
	f.SetKnobs(googlefake.Knobs{SearchFrozen: true})
	a, _ := connectors.AsTarget(open(t, s))
	u := connectors.User{ExternalID: "hr-1", UserName: "Late.Joiner", GivenName: "g", FamilyName: "f", Active: true}
	id, err := a.CreateUser(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := a.(connectors.KnownUsers).KnownUserID("hr-1"); got != id {
		t.Errorf("KnownUserID = %q, want %s", got, id)
	}
	if found, err := a.LookupUsers(t.Context(), connectors.MatchExternalID, "hr-1"); err != nil || len(found) != 1 || found[0].ID != id {
		t.Errorf("the creating connection's lookup: %v, %v", found, err)
	}
	b, _ := connectors.AsTarget(open(t, s))
	if found, err := b.LookupUsers(t.Context(), connectors.MatchUserName, "late.joiner"); err != nil || len(found) != 1 || found[0].ID != id {
		t.Errorf("userName lookup on another connection: %v, %v", found, err)
	}
	if found, err := b.LookupUsers(t.Context(), connectors.MatchExternalID, "hr-1"); err != nil || len(found) != 0 {
		t.Errorf("another connection's externalId search found %v, %v before the index caught up", found, err)
	}
	f.SetKnobs(googlefake.Knobs{})
	if found, err := b.LookupUsers(t.Context(), connectors.MatchExternalID, "hr-1"); err != nil || len(found) != 1 {
		t.Errorf("after the index caught up: %v, %v", found, err)
	}
}

// TestDescribe: `connection test` says how polls find changes, and, for
// reports, whether the connection may read them (a refusal is a note,
// not a failed test: polls fall back to the snapshot).
func TestDescribe(t *testing.T) {
	for _, tt := range []struct {
		name    string
		knobs   googlefake.Knobs
		changes string
		want    string
	}{
		{"reports answer", googlefake.Knobs{}, "", "changes: reports: the admin activity report answers"},
		{"reports refused", googlefake.Knobs{RefuseScopes: []string{ReportsScope}}, "", "changes: reports REFUSED"},
		{"snapshot", googlefake.Knobs{}, ChangesSnapshot, "changes: snapshot: each poll lists every user and group"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := googlefake.New(t, tt.knobs)
			s := settings(t, f)
			if tt.changes != "" {
				s["changes"] = tt.changes
			}
			lines, err := open(t, s).(connectors.Describer).Describe(t.Context())
			if err != nil {
				t.Fatalf("Describe: %v", err)
			}
			all := strings.Join(lines, "\n")
			if !strings.Contains(all, tt.want) || !strings.Contains(all, "acting as idsync-admin@"+f.Domain) {
				t.Errorf("Describe:\n%s\nwant a line with %q", all, tt.want)
			}
			if strings.Contains(all, "PRIVATE KEY") {
				t.Errorf("Describe shows the key:\n%s", all)
			}
		})
	}
}
