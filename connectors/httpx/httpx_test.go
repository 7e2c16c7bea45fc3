package httpx

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flaky answers the first n requests with status and Retry-After, then 200
// echoing the body it got.
func flaky(n int32, status int, retryAfter string) (*httptest.Server, *atomic.Int32) {
	var seen atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if seen.Add(1) <= n {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(status)
			return
		}
		_, _ = w.Write(body)
	}))
	return srv, &seen
}

func TestTransportRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		fail       int32
		status     int
		retryAfter string
		maxRetries int
		wantStatus int
		wantSent   int32
		wantWaits  []time.Duration
	}{
		{name: "429 then ok", fail: 2, status: 429, retryAfter: "3", wantStatus: 200, wantSent: 3, wantWaits: []time.Duration{3 * time.Second, 3 * time.Second}},
		{name: "503 then ok", fail: 1, status: 503, retryAfter: "1", wantStatus: 200, wantSent: 2, wantWaits: []time.Duration{time.Second}},
		{name: "wait too long: handed back", fail: 1, status: 429, retryAfter: "3600", wantStatus: 429, wantSent: 1},
		{name: "no Retry-After: handed back", fail: 1, status: 429, wantStatus: 429, wantSent: 1},
		{name: "retries exhausted", fail: 10, status: 429, retryAfter: "1", maxRetries: 2, wantStatus: 429, wantSent: 3,
			wantWaits: []time.Duration{time.Second, time.Second}},
		{name: "other errors untouched", fail: 1, status: 500, retryAfter: "1", wantStatus: 500, wantSent: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, sent := flaky(tt.fail, tt.status, tt.retryAfter)
			defer srv.Close()
			var waits []time.Duration
			tr := &Transport{MaxWait: time.Minute, MaxRetries: tt.maxRetries, Sleep: func(_ context.Context, d time.Duration) error {
				waits = append(waits, d)
				return nil
			}}
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"userName":"ada"}`))
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || sent.Load() != tt.wantSent {
				t.Fatalf("status %d after %d requests, want %d after %d", resp.StatusCode, sent.Load(), tt.wantStatus, tt.wantSent)
			}
			if tt.wantStatus == 200 && string(body) != `{"userName":"ada"}` {
				t.Errorf("the retried request carried %q, not the original body", body)
			}
			if len(waits) != len(tt.wantWaits) {
				t.Fatalf("waits %v, want %v", waits, tt.wantWaits)
			}
			for i := range waits {
				if waits[i] != tt.wantWaits[i] {
					t.Errorf("wait %d = %s, want %s", i, waits[i], tt.wantWaits[i])
				}
			}
		})
	}
}

func TestTransportZeroMaxWaitHandsBack(t *testing.T) {
	srv, sent := flaky(1, 429, "1")
	defer srv.Close()
	resp, err := (&http.Client{Transport: &Transport{}}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || sent.Load() != 1 {
		t.Errorf("status %d after %d requests: a zero MaxWait must hand the 429 back", resp.StatusCode, sent.Load())
	}
}

func TestTransportStopsWithContext(t *testing.T) {
	srv, _ := flaky(10, 429, "30")
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if _, err := (&http.Client{Transport: &Transport{MaxWait: time.Minute}}).Do(req); err == nil {
		t.Fatal("a cancelled wait for Retry-After returned no error")
	}
}

// TestBudget: N requests under a budget of R per second take at least
// (N-burst)/R seconds: a lower bound, which a busy machine cannot break.
func TestBudget(t *testing.T) {
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }))
	defer srv.Close()
	budgets := &Budgets{}
	limit := Limit{Requests: 40, Per: time.Second, Burst: 2}
	c := &http.Client{Transport: &Transport{Budget: budgets.For("app", limit)}}
	// A second connector on the same target shares the budget.
	c2 := &http.Client{Transport: &Transport{Budget: budgets.For("app", limit)}}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 22 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := c
			if i%2 == 1 {
				cl = c2
			}
			resp, err := cl.Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	if served.Load() != 22 {
		t.Fatalf("served %d", served.Load())
	}
	if elapsed, min := time.Since(start), 500*time.Millisecond; elapsed < min {
		t.Errorf("22 requests at 40/s with a burst of 2 took %s, less than %s: the budget is not shared or not spent", elapsed, min)
	}
}

func TestBudgetWrites(t *testing.T) {
	b := NewBudget(Limit{Requests: 1000, Writes: 10, Per: time.Second, Burst: 1})
	start := time.Now()
	for range 4 {
		if err := b.Wait(context.Background(), http.MethodGet); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Logf("reads took %s (a busy machine?)", d)
	}
	start = time.Now()
	for range 4 {
		if err := b.Wait(context.Background(), http.MethodPost); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("4 writes at 10/s with a burst of 1 took %s", d)
	}
}

func TestBudgetsFor(t *testing.T) {
	var b Budgets
	l := Limit{Requests: 10}
	first, again := b.For("a", l), b.For("a", l)
	if first != again {
		t.Error("the same connection got two budgets")
	}
	if b.For("a", l) == b.For("b", l) {
		t.Error("two connections share a budget")
	}
	if b.For("a", Limit{Requests: 20}) == b.For("a", l) {
		t.Error("a changed limit kept the old budget")
	}
	if b.For("a", Limit{}) != nil {
		t.Error("a zero limit made a budget")
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false}, {"5", 5 * time.Second, true}, {"0", 0, true}, {"-1", 0, false}, {"soon", 0, false},
		{"Sun, 22 Nov 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sun, 22 Nov 2026 11:59:00 GMT", 0, true},
	} {
		got, ok := RetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("RetryAfter(%q) = %s, %t; want %s, %t", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBudgetForContext(t *testing.T) {
	l := Limit{Requests: 10}
	budgets := &Budgets{}
	a1 := BudgetFor(WithBudgets(context.Background(), budgets, "app"), l)
	a2 := BudgetFor(WithBudgets(context.Background(), budgets, "app"), l)
	other := BudgetFor(WithBudgets(context.Background(), budgets, "hr"), l)
	if a1 == nil || a1 != a2 || a1 == other {
		t.Errorf("budgets through contexts: app %p and %p, hr %p", a1, a2, other)
	}
	if BudgetFor(context.Background(), l) == a1 {
		t.Error("a context without budgets shares a worker budget")
	}
}
