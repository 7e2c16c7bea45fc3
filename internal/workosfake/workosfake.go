package workosfake

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// Options configure a fake. The zero value is usable.
type Options struct {
	// APIKey is the key requests must bear; default DefaultAPIKey.
	APIKey string
	// Retention is how long events are kept; default 30 days, as the
	// Events API reference says (the guide says up to 90 [U]).
	Retention time.Duration
	// Clock is the fake's time; default time.Now. Advance moves it on.
	Clock func() time.Time
	Knobs Knobs
}

// DefaultAPIKey is the API key of a fake whose Options name none.
const DefaultAPIKey = "sk_test_workosfake"

// DefaultRetention is how long WorkOS keeps events.
const DefaultRetention = 30 * 24 * time.Hour

// Knobs make the fake slow and imperfect, as the real API is. The zero
// value turns them all off.
type Knobs struct {
	// Latency delays every request.
	Latency time.Duration
	// UsersPerSecond is the request rate /directory_users allows per
	// directory (WorkOS: 4); beyond it, 429 with Retry-After. 0: none.
	UsersPerSecond float64
	// ThrottleRate is the share of requests (0 to 1) answered 429 with
	// Retry-After: RetryAfter (default 1s, whole seconds on the wire).
	ThrottleRate float64
	RetryAfter   time.Duration
	// ErrorRate is the share of requests answered 500.
	ErrorRate float64
	// Outage answers every request 503.
	Outage bool
}

// Server is a running fake.
type Server struct {
	ts        *httptest.Server
	apiKey    string
	retention time.Duration
	clock     func() time.Time

	mu       sync.Mutex
	offset   time.Duration // Advance
	last     time.Time     // the last time handed out, for monotonic stamps
	seq      uint64
	knobs    Knobs
	limiters map[string]*rate.Limiter // by directory, for /directory_users
	dirs     []*Directory
	users    map[string]*User
	groups   map[string]*Group
	members  map[string]map[string]struct{} // group id → user ids
	events   []Event                        // oldest first, by (CreatedAt, ID)
	expired  map[string]bool                // ids of events dropped by retention
	requests map[string]int                 // by path pattern
	statuses map[int]int
	// deliveredTo is, per webhook URL, the last event Deliver sent.
	deliveredTo map[string]string
}

// Event is one recorded event.
type Event struct {
	ID, Event      string
	Data           json.RawMessage
	CreatedAt      time.Time
	OrganizationID string
}

// New starts a fake on loopback with one directory (Directory).
func New(opts Options) *Server {
	s := &Server{
		apiKey: opts.APIKey, retention: opts.Retention, clock: opts.Clock, knobs: opts.Knobs,
		limiters: map[string]*rate.Limiter{}, users: map[string]*User{}, groups: map[string]*Group{},
		members: map[string]map[string]struct{}{}, expired: map[string]bool{},
		requests: map[string]int{}, statuses: map[int]int{}, deliveredTo: map[string]string{},
	}
	if s.apiKey == "" {
		s.apiKey = DefaultAPIKey
	}
	if s.retention <= 0 {
		s.retention = DefaultRetention
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	s.NewDirectory()
	s.ts = httptest.NewServer(s)
	return s
}

// ForTest starts a fake that closes when the test ends.
func ForTest(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

// URL is the base URL, in place of https://api.workos.com.
func (s *Server) URL() string { return s.ts.URL }

// APIKey is the key the fake accepts.
func (s *Server) APIKey() string { return s.apiKey }

// Close stops the fake.
func (s *Server) Close() { s.ts.Close() }

// Directory is the fake's first directory.
func (s *Server) Directory() *Directory {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirs[0]
}

// NewDirectory adds a directory of its own organization, whose events
// share the environment's one stream, as every directory's do.
func (s *Server) NewDirectory() *Directory {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, seq := s.tick()
	d := &Directory{s: s, ID: prefixDirectory + ulid(now, seq), OrganizationID: prefixOrg + ulid(now, seq), createdAt: now}
	s.dirs = append(s.dirs, d)
	return d
}

// SetKnobs replaces the knobs.
func (s *Server) SetKnobs(k Knobs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knobs = k
	s.limiters = map[string]*rate.Limiter{}
}

// Now is the fake's time.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clock().Add(s.offset)
}

// Advance moves the fake's clock on: events age, and may leave the
// retention window.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

// ExpireEvents drops every event recorded so far, as if the retention
// window had passed them: an after cursor naming one is refused.
func (s *Server) ExpireEvents() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		s.expired[e.ID] = true
	}
	s.events = nil
}

// Events returns the retained events, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	return slices.Clone(s.events)
}

// Requests returns how many requests reached path ("/events",
// "/directory_users", "/directory_users/{id}", "/directory_groups",
// "/directory_groups/{id}"), whatever their answer; "" counts all.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if path == "" {
		n := 0
		for _, v := range s.requests {
			n += v
		}
		return n
	}
	return s.requests[path]
}

