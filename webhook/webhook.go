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
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
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

// Sign returns the Idsync-Signature header value for body at time t.
func Sign(body, key []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(ts, body, key)
}

func mac(ts string, body, key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against body and key. The timestamp is
// signed too and must be within MaxClockSkew of now, so that a captured
// request cannot be replayed later.
func Verify(header string, body, key []byte, now time.Time) error {
	if header == "" {
		return fmt.Errorf("missing %s header", SignatureHeader)
	}
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	if ts == "" || sig == "" {
		return errors.New("want t=<unix seconds>,v1=<hex hmac>")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("timestamp is not a number")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxClockSkew || d < -MaxClockSkew {
		return fmt.Errorf("timestamp is more than %s away from the server's clock", MaxClockSkew)
	}
	want, _ := hex.DecodeString(mac(ts, body, key))
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return errors.New("does not match the body")
	}
	return nil
}

// wireEvent is an event as a webhook sends it.
type wireEvent struct {
	Kind       string          `json:"kind"`
	Op         string          `json:"op"`
	ID         string          `json:"id,omitempty"`
	GroupID    string          `json:"groupId,omitempty"`
	UserID     string          `json:"userId,omitempty"`
	Attributes json.RawMessage `json:"attributes,omitempty"`
}

type wireBatch struct {
	Changes []wireEvent `json:"changes"`
}

// userAttributes are the attributes a user upsert may carry.
type userAttributes struct {
	UserName    string            `json:"userName"`
	GivenName   string            `json:"givenName"`
	FamilyName  string            `json:"familyName"`
	DisplayName string            `json:"displayName"`
	Email       string            `json:"email"`
	Active      *bool             `json:"active"`
	Attributes  map[string]string `json:"attributes"`
}

type groupAttributes struct {
	DisplayName string    `json:"displayName"`
	Members     *[]string `json:"members"`
}

// Decode parses and validates a batch. Unknown fields are errors, and the
// error names the event and the problem.
func Decode(body []byte) ([]reconcile.Event, error) {
	var b wireBatch
	if err := strictUnmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if len(b.Changes) == 0 {
		return nil, errors.New(`"changes" is empty or missing`)
	}
	if len(b.Changes) > MaxEvents {
		return nil, fmt.Errorf("%d changes in one batch: at most %d", len(b.Changes), MaxEvents)
	}
	events := make([]reconcile.Event, 0, len(b.Changes))
	for i, w := range b.Changes {
		e, err := w.event()
		if err != nil {
			return nil, fmt.Errorf("changes[%d]: %w", i, err)
		}
		events = append(events, e)
	}
	return events, nil
}

func (w wireEvent) event() (reconcile.Event, error) {
	e := reconcile.Event{Kind: w.Kind, Op: w.Op, ID: w.ID, GroupID: w.GroupID, UserID: w.UserID}
	if err := e.Validate(); err != nil {
		return e, err
	}
	for _, id := range []string{w.ID, w.GroupID, w.UserID} {
		if len(id) > maxIDLength {
			return e, fmt.Errorf("an id is longer than %d bytes", maxIDLength)
		}
	}
	if len(w.Attributes) == 0 || string(w.Attributes) == "null" {
		return e, nil
	}
	if w.Op == reconcile.OpDelete || w.Kind == reconcile.KindMembership {
		return e, fmt.Errorf("attributes are only allowed on user and group upserts")
	}
	switch w.Kind {
	case reconcile.KindUser:
		var a userAttributes
		if err := strictUnmarshal(w.Attributes, &a); err != nil {
			return e, fmt.Errorf("user attributes: %w", err)
		}
		if a.UserName == "" {
			return e, errors.New("user attributes: userName is required")
		}
		active := true
		if a.Active != nil {
			active = *a.Active
		}
		e.User = &connectors.User{
			ExternalID: w.ID, UserName: a.UserName, GivenName: a.GivenName, FamilyName: a.FamilyName,
			DisplayName: a.DisplayName, Email: a.Email, Active: active, Attributes: a.Attributes,
		}
	case reconcile.KindGroup:
		var a groupAttributes
		if err := strictUnmarshal(w.Attributes, &a); err != nil {
			return e, fmt.Errorf("group attributes: %w", err)
		}
		if a.DisplayName == "" {
			return e, errors.New("group attributes: displayName is required")
		}
		e.Group = &connectors.Group{ExternalID: w.ID, DisplayName: a.DisplayName}
		if a.Members != nil {
			e.Group.Members = *a.Members
			e.SetMembers = true
		}
	}
	return e, nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
