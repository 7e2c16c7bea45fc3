// Package webhook serves idsync's change webhooks: a source (or anything
// acting for it) POSTs a signed batch of change events for a connection,
// and every rule whose source is that connection receives it as a signal
// and applies it in near real time.
//
//	POST /v1/connections/{name}/changes
//	Idsync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
//	{"changes": [{"kind": "user", "op": "upsert", "id": "…", "attributes": {…}}, …]}
//
// The key is the connection's webhook secret (a secret reference the worker
// resolves). Bad requests are refused whole: nothing is signalled unless
// every event in the batch is valid.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/workflows"
)

// Limits of a request.
const (
	DefaultMaxBody   = 1 << 20 // bytes
	MaxEvents        = 1000
	SignatureHeader  = "Idsync-Signature"
	MaxClockSkew     = 5 * time.Minute
	maxIDLength      = 1024
	maxRulesSignaled = 100
)

// Backend is what the handler needs of Temporal.
type Backend interface {
	Connection(ctx context.Context, name string) (connectors.Connection, error)
	Rules(ctx context.Context, connection, role string) ([]string, error)
	SignalChanges(ctx context.Context, rule string, batch workflows.ChangeBatch) error
}

// Handler serves the webhook endpoints.
type Handler struct {
	Backend Backend
	// MaxBody bounds a request body (default DefaultMaxBody).
	MaxBody int64
	Logger  *slog.Logger
	// Now and ResolveSecret default to time.Now and connectors.ResolveSecret.
	Now           func() time.Time
	ResolveSecret func(ref string) (string, error)
}

// Routes returns the handler's mux.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/connections/{name}/changes", h.changes)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// Response is the body of a 202.
type Response struct {
	Accepted int      `json:"accepted"`
	Rules    []string `json:"rules"`
}

type errorBody struct {
	Error string `json:"error"`
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func (h *Handler) changes(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	logger := h.logger().With("connection", name, "remote_addr", r.RemoteAddr)
	fail := func(status int, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		logger.Warn("webhook refused", "status", status, "reason", msg)
		writeJSON(w, status, errorBody{Error: msg})
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		fail(http.StatusUnsupportedMediaType, "content type %q: want application/json", ct)
		return
	}
	maxBody := h.MaxBody
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(http.StatusRequestEntityTooLarge, "body is larger than %d bytes", maxBody)
			return
		}
		fail(http.StatusBadRequest, "read body: %v", err)
		return
	}
	if err := workflows.ValidateName(name); err != nil {
		fail(http.StatusNotFound, "unknown connection")
		return
	}
	conn, err := h.Backend.Connection(r.Context(), name)
	if errors.Is(err, workflows.ErrNotFound) {
		fail(http.StatusNotFound, "unknown connection %q", name)
		return
	}
	if err != nil {
		logger.Error("read connection", "error", err)
		fail(http.StatusServiceUnavailable, "cannot read the connection now; retry later")
		return
	}
	if conn.WebhookSecret == "" {
		fail(http.StatusUnauthorized, "connection %q has no webhook secret: webhooks are disabled for it", name)
		return
	}
	resolve := h.ResolveSecret
	if resolve == nil {
		resolve = connectors.ResolveSecret
	}
	key, err := resolve(conn.WebhookSecret)
	if err != nil {
		logger.Error("resolve webhook secret", "error", err)
		fail(http.StatusServiceUnavailable, "the worker cannot read this connection's webhook secret")
		return
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	if err := Verify(r.Header.Get(SignatureHeader), body, []byte(key), now()); err != nil {
		fail(http.StatusUnauthorized, "signature: %v", err)
		return
	}
	events, err := Decode(body)
	if err != nil {
		fail(http.StatusBadRequest, "%v", err)
		return
	}
	rules, err := h.Backend.Rules(r.Context(), name, "source")
	if err != nil {
		logger.Error("list rules", "error", err)
		fail(http.StatusServiceUnavailable, "cannot list rules now; retry later")
		return
	}
	if len(rules) == 0 {
		fail(http.StatusConflict, "no running rule has connection %q as its source; nothing was signalled", name)
		return
	}
	if len(rules) > maxRulesSignaled {
		rules = rules[:maxRulesSignaled]
	}
	for _, rule := range rules {
		if err := h.Backend.SignalChanges(r.Context(), rule, workflows.ChangeBatch{Events: events}); err != nil {
			// Earlier rules may have it already; a retry is safe because
			// every change is an idempotent upsert or delete.
			logger.Error("signal rule", "rule", rule, "error", err)
			fail(http.StatusBadGateway, "signal rule %q failed; retry the whole batch", rule)
			return
		}
	}
	logger.Info("webhook accepted", "events", len(events), "rules", len(rules))
	writeJSON(w, http.StatusAccepted, Response{Accepted: len(events), Rules: rules})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
