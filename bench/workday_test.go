package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/all"
	"github.com/idsync/idsync/internal/scimfake"
	"github.com/idsync/idsync/internal/workdayfake"
	"github.com/idsync/idsync/reconcile"
)

// workdayToSCIM: Workday → SCIM with reconcile.Syncer in this process,
// both connectors opened through the registry as the worker opens them:
// the full resync of a tenant of n workers into a fresh scimfake Generic,
// then an incremental poll with 1 % of the workers changed. The fake
// tenant answers at once, so the numbers are the engine's and the
// connectors' cost (SOAP rendering and parsing included); a real tenant
// adds its own seconds per page.
func workdayToSCIM(b *testing.B, rs *results, n int) {
	const scenario = "Workday → SCIM (Syncer)"
	ctx := context.Background()
	wd := workdayfake.New(workdayfake.Options{})
	defer wd.Close()
	t0 := time.Now()
	ids := wd.Populate(n)
	b.Logf("workday tenant of %d workers in %s", n, time.Since(t0).Round(time.Millisecond))
	wd.Advance(2 * time.Hour) // the population is older than a poll's window
	target := scimfake.Start(scimfake.Options{Flavor: scimfake.Generic, Token: scimToken})
	defer target.Close()

	b.Setenv("BENCH_WORKDAY_PASSWORD", wd.Password())
	b.Setenv("BENCH_SCIM_TOKEN", scimToken)
	sc := openConnection(b, "hr", "workday", map[string]any{"url": wd.URL(), "tenant": wd.Tenant(), "username": wd.Username(),
		"password": "env:BENCH_WORKDAY_PASSWORD", "timeZone": wd.TimeZone()})
	src := sc.(connectors.Source)
	s := &reconcile.Syncer{Source: src, Target: mustTarget(openConnection(b, "app", "scim", map[string]any{
		"baseUrl": target.URL, "token": "env:BENCH_SCIM_TOKEN"})),
		Opts: reconcile.Options{Policy: reconcile.Policy{Concurrency: concurrency}}}

	cursor, err := sc.(connectors.Incremental).Cursor(ctx)
	if err != nil {
		b.Fatal(err)
	}
	wd0, sc0 := wd.RequestCounts(), len(target.Requests())
	t0 = time.Now()
	users, err := s.SyncUsers(ctx)
	if err != nil {
		b.Fatal(err)
	}
	groups, err := s.SyncGroups(ctx)
	if err != nil {
		b.Fatal(err)
	}
	wall := time.Since(t0)
	if users.Users.Created != n || users.Users.Failed+groups.Groups.Failed != 0 || groups.Groups.Created != 20 {
		b.Fatalf("full resync: users %+v, groups %+v; want %d users and 20 groups created", users.Users, groups.Groups, n)
	}
	objects := n + groups.Groups.Created
	rs.add(scenario, fmt.Sprintf("full resync: %d workers + %d org groups", n, groups.Groups.Created), wall.Seconds(), "s", "")
	rs.add(scenario, "full resync: objects/s", float64(objects)/wall.Seconds(), "obj/s", "")
	rs.add(scenario, "full resync: Workday requests", float64(sumDiff(wd.RequestCounts(), wd0)), "req", "")
	rs.add(scenario, "full resync: SCIM requests", float64(len(target.Requests())-sc0), "req", "")

	// 1 % of the workers change title.
	changed := n / 100
	for k := range changed {
		wd.Change(ids[k*100], "", func(w *workdayfake.Worker) { w.Title = "Principal Engineer" })
	}
	wd.Advance(time.Minute) // the tenant's clock, read from its answers, has whole seconds
	wd0, sc0 = wd.RequestCounts(), len(target.Requests())
	t0 = time.Now()
	cs, err := sc.(connectors.Incremental).Changes(ctx, cursor)
	if err != nil {
		b.Fatal(err)
	}
	res, err := s.ApplyChangeSet(ctx, cs)
	if err != nil {
		b.Fatal(err)
	}
	wall = time.Since(t0)
	if res.Users.Updated != changed || res.Users.Failed != 0 || cs.ResyncRequired {
		b.Fatalf("incremental poll: %+v (resync required: %v); want %d users updated", res.Users, cs.ResyncRequired, changed)
	}
	const poll = "Workday → SCIM poll, 1 % changed"
	rs.add(poll, fmt.Sprintf("wall time (%d of %d workers changed)", changed, n), float64(wall)/float64(time.Millisecond), "ms", "")
	rs.add(poll, "Workday requests", float64(sumDiff(wd.RequestCounts(), wd0)), "req", "")
	rs.add(poll, "SCIM requests", float64(len(target.Requests())-sc0), "req", "")
}

// sumDiff is the total of now's counts less then's.
func sumDiff(now, then map[string]int) int {
	total := 0
	for _, v := range diff(now, then) {
		total += v
	}
	return total
}

// openConnection opens a connection through the registry, as the worker
// does, closed when the benchmark ends.
func openConnection(b *testing.B, name, typ string, settings map[string]any) connectors.Connector {
	b.Helper()
	raw, err := json.Marshal(settings)
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := all.Registry().Open(context.Background(), name, typ, raw, logger)
	if err != nil {
		b.Fatalf("open %s: %v", name, err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}
