package workdayfake

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults of Options.
const (
	DefaultTenant   = "acme"
	DefaultUsername = "ISU_IDSYNC"
	DefaultPassword = "isu-password"
	DefaultTimeZone = "America/Los_Angeles"
	DefaultReport   = "idsync_workers"
)

// Options configure a fake tenant.
type Options struct {
	// Tenant is the tenant name in the paths and in the user name.
	Tenant string
	// Username and Password are the integration system user's: the
	// WS-Security UsernameToken must say Username@Tenant. RaaS takes
	// them by Basic auth, with or without @Tenant.
	Username, Password string
	// TimeZone is the tenant's IANA zone: "today" for a request without
	// As_Of_Effective_Date, and the date scenario helpers default to.
	TimeZone string
	// Now starts the clock; zero starts it at the real time. The clock
	// runs from there (see SetNow).
	Now time.Time
	// Lag delays the transaction log: a change entered at moment m is
	// seen by an Updated window query only from m+Lag (Workday: about an
	// hour).
	Lag time.Duration
	// ReportOwner and ReportName name the RaaS report
	// (customreport2/{tenant}/{owner}/{report}); default Username and
	// DefaultReport.
	ReportOwner, ReportName string
	Knobs
}

// Knobs make the fake slow and imperfect, as the real service is. The
// zero value turns them off.
type Knobs struct {
	// Latency delays every request; with LatencyMax larger, by a random
	// time in [Latency, LatencyMax].
	Latency, LatencyMax time.Duration
	// ThrottleRate is the share of requests (0 to 1) answered
	// ThrottleStatus (429 by default, or 503) with Retry-After.
	ThrottleRate   float64
	ThrottleStatus int
	RetryAfter     time.Duration // default 1s
	// ErrorRate is the share of requests answered 500 with a
	// Processing_Fault that is not a validation problem (transient).
	ErrorRate float64
	// Outage answers every request 503 without Retry-After.
	Outage bool
	// ManagerWIDOnly renders Manager_Reference with its WID only, as
	// some tenants do, so that a client must resolve it.
	ManagerWIDOnly bool
}

// Write is one write-back the fake accepted.
type Write struct {
	Op       string // Maintain_Contact_Information, Update_Workday_Account
	WorkerID string
	// Fields are the fields the request set: email, phoneNumber,
	// userName.
	Fields map[string]string
}

// Server is a fake Workday tenant on loopback.
type Server struct {
	srv     *httptest.Server
	opts    Options
	loc     *time.Location
	mu      sync.Mutex
	knobs   Knobs
	lag     time.Duration
	base    time.Time // the clock read base at real time setAt
	setAt   time.Time
	records []*record
	byWID   map[string]*record
	byID    map[string][]*record // WorkerID → records, oldest first
	orgs    map[string]Org
	writes  []Write
	counts  map[string]int
	seq     int
}

// New starts a fake tenant.
func New(opts Options) *Server {
	if opts.Tenant == "" {
		opts.Tenant = DefaultTenant
	}
	if opts.Username == "" {
		opts.Username = DefaultUsername
	}
	if opts.Password == "" {
		opts.Password = DefaultPassword
	}
	if opts.TimeZone == "" {
		opts.TimeZone = DefaultTimeZone
	}
	if opts.ReportOwner == "" {
		opts.ReportOwner = opts.Username
	}
	if opts.ReportName == "" {
		opts.ReportName = DefaultReport
	}
	loc, err := time.LoadLocation(opts.TimeZone)
	if err != nil {
		panic(fmt.Sprintf("workdayfake: time zone %q: %v", opts.TimeZone, err))
	}
	s := &Server{opts: opts, loc: loc, knobs: opts.Knobs, lag: opts.Lag,
		byWID: map[string]*record{}, byID: map[string][]*record{}, orgs: map[string]Org{}, counts: map[string]int{}}
	s.base, s.setAt = opts.Now, time.Now()
	if s.base.IsZero() {
		s.base = s.setAt
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// ForTest starts a fake tenant that closes when the test ends.
func ForTest(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

// URL is the host base, as a connection's url setting takes it.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Tenant, Username (without @tenant), Password and TimeZone are the
// fake's.
func (s *Server) Tenant() string   { return s.opts.Tenant }
func (s *Server) Username() string { return s.opts.Username }
func (s *Server) Password() string { return s.opts.Password }
func (s *Server) TimeZone() string { return s.opts.TimeZone }

// ReportPath is the RaaS report's path below the URL.
func (s *Server) ReportPath() string {
	return "/ccx/service/customreport2/" + s.opts.Tenant + "/" + s.opts.ReportOwner + "/" + s.opts.ReportName
}

// Now is the tenant's current moment. The clock runs in real time from
// where SetNow (or Options.Now) put it, so that entry moments increase
// and a client's clock, corrected by the Date header, keeps up.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

func (s *Server) now() time.Time { return s.base.Add(time.Since(s.setAt)) }

// SetNow moves the clock to t (forward or back); it runs on from there.
func (s *Server) SetNow(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base, s.setAt = t, time.Now()
}

// Advance moves the clock forward by d.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base = s.base.Add(d)
}

// Today is the tenant-local date now ("2006-01-02").
func (s *Server) Today() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.today()
}

func (s *Server) today() string { return s.now().In(s.loc).Format(dateLayout) }

// SetLag sets the transaction log's lag (Options.Lag).
func (s *Server) SetLag(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lag = d
}

// SetKnobs replaces the knobs.
func (s *Server) SetKnobs(k Knobs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knobs = k
}

// SetOutage turns an outage on or off: every request answers 503.
func (s *Server) SetOutage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knobs.Outage = on
}

// Requests is how many requests of an operation the fake received
// (Get_Workers, Maintain_Contact_Information, Update_Workday_Account,
// RaaS), answered or not.
func (s *Server) Requests(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// RequestCounts is every operation's count.
func (s *Server) RequestCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// Writes are the write-backs accepted, in order.
func (s *Server) Writes() []Write {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Write(nil), s.writes...)
}

// serve answers one request: the knobs first, then the operation.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	k := s.knobs
	now := s.now()
	s.mu.Unlock()
	// Date is the tenant's clock, as a client reads the server's time.
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	if d := k.delay(); d > 0 {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(d):
		}
	}
	switch {
	case k.Outage:
		s.count(opName(r))
		http.Error(w, "service unavailable (outage)", http.StatusServiceUnavailable)
		return
	case k.ThrottleRate > 0 && rand.Float64() < k.ThrottleRate:
		s.count(opName(r))
		status := k.ThrottleStatus
		if status == 0 {
			status = http.StatusTooManyRequests
		}
		ra := k.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
		http.Error(w, "too many requests", status)
		return
	case k.ErrorRate > 0 && rand.Float64() < k.ErrorRate:
		s.count(opName(r))
		writeFault(w, processingFault("An unexpected error occurred. Please try again (injected)."))
		return
	}
	if strings.HasPrefix(r.URL.Path, "/ccx/service/customreport2/") {
		s.count("RaaS")
		s.serveReport(w, r)
		return
	}
	s.serveSOAP(w, r)
}

// opName names a request for the counters before its body is read.
func opName(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/ccx/service/customreport2/") {
		return "RaaS"
	}
	return "SOAP"
}

func (s *Server) count(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[op]++
}

func (k Knobs) delay() time.Duration {
	if k.LatencyMax <= k.Latency {
		return k.Latency
	}
	return k.Latency + rand.N(k.LatencyMax-k.Latency+1)
}
