package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/scim"
	"github.com/idsync/idsync/internal/devserver"
	"github.com/idsync/idsync/internal/peers"
	"github.com/idsync/idsync/internal/syncbuf"
	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

// The slow target: every list page takes slowPage, longer than the
// heartbeat timeout the test gives the resync phases, and one listing of
// the 5,000 users is slowUsers/slowPageSize pages (30 s).
const (
	slowUsers     = 5000
	slowPageSize  = 1000
	slowPage      = 6 * time.Second
	slowHeartbeat = 5 * time.Second
)

// TestSlowTargetResync: a full resync of a target holding 5,000 users
// completes when each page of the target takes longer than the resync's
// heartbeat timeout, and each listing six times as long, through the dev
// server and the worker binary: in one attempt per phase, with never two
// listings of the target at once (no retried attempt overlapping the one
// it replaces), and changing nothing. A first resync, at full speed,
// provisions the users.
func TestSlowTargetResync(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 users and a target at seconds per page")
	}
	start := time.Now()
	e, c, logs := setupSlow(t)
	ctx := context.Background()
	t.Logf("setup: %s", time.Since(start).Round(time.Second))
	if err := e.slapd.Add(ctx, usersLDIF(e.slapd.BaseDN, slowUsers)); err != nil {
		t.Fatal(err)
	}
	t.Logf("setup and %d source users: %s", slowUsers, time.Since(start).Round(time.Second))

	// The target counts the list requests in flight through a proxy: the
	// SCIM connector pages one request at a time, so two at once mean two
	// attempts read the target together.
	lists := &listCounter{}
	proxyURL := lists.proxy(t, e.scim.URL)
	e.starter(false, "connection", "create", "corp", "--type", "ldap",
		"--set", "url="+e.slapd.URL, "--set", "baseDn="+e.slapd.BaseDN,
		"--set", "bindDn="+e.slapd.AdminDN, "--set", "bindPassword=env:LDAP_PASSWORD")
	e.starter(false, "connection", "create", "app", "--type", "scim",
		"--set", "baseUrl="+proxyURL, "--set", "token=env:SCIM_TOKEN",
		"--set", fmt.Sprintf("pageSize=%d", slowPageSize))

	for i, want := range []reconcile.Counts{{Created: slowUsers}, {Unchanged: slowUsers}} {
		if i == 1 {
			if err := e.scim.SetKnobs(ctx, peers.SCIMKnobs{ListLatency: slowPage}); err != nil {
				t.Fatal(err)
			}
			lists.max.Store(0)
		}
		began := time.Now()
		res := runSlowResync(t, c, fmt.Sprintf("slow-resync-%d", i+1))
		got := res.Result.Users
		got.Foreign = 0
		if got != want {
			t.Errorf("resync %d: users %+v, want %+v", i+1, res.Result.Users, want)
		}
		t.Logf("resync %d: %s, %d list requests at the target, at most %d at once",
			i+1, time.Since(began).Round(time.Second), lists.total.Load(), lists.max.Load())
	}
	if got := lists.max.Load(); got != 1 {
		t.Errorf("%d list requests at the target at once, want 1", got)
	}
	for _, bad := range []string{"waiting for an earlier attempt", "retrying", "RecordActivityHeartbeat with error"} {
		if strings.Contains(logs.String(), bad) {
			t.Errorf("worker log has %q", bad)
		}
	}

	// Every source user is in the target, once.
	read := time.Now()
	if err := e.scim.SetKnobs(ctx, peers.SCIMKnobs{}); err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	if err := e.target.ListUsers(ctx, func(u connectors.TargetUser) error {
		byName[u.UserName]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range slowUsers {
		if n := byName[slowUID(i)]; n != 1 {
			t.Errorf("%s is in the target %d times", slowUID(i), n)
			break
		}
	}
	t.Logf("the test read the target in %s", time.Since(read).Round(time.Second))
	if len(byName) != slowUsers {
		t.Errorf("%d users in the target, want %d", len(byName), slowUsers)
	}
	t.Logf("total: %s", time.Since(start).Round(time.Second))
}

// runSlowResync runs a full resync with the short heartbeat timeout, as
// the rule would start it, and checks that each of its activities ran
// once: the attempt of a completed activity is in its started event.
func runSlowResync(t *testing.T, c client.Client, id string) workflows.ResyncResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue},
		workflows.FullResyncWorkflow, workflows.ResyncInput{
			Rule: activities.RuleSpec{
				Name:             "corp-to-app",
				SourceConnection: "corp",
				TargetConnection: "app",
				Policy:           reconcile.Policy{MaxDeprovisionFraction: 0.2},
			},
			Scope: workflows.ScopeBoth, Reason: "slow target test", HeartbeatTimeout: slowHeartbeat,
		})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.ResyncResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	it := c.GetWorkflowHistory(ctx, id, run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	started := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			started++
			if a.GetAttempt() != 1 {
				t.Errorf("%s: an activity completed in attempt %d, want 1 (last failure: %v)", id, a.GetAttempt(), a.GetLastFailure())
			}
		}
	}
	if started != 3 { // cursor, users, groups
		t.Errorf("%s: %d activities, want 3", id, started)
	}
	return res
}

