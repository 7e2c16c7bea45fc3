// Package googlefake is an httptest fake of the Google Workspace Admin SDK
// Directory API (users, groups, members) and of Google's OAuth token
// endpoint for a service account's JWT bearer grant, faithful enough that
// the official client google.golang.org/api/admin/directory/v1 talks to it
// unchanged through option.WithEndpoint:
//
//	f := googlefake.New(t, googlefake.Knobs{Latency: time.Millisecond})
//	key := f.ServiceAccountKey() // a service account JSON key, token_uri the fake's
//	svc, _ := admin.NewService(ctx, option.WithEndpoint(f.Endpoint()), option.WithHTTPClient(f.Client(ctx)))
//
// Objects are JSON objects as the API returns them (kind, etag, id,
// primaryEmail lower-cased, name.fullName); errors are Google's error JSON
// ({"error":{"code","message","errors":[{"domain","reason","message"}]}}):
// 409 "Entity already exists." on a duplicate user or group, 409 "Member
// already exists." on a duplicate member, 404 "Resource Not Found: userKey".
// Knobs add latency and deterministic throttling (every Nth request a 403
// rateLimitExceeded, userRateLimitExceeded or quotaExceeded, or a 429),
// 5xx errors and malformed bodies; Stats counts requests.
//
// It also serves the Admin SDK Reports API's admin activity report
// (activities.list, /admin/reports/v1/activity/users/all/applications/admin,
// google.golang.org/api/admin/reports/v1): every write its Directory API
// takes is recorded as the admin event the Admin console records
// (CREATE_USER, RENAME_USER, SUSPEND_USER, CHANGE_FIRST_NAME,
// ADD_GROUP_MEMBER, …, with USER_EMAIL, GROUP_EMAIL and NEW_VALUE
// parameters), visible after the ReportLag knob; RecordActivity records
// one for a change made elsewhere, and EditUser makes a change that no
// report shows (a user editing their own profile). users.list with
// showDeleted=true lists the users deleted.
package googlefake

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Knobs make the fake slow and imperfect, deterministically.
type Knobs struct {
	// Latency is added to every Directory API request.
	Latency time.Duration
	// PageLatency is added to every page of a listing (users, groups,
	// members, activities), as real tenants take seconds a page.
	PageLatency time.Duration
	// RateLimitEvery, when > 0, refuses every Nth Directory API request
	// (counted over all of them) before it is applied, in turn with a 403
	// rateLimitExceeded, a 403 userRateLimitExceeded, a 403 quotaExceeded
	// and a 429 rateLimitExceeded.
	RateLimitEvery int
	// ServerErrorEvery, when > 0, answers every Nth request with a 503
	// backendError before it is applied.
	ServerErrorEvery int
	// SearchFrozen, when true, freezes users.list's search index (the
	// query parameter) as it is: users written since are found by
	// users.get and plain listings, not by a query, as Google's index can
	// lag writes by up to a day. Setting it false catches the index up.
	SearchFrozen bool
	// NotReadyAfterCreate, when > 0, makes each new user and group answer
	// its first N requests that name it (a get, patch, update or delete
	// by key, a member insert naming it) with a 404, as Google does right
	// after an insert while the object propagates. Listings show it.
	NotReadyAfterCreate int
	// ReportLag delays each admin activity: activities.list shows it
	// only once ReportLag has passed since it was recorded, as Google's
	// reports lag the events (minutes for admin events, more in rare
	// cases: support.google.com/a/answer/7061566).
	ReportLag time.Duration
	// RefuseScopes refuses a token grant that asks for any of these
	// scopes with 401 unauthorized_client, as Google does when the
	// service account's client id is not granted a scope in the Admin
	// console's domain-wide delegation.
	RefuseScopes []string
	// MalformedEvery, when > 0, answers every Nth API request with a 200
	// whose JSON body is cut short, after the request was applied.
	MalformedEvery int
}

// Stats counts requests.
type Stats struct {
	Requests    int            // Directory API requests, refused ones included
	RateLimited int            // answered 403/429 by the RateLimitEvery knob
	ServerErrs  int            // answered 503 by the ServerErrorEvery knob
	Tokens      int            // access tokens issued
	ByOp        map[string]int // "GET users", "POST members", …
	Subjects    []string       // the sub claims of the grants, in order
}

