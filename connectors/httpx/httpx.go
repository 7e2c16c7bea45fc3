// Package httpx holds the HTTP plumbing that SaaS connectors share: a
// request budget per target and a transport that spends it and honours
// Retry-After, so that a rate limit slows a sync down instead of failing
// it.
package httpx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a request budget: Requests per Per, with bursts of Burst.
// Writes, when set, is a separate, usually smaller, budget for POST, PUT,
// PATCH and DELETE that also spends from the first (Slack counts writes
// apart from reads).
type Limit struct {
	Requests int           `json:"requests,omitempty"`
	Writes   int           `json:"writes,omitempty"`
	Per      time.Duration `json:"per,omitempty"`
	Burst    int           `json:"burst,omitempty"`
}

// Zero reports whether the limit sets no budget.
func (l Limit) Zero() bool { return l.Requests <= 0 && l.Writes <= 0 }

func (l Limit) limiter(n int) *rate.Limiter {
	if n <= 0 {
		return nil
	}
	per := l.Per
	if per <= 0 {
		per = time.Minute
	}
	return rate.NewLimiter(rate.Limit(float64(n)/per.Seconds()), l.BurstFor(n))
}

// BurstFor is the burst of a budget of n per period: Burst, or a tenth
// of n.
func (l Limit) BurstFor(n int) int {
	if l.Burst <= 0 || l.Burst > n {
		return max(1, n/10)
	}
	return l.Burst
}

// Budget is the budget of one target, shared by every connector opened on
// it in this process and, with a Leaser, by every worker.
type Budget struct {
	all, writes *rate.Limiter

	// With a leaser, tokens come in batches from a budget all workers
	// share; all and writes then only serve when the leaser cannot be
	// reached, so that a sync slows down rather than stops.
	leaser Leaser
	name   string
	limit  Limit
	mu     sync.Mutex
	held   [2]int // tokens leased and not yet spent: reads, writes
	// leaseMu lets one request at a time ask for a lease: the others wait
	// for its batch instead of sending an update each (a workflow takes
	// only so many updates in flight).
	leaseMu sync.Mutex
}

// Leaser hands out tokens of a budget shared by every worker (see
// workflows.BudgetWorkflow): up to want of them, or none and when to ask
// again.
type Leaser interface {
	Lease(ctx context.Context, connection string, l Limit, write bool, want int) (granted int, retryAfter time.Duration, err error)
}

// NewBudget makes a budget; nil for a zero limit.
func NewBudget(l Limit) *Budget {
	if l.Zero() {
		return nil
	}
	return &Budget{all: l.limiter(l.Requests), writes: l.limiter(l.Writes)}
}

// Wait blocks until the budget allows a request of the given method.
func (b *Budget) Wait(ctx context.Context, method string) error {
	if b == nil {
		return nil
	}
	write := method != http.MethodGet && method != http.MethodHead
	if b.leaser != nil {
		return b.waitLeased(ctx, write)
	}
	return b.waitLocal(ctx, write)
}

func (b *Budget) waitLocal(ctx context.Context, write bool) error {
	if b.writes != nil && write {
		if err := b.writes.Wait(ctx); err != nil {
			return err
		}
	}
	if b.all != nil {
		return b.all.Wait(ctx)
	}
	return nil
}

// waitLeased spends a leased token, leasing a batch when none is held.
func (b *Budget) waitLeased(ctx context.Context, write bool) error {
	kind := 0
	if write {
		kind = 1
	}
	n := b.limit.Requests
	if write && b.limit.Writes > 0 {
		n = b.limit.Writes
	}
	want := max(1, b.limit.BurstFor(n)/4)
	take := func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.held[kind] > 0 {
			b.held[kind]--
			return true
		}
		return false
	}
	for {
		if take() {
			return nil
		}
		b.leaseMu.Lock()
		if take() { // another request's lease arrived meanwhile
			b.leaseMu.Unlock()
			return nil
		}
		granted, retry, err := b.leaser.Lease(ctx, b.name, b.limit, write, want)
		b.leaseMu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The shared budget cannot be reached: keep to this worker's
			// share of it rather than stop.
			return b.waitLocal(ctx, write)
		}
		if granted > 0 {
			b.mu.Lock()
			b.held[kind] += granted
			b.mu.Unlock()
			continue
		}
		if err := sleepCtx(ctx, max(retry, 10*time.Millisecond)); err != nil {
			return err
		}
	}
}

