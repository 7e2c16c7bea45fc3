package peertest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors/all"
	"github.com/idsync/idsync/internal/scimfake"
	"github.com/idsync/idsync/reconcile"
)

// openVendor opens a connection of a vendor type, as the worker does
// (through the registry), pointed at a fake of that vendor's API.
func openVendor(t *testing.T, connType string, settings map[string]any) fullTarget {
	t.Helper()
	raw, err := json.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := all.Registry().Open(context.Background(), "vendor", connType, raw, testLogger(t))
	if err != nil {
		t.Fatalf("open %s: %v", connType, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn.(fullTarget)
}

func isWrite(m string) bool { return m != http.MethodGet && m != http.MethodHead }

// TestVendors: a rule provisions users, groups and memberships through each
// vendor's connection type into a fake that follows that vendor's API
// (paths, auth, required fields, what DELETE means), deprovisions a user
// who left the source, and a second run writes nothing.
func TestVendors(t *testing.T) {
	t.Setenv("VENDOR_TOKEN", "vendor-token")
	t.Setenv("VENDOR_SECRET", "vendor-secret")
	tests := []struct {
		connType string
		opts     scimfake.Options
		settings func(f *scimfake.Server) map[string]any
	}{
		{"slack", scimfake.Options{Flavor: scimfake.Slack, Token: "vendor-token"}, func(f *scimfake.Server) map[string]any {
			return map[string]any{"baseUrl": f.URL, "token": "env:VENDOR_TOKEN"}
		}},
		{"zoom", scimfake.Options{Flavor: scimfake.Zoom, ClientID: "cid", ClientSecret: "vendor-secret", AccountID: "acc-7"}, func(f *scimfake.Server) map[string]any {
			return map[string]any{"baseUrl": f.URL, "tokenUrl": f.TokenURL, "accountId": "acc-7", "clientId": "cid", "clientSecret": "env:VENDOR_SECRET"}
		}},
		{"github-emu", scimfake.Options{Flavor: scimfake.GitHubEMU, Token: "vendor-token", Enterprise: "octo"}, func(f *scimfake.Server) map[string]any {
			return map[string]any{"enterprise": "octo", "baseUrl": f.URL, "token": "env:VENDOR_TOKEN"}
		}},
		{"aquera", scimfake.Options{Flavor: scimfake.Aquera, Token: "vendor-token", Tenant: "acme"}, func(f *scimfake.Server) map[string]any {
			return map[string]any{"baseUrl": f.URL, "token": "env:VENDOR_TOKEN"}
		}},
		{"scim", scimfake.Options{Flavor: scimfake.Generic, Token: "vendor-token"}, func(f *scimfake.Server) map[string]any {
			return map[string]any{"baseUrl": f.URL, "token": "env:VENDOR_TOKEN", "etag": true}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.connType, func(t *testing.T) {
			e := newEnv(t)
			ada := e.addUser(t, "ada", "mail: ada@example.org")
			bob := e.addUser(t, "bob", "mail: bob@example.org")
			carol := e.addUser(t, "carol", "mail: carol@example.org")
			e.addGroup(t, "eng", ada, bob)
			f := scimfake.Start(tt.opts)
			defer f.Close()
			e.tgt = openVendor(t, tt.connType, tt.settings(f))
			s := e.syncer(reconcile.Options{})

			users, groups := fullSync(t, s)
			checkCounts(t, "first: users", users.Users, reconcile.Counts{Created: 3})
			checkCounts(t, "first: groups", groups.Groups, reconcile.Counts{Created: 1})
			got := f.Users()
			if len(got) != 3 {
				t.Fatalf("fake holds %d users, want 3", len(got))
			}
			ids := map[string]string{} // externalId → fake id
			for _, u := range got {
				if u.ExternalID == "" || !u.Active {
					t.Errorf("user %+v: no externalId, or inactive", u)
				}
				ids[u.ExternalID] = u.ID
			}
			g := f.Groups()
			if len(g) != 1 || len(g[0].Members) != 2 {
				t.Fatalf("groups %+v", g)
			}
			var members []string
			for _, m := range g[0].Members {
				members = append(members, m.Value)
			}
			slices.Sort(members)
			want := []string{ids[ada.ID], ids[bob.ID]}
			slices.Sort(want)
			if !slices.Equal(members, want) {
				t.Errorf("eng members %v, want ada and bob %v", members, want)
			}

			e.delete(t, carol.DN)
			users, _ = fullSync(t, s)
			checkCounts(t, "carol gone", users.Users, reconcile.Counts{Deprovisioned: 1, Unchanged: 2})
			for _, u := range f.Users() {
				if u.ExternalID == carol.ID && u.Active {
					t.Error("carol is still active")
				}
			}

			f.ResetRequests()
			users, groups = fullSync(t, s)
			checkCounts(t, "again: users", users.Users, reconcile.Counts{Unchanged: 2})
			checkCounts(t, "again: groups", groups.Groups, reconcile.Counts{Unchanged: 1})
			for _, r := range f.Requests() {
				if isWrite(r.Method) {
					t.Errorf("a second run wrote: %s %s", r.Method, r.Path)
				}
			}
		})
	}
}

// TestRateLimitedTarget: a Slack-like target that limits writes and also
// answers some requests 429 with Retry-After. Every user lands exactly
// once, nothing fails, and the writes idsync sends stay within the
// connection's budget in every one-second window.
func TestRateLimitedTarget(t *testing.T) {
	t.Setenv("VENDOR_TOKEN", "vendor-token")
	const n = 30
	e := newEnv(t)
	e.addUsers(t, "user", n)
	f := scimfake.Start(scimfake.Options{Flavor: scimfake.Slack, Token: "vendor-token",
		RateLimit: &scimfake.RateLimit{Requests: 100, Window: time.Second, Writes: 10, WriteBurst: 3}})
	defer f.Close()
	const budget, burst = 8, 2 // writes per second
	e.tgt = openVendor(t, "slack", map[string]any{"baseUrl": f.URL, "token": "env:VENDOR_TOKEN",
		"rateLimit": map[string]any{"requests": 1000, "writes": budget, "per": "1s", "burst": burst}})
	f.FailNext(3, http.StatusTooManyRequests, time.Second)

	res, err := e.syncer(reconcile.Options{Policy: reconcile.Policy{Concurrency: 8}}).SyncUsers(context.Background())
	if err != nil {
		t.Fatalf("a rate limit failed the sync: %v", err)
	}
	checkCounts(t, "users", res.Users, reconcile.Counts{Created: n})
	users := f.Users()
	seen := map[string]bool{}
	for _, u := range users {
		if seen[u.ExternalID] {
			t.Errorf("user %s created twice", u.ExternalID)
		}
		seen[u.ExternalID] = true
	}
	if len(users) != n {
		t.Errorf("%d users in the target, want %d", len(users), n)
	}

	var writes []time.Time
	limited := 0
	for _, r := range f.Requests() {
		if r.Status == http.StatusTooManyRequests {
			limited++
		}
		if isWrite(r.Method) {
			writes = append(writes, r.At)
		}
	}
	if limited < 3 {
		t.Errorf("%d requests were answered 429, want at least the 3 injected", limited)
	}
	for i := range writes {
		inWindow := 0
		for j := i; j < len(writes) && writes[j].Sub(writes[i]) < time.Second; j++ {
			inWindow++
		}
		if inWindow > budget+burst {
			t.Fatalf("%d writes within one second from %s: over the budget of %d/s (burst %d)", inWindow, writes[i].Format(time.StampMilli), budget, burst)
		}
	}
	t.Logf("%d writes, %d answered 429, over %s", len(writes), limited, writes[len(writes)-1].Sub(writes[0]))
}
