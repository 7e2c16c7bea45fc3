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
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
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
}

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
	if err := cmd.Run(); err != nil {
		b.Fatalf("resync child (%s): %v\n%s", targetType, err, out.String())
	}
	wall := time.Since(start)
	var cr childResult
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &cr); err != nil {
		b.Fatalf("child output %q: %v", out.String(), err)
	}
	if f := cr.failed(); f > 0 {
		b.Errorf("resync child (%s): %d objects failed: %q", targetType, f, cr.Result.Failures)
	}
	return cr, wall
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
	tc, err := reg.OpenTarget(ctx, "app", os.Getenv(childTargetType), json.RawMessage(os.Getenv(childTarget)), logger)
	if err != nil {
		return fmt.Errorf("open target: %w", err)
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

	raw := rawCreates(b, dir)
	rs.add(sc, "raw limit: plain-client user creates/s", raw, "obj/s", "")
	rs.add(sc, "ratio idsync/raw (users)", float64(n)/cr.UsersSeconds/raw, "", "≥ 0.8")
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