// Fake is a running fake.
type Fake struct {
	URL    string // the server's base URL, without a trailing slash
	Domain string // the primary domain ("example.org")
	// CustomerID is what customerId reads; "my_customer" and it are
	// accepted as customer.
	CustomerID string

	srv *httptest.Server
	key *rsa.PrivateKey

	mu      sync.Mutex
	knobs   Knobs
	stats   Stats
	tokens  map[string]string   // access token → subject
	scoped  map[string][]string // access token → its scopes
	seq     int
	users   map[string]obj            // by id
	groups  map[string]obj            // by id
	members map[string]map[string]obj // group id → member id → member
	index   map[string]obj            // user id → the user as the search index has it
	pending map[string]int            // id → 404s it still answers (NotReadyAfterCreate)
	deleted map[string]obj            // users deleted, by id (showDeleted)

	activities []activity // the admin activity report, oldest first
	actor      string     // the subject of the request being served
	scopes     []string   // the scopes of the request being served
}

type obj = map[string]any

// New starts a fake, closed when the test ends.
func New(t testing.TB, k Knobs) *Fake {
	t.Helper()
	f := NewServer(k)
	t.Cleanup(f.Close)
	return f
}

// NewServer starts a fake; Close stops it.
func NewServer(k Knobs) *Fake {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	f := &Fake{Domain: "example.org", CustomerID: "C0fake01", key: key, knobs: k,
		tokens: map[string]string{}, users: map[string]obj{}, groups: map[string]obj{},
		members: map[string]map[string]obj{}, index: map[string]obj{}, pending: map[string]int{}, stats: Stats{ByOp: map[string]int{}},
		scoped: map[string][]string{}, deleted: map[string]obj{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", f.token)
	const p = "/admin/directory/v1"
	mux.HandleFunc("GET "+p+"/users", f.api(f.listUsers))
	mux.HandleFunc("POST "+p+"/users", f.api(f.insertUser))
	mux.HandleFunc("GET "+p+"/users/{userKey}", f.api(f.getUser))
	mux.HandleFunc("PATCH "+p+"/users/{userKey}", f.api(f.patchUser(true)))
	mux.HandleFunc("PUT "+p+"/users/{userKey}", f.api(f.patchUser(false)))
	mux.HandleFunc("DELETE "+p+"/users/{userKey}", f.api(f.deleteUser))
	mux.HandleFunc("GET "+p+"/groups", f.api(f.listGroups))
	mux.HandleFunc("POST "+p+"/groups", f.api(f.insertGroup))
	mux.HandleFunc("GET "+p+"/groups/{groupKey}", f.api(f.getGroup))
	mux.HandleFunc("PATCH "+p+"/groups/{groupKey}", f.api(f.patchGroup(true)))
	mux.HandleFunc("PUT "+p+"/groups/{groupKey}", f.api(f.patchGroup(false)))
	mux.HandleFunc("DELETE "+p+"/groups/{groupKey}", f.api(f.deleteGroup))
	mux.HandleFunc("GET "+p+"/groups/{groupKey}/members", f.api(f.listMembers))
	mux.HandleFunc("POST "+p+"/groups/{groupKey}/members", f.api(f.insertMember))
	mux.HandleFunc("GET "+p+"/groups/{groupKey}/members/{memberKey}", f.api(f.getMember))
	mux.HandleFunc("DELETE "+p+"/groups/{groupKey}/members/{memberKey}", f.api(f.deleteMember))
	mux.HandleFunc("GET "+p+"/groups/{groupKey}/hasMember/{memberKey}", f.api(f.hasMember))
	mux.HandleFunc("GET /admin/reports/v1/activity/users/{userKey}/applications/{applicationName}", f.api(f.listActivities))
	f.srv = httptest.NewServer(mux)
	f.URL = f.srv.URL
	return f
}

// Close stops the server.
func (f *Fake) Close() { f.srv.Close() }

// Endpoint is the base path for option.WithEndpoint (the discovery
// document's rootUrl, here the fake's).
func (f *Fake) Endpoint() string { return f.URL + "/" }

// TokenURL is the token endpoint.
func (f *Fake) TokenURL() string { return f.URL + "/token" }

// SetKnobs changes the knobs.
func (f *Fake) SetKnobs(k Knobs) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k.SearchFrozen && !f.knobs.SearchFrozen {
		f.index = make(map[string]obj, len(f.users))
		for id, u := range f.users {
			f.index[id] = clone(u)
		}
	}
	f.knobs = k
}

// searchIndex is the users as the search index has them.
func (f *Fake) searchIndex() map[string]obj {
	if f.knobs.SearchFrozen {
		return f.index
	}
	return f.users
}

// Stats returns a copy of the counters.
func (f *Fake) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.ByOp = make(map[string]int, len(f.stats.ByOp))
	for k, v := range f.stats.ByOp {
		s.ByOp[k] = v
	}
	s.Subjects = append([]string(nil), f.stats.Subjects...)
	return s
}

