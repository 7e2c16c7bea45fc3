package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/peers"
)

const (
	concurrency = 8
	scimToken   = "bench-token"
	ruleName    = "corp-to-app"
)

// TestMain runs a measured resync in a child process (the test binary
// again) when asked to, so that its peak RSS is the syncing code's alone.
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
//
// The order matters: each scenario starts from a state the previous ones
// leave known. The Syncer scenarios write to targets of their own. Through
// the worker: the rule's initial full resync, then idle polls (nothing has
// changed since), then the incremental poll (the only source changes are
// its own), then the webhooks (polling is off by then, so only the
// webhooks can bring their changes).
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

	fullResyncSCIM(b, rs, slapd, dir)
	fullResyncLDAP(b, rs, slapd, dir)
	workdayToSCIM(b, rs, n)
	googleToSCIM(b, rs)
	graphToSCIM(b, rs)

	h := newHarness(b, slapd)
	fullResyncWorker(b, rs, h, dir)
	idlePoll(b, rs, h)
	incrementalPoll(b, rs, h, dir)
	realtimeWebhooks(b, rs, h, dir)
}
