package scimfake

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Flavor selects whose SCIM service the server imitates.
type Flavor string

const (
	Generic   Flavor = "generic"
	Slack     Flavor = "slack"
	Zoom      Flavor = "zoom"
	GitHubEMU Flavor = "github-emu"
	Aquera    Flavor = "aquera"
)

// Options configure a Server. The zero value is a Generic server with no
// authentication and no rate limit.
type Options struct {
	Flavor Flavor

	// Token is the bearer token accepted. For Zoom it is the access token
	// that TokenURL issues (random when empty), and only an issued,
	// unexpired token is accepted. With no Token and no ClientID (and a
	// flavor other than Zoom) requests are not authenticated.
	Token string

	// ClientID and ClientSecret are the client credentials TokenURL takes:
	// Zoom's Server-to-Server OAuth (grant_type=account_credentials) or,
	// for the other flavors, RFC 6749 client credentials. Required for
	// Zoom.
	ClientID, ClientSecret string

	// AccountID is the account_id Zoom's token request must carry; empty
	// accepts any non-empty one.
	AccountID string

	// TokenTTL is the lifetime of issued tokens (expires_in); default one
	// hour, Zoom's documented 3600 seconds.
	TokenTTL time.Duration

	// Enterprise is the GitHub EMU enterprise slug in the path; default
	// "idsync".
	Enterprise string

	// Tenant is the Aquera tenant in the path; default "idsync".
	Tenant string

	// MaxPageSize caps "count" on lists (larger counts are served as this
	// many, RFC 7644 §3.4.2.4). Default 100; Slack 1000.
	MaxPageSize int

	// RateLimit limits requests; nil is unlimited. DocumentedRateLimit
	// returns a vendor's published limits.
	RateLimit *RateLimit

	// PatchNoContent makes a successful PATCH answer 204 without a body
	// instead of 200 with the resource (RFC 7644 §3.5.2 allows both).
	PatchNoContent bool

	// clock replaces time.Now in tests.
	clock func() time.Time
}

// Request is one request the server answered.
type Request struct {
	Method string
	Path   string // URL path, without the query
	Status int
	At     time.Time
}

// Server is a running fake SCIM service provider on loopback.
type Server struct {
	// URL is the SCIM base URL of the flavor, e.g. http://127.0.0.1:PORT/scim/v2.
	URL string
	// TokenURL is where tokens are issued (Zoom, or when ClientID is set).
	TokenURL string

	opts        Options
	base        string // path of URL
	ts          *httptest.Server
	store       *store
	limiter     *limiter
	now         func() time.Time
	defaultPage int
	discovery   map[string][]byte

	authMu sync.Mutex
	tokens map[string]time.Time // issued token → expiry

	failMu     sync.Mutex
	failN      int
	failStatus int
	failRetry  time.Duration

	logMu sync.Mutex
	log   []Request
}

const (
	maxBody   = 1 << 20
	tokenPath = "/oauth/token"
)

// Start starts a server on loopback. It panics on invalid options.
func Start(opts Options) *Server {
	s := &Server{opts: opts, now: time.Now, tokens: map[string]time.Time{}}
	if opts.clock != nil {
		s.now = opts.clock
	}
	s.configure()
	s.store = newStore(s.newID)
	s.ts = httptest.NewServer(s)
	s.URL = s.ts.URL + s.base
	s.TokenURL = s.ts.URL + tokenPath
	s.discovery = buildDiscovery(s)
	return s
}

