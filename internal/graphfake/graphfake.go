// Package graphfake is an in-memory Microsoft Graph v1.0 (users, groups,
// memberships) with its Microsoft identity platform token endpoint, on
// loopback, for tests. It follows the request and response shapes of the
// Graph documentation closely enough that a client that works against it
// should work against Microsoft Entra ID:
//
//	srv := graphfake.Start(graphfake.Options{Tenant: "contoso", ClientID: "app", ClientSecret: "s3cret"})
//	defer srv.Close()
//	// token URL: srv.TokenURL(); Graph base: srv.GraphURL() (…/v1.0)
//
// What it answers, each shape from the page cited beside its handler:
//
//   - POST /{tenant}/oauth2/v2.0/token: the client credentials grant
//     with scope https://graph.microsoft.com/.default, with the client
//     secret or a client assertion signed by Options.Certificate's key
//     (checkAssertion).
//   - /v1.0/users: GET (list with $select, $expand=manager($select=…),
//     $top 1–999, $filter, @odata.nextLink paging), POST; GET/PATCH/DELETE
//     /users/{id or userPrincipalName}; GET /users/{id}/manager and
//     …/manager/$ref, PUT/DELETE /users/{id}/manager/$ref.
//   - /v1.0/groups: security and Microsoft 365 groups (checkGroupType
//     refuses the kinds Graph cannot make): GET (list, $filter), POST; GET/PATCH (with
//     members@odata.bind, at most 20)/DELETE /groups/{id};
//     GET /groups/{id}/members; POST /groups/{id}/members/$ref;
//     DELETE /groups/{id}/members/{id}/$ref.
//   - Errors as {"error":{"code","message","innerError":{…}}}.
//   - $filter: one or more "prop eq 'value'" joined by "or" (” is a
//     quote), on userPrincipalName, mail, employeeId, displayName,
//     mailNickname, onPremisesImmutableId, id and extension_* properties;
//     strings compare case-insensitively, as Graph's do.
//   - Directory extension properties (extension_{appId}_{name}) are
//     accepted on users and groups, as strings.
//
// Knobs (SetKnobs) add latency, 429s with Retry-After every Nth request,
// 503s every Nth request, and a replication delay: a GET of an object
// created less than ReplicationDelay ago answers 404
// Request_ResourceNotFound, as Entra ID does right after a create.
//
//   - GET /users/delta and /groups/delta: an initial round of every
//     object, then what changed since a token, each object once as it is
//     now; @odata.deltaLink; "@removed" for deleted objects; members@delta
//     for memberships; $deltatoken=latest; 410 syncStateNotFound for a
//     token made unknown by ExpireDeltaTokens. With $select, an update
//     is reported only when it changed a selected property (or, for
//     groups, members), as Graph does.
//
//   - POST /v1.0/$batch: at most 20 requests, each throttled on its
//     own (an inner 429 with Retry-After), dependsOn answered 424 when a
//     dependency failed, responses in reverse order (Graph promises no
//     order).
//
// Responses are checked against the examples of the pages that
// document them (TestDocumentedExamples, testdata/docexamples.json).
//
// A userPrincipalName's part before the @ follows Entra ID's character
// rules (upnLocalValid).
//
// Not modelled: the recycle bin (a deleted user is gone), $count and
// ConsistencyLevel, $orderby, $search.
package graphfake

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a fake. The token endpoint grants a token to
// ClientID with ClientSecret for Tenant only.
type Options struct {
	Tenant       string
	ClientID     string
	ClientSecret string
	// Certificate is the certificate credential registered on the
	// application: a client assertion signed by its key is taken in
	// place of the secret.
	Certificate *x509.Certificate
	// TokenLifetime is expires_in of the tokens handed out; default 3599 s.
	TokenLifetime time.Duration
}

// Knobs change how the fake behaves; the zero Knobs is a fast, faithful
// Graph.
type Knobs struct {
	// Latency is added to every Graph request.
	Latency time.Duration
	// PageLatency is added to every page of a listing (users, groups,
	// members, delta), as real tenants take seconds a page.
	PageLatency time.Duration
	// ThrottleEvery answers every Nth Graph request (counting from the
	// Nth) with 429 TooManyRequests and Retry-After: RetryAfter seconds.
	ThrottleEvery int
	// UnavailableEvery answers every Nth Graph request with 503
	// ServiceUnavailable and Retry-After.
	UnavailableEvery int
	// RetryAfter is the Retry-After of 429s and 503s, whole seconds (0
	// is sent as "0").
	RetryAfter time.Duration
	// DeltaPageSize is how many objects a delta page holds; default 100.
	DeltaPageSize int
	// ReplicationDelay: a GET of an object, and a member reference to
	// it, within this long of its creation answers 404.
	ReplicationDelay time.Duration
}

