package scimfake

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RateLimit limits the SCIM endpoints (not the token endpoint) with token
// buckets: a bucket of Burst tokens (Requests when 0) refilled at
// Requests per Window. A request takes a token from each bucket it
// draws on, or, when one is empty, none, and is answered Status with a
// Retry-After. Rejected requests cost nothing.
//
// With Writes zero every request draws on one bucket. With Writes set,
// GET and POST …/.search draw on the Requests bucket and POST, PUT,
// PATCH and DELETE on the Writes bucket (Slack's org-wide read and write
// limits). With Creates set, POST /Users also draws on its own bucket
// (Slack's per-endpoint limit on user creation).
//
// A bucket with Burst equal to Requests lets Requests requests through
// at once and then one per Window/Requests; a fixed window of Requests
// per Window would let as many through at once.
type RateLimit struct {
	Requests int           // per Window
	Window   time.Duration // > 0
	Burst    int           // bucket size; 0 = Requests

	Writes     int // per Window for POST/PUT/PATCH/DELETE; 0 = share Requests
	WriteBurst int // 0 = Writes

	Creates     int // per Window for POST /Users; 0 = no separate limit
	CreateBurst int // 0 = Creates

	// RetryAfter is sent when over; 0 sends the time until a token is
	// free, rounded up to whole seconds (at least 1).
	RetryAfter time.Duration
	// Status is the answer when over: 429 by default; GitHub may answer
	// 403 to primary and secondary rate limits.
	Status int
}

// DocumentedRateLimit returns the limits a vendor publishes, or nil when
// there are none a fake can apply:
//   - Slack: org-wide writes 600/min (bursts of 180), reads 1,000/min
//     (bursts of 1,000), POST /Users 180/min (bursts of 20); 429.
//   - GitHub EMU: the REST API's primary limit for a personal access
//     token, 5,000 requests an hour, answered 403 (GitHub answers 403 or
//     429 with x-ratelimit-remaining: 0).
func DocumentedRateLimit(f Flavor) *RateLimit {
	switch f {
	case Slack:
		return &RateLimit{
			Requests: 1000, Window: time.Minute, Burst: 1000,
			Writes: 600, WriteBurst: 180,
			Creates: 180, CreateBurst: 20,
		}
	case GitHubEMU:
		return &RateLimit{Requests: 5000, Window: time.Hour, Status: http.StatusForbidden}
	}
	return nil
}

// bucket is a token bucket kept as GCRA (generic cell rate algorithm):
// the theoretical arrival time tat moves on by one emission interval per
// request taken, and a request is allowed when tat is at most burst-1
// intervals ahead of now. Integer time arithmetic: exact waits.
type bucket struct {
	interval time.Duration // refill time of one token: Window / rate
	burst    int
	tat      time.Time
}

func newBucket(rate, burst int, window time.Duration, now time.Time) *bucket {
	if burst == 0 {
		burst = rate
	}
	return &bucket{interval: window / time.Duration(rate), burst: burst, tat: now}
}

func (b *bucket) arrival(now time.Time) time.Time {
	if b.tat.Before(now) {
		return now
	}
	return b.tat
}

// wait is the time until the bucket holds a token.
func (b *bucket) wait(now time.Time) time.Duration {
	allowAt := b.arrival(now).Add(-time.Duration(b.burst-1) * b.interval)
	if now.Before(allowAt) {
		return allowAt.Sub(now)
	}
	return 0
}

func (b *bucket) take(now time.Time) { b.tat = b.arrival(now).Add(b.interval) }

// remaining is the number of tokens held now.
func (b *bucket) remaining(now time.Time) int {
	used := (b.arrival(now).Sub(now) + b.interval - 1) / b.interval
	return max(0, b.burst-int(used))
}

type limiter struct {
	mu     sync.Mutex
	cfg    RateLimit
	read   *bucket
	write  *bucket // == read when cfg.Writes is 0
	create *bucket // nil when cfg.Creates is 0
}

func newLimiter(cfg RateLimit, now time.Time) *limiter {
	if cfg.Requests <= 0 || cfg.Window <= 0 || cfg.Writes < 0 || cfg.Creates < 0 || cfg.Burst < 0 || cfg.WriteBurst < 0 || cfg.CreateBurst < 0 {
		panic(fmt.Sprintf("scimfake: invalid RateLimit %+v: Requests and Window must be positive, the rest not negative", cfg))
	}
	if cfg.Status == 0 {
		cfg.Status = http.StatusTooManyRequests
	}
	l := &limiter{cfg: cfg, read: newBucket(cfg.Requests, cfg.Burst, cfg.Window, now)}
	l.write = l.read
	if cfg.Writes > 0 {
		l.write = newBucket(cfg.Writes, cfg.WriteBurst, cfg.Window, now)
	}
	if cfg.Creates > 0 {
		l.create = newBucket(cfg.Creates, cfg.CreateBurst, cfg.Window, now)
	}
	return l
}

// verdict is the outcome of take, with the state of the main bucket the
// request drew on (for GitHub's x-ratelimit-* headers).
type verdict struct {
	wait      time.Duration // 0 when allowed
	limit     int
	remaining int
	reset     time.Time // when that bucket is full again
}

func (l *limiter) take(now time.Time, write, create bool) verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	main := l.read
	if write {
		main = l.write
	}
	buckets := []*bucket{main}
	if create && l.create != nil {
		buckets = append(buckets, l.create)
	}
	var wait time.Duration
	for _, b := range buckets {
		wait = max(wait, b.wait(now))
	}
	if wait == 0 {
		for _, b := range buckets {
			b.take(now)
		}
	}
	return verdict{
		wait:      wait,
		limit:     main.burst,
		remaining: main.remaining(now),
		reset:     main.arrival(now),
	}
}

// allow applies the rate limit; over it, it answers and returns false.
// GitHub's responses carry x-ratelimit-limit, -remaining, -used and
// -reset (UTC epoch seconds) always, and retry-after when limited.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, rt route) bool {
	if s.limiter == nil {
		return true
	}
	search := r.Method == http.MethodPost && rt.id == ".search"
	write := r.Method != http.MethodGet && r.Method != http.MethodHead && !search
	create := r.Method == http.MethodPost && rt.kind == "Users" && rt.id == ""
	v := s.limiter.take(s.now(), write, create)
	if s.opts.Flavor == GitHubEMU {
		h := w.Header()
		h.Set("x-ratelimit-limit", strconv.Itoa(v.limit))
		h.Set("x-ratelimit-remaining", strconv.Itoa(v.remaining))
		h.Set("x-ratelimit-used", strconv.Itoa(v.limit-v.remaining))
		h.Set("x-ratelimit-reset", strconv.FormatInt(v.reset.Unix(), 10))
	}
	if v.wait == 0 {
		return true
	}
	retry := s.limiter.cfg.RetryAfter
	if retry <= 0 {
		retry = v.wait
	}
	secs := ceilSeconds(retry)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	detail := "rate limit exceeded; retry after " + strconv.Itoa(secs) + " s"
	if s.opts.Flavor == GitHubEMU {
		detail = "API rate limit exceeded; retry after " + strconv.Itoa(secs) + " s"
	}
	s.writeError(w, newError(s.limiter.cfg.Status, "", detail))
	return false
}
