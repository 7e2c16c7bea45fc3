package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// requestBody is request i's batch of n user deletes, u<i>.<j>.
func requestBody(i, n int) string {
	ev := make([]string, n)
	for j := range n {
		ev[j] = fmt.Sprintf(`{"kind":"user","op":"delete","id":"u%d.%d"}`, i, j)
	}
	return `{"changes":[` + strings.Join(ev, ",") + `]}`
}

// queued is the number of requests waiting for a rule.
func queued(h *Handler, rule string) int {
	h.co.mu.Lock()
	defer h.co.mu.Unlock()
	if q := h.co.queues[rule]; q != nil {
		return len(q.sets)
	}
	return 0
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// burst posts n requests of size events each to hr (two rules), opens
// the gate and returns the answers' statuses.
func burst(t *testing.T, h *Handler, rec *recorder, n, size int) []int {
	t.Helper()
	wait := hold(t, h, rec, n, size)
	close(rec.gate)
	return wait()
}

// hold posts n requests while the signals are held: the first alone, then
// the others one after another once the one before is queued, so that
// their arrival order is known. wait waits for the answers' statuses.
func hold(t *testing.T, h *Handler, rec *recorder, n, size int) (wait func() []int) {
	t.Helper()
	now := h.Now()
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { codes[i] = post(h, "hr", requestBody(i, size), now, nil).Code })
		if i == 0 {
			<-rec.started
			<-rec.started
			continue
		}
		waitUntil(t, fmt.Sprintf("request %d queued", i), func() bool {
			return queued(h, "hr-to-scim") == i && queued(h, "hr-to-ldap") == i
		})
	}
	return func() []int { wg.Wait(); return codes }
}

func gated() (*Handler, *recorder) {
	h, rec := newTestHandler()
	rec.gate = make(chan struct{})
	rec.started = make(chan string, 10_000)
	h.init()
	return h, rec
}