// configure checks the options and fills in the flavor's defaults.
func (s *Server) configure() {
	o := &s.opts
	if o.Flavor == "" {
		o.Flavor = Generic
	}
	s.defaultPage = 0
	switch o.Flavor {
	case Generic:
		s.base = "/scim/v2"
	case Slack:
		s.base = "/scim/v2"
		s.defaultPage = 10 // Slack: "the default page size remains 10 results when no count parameter is presented"
	case Zoom:
		s.base = "/scim2"
		if o.ClientID == "" || o.ClientSecret == "" {
			panic("scimfake: the Zoom flavor needs ClientID and ClientSecret (Server-to-Server OAuth)")
		}
	case GitHubEMU:
		s.defaultPage = 30 // "count … Default: 30"
		o.Enterprise = cmp.Or(o.Enterprise, "idsync")
		s.base = "/scim/v2/enterprises/" + pathSegment(o.Enterprise)
	case Aquera:
		o.Tenant = cmp.Or(o.Tenant, "idsync")
		s.base = "/" + pathSegment(o.Tenant) + "/scim/v2"
	default:
		panic(fmt.Sprintf("scimfake: unknown flavor %q", o.Flavor))
	}
	if o.MaxPageSize < 0 {
		panic("scimfake: negative MaxPageSize")
	}
	if o.MaxPageSize == 0 {
		o.MaxPageSize = 100
		if o.Flavor == Slack {
			o.MaxPageSize = 1000
		}
	}
	if s.defaultPage == 0 || s.defaultPage > o.MaxPageSize {
		s.defaultPage = o.MaxPageSize
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.RateLimit != nil {
		s.limiter = newLimiter(*o.RateLimit, s.now())
	}
}

func pathSegment(v string) string {
	if v == "" || strings.ContainsAny(v, "/?#%") {
		panic(fmt.Sprintf("scimfake: %q is not a path segment", v))
	}
	return v
}

// Close shuts the server down.
func (s *Server) Close() { s.ts.Close() }

// Users returns a copy of every user, sorted by userName.
func (s *Server) Users() []User {
	s.store.mu.RLock()
	out := make([]User, 0, len(s.store.users))
	for _, r := range s.store.userOrder {
		out = append(out, s.store.userView(r, s.URL).clone())
	}
	s.store.mu.RUnlock()
	slices.SortFunc(out, func(a, b User) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.UserName), strings.ToLower(b.UserName)), cmp.Compare(a.UserName, b.UserName))
	})
	return out
}

// Groups returns a copy of every group with its members, sorted by
// displayName.
func (s *Server) Groups() []Group {
	s.store.mu.RLock()
	out := make([]Group, 0, len(s.store.groups))
	for _, r := range s.store.groupOrder {
		out = append(out, s.store.groupView(r, s.URL, true))
	}
	s.store.mu.RUnlock()
	slices.SortFunc(out, func(a, b Group) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.DisplayName), strings.ToLower(b.DisplayName)), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Requests returns the requests answered so far, in order.
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return slices.Clone(s.log)
}

// ResetRequests forgets the requests answered so far.
func (s *Server) ResetRequests() {
	s.logMu.Lock()
	s.log = nil
	s.logMu.Unlock()
}

// Seed stores users and groups directly, bypassing the API (and its rate
// limit and request log). Users keep a given ID (one is made up when
// empty) and their Active as given; group members must name seeded users
// or groups. It panics on what the API would refuse: a missing userName
// or displayName, a duplicate userName, externalId or ID, an unknown
// member.
func (s *Server) Seed(users []User, groups []Group) {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	now := s.now().UTC()
	for _, u := range users {
		u = u.clone()
		u.normalize()
		if e := cmp.Or(u.validate(), st.userConflict(&u, "")); e != nil {
			panic("scimfake: Seed: " + e.detail)
		}
		if st.memberType(u.ID) != "" {
			panic("scimfake: Seed: duplicate id " + u.ID)
		}
		st.addUser(u, now)
	}
	added := make([]*groupRec, len(groups))
	for i, g := range groups {
		if e := cmp.Or(validateGroup(&g), st.groupConflict(&g, "")); e != nil {
			panic("scimfake: Seed: " + e.detail)
		}
		if st.memberType(g.ID) != "" {
			panic("scimfake: Seed: duplicate id " + g.ID)
		}
		g.Members = nil
		added[i] = st.addGroup(g, now)
	}
	for i, g := range groups {
		if e := st.checkMembers(g.Members); e != nil {
			panic("scimfake: Seed: " + e.detail)
		}
		st.addMembers(added[i], g.Members)
	}
}

