package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/all"
	"github.com/idsync/idsync/internal/peers"
	"github.com/idsync/idsync/internal/scimfake"
	"github.com/idsync/idsync/reconcile"
)

// The child process: the test binary again, with childEnv set. It reads its
// connections from the environment as the worker reads stored ones: type
// and JSON settings whose secrets are env: references.
const (
	childEnv        = "IDSYNC_BENCH_CHILD"
	childSource     = "BENCH_SOURCE_SETTINGS"
	childTargetType = "BENCH_TARGET_TYPE"
	childTarget     = "BENCH_TARGET_SETTINGS"
)

type childResult struct {
	UsersSeconds  float64          `json:"usersSeconds"`
	GroupsSeconds float64          `json:"groupsSeconds"`
	Result        reconcile.Result `json:"result"`
	PeakRSSKB     int              `json:"peakRssKb"`
	// CPUSeconds is the child's own CPU time (user+system) over both
	// phases: the engine's share of the machine.
	CPUSeconds float64 `json:"cpuSeconds"`
	cpuUse
}

// cpuUse is what the parent measured around the child: its own CPU (the
// in-memory target it serves) and slapd's.
type cpuUse struct{ targetCPU, sourceCPU float64 }

func (c childResult) failed() int { return c.Result.Users.Failed + c.Result.Groups.Failed }

// ldapSettings are the source connection's settings for slapd at url.
func ldapSettings(url string, s *peers.Slapd, passwordEnv string) map[string]any {
	return map[string]any{"url": url, "baseDn": s.BaseDN, "bindDn": s.AdminDN, "bindPassword": "env:" + passwordEnv}
}

// runChild runs a full resync (SyncUsers, SyncGroups) from the source slapd
// to the target in a child process and returns what it measured. env adds
// the secrets the settings refer to.
func runChild(b *testing.B, slapd *peers.Slapd, targetType string, target map[string]any, env ...string) (childResult, time.Duration) {
	src, _ := json.Marshal(ldapSettings(slapd.URL, slapd, "LDAP_PASSWORD"))
	tgt, _ := json.Marshal(target)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "LDAP_PASSWORD="+slapd.AdminPassword,
		childSource+"="+string(src), childTargetType+"="+targetType, childTarget+"="+string(tgt))
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	start := time.Now()
	cpu0, slapd0 := selfCPU(), slapdCPU(slapd)
	if err := cmd.Run(); err != nil {
		b.Fatalf("resync child (%s): %v\n%s", targetType, err, out.String())
	}
	wall := time.Since(start)
	// This process only serves the in-memory target meanwhile; the
	// child's CPU is not in selfCPU (RUSAGE_SELF).
	targetCPU, sourceCPU := selfCPU()-cpu0, slapdCPU(slapd)-slapd0
	var cr childResult
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &cr); err != nil {
		b.Fatalf("child output %q: %v", out.String(), err)
	}
	if f := cr.failed(); f > 0 {
		b.Errorf("resync child (%s): %d objects failed: %q", targetType, f, cr.Result.Failures)
	}
	cr.targetCPU, cr.sourceCPU = targetCPU, sourceCPU
	return cr, wall
}

// selfCPU is this process's CPU time so far (user+system), in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// slapdCPU is the slapd process's CPU time so far, in seconds, from
// /proc/<pid>/stat (utime and stime, fields 14 and 15, in clock ticks of
// 1/100 s on Linux); 0 when it cannot be read.
func slapdCPU(s *peers.Slapd) float64 {
	pid, err := os.ReadFile(filepath.Join(s.Dir, "slapd.pid"))
	if err != nil {
		return 0
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, field 2, may hold spaces: count after its ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return float64(u+st) / 100
}

func resyncChild() error {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := all.Registry()
	sc, err := reg.Open(ctx, "corp", "ldap", json.RawMessage(os.Getenv(childSource)), logger)
	if err != nil {
		return fmt.Errorf("open source: %w", err)
	}
	defer func() { _ = sc.Close() }()
	tc, err := reg.Open(ctx, "app", os.Getenv(childTargetType), json.RawMessage(os.Getenv(childTarget)), logger)
	if err != nil {
		return fmt.Errorf("open target: %w", err)
	}
	defer func() { _ = tc.Close() }()
	s := &reconcile.Syncer{Source: sc.(connectors.Source), Target: mustTarget(tc), Opts: reconcile.Options{Policy: reconcile.Policy{Concurrency: concurrency}}}
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
	cr.CPUSeconds = selfCPU()
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

// --- scenario: full resync LDAP → SCIM, reconcile.Syncer in a child process

func fullResyncSCIM(b *testing.B, rs *results, slapd *peers.Slapd, dir Directory) {
	n, groups := len(dir.Users), len(dir.Groups)
	target := scimfake.Start(scimfake.Options{Flavor: scimfake.Generic, Token: scimToken})
	defer target.Close()
	cr, wall := runChild(b, slapd, "scim", map[string]any{"baseUrl": target.URL, "token": "env:SCIM_TOKEN"},
		"SCIM_TOKEN="+scimToken)
	if got := len(target.Users()); got != n {
		b.Errorf("SCIM target has %d users, want %d", got, n)
	}
	if got := len(target.Groups()); got != groups {
		b.Errorf("SCIM target has %d groups, want %d", got, groups)
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
	rs.add(sc, "failures", float64(cr.failed()), "obj", "0")

	perK := 1000 / objs
	rs.add(sc, "CPU per 1,000 objects: idsync (engine)", cr.CPUSeconds*perK, "s", "")
	rs.add(sc, "CPU per 1,000 objects: target (scimfake)", cr.targetCPU*perK, "s", "")
	rs.add(sc, "CPU per 1,000 objects: source (slapd)", cr.sourceCPU*perK, "s", "")

	cpu0 := selfCPU()
	raw := rawCreates(b, dir)
	rawCPU := (selfCPU() - cpu0) * 1000 / float64(n)
	rs.add(sc, "raw limit: plain-client user creates/s", raw, "obj/s", "")
	rs.add(sc, "raw limit: CPU per 1,000 creates (client+target)", rawCPU, "s", "")
	rs.add(sc, "ratio idsync/raw (users)", float64(n)/cr.UsersSeconds/raw, "", "≥ 0.8")
	// When the machine's cores are the bound, throughput goes as the
	// inverse of the CPU all processes spend per object.
	if all := (cr.CPUSeconds + cr.targetCPU + cr.sourceCPU) * perK; all > 0 {
		rs.add(sc, "CPU-bound ratio: raw CPU / idsync+peers CPU per object", rawCPU/all, "", "")
	}
}

// rawCreates issues the directory's user creates with a plain Go HTTP
// client, with the same concurrency, to a fresh target, and returns
// creates per second.
func rawCreates(b *testing.B, dir Directory) float64 {
	n := len(dir.Users)
	target := scimfake.Start(scimfake.Options{Flavor: scimfake.Generic, Token: scimToken})
	defer target.Close()
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

// mustTarget is c as a target; the child's target types all are.
func mustTarget(c connectors.Connector) connectors.Target {
	t, err := connectors.AsTarget(c)
	if err != nil {
		panic(err)
	}
	return t
}