// Stats count what the fake was asked.
type Stats struct {
	Requests    int // Graph requests, throttled or not; each request of a $batch counts, and the batch too
	Batches     int // $batch requests
	Writes      int // POST, PATCH, PUT, DELETE that reached the store
	Throttled   int // 429s sent
	Unavailable int // 503s sent
	Replication int // 404s sent for the replication delay
	Tokens      int // tokens handed out
}

// Server is a running fake.
type Server struct {
	URL  string
	opts Options
	ts   *httptest.Server

	mu     sync.Mutex
	knobs  Knobs
	stats  Stats
	now    func() time.Time
	seq    int64
	users  map[string]*object
	groups map[string]*object
	tokens map[string]time.Time
	jtis   map[string]bool // client assertions taken

	// The change log that delta queries read; a delta token is
	// "<gen>.<seq>" and a token of another generation is expired.
	changes  []change
	cseq     int64
	deltaGen int
}

// object is a user or a group: its JSON properties, its creation
// sequence (the listing order) and time, and for groups the member ids.
type object struct {
	props   map[string]any
	seq     int64
	created time.Time
	members []string // groups: member ids, in the order added
	manager string   // users
}

func (o *object) id() string { return o.props["id"].(string) }

// Start starts a fake on loopback.
func Start(opts Options) *Server {
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = 3599 * time.Second
	}
	s := &Server{opts: opts, now: time.Now, users: map[string]*object{}, groups: map[string]*object{}, tokens: map[string]time.Time{}, jtis: map[string]bool{}}
	s.ts = httptest.NewServer(s)
	s.URL = s.ts.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.ts.Close() }

// TokenURL is the tenant's token endpoint.
func (s *Server) TokenURL() string { return s.URL + "/" + s.opts.Tenant + "/oauth2/v2.0/token" }

// AuthorityURL is what stands for https://login.microsoftonline.com.
func (s *Server) AuthorityURL() string { return s.URL }

// GraphURL is the v1.0 base, as https://graph.microsoft.com/v1.0.
func (s *Server) GraphURL() string { return s.URL + "/v1.0" }

// SetKnobs replaces the knobs.
func (s *Server) SetKnobs(k Knobs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knobs = k
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// User is a user as the fake holds it, for tests to read.
type User struct {
	ID        string
	Props     map[string]any
	ManagerID string
}

// Users returns the users in creation order.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []User
	for _, o := range sortedObjects(s.users) {
		out = append(out, User{ID: o.id(), Props: cloneProps(o.props), ManagerID: o.manager})
	}
	return out
}

// Group is a group as the fake holds it.
type Group struct {
	ID        string
	Props     map[string]any
	MemberIDs []string
}

// Groups returns the groups in creation order.
func (s *Server) Groups() []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Group
	for _, o := range sortedObjects(s.groups) {
		out = append(out, Group{ID: o.id(), Props: cloneProps(o.props), MemberIDs: append([]string(nil), o.members...)})
	}
	return out
}

// AddUser stores a user as an administrator would make it (props as in
// a POST body), without replication delay; it returns the id.
func (s *Server) AddUser(props map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.newObject(props)
	o.created = time.Time{}
	s.users[o.id()] = o
	s.record(false, o.id(), "", false)
	return o.id()
}

// SetManager makes managerID the manager of userID ("" for none), as
// an administrator would; unknown ids are ignored.
func (s *Server) SetManager(userID, managerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[userID]; u != nil && (managerID == "" || s.users[managerID] != nil) {
		u.manager = managerID
		s.recordProps(false, userID, []string{"manager"})
	}
}

func (s *Server) newObject(props map[string]any) *object {
	s.seq++
	p := cloneProps(props)
	p["id"] = newID()
	return &object{props: p, seq: s.seq, created: s.now()}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func cloneProps(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		s.token(w, r)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/v1.0/") {
		graphError(w, http.StatusNotFound, "BadRequest", "Invalid version.")
		return
	}
	if s.injected(w, true) {
		return
	}
	if isPage(r) {
		s.mu.Lock()
		d := s.knobs.PageLatency
		s.mu.Unlock()
		time.Sleep(d)
	}
	if !s.authorized(w, r) {
		return
	}
	if r.URL.Path == "/v1.0/$batch" && r.Method == http.MethodPost {
		s.batch(w, r)
		return
	}
	s.route(w, r, strings.Split(strings.TrimPrefix(r.URL.Path, "/v1.0/"), "/"))
}