// FailNext makes the next n requests to the SCIM endpoints (not the
// token endpoint) answer status, with a Retry-After header when
// retryAfter is positive (whole seconds, rounded up). It replaces an
// earlier FailNext that has not run out.
func (s *Server) FailNext(n int, status int, retryAfter time.Duration) {
	if n < 0 || status < 400 || status > 599 {
		panic(fmt.Sprintf("scimfake: FailNext(%d, %d): n must be ≥ 0 and status an error status", n, status))
	}
	s.failMu.Lock()
	s.failN, s.failStatus, s.failRetry = n, status, retryAfter
	s.failMu.Unlock()
}

// newID makes a resource id: Slack's look (W… for users, S… for user
// groups), a UUID otherwise.
func (s *Server) newID(group bool) string {
	if s.opts.Flavor == Slack {
		prefix := "W"
		if group {
			prefix = "S"
		}
		return prefix + rand.Text()[:10]
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// recorder remembers the status written.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// ServeHTTP answers one request: token endpoint, routing, injected
// failures, authentication, Zoom's Accept check, rate limit, then the
// endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.logMu.Lock()
		s.log = append(s.log, Request{Method: r.Method, Path: r.URL.Path, Status: rec.status, At: s.now()})
		s.logMu.Unlock()
	}()
	if r.URL.Path == tokenPath {
		s.serveToken(rec, r)
		return
	}
	rt, ok := s.route(r.URL.Path)
	switch {
	case !ok:
		s.writeError(rec, errNotFound("no endpoint at "+r.URL.Path))
	case s.injectFailure(rec):
	case !s.authenticate(rec, r):
	case s.opts.Flavor == Zoom && !acceptsSCIM(r):
		s.writeError(rec, newError(http.StatusNotAcceptable, "", "set the Accept header to application/scim+json"))
	case !s.allow(rec, r, rt):
	default:
		s.dispatch(rec, r, rt)
	}
}

func (s *Server) injectFailure(w http.ResponseWriter) bool {
	s.failMu.Lock()
	if s.failN == 0 {
		s.failMu.Unlock()
		return false
	}
	s.failN--
	status, retry := s.failStatus, s.failRetry
	s.failMu.Unlock()
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(retry)))
	}
	s.writeError(w, newError(status, "", "injected failure (FailNext)"))
	return true
}

func ceilSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// route is a request path below the base URL.
type route struct {
	kind string // Users, Groups, ServiceProviderConfig, ResourceTypes, Schemas, Bulk, Me
	id   string // resource id, ".search" or ""
}

var endpoints = []string{"Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas", "Bulk", "Me"}

// route matches a path. GitHub's paths are case-sensitive and it has no
// discovery endpoints; the others take endpoint names in any case.
func (s *Server) route(path string) (route, bool) {
	rest, ok := strings.CutPrefix(path, s.base+"/")
	if !ok {
		return route{}, false
	}
	seg, id, _ := strings.Cut(rest, "/")
	if strings.Contains(id, "/") {
		return route{}, false
	}
	for _, e := range endpoints {
		if s.opts.Flavor == GitHubEMU {
			if seg == e && (e == "Users" || e == "Groups") {
				return route{kind: e, id: id}, true
			}
		} else if strings.EqualFold(seg, e) {
			return route{kind: e, id: id}, true
		}
	}
	return route{}, false
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, rt route) {
	switch rt.kind {
	case "Users":
		s.serveUsers(w, r, rt.id)
	case "Groups":
		s.serveGroups(w, r, rt.id)
	case "Bulk", "Me":
		s.writeError(w, newError(http.StatusNotImplemented, "", "/"+rt.kind+" is not supported"))
	default:
		s.serveDiscovery(w, r, rt)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/scim+json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	s.writeError(w, newError(http.StatusMethodNotAllowed, "", "method not allowed; allowed: "+allow))
}