// Budgets keeps one Budget per target connection for the life of a worker,
// so that every activity writing to a target spends from the same budget.
// With a Leaser, the budgets are shared with every other worker too.
type Budgets struct {
	Leaser Leaser

	mu sync.Mutex
	m  map[string]budgetEntry
}

type budgetEntry struct {
	limit  Limit
	budget *Budget
}

// For returns the budget of a connection, made on first use; a changed
// limit (the connection was updated) makes a new one.
func (b *Budgets) For(name string, l Limit) *Budget {
	if b == nil {
		return NewBudget(l)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.m[name]; ok && e.limit == l {
		return e.budget
	}
	if b.m == nil {
		b.m = map[string]budgetEntry{}
	}
	e := budgetEntry{limit: l, budget: NewBudget(l)}
	if e.budget != nil && b.Leaser != nil {
		e.budget.leaser, e.budget.name, e.budget.limit = b.Leaser, name, l
	}
	b.m[name] = e
	return e.budget
}

type budgetsKey struct{}

type budgetsValue struct {
	budgets *Budgets
	name    string
}

// WithBudgets returns a context that carries the worker's budgets, and
// the name of the connection about to be opened, to the connector's Open.
func WithBudgets(ctx context.Context, b *Budgets, connection string) context.Context {
	return context.WithValue(ctx, budgetsKey{}, budgetsValue{b, connection})
}

// BudgetFor returns the budget for limit of the connection that ctx names:
// shared with every other connector opened on it in this worker, or one of
// its own when ctx carries no budgets.
func BudgetFor(ctx context.Context, l Limit) *Budget {
	v, _ := ctx.Value(budgetsKey{}).(budgetsValue)
	if v.budgets == nil {
		return NewBudget(l)
	}
	return v.budgets.For(v.name, l)
}

// Transport spends a budget before each request and, when the server
// answers 429 or 503 with a Retry-After no longer than MaxWait, waits and
// sends the request again, up to MaxRetries times. A zero MaxWait hands
// every such answer back at once. Past that the answer is
// returned as it is, for the connector to turn into a
// connectors.RateLimitError, which the activity layer turns into its next
// retry delay.
type Transport struct {
	Base       http.RoundTripper
	Budget     *Budget
	MaxWait    time.Duration // the longest Retry-After waited for here
	MaxRetries int           // default 5
	// Now and Sleep are for tests; they default to the real clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnWait, when set, is told of every wait for a Retry-After.
	OnWait func(d time.Duration)
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	maxWait, maxRetries := t.MaxWait, t.MaxRetries
	if maxRetries <= 0 {
		maxRetries = 5
	}
	sleep := t.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	body, err := replayable(req)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if err := t.Budget.Wait(req.Context(), req.Method); err != nil {
			return nil, fmt.Errorf("wait for the request budget: %w", err)
		}
		r := req
		if body != nil {
			r = req.Clone(req.Context())
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := base.RoundTrip(r)
		if err != nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
			return resp, err
		}
		wait, ok := RetryAfter(resp.Header.Get("Retry-After"), time.Now())
		if !ok || maxWait <= 0 || wait > maxWait || attempt >= maxRetries {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if t.OnWait != nil {
			t.OnWait(wait)
		}
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// replayable reads a request's body so that it can be sent again; nil when
// there is none. Bodies are bounded by the connector (SCIM requests are
// small); this only keeps them.
func replayable(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	return b, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RetryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}
