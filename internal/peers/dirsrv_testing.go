package peers

import (
	"context"
	"testing"
	"time"
)

// DirsrvForTest starts a 389 Directory Server for t (in t.TempDir() unless
// opts.Dir is set) and stops it when the test ends. It fails the test if
// the server cannot start, naming the package to install when it is
// missing; it never skips.
func DirsrvForTest(t testing.TB, opts DirsrvOptions) *Dirsrv {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := StartDirsrv(ctx, opts)
	if err != nil {
		t.Fatalf("start 389 Directory Server: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop 389 Directory Server: %v", err)
		}
	})
	return d
}
