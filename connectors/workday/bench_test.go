package workday

import (
	"fmt"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/workdayfake"
)

// BenchmarkListUsers: a full listing of 10,000 workers (100 a page),
// the fake's rendering and the connector's parsing together.
func BenchmarkListUsers(b *testing.B) {
	for _, n := range []int{10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			srv := workdayfake.ForTest(b, workdayfake.Options{Now: t0})
			srv.Populate(n)
			c := openConnB(b, srv, nil)
			b.ResetTimer()
			for b.Loop() {
				got := 0
				if err := c.ListUsers(b.Context(), func(u connectorsUser) error { got++; return nil }); err != nil {
					b.Fatal(err)
				}
				if got != n {
					b.Fatalf("listed %d, want %d", got, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "users/s")
		})
	}
}

// BenchmarkChanges: a poll of 10,000 workers of which 1 % changed, each
// poll's window overlapping the last (whose changes it reads again and
// does not report).
func BenchmarkChanges(b *testing.B) {
	const n = 10_000
	srv := workdayfake.ForTest(b, workdayfake.Options{Now: t0})
	ids := srv.Populate(n)
	srv.Advance(2 * time.Hour)
	c := openConnB(b, srv, nil)
	cur, err := c.Cursor(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for k := range n / 100 {
			srv.Change(ids[(k*100+i)%n], "", func(w *workdayfake.Worker) { w.Title = fmt.Sprint("T", i) })
		}
		srv.Advance(time.Minute)
		b.StartTimer()
		cs, err := c.Changes(b.Context(), cur)
		if err != nil {
			b.Fatal(err)
		}
		if len(cs.Users) != n/100 {
			b.Fatalf("poll reports %d users, want %d", len(cs.Users), n/100)
		}
		cur = cs.Cursor
	}
}