// handler is one API operation, called with f.mu held; it returns the
// status and the body to encode (nil: none).
type handler func(r *http.Request, body obj) (int, any)

// api wraps an operation: latency, the bearer token, the knobs, the body.
func (f *Fake) api(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		lat := f.knobs.Latency
		if r.Method == http.MethodGet && isPage(r.URL.Path) {
			lat += f.knobs.PageLatency
		}
		f.mu.Unlock()
		if lat > 0 {
			time.Sleep(lat)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.stats.Requests++
		f.stats.ByOp[r.Method+" "+opName(r.URL.Path)]++
		n := f.stats.Requests
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if _, known := f.tokens[tok]; !ok || !known {
			writeErr(w, http.StatusUnauthorized, "authError", "Invalid Credentials")
			return
		}
		f.actor, f.scopes = f.tokens[tok], f.scoped[tok]
		if e := f.knobs.ServerErrorEvery; e > 0 && n%e == 0 {
			f.stats.ServerErrs++
			writeErr(w, http.StatusServiceUnavailable, "backendError", "Backend Error")
			return
		}
		if e := f.knobs.RateLimitEvery; e > 0 && n%e == 0 {
			f.stats.RateLimited++
			switch (n / e) % 4 {
			case 0:
				writeErr(w, http.StatusForbidden, "rateLimitExceeded", "Rate Limit Exceeded")
			case 1:
				writeErr(w, http.StatusForbidden, "userRateLimitExceeded", "User Rate Limit Exceeded")
			case 2:
				writeErr(w, http.StatusForbidden, "quotaExceeded", "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'")
			default:
				writeErr(w, http.StatusTooManyRequests, "rateLimitExceeded", "Rate Limit Exceeded")
			}
			return
		}
		var body obj
		if r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodPut {
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				writeErr(w, http.StatusBadRequest, "parseError", "Parse Error")
				return
			}
		}
		code, out := h(r, body)
		if e, ok := out.(apiError); ok {
			writeErr(w, code, e.reason, e.message)
			return
		}
		if e := f.knobs.MalformedEvery; e > 0 && n%e == 0 {
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"kind": "admin#directory#`))
			return
		}
		if out == nil {
			w.WriteHeader(code)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(out)
	}
}

// isPage says whether a GET of path reads a page of a listing.
func isPage(path string) bool {
	if strings.HasPrefix(path, "/admin/reports/v1/") {
		return true
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(path, "/admin/directory/v1/"), "/"), "/")
	return (len(parts) == 1 && (parts[0] == "users" || parts[0] == "groups")) ||
		(len(parts) == 3 && parts[2] == "members")
}

func opName(path string) string {
	if strings.HasPrefix(path, "/admin/reports/v1/") {
		return "activities"
	}
	parts := strings.Split(strings.TrimPrefix(path, "/admin/directory/v1/"), "/")
	switch {
	case len(parts) >= 3 && parts[2] == "members":
		return "members"
	case len(parts) >= 3 && parts[2] == "hasMember":
		return "hasMember"
	}
	return parts[0]
}

type apiError struct{ reason, message string }

func fail(code int, reason, message string) (int, any) { return code, apiError{reason, message} }

func notFound(what string) (int, any) {
	return fail(http.StatusNotFound, "notFound", "Resource Not Found: "+what)
}

func badRequest(msg string) (int, any) { return fail(http.StatusBadRequest, "invalid", msg) }

// writeErr writes Google's error JSON.
func writeErr(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(obj{"error": obj{"code": code, "message": message,
		"errors": []obj{{"domain": "global", "reason": reason, "message": message}}}})
}

// newID makes an id of the kind the API gives users and groups: digits.
func (f *Fake) newID(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s%018d", prefix, f.seq)
}

// notReady reports whether o, just created, still answers 404, counting
// the answer.
func (f *Fake) notReady(o obj) bool {
	id, _ := o["id"].(string)
	if f.pending[id] > 0 {
		f.pending[id]--
		return true
	}
	return false
}

// created starts the NotReadyAfterCreate count of a new object.
func (f *Fake) created(id string) {
	if n := f.knobs.NotReadyAfterCreate; n > 0 {
		f.pending[id] = n
	}
}

func (f *Fake) etag() string {
	f.seq++
	return fmt.Sprintf("%q", fmt.Sprintf("fake-etag-%d", f.seq))
}