// isPage says whether r reads a page of a listing: GET of users, groups,
// their delta, or a group's members.
func isPage(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	p := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1.0/"), "/"), "/")
	switch {
	case len(p) == 1 && (p[0] == "users" || p[0] == "groups"):
		return true
	case len(p) == 2 && p[1] == "delta":
		return true
	case len(p) == 3 && p[0] == "groups" && p[2] == "members":
		return true
	}
	return false
}

// injected sleeps the latency and sends the 429 or 503 the knobs ask
// for; it reports whether it answered.
func (s *Server) injected(w http.ResponseWriter, sleep bool) bool {
	s.mu.Lock()
	k := s.knobs
	s.stats.Requests++
	n := s.stats.Requests
	status := 0
	switch {
	case k.ThrottleEvery > 0 && n%k.ThrottleEvery == 0:
		status = http.StatusTooManyRequests
		s.stats.Throttled++
	case k.UnavailableEvery > 0 && n%k.UnavailableEvery == 0:
		status = http.StatusServiceUnavailable
		s.stats.Unavailable++
	}
	s.mu.Unlock()
	if sleep && k.Latency > 0 {
		time.Sleep(k.Latency)
	}
	if status == 0 {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(k.RetryAfter/time.Second)))
	if status == http.StatusTooManyRequests {
		// https://learn.microsoft.com/en-us/graph/throttling: 429 with
		// Retry-After and x-ms-throttle-scope.
		w.Header().Set("x-ms-throttle-scope", "Tenant_Application/ReadWrite/"+s.opts.ClientID+"/"+s.opts.Tenant)
		graphError(w, status, "TooManyRequests", "Too many requests.")
	} else {
		graphError(w, status, "serviceNotAvailable", "The service is temporarily unavailable. Please retry after the time in Retry-After.")
	}
	return true
}

// token answers the client credentials grant:
// https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
// ("First case: Access token request with a shared secret" and its
// successful and error responses).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	tenant := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/oauth2/v2.0/token")
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	assertion := r.PostForm.Get("client_assertion") != "" || r.PostForm.Get("client_assertion_type") != ""
	if assertion && id == "" {
		id = s.opts.ClientID // client_id is optional with an assertion: iss names the client
	}
	switch {
	case tenant != s.opts.Tenant:
		tokenError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("AADSTS90002: Tenant '%s' not found.", tenant))
	case r.PostForm.Get("grant_type") != "client_credentials":
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
	case id != s.opts.ClientID:
		tokenError(w, http.StatusBadRequest, "unauthorized_client", fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory.", id))
	case assertion:
		if st, code, desc := s.checkAssertion(r, s.URL+r.URL.Path); st != 0 {
			tokenError(w, st, code, desc)
			return
		}
		s.grant(w, r)
	case secret == "":
		tokenError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
	case secret != s.opts.ClientSecret:
		tokenError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
	default:
		s.grant(w, r)
	}
}

// grant checks the scope and hands out a token.
func (s *Server) grant(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.PostForm.Get("scope") != "https://graph.microsoft.com/.default":
		tokenError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
	default:
		tok := "fake-" + newID()
		s.mu.Lock()
		s.tokens[tok] = s.now().Add(s.opts.TokenLifetime)
		s.stats.Tokens++
		s.mu.Unlock()
		secs := int(s.opts.TokenLifetime / time.Second)
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
	}
}

// tokenError writes the identity platform's error body
// (v2-oauth2-client-creds-grant-flow, "Error response"): error_codes
// holds the number of the AADSTS code that starts the description.
func tokenError(w http.ResponseWriter, status int, code, desc string) {
	codes := []int{}
	if n, err := strconv.Atoi(strings.TrimPrefix(strings.SplitN(desc, ":", 2)[0], "AADSTS")); err == nil {
		codes = append(codes, n)
	}
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc, "error_codes": codes,
		"timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"), "trace_id": newID(), "correlation_id": newID()})
}

// authorized checks the bearer token; the 401 bodies are Graph's
// (https://learn.microsoft.com/en-us/graph/errors, InvalidAuthenticationToken).
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return false
	}
	s.mu.Lock()
	exp, known := s.tokens[tok]
	now := s.now()
	s.mu.Unlock()
	switch {
	case !known:
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed, there are no dots (.).")
		return false
	case now.After(exp):
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
		return false
	}
	return true
}

// ExpireTokens makes every token handed out so far expired.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.tokens {
		s.tokens[k] = time.Time{}
	}
}

// graphError writes Graph's error body
// (https://learn.microsoft.com/en-us/graph/errors, "Error resource type").
func graphError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]any{"date": time.Now().UTC().Format(time.RFC3339), "request-id": newID(), "client-request-id": newID()},
	}})
}

func notFound(w http.ResponseWriter, id string) {
	graphError(w, http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