// Statuses returns how many answers had each status.
func (s *Server) Statuses() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int, len(s.statuses))
	for k, v := range s.statuses {
		out[k] = v
	}
	return out
}

// ResetRequests zeroes the counters.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.statuses = map[string]int{}, map[int]int{}
}

// tick returns the time and sequence number for a new object or event:
// never before the last one, so that ids and created_at agree in order.
func (s *Server) tick() (time.Time, uint64) {
	now := s.clock().Add(s.offset).UTC().Truncate(time.Millisecond)
	if now.Before(s.last) {
		now = s.last
	}
	s.last = now
	s.seq++
	return now, s.seq
}

// record appends an event at the time of the last tick.
func (s *Server) record(typ, org string, data map[string]any) {
	s.seq++
	s.events = append(s.events, Event{ID: prefixEvent + ulid(s.last, s.seq), Event: typ,
		Data: mustJSON(data), CreatedAt: s.last, OrganizationID: org})
}

// expire drops events older than the retention.
func (s *Server) expire() {
	cut := s.clock().Add(s.offset).Add(-s.retention)
	i := 0
	for i < len(s.events) && s.events[i].CreatedAt.Before(cut) {
		s.expired[s.events[i].ID] = true
		i++
	}
	s.events = s.events[i:]
}

func (s *Server) usersOf(dir string) []User {
	var out []User
	for _, u := range s.users {
		if u.DirectoryID == dir {
			out = append(out, *u)
		}
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s *Server) groupsOf(dir string) []Group {
	var out []Group
	for _, g := range s.groups {
		if g.DirectoryID == dir {
			out = append(out, *g)
		}
	}
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// statusRecorder keeps the status of an answer for Statuses.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// ServeHTTP answers the API: knobs, auth, then the route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	pattern, id := route(r.URL.Path)
	s.mu.Lock()
	s.requests[pattern]++
	k := s.knobs
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.statuses[rec.status]++
		s.mu.Unlock()
	}()
	if k.Latency > 0 {
		select {
		case <-time.After(k.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if s.injected(rec, r, k, pattern) {
		return
	}
	if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || got != s.apiKey {
		// [U] the live body; the spec lists no 401 for these paths.
		writeError(rec, http.StatusUnauthorized, "unauthorized", "Unauthorized")
		return
	}
	if r.Method != http.MethodGet {
		writeError(rec, http.StatusMethodNotAllowed, "method_not_allowed", "Only GET is supported here")
		return
	}
	switch pattern {
	case "/events":
		s.listEvents(rec, r)
	case "/directory_users":
		s.listUsers(rec, r)
	case "/directory_users/{id}":
		s.getUser(rec, id)
	case "/directory_groups":
		s.listGroups(rec, r)
	case "/directory_groups/{id}":
		s.getGroup(rec, id)
	default:
		writeError(rec, http.StatusNotFound, "not_found", "Not found")
	}
}

// route is the path pattern a request path matches, and its id.
func route(path string) (pattern, id string) {
	for _, base := range []string{"/directory_users", "/directory_groups"} {
		if path == base {
			return base, ""
		}
		if rest, ok := strings.CutPrefix(path, base+"/"); ok && rest != "" && !strings.Contains(rest, "/") {
			return base + "/{id}", rest
		}
	}
	return path, ""
}

// injected answers the request when a knob says it fails.
func (s *Server) injected(w http.ResponseWriter, r *http.Request, k Knobs, pattern string) bool {
	retry := k.RetryAfter
	if retry <= 0 {
		retry = time.Second
	}
	switch {
	case k.Outage:
		writeError(w, http.StatusServiceUnavailable, "service_unavailable", "Service unavailable (outage)")
		return true
	case k.ErrorRate > 0 && rand.Float64() < k.ErrorRate:
		writeError(w, http.StatusInternalServerError, "internal_error", "Internal server error (injected)")
		return true
	case k.ThrottleRate > 0 && rand.Float64() < k.ThrottleRate,
		pattern == "/directory_users" && !s.allowUsers(k, r.URL.Query().Get("directory")):
		w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
		// The spec's 429 body for /directory_users is the JSON string
		// "Ratelimited".
		writeJSON(w, http.StatusTooManyRequests, "Ratelimited")
		return true
	}
	return false
}

// allowUsers spends from the directory's /directory_users budget.
func (s *Server) allowUsers(k Knobs, dir string) bool {
	if k.UsersPerSecond <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.limiters[dir]
	if !ok {
		l = rate.NewLimiter(rate.Limit(k.UsersPerSecond), max(1, int(k.UsersPerSecond)))
		s.limiters[dir] = l
	}
	return l.Allow()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes WorkOS's error body. The spec gives {message} (and
// errors[{field,code}] for 422); the SDKs also read code [U: the live
// codes].
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"code": code, "message": message})
}

// writeInvalid is a 422 validation error, as the spec's /events 422.
func writeInvalid(w http.ResponseWriter, field, code, message string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"code": "invalid_request_parameters", "message": message,
		"errors": []map[string]string{{"field": field, "code": code}},
	})
}
