package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/all"
	"github.com/idsync/idsync/internal/devserver"
	"github.com/idsync/idsync/internal/peers"
	"github.com/idsync/idsync/internal/scimfake"
	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

const (
	concurrency = 8
	scimToken   = "bench-token"
	childEnv    = "IDSYNC_BENCH_CHILD"
)

// TestMain runs the measured resync in a child process (the test binary
// again) when asked to, so that its peak RSS is the worker code's alone.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := profiled(resyncChild); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func users() int {
	if s := os.Getenv("BENCH_USERS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 10000
}

// BenchmarkIdsync runs every scenario once (run it with -benchtime 1x),
// prints the table and writes results.json.
func BenchmarkIdsync(b *testing.B) {
	n := users()
	rs := &results{N: n, Machine: machine()}
	defer func() {
		fmt.Print(rs.table())
		if err := rs.write("results.json"); err != nil {
			b.Error(err)
		}
	}()
	ctx := context.Background()

	t0 := time.Now()
	dir := Generate(n)
	slapd, err := peers.StartSlapd(ctx, peers.SlapdOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = slapd.Stop() })
	if err := dir.Load(ctx, slapd); err != nil {
		b.Fatal(err)
	}
	rs.add("setup", "generate+load LDAP (users+groups)", time.Since(t0).Seconds(), "s", "")
	b.Logf("loaded %d users, %d groups in %s", len(dir.Users), len(dir.Groups), time.Since(t0))

	fullResync(b, rs, slapd, n, len(dir.Groups))
	idlePoll(b, rs, slapd, n, len(dir.Groups))
}

// --- scenario: full resync LDAP → SCIM, reconcile.Syncer in a child process

type childResult struct {
	UsersSeconds  float64          `json:"usersSeconds"`
	GroupsSeconds float64          `json:"groupsSeconds"`
	Result        reconcile.Result `json:"result"`
	PeakRSSKB     int              `json:"peakRssKb"`
}

func fullResync(b *testing.B, rs *results, slapd *peers.Slapd, n, groups int) {
	target := scimfake.Start(scimfake.Options{Flavor: scimfake.Generic, Token: scimToken})
	defer target.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1",
		"BENCH_LDAP_URL="+slapd.URL, "BENCH_LDAP_BASE="+slapd.BaseDN, "BENCH_LDAP_BIND="+slapd.AdminDN,
		"LDAP_PASSWORD="+slapd.AdminPassword, "BENCH_SCIM_URL="+target.URL, "SCIM_TOKEN="+scimToken)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("resync child: %v\n%s", err, out.String())
	}
	wall := time.Since(start)
	var cr childResult
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &cr); err != nil {
		b.Fatalf("child output %q: %v", out.String(), err)
	}
	if got := len(target.Users()); got != n {
		b.Errorf("target has %d users, want %d", got, n)
	}
	objs := float64(n + groups)
	sc := "full resync LDAP→SCIM (Syncer)"
	rs.add(sc, "users/s (SyncUsers)", float64(n)/cr.UsersSeconds, "obj/s", "≥ 2000 at N=100000")
	rs.add(sc, "objects/s (users+groups)", objs/(cr.UsersSeconds+cr.GroupsSeconds), "obj/s", "≥ 2000 at N=100000")
	rs.add(sc, "wall time SyncUsers", cr.UsersSeconds, "s", "")
	rs.add(sc, "wall time SyncGroups", cr.GroupsSeconds, "s", "")
	rs.add(sc, "wall time child process (incl. start)", wall.Seconds(), "s", "")
	rs.add(sc, "peak RSS of syncing process (VmHWM)", float64(cr.PeakRSSKB)/1024, "MB", "≤ 256 at N=100000")
	rs.add(sc, "target requests", float64(len(target.Requests())), "req", "")
	rs.add(sc, "failures", float64(cr.Result.Users.Failed+cr.Result.Groups.Failed), "obj", "0")

	raw := rawCreates(b, n)
	rs.add(sc, "raw limit: plain-client user creates/s", raw, "obj/s", "")
	rs.add(sc, "ratio idsync/raw (users)", float64(n)/cr.UsersSeconds/raw, "", "≥ 0.8")
}

