// Package webhook serves idsync's change webhooks: a source (or anything
// acting for it) POSTs a signed batch of change events for a connection,
// and every rule whose source is that connection receives it as a signal
// and applies it in near real time.
//
//	POST /v1/connections/{name}/changes
//	Content-Type: application/json
//	Idsync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
//	Idempotency-Key: <optional, up to 255 characters>
//	{"changes": [{"kind": "user", "op": "upsert", "id": "…", "attributes": {…}}, …]}
//
// A connection whose type has a webhook scheme of its own (WorkOS) takes
// its vendor's webhooks at the same address instead, in the vendor's
// format and signature (connectors.Type.VerifyPush). They are a doorbell:
// a verified one makes every rule reading the connection poll at once, and
// the poll reads the vendor's ordered feed from the rule's cursor, so that
// a webhook delivered twice, late or out of order applies nothing twice.
//
// The key is the connection's webhook secret (a secret reference the worker
// resolves). Bad requests are refused whole: nothing is signalled unless
// every event in the batch is valid. A 202 means the batch was signalled to
// every rule: it is durable in Temporal. Concurrent requests for a rule
// share signals (see coalescer), and a signed request is accepted once.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/workflows"
)

// Limits of a request.
const (
	DefaultMaxBody  = 1 << 20 // bytes
	MaxEvents       = 1000
	SignatureHeader = "Idsync-Signature"
	IdempotencyKey  = "Idempotency-Key"
	MaxClockSkew    = 5 * time.Minute
	maxIDLength     = 1024
	maxIdempotency  = 255
)

// Backend is what the handler needs of Temporal.
type Backend interface {
	Connection(ctx context.Context, name string) (connectors.Connection, error)
	Rules(ctx context.Context, connection, role string) ([]string, error)
	SignalChanges(ctx context.Context, rule string, batch workflows.ChangeBatch) error
	PollNow(ctx context.Context, rule string) error
}

// Handler serves the webhook endpoints. Call Drain when the server has
// shut down, so that every accepted change has been signalled.
type Handler struct {
	Backend Backend
	// Registry finds a connection type's own webhook scheme
	// (connectors.Type.VerifyPush): such a connection's webhooks are
	// verified by it and make the rules reading the connection poll.
	Registry connectors.Registry
	// MaxBody bounds a request body (default DefaultMaxBody).
	MaxBody int64
	Logger  *slog.Logger
	// Now and ResolveSecret default to time.Now and connectors.ResolveSecret.
	Now           func() time.Time
	ResolveSecret func(ref string) (string, error)
	// ReplayCacheSize bounds the requests remembered to refuse replays
	// (default DefaultReplayCacheSize).
	ReplayCacheSize int

	once      sync.Once
	co        *coalescer
	seen      *seenCache
	ring      ringer
	conns     flight[connectors.Connection]
	rules     flight[[]string]
	lastEvict atomic.Int64 // unix nanoseconds of the last warning that the replay cache is full
}

func (h *Handler) init() {
	h.once.Do(func() {
		h.co = newCoalescer(h.Backend.SignalChanges, h.logger())
		h.seen = newSeenCache(h.ReplayCacheSize)
	})
}

// Drain refuses new changes and waits until the changes already accepted
// for signalling are signalled, or ctx ends (see coalescer.drain).
func (h *Handler) Drain(ctx context.Context) error {
	h.init()
	return errors.Join(h.ring.drain(ctx), h.co.drain(ctx)) // rings use the coalescer's context
}

// Routes returns the handler's mux. Every answer, errors included, is
// JSON: an unknown path is a 404 and a wrong method a 405 with Allow.
func (h *Handler) Routes() http.Handler {
	h.init()
	mux := http.NewServeMux()
	mux.Handle("/v1/connections/{name}/changes", allow(http.HandlerFunc(h.changes), http.MethodPost))
	mux.Handle("/healthz", allow(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}), http.MethodGet, http.MethodHead))
	mux.HandleFunc("/", notFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux would redirect an unclean path with an HTML body.
		if p := r.URL.Path; p == "" || path.Clean(p) != p {
			notFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	writeError(w, &refusal{status: http.StatusNotFound,
		msg: "no such endpoint: changes are POSTed to /v1/connections/{name}/changes"})
}

// allow answers 405 with an Allow header for any other method.
func allow(next http.Handler, methods ...string) http.Handler {
	allowed := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range methods {
			if r.Method == m {
				next.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("Allow", allowed)
		writeError(w, &refusal{status: http.StatusMethodNotAllowed,
			msg: "method " + r.Method + " is not allowed here: use " + allowed})
	})
}

// Response is the body of a 202.
type Response struct {
	Accepted int      `json:"accepted"`
	Rules    []string `json:"rules,omitempty"`
	// PollRequested says the webhook was a vendor's doorbell: the rules
	// reading the connection are being asked to poll, and read the
	// changes from the vendor's feed.
	PollRequested bool `json:"pollRequested,omitempty"`
}

// errorBody is the body of every error. Code is set where a client must
// tell one refusal from another of the same status: "replay" and
// "duplicate" (409) mean the changes were received before and nothing
// needs to be sent again.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func writeError(w http.ResponseWriter, rf *refusal) {
	if rf.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(rf.retryAfter))
	}
	writeJSON(w, rf.status, errorBody{Error: rf.msg, Code: rf.code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