// setupSlow is setup with a SCIM server that pages by up to slowPageSize
// users, no webhook, and a worker that logs at info, so
// that retries and waiting attempts show. It returns a client of the dev
// server and the worker's log.
func setupSlow(t *testing.T) (*env, client.Client, *syncbuf.Buffer) {
	srv := devserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sc, err := peers.StartSCIM(ctx, peers.SCIMOptions{MaxPageSize: slowPageSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Stop() })
	e := &env{t: t, bin: build(t), address: srv.FrontendHostPort(),
		slapd: peers.SlapdForTest(t, peers.SlapdOptions{}), scim: sc}
	e.vars = append(os.Environ(), "LDAP_PASSWORD="+e.slapd.AdminPassword, "SCIM_TOKEN="+sc.Token,
		"TEMPORAL_ADDRESS="+e.address)

	wctx, stop := context.WithCancel(context.Background())
	worker := exec.CommandContext(wctx, filepath.Join(e.bin, "worker"), "--webhook-addr", "", "--log-level", "info")
	worker.Env = e.vars
	logs := &syncbuf.Buffer{}
	worker.Stdout, worker.Stderr = logs, logs
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		_ = worker.Wait()
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.String())
		}
	})

	// The test reads the target directly, as the worker does.
	t.Setenv("E2E_SCIM_TOKEN", sc.Token)
	cfg := &scim.Config{BaseURL: sc.URL, Token: "env:E2E_SCIM_TOKEN", PageSize: slowPageSize}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	conn, err := cfg.Open(context.Background(), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	e.target = conn.(fullTarget)
	return e, srv.Client(), logs
}

func slowUID(i int) string { return fmt.Sprintf("user%04d", i) }

// usersLDIF is n inetOrgPersons under ou=people.
func usersLDIF(base string, n int) string {
	var b strings.Builder
	for i := range n {
		uid := slowUID(i)
		fmt.Fprintf(&b, "dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: User %04d\nsn: %04d\nmail: %s@example.org\n\n",
			uid, base, uid, i, i, uid)
	}
	return b.String()
}

// listCounter counts the list requests (GET /Users or /Groups without a
// filter) that pass through its proxy, and the most in flight at once.
type listCounter struct {
	inFlight, max, total atomic.Int32
}

// proxy serves a reverse proxy to the SCIM server at base until the test
// ends and returns the base URL to use instead.
func (l *listCounter) proxy(t *testing.T, base string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isList(r) {
			l.total.Add(1)
			n := l.inFlight.Add(1)
			defer l.inFlight.Add(-1)
			for m := l.max.Load(); n > m && !l.max.CompareAndSwap(m, n); m = l.max.Load() {
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + u.Path
}

func isList(r *http.Request) bool {
	if r.Method != http.MethodGet || r.URL.Query().Has("filter") {
		return false
	}
	return strings.HasSuffix(r.URL.Path, "/Users") || strings.HasSuffix(r.URL.Path, "/Groups")
}