func resyncChild() error {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := all.Registry()
	ls, _ := json.Marshal(map[string]any{"url": os.Getenv("BENCH_LDAP_URL"), "baseDn": os.Getenv("BENCH_LDAP_BASE"),
		"bindDn": os.Getenv("BENCH_LDAP_BIND"), "bindPassword": "env:LDAP_PASSWORD"})
	sc, err := reg.Open(ctx, "corp", "ldap", ls, logger)
	if err != nil {
		return err
	}
	defer func() { _ = sc.Close() }()
	ts, _ := json.Marshal(map[string]any{"baseUrl": os.Getenv("BENCH_SCIM_URL"), "token": "env:SCIM_TOKEN"})
	tc, err := reg.OpenTarget(ctx, "app", "scim", ts, logger)
	if err != nil {
		return err
	}
	defer func() { _ = tc.Close() }()
	s := &reconcile.Syncer{Source: sc.(connectors.Source), Target: tc.(connectors.Target), Opts: reconcile.Options{Concurrency: concurrency}}
	var cr childResult
	t := time.Now()
	r, err := s.SyncUsers(ctx)
	if err != nil {
		return fmt.Errorf("SyncUsers: %w", err)
	}
	cr.UsersSeconds = time.Since(t).Seconds()
	t = time.Now()
	g, err := s.SyncGroups(ctx)
	if err != nil {
		return fmt.Errorf("SyncGroups: %w", err)
	}
	cr.GroupsSeconds = time.Since(t).Seconds()
	r.Merge(g)
	cr.Result = r
	cr.PeakRSSKB = vmHWM("/proc/self/status")
	return json.NewEncoder(os.Stdout).Encode(cr)
}

// profiled runs fn under the CPU profiler when BENCH_CPUPROFILE names a
// file (go tool pprof reads it), and writes a heap profile to
// BENCH_MEMPROFILE at the end.
func profiled(fn func() error) error {
	if p := os.Getenv("BENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	err := fn()
	if p := os.Getenv("BENCH_MEMPROFILE"); p != "" && err == nil {
		f, ferr := os.Create(p)
		if ferr != nil {
			return ferr
		}
		defer f.Close()
		err = pprof.WriteHeapProfile(f)
	}
	return err
}

// vmHWM reads the peak resident set size, in kB, from a /proc status file.
func vmHWM(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// rawCreates issues n user creates with a plain Go HTTP client, with the
// same concurrency, to a fresh target, and returns creates per second.
func rawCreates(b *testing.B, n int) float64 {
	target := scimfake.Start(scimfake.Options{Flavor: scimfake.Generic, Token: scimToken})
	defer target.Close()
	dir := Generate(n)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}}
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				u := dir.Users[i]
				body, _ := json.Marshal(map[string]any{
					"schemas":     []string{scimfake.SchemaUser},
					"userName":    u.UID,
					"externalId":  fmt.Sprintf("ext-%d", i),
					"displayName": u.CN,
					"active":      true,
					"name":        map[string]string{"givenName": u.GivenName, "familyName": u.SN},
					"emails":      []map[string]any{{"value": u.Mail, "type": "work", "primary": true}},
					"title":       u.Title,
				})
				req, _ := http.NewRequest("POST", target.URL+"/Users", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+scimToken)
				req.Header.Set("Content-Type", "application/scim+json")
				resp, err := hc.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if f := failed.Load(); f > 0 {
		b.Errorf("raw creates: %d failed", f)
	}
	return float64(n) / d.Seconds()
}

