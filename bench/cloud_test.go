package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/googlefake"
	"github.com/idsync/idsync/internal/graphfake"
	"github.com/idsync/idsync/internal/scimfake"
	"github.com/idsync/idsync/reconcile"
)

// Issue 12's cloud directory scenario: 2,000 users, 100 groups, each
// user in 3 groups.
const (
	googleUsers         = 2000
	googleGroups        = 100
	googleGroupsPerUser = 3
)

// googleToSCIM: Google Workspace → SCIM (see directoryToSCIM), against
// internal/googlefake, which the official client talks to.
func googleToSCIM(b *testing.B, rs *results) {
	gf := googlefake.NewServer(googlefake.Knobs{})
	defer gf.Close()
	key := filepath.Join(b.TempDir(), "sa.json")
	if err := os.WriteFile(key, gf.ServiceAccountKey(), 0o600); err != nil {
		b.Fatal(err)
	}
	// requestsPerMinute: the fill writes ~8,100 times, which the default
	// budget (2,400 a minute) would spread over minutes; a sync's ~105
	// reads fit in the default budget's first burst anyway.
	directoryToSCIM(b, rs, "Google → SCIM (Syncer)", "google", map[string]any{"domain": gf.Domain,
		"subject": "idsync-admin@" + gf.Domain, "credentials": "file:" + key, "endpoint": gf.Endpoint(), "tokenUrl": gf.TokenURL(),
		"requestsPerMinute": 1_000_000},
		func() int { return gf.Stats().Requests })
}

// graphToSCIM: Microsoft Graph → SCIM (see directoryToSCIM), against
// internal/graphfake.
func graphToSCIM(b *testing.B, rs *results) {
	const tenant, client, secret = "contoso.example", "11111111-2222-3333-4444-555555555555", "bench-secret"
	gf := graphfake.Start(graphfake.Options{Tenant: tenant, ClientID: client, ClientSecret: secret})
	defer gf.Close()
	b.Setenv("BENCH_GRAPH_SECRET", secret)
	directoryToSCIM(b, rs, "Graph → SCIM (Syncer)", "graph", map[string]any{"tenant": tenant, "clientId": client,
		"clientSecret": "env:BENCH_GRAPH_SECRET", "authority": gf.AuthorityURL(), "graphUrl": gf.GraphURL(), "domain": tenant,
		"rateLimit": map[string]any{"requests": 1_000_000, "per": "1s"}},
		func() int { return gf.Stats().Requests })
}

// directoryToSCIM: a cloud directory → SCIM with reconcile.Syncer in this
// process, both connectors opened through the registry: the directory is
// filled through its connector as a target (googleUsers users, googleGroups
// groups, googleGroupsPerUser per user), then read by it as a source into
// a fresh scimfake Generic; the first sync, then a repeat with nothing
// changed, which still reads the whole target so that drift there would
// be found. Wall time and requests to each side (requests reads the
// directory's counter).
func directoryToSCIM(b *testing.B, rs *results, scenario, typ string, settings map[string]any, requests func() int) {
	ctx := context.Background()
	target := scimfake.Start(scimfake.Options{Flavor: scimfake.Generic, Token: scimToken})
	defer target.Close()
	b.Setenv("BENCH_SCIM_TOKEN", scimToken)

	// Fill the directory as its admins would, through the connector.
	t0 := time.Now()
	seed := mustTarget(openConnection(b, "seed", typ, settings))
	seedGroups, ok := seed.(connectors.GroupTarget)
	if !ok {
		b.Fatalf("the %s target has no groups", typ)
	}
	userIDs := make([]string, googleUsers)
	for i := range googleUsers {
		id, err := seed.CreateUser(ctx, connectors.User{ExternalID: fmt.Sprintf("seed-%d", i), UserName: fmt.Sprintf("user%04d", i),
			GivenName: "User", FamilyName: fmt.Sprint(i), DisplayName: fmt.Sprintf("User %d", i), Active: true,
			Attributes: map[string]string{"title": fmt.Sprintf("Engineer %d", i%7)}})
		if err != nil {
			b.Fatal(err)
		}
		userIDs[i] = id
	}
	for g := range googleGroups {
		id, err := seedGroups.CreateGroup(ctx, connectors.Group{ExternalID: fmt.Sprintf("seed-group-%d", g), DisplayName: fmt.Sprintf("Team %03d", g)})
		if err != nil {
			b.Fatal(err)
		}
		var members []string
		for i := range googleUsers {
			if (i+g)%googleGroups < googleGroupsPerUser { // each user in 3 consecutive groups
				members = append(members, userIDs[i])
			}
		}
		if err := seedGroups.AddMembers(ctx, id, members); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%s: %d users and %d groups filled in %s", typ, googleUsers, googleGroups, time.Since(t0).Round(time.Millisecond))

	s := &reconcile.Syncer{Source: openConnection(b, "directory", typ, settings).(connectors.Source),
		Target: mustTarget(openConnection(b, "app", "scim", map[string]any{"baseUrl": target.URL, "token": "env:BENCH_SCIM_TOKEN"})),
		Opts:   reconcile.Options{Policy: reconcile.Policy{Concurrency: concurrency}}}
	for run, want := range []string{"first sync", "repeat sync, nothing changed"} {
		d0, sc0 := requests(), len(target.Requests())
		t0 := time.Now()
		users, err := s.SyncUsers(ctx)
		if err != nil {
			b.Fatal(err)
		}
		groups, err := s.SyncGroups(ctx)
		if err != nil {
			b.Fatal(err)
		}
		wall := time.Since(t0)
		u, g := users.Users, groups.Groups
		switch {
		case u.Failed+g.Failed != 0:
			b.Fatalf("%s %s: users %+v, groups %+v", typ, want, u, g)
		case run == 0 && (u.Created != googleUsers || g.Created != googleGroups):
			b.Fatalf("%s %s: users %+v, groups %+v; want %d and %d created", typ, want, u, g, googleUsers, googleGroups)
		case run == 1 && (u.Unchanged != googleUsers || g.Unchanged != googleGroups):
			b.Fatalf("%s %s: users %+v, groups %+v; want all unchanged", typ, want, u, g)
		}
		goal := ""
		if typ == "google" {
			goal = map[int]string{0: "≤ 1 s", 1: "≤ 0.9 s"}[run]
		}
		rs.add(scenario, fmt.Sprintf("%s: %d users, %d groups, %d per user", want, googleUsers, googleGroups, googleGroupsPerUser),
			wall.Seconds(), "s", goal)
		rs.add(scenario, want+": directory requests", float64(requests()-d0), "req", "")
		rs.add(scenario, want+": SCIM requests", float64(len(target.Requests())-sc0), "req", "")
	}
}
