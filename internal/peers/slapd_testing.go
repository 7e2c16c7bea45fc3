package peers

import (
	"context"
	"testing"
	"time"
)

// SlapdForTest starts a slapd for t (in t.TempDir() unless opts.Dir is set)
// and stops it when the test ends. It fails the test if slapd cannot start,
// naming the package to install when it is missing; it never skips.
func SlapdForTest(t testing.TB, opts SlapdOptions) *Slapd {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := StartSlapd(ctx, opts)
	if err != nil {
		t.Fatalf("start slapd: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop slapd: %v", err)
		}
	})
	return s
}