func TestCoalescing(t *testing.T) {
	size := func(n int) int { // bytes of one request's events as signalled
		events, _, err := decodeForSignal([]byte(requestBody(0, n)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(events)
		return len(b)
	}
	tests := []struct {
		name       string
		requests   int
		events     int
		maxEvents  int
		maxBytes   int
		wantSignal int
	}{
		{name: "alone: at once", requests: 1, events: 3, wantSignal: 1},
		{name: "burst: the one in flight, then one for all", requests: 50, events: 3, wantSignal: 2},
		{name: "bounded by events", requests: 50, events: 3, maxEvents: 30, wantSignal: 1 + 5},
		{name: "bounded by bytes", requests: 10, events: 3, maxBytes: 3 * size(3), wantSignal: 1 + 3},
		{name: "a request over the bound goes alone", requests: 5, events: 10, maxEvents: 5, wantSignal: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := gated()
			if tt.maxEvents > 0 {
				h.co.maxEvents = tt.maxEvents
			}
			if tt.maxBytes > 0 {
				h.co.maxBytes = tt.maxBytes
			}
			for i, code := range burst(t, h, rec, tt.requests, tt.events) {
				if code != 202 {
					t.Errorf("request %d: status %d", i, code)
				}
			}
			for _, rule := range []string{"hr-to-scim", "hr-to-ldap"} {
				checkDelivered(t, rule, rec, tt.requests, tt.events, tt.wantSignal)
			}
			if n := queued(h, "hr-to-scim"); n != 0 {
				t.Errorf("%d requests still queued", n)
			}
		})
	}
}

// checkDelivered checks that rule got every event once, requests in
// arrival order and each request's events in order, in want signals.
func checkDelivered(t *testing.T, rule string, rec *recorder, requests, events, want int) {
	t.Helper()
	batches := rec.batches(rule)
	if len(batches) != want {
		t.Errorf("%s: %d signals, want %d", rule, len(batches), want)
	}
	var got []string
	for _, b := range batches {
		for _, e := range b.Events {
			got = append(got, e.ID)
		}
	}
	var expect []string
	for i := range requests {
		for j := range events {
			expect = append(expect, fmt.Sprintf("u%d.%d", i, j))
		}
	}
	if strings.Join(got, " ") != strings.Join(expect, " ") {
		t.Errorf("%s got events\n%v\nwant\n%v", rule, got, expect)
	}
}

// TestCoalescedFailure: every request of a failed signal gets the error,
// and may send the same signed request again.
func TestCoalescedFailure(t *testing.T) {
	h, rec := gated()
	rec.fail = errors.New("frontend down")
	for i, code := range burst(t, h, rec, 10, 2) {
		if code != 502 {
			t.Errorf("request %d: status %d, want 502", i, code)
		}
	}
	if n := rec.signalled(); n != 0 {
		t.Fatalf("%d batches signalled", n)
	}
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
	for i := range 10 {
		if w := post(h, "hr", requestBody(i, 2), h.Now(), nil); w.Code != 202 {
			t.Errorf("retry of request %d: status %d: %s", i, w.Code, w.Body)
		}
	}
}

func TestDrain(t *testing.T) {
	h, rec := gated()
	now := h.Now()
	wait := hold(t, h, rec, 6, 1)
	drained := make(chan error, 1)
	go func() { drained <- h.Drain(context.Background()) }()
	waitUntil(t, "draining", func() bool { h.co.mu.Lock(); defer h.co.mu.Unlock(); return h.co.closed })

	w := post(h, "hr", requestBody(99, 1), now, nil)
	if eb := jsonError(t, w); w.Code != 503 || !strings.Contains(eb.Error, "shutting down") || w.Header().Get("Retry-After") == "" {
		t.Errorf("request while draining: %d %s", w.Code, w.Body)
	}
	select {
	case err := <-drained:
		t.Fatalf("drained (%v) while signals were held", err)
	default:
	}
	close(rec.gate)
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	for i, code := range wait() {
		if code != 202 {
			t.Errorf("request %d: status %d", i, code)
		}
	}
	checkAllIDs(t, rec, "hr-to-scim", 6)
}

func checkAllIDs(t *testing.T, rec *recorder, rule string, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, b := range rec.batches(rule) {
		for _, e := range b.Events {
			seen[e.ID]++
		}
	}
	for i := range n {
		if c := seen[fmt.Sprintf("u%d.0", i)]; c != 1 {
			t.Errorf("%s: request %d's event signalled %d times", rule, i, c)
		}
	}
}

// TestDrainDeadline: at the deadline the signals in flight are cancelled
// and their requests told to retry.
func TestDrainDeadline(t *testing.T) {
	h, rec := gated()
	code := make(chan int, 1)
	go func() { code <- post(h, "hr", requestBody(0, 1), h.Now(), nil).Code }()
	<-rec.started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := h.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("drain: %v, want the deadline", err)
	}
	if c := <-code; c != 503 {
		t.Errorf("request in flight: status %d, want 503", c)
	}
}

func TestFlight(t *testing.T) {
	var f flight[int]
	gate := make(chan struct{})
	calls := 0
	fn := func() (int, error) { calls++; <-gate; return 42, nil }
	const n = 20
	got := make([]int, n)
	var wg sync.WaitGroup
	wg.Go(func() { got[0], _ = f.do("k", fn) })
	waitUntil(t, "first call", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.calls["k"] != nil })
	for i := 1; i < n; i++ {
		wg.Go(func() { got[i], _ = f.do("k", fn) })
	}
	waitUntil(t, "joined", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.calls["k"].joined == n-1 })
	close(gate)
	wg.Wait()
	if calls != 1 {
		t.Errorf("%d calls, want 1", calls)
	}
	for i, v := range got {
		if v != 42 {
			t.Errorf("caller %d got %d", i, v)
		}
	}
	// Once returned, nothing is kept: the next caller calls again.
	if v, _ := f.do("k", func() (int, error) { return 7, nil }); v != 7 {
		t.Errorf("after the flight: %d, want a new call's 7", v)
	}
}