// --- scenario: idle poll through Temporal and the worker binary

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func idlePoll(b *testing.B, rs *results, slapd *peers.Slapd, n, groups int) {
	ctx := context.Background()
	srv := devserver.Start(b)
	bin := b.TempDir()
	for _, c := range []string{"worker", "starter"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, c), "../"+c).CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", c, err, out)
		}
	}
	proxy, err := startLDAPProxy(strings.TrimPrefix(slapd.URL, "ldap://"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = proxy.Close() }()
	target := scimfake.Start(scimfake.Options{Flavor: scimfake.Generic, Token: scimToken})
	defer target.Close()
	env := append(os.Environ(), "LDAP_PASSWORD="+slapd.AdminPassword, "SCIM_TOKEN="+scimToken,
		"HOOK_KEY=bench-hook-key", "TEMPORAL_ADDRESS="+srv.FrontendHostPort())

	wctx, cancel := context.WithCancel(ctx)
	worker := exec.CommandContext(wctx, filepath.Join(bin, "worker"), "--webhook-addr", freeAddr(b), "--log-level", "warn")
	worker.Env = env
	var logs bytes.Buffer
	worker.Stdout, worker.Stderr = &logs, &logs
	if err := worker.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cancel()
		_ = worker.Wait()
		if b.Failed() {
			b.Logf("worker log:\n%s", logs.String())
		}
	}()
	starter := func(args ...string) {
		cmd := exec.Command(filepath.Join(bin, "starter"), args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("starter %v: %v\n%s", args, err, out)
		}
	}
	starter("connection", "create", "corp", "--type", "ldap", "--set", "url=ldap://"+proxy.Addr(),
		"--set", "baseDn="+slapd.BaseDN, "--set", "bindDn="+slapd.AdminDN, "--set", "bindPassword=env:LDAP_PASSWORD",
		"--webhook-secret", "env:HOOK_KEY")
	starter("connection", "create", "app", "--type", "scim", "--set", "baseUrl="+target.URL, "--set", "token=env:SCIM_TOKEN")
	start := time.Now()
	starter("rule", "create", "corp-to-app", "--source", "corp", "--target", "app", "--poll-interval", "1s",
		"--concurrency", strconv.Itoa(concurrency))

	wc := workflows.Client{Temporal: srv.Client()}
	id := workflows.RuleWorkflowID("corp-to-app")
	status := func() workflows.RuleStatus {
		st, err := wc.RuleStatus(ctx, "corp-to-app")
		if err != nil {
			return workflows.RuleStatus{}
		}
		return st
	}
	history := func() (int64, string) {
		d, err := srv.Client().DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			b.Fatal(err)
		}
		return d.WorkflowExecutionInfo.HistoryLength, d.WorkflowExecutionInfo.Execution.RunId
	}

	// The initial full resync, through the worker.
	deadline := time.Now().Add(20 * time.Minute)
	for {
		st := status()
		if st.ManagedUsers >= n && st.ManagedGroups >= groups && !st.LastSuccess.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("initial resync through the worker not done: %+v", st)
		}
		time.Sleep(250 * time.Millisecond)
	}
	wall := time.Since(start)
	hl, _ := history()
	sc := "full resync via worker+Temporal"
	rs.add(sc, "objects/s (users+groups)", float64(n+groups)/wall.Seconds(), "obj/s", "≥ 2000 at N=100000")
	rs.add(sc, "wall time (rule create → managed=N)", wall.Seconds(), "s", "")
	rs.add(sc, "rule history events after resync", float64(hl), "events", "")
	rs.add(sc, "worker peak RSS (VmHWM)", float64(vmHWM(fmt.Sprintf("/proc/%d/status", worker.Process.Pid)))/1024, "MB", "≤ 256 at N=100000")

	// Idle polls: wait for quiet, then measure over cycles.
	waitPolls := func(k int) time.Time {
		last := status().LastPoll
		for seen := 0; seen < k; {
			time.Sleep(50 * time.Millisecond)
			if lp := status().LastPoll; !lp.Equal(last) {
				last = lp
				seen++
			}
		}
		return last
	}
	const cycles = 10
	var dHist int64
	var dSrc, dConn, dTgt int
	for attempt := 0; attempt < 3; attempt++ {
		waitPolls(2)
		h0, run0 := history()
		s0, c0 := proxy.Counts()
		ops0 := proxy.Ops()
		t0 := len(target.Requests())
		waitPolls(cycles)
		h1, run1 := history()
		s1, c1 := proxy.Counts()
		t1 := len(target.Requests())
		dHist, dSrc, dConn, dTgt = h1-h0, s1-s0, c1-c0, t1-t0
		ops := proxy.Ops()
		for k, v := range ops0 {
			ops[k] -= v
		}
		b.Logf("LDAP operations over %d idle cycles: %v", cycles, ops)
		if run0 == run1 {
			break
		}
		b.Logf("the rule continued as new during the measurement; again")
	}
	sc = "idle poll (1s interval, nothing changed)"
	rs.add(sc, "source LDAP requests per cycle (excl. bind/unbind)", float64(dSrc)/cycles, "req", "≤ 1")
	rs.add(sc, "source LDAP connections per cycle", float64(dConn)/cycles, "conn", "")
	rs.add(sc, "target requests per cycle", float64(dTgt)/cycles, "req", "0")
	rs.add(sc, "history events per cycle", float64(dHist)/cycles, "events", "≤ 10")
}

// --- results

type result struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit,omitempty"`
	Target   string  `json:"target,omitempty"`
}

type results struct {
	N       int       `json:"users"`
	Machine string    `json:"machine"`
	When    time.Time `json:"when"`
	Results []result  `json:"results"`
}

func (r *results) add(scenario, metric string, v float64, unit, target string) {
	r.Results = append(r.Results, result{scenario, metric, v, unit, target})
}

func (r *results) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nidsync bench: N=%d users; %s\n", r.N, r.Machine)
	fmt.Fprintf(&b, "%-42s %-52s %12s %-7s %s\n", "SCENARIO", "METRIC", "VALUE", "UNIT", "TARGET (issue 5)")
	for _, x := range r.Results {
		fmt.Fprintf(&b, "%-42s %-52s %12.2f %-7s %s\n", x.Scenario, x.Metric, x.Value, x.Unit, x.Target)
	}
	return b.String()
}

func (r *results) write(path string) error {
	r.When = time.Now().UTC()
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func machine() string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := vmField("/proc/meminfo", "MemTotal:")
	return fmt.Sprintf("%d CPUs (%s), %d MB RAM", numCPU(), cpu, mem/1024)
}

func vmField(path, key string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}
