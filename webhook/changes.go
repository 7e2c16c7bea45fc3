package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

// refusal is a request the handler answers with an error.
type refusal struct {
	status     int
	code       string
	msg        string
	retryAfter int // seconds; 0 for none
}

func (r *refusal) Error() string { return r.msg }

func refuse(status int, format string, args ...any) *refusal {
	return &refusal{status: status, msg: fmt.Sprintf(format, args...)}
}

// changes serves POST /v1/connections/{name}/changes.
func (h *Handler) changes(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	logger := h.logger().With("connection", name, "remote_addr", r.RemoteAddr)
	resp, err := h.accept(w, r, name, logger)
	if err != nil {
		var rf *refusal
		if !errors.As(err, &rf) {
			logger.Error("webhook failed", "error", err)
			rf = refuse(http.StatusInternalServerError, "internal error")
		}
		logger.Warn("webhook refused", "status", rf.status, "reason", rf.msg)
		writeError(w, rf)
		return
	}
	logger.Info("webhook accepted", "events", resp.Accepted, "rules", len(resp.Rules))
	writeJSON(w, http.StatusAccepted, resp)
}

// accept runs the checks in an order that tells a caller without the
// secret nothing but the shape of its own request and whether the
// connection exists: the media type, the body's size, the connection,
// the signature; only a signed request learns about replays, its
// changes and the rules.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request, name string, logger *slog.Logger) (Response, error) {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return Response{}, err
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return Response{}, err
	}
	conn, key, err := h.webhookKey(name, logger)
	if err != nil {
		return Response{}, err
	}
	now := h.now()
	if verify := h.Registry[conn.Type].VerifyPush; verify != nil {
		return h.doorbell(r, name, body, key, verify, now, logger)
	}
	sig, err := verify(r.Header.Get(SignatureHeader), body, key, now)
	if err != nil {
		return Response{}, refuse(http.StatusUnauthorized, "signature: %v", err)
	}
	events, size, err := decodeForSignal(body)
	if err != nil {
		return Response{}, err
	}
	settle, err := h.remember(name, sig, r.Header.Get(IdempotencyKey), now, logger)
	if err != nil {
		return Response{}, err
	}
	rules, err := h.sourceRules(name, logger)
	if err == nil {
		err = h.signal(rules, events, size)
	}
	settle(err == nil)
	if err != nil {
		return Response{}, err
	}
	return Response{Accepted: len(events), Rules: rules}, nil
}

// checkContentType accepts application/json, with parameters such as
// charset=utf-8; JSON is UTF-8, so another charset is refused.
func checkContentType(ct string) error {
	if ct == "" {
		return refuse(http.StatusUnsupportedMediaType, "no Content-Type: want application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return refuse(http.StatusUnsupportedMediaType, "content type %q: want application/json", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return refuse(http.StatusUnsupportedMediaType, "charset %q: JSON is UTF-8", cs)
	}
	return nil
}

func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	maxBody := h.MaxBody
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, refuse(http.StatusRequestEntityTooLarge, "body is larger than %d bytes", maxBody)
	case err != nil:
		return nil, refuse(http.StatusBadRequest, "read body: %v", err)
	}
	return body, nil
}

// webhookKey reads the connection's webhook secret. Concurrent requests
// for a connection share one read.
func (h *Handler) webhookKey(name string, logger *slog.Logger) (connectors.Connection, []byte, error) {
	if err := workflows.ValidateName(name); err != nil {
		return connectors.Connection{}, nil, refuse(http.StatusNotFound, "unknown connection")
	}
	conn, err := h.conns.do(name, func() (connectors.Connection, error) {
		ctx, cancel := context.WithTimeout(h.co.ctx, lookupTimeout)
		defer cancel()
		return h.Backend.Connection(ctx, name)
	})
	if errors.Is(err, workflows.ErrNotFound) {
		return conn, nil, refuse(http.StatusNotFound, "unknown connection %q", name)
	}
	if err != nil {
		logger.Error("read connection", "error", err)
		return conn, nil, unavailable("cannot read the connection now; retry later")
	}
	if conn.WebhookSecret == "" {
		return conn, nil, refuse(http.StatusUnauthorized, "connection %q has no webhook secret: webhooks are disabled for it", name)
	}
	resolve := h.ResolveSecret
	if resolve == nil {
		resolve = connectors.ResolveSecret
	}
	key, err := resolve(conn.WebhookSecret)
	if err != nil {
		// The error names the reference, never the value.
		logger.Error("resolve webhook secret", "error", err)
		return conn, nil, unavailable("the worker cannot read this connection's webhook secret")
	}
	return conn, []byte(key), nil
}

// decodeForSignal decodes the batch and measures it as a signal carries
// it: one request's events always travel in one signal.
func decodeForSignal(body []byte) ([]reconcile.Event, int, error) {
	events, err := Decode(body)
	if err != nil {
		return nil, 0, refuse(http.StatusBadRequest, "%v", err)
	}
	enc, err := json.Marshal(events)
	if err != nil {
		return nil, 0, fmt.Errorf("encode events: %w", err)
	}
	if len(enc) > maxSignalBytes {
		return nil, 0, refuse(http.StatusRequestEntityTooLarge,
			"the changes take %d bytes as a signal, over the %d one signal carries: send them in smaller batches", len(enc), maxSignalBytes)
	}
	return events, len(enc), nil
}

// sourceRules lists the rules to signal: all of them, however many, since
// a 202 promises that every rule has the changes. Concurrent requests for
// a connection share one list.
func (h *Handler) sourceRules(name string, logger *slog.Logger) ([]string, error) {
	rules, err := h.rules.do(name, func() ([]string, error) {
		ctx, cancel := context.WithTimeout(h.co.ctx, lookupTimeout)
		defer cancel()
		return h.Backend.Rules(ctx, name, "source")
	})
	if err != nil {
		logger.Error("list rules", "error", err)
		return nil, unavailable("cannot list rules now; retry later")
	}
	if len(rules) == 0 {
		return nil, refuse(http.StatusConflict, "no running rule has connection %q as its source; nothing was signalled", name)
	}
	return rules, nil
}

// signal hands the events to the coalescer and waits until every rule has
// them. It waits even if the caller goes away, so that the outcome is
// known (and logged, and remembered against replays); the wait is bounded
// by the signals ahead in the queue, each by signalTimeout.
func (h *Handler) signal(rules []string, events []reconcile.Event, size int) error {
	results, err := h.co.submit(rules, events, size)
	switch {
	case errors.Is(err, errClosed):
		return unavailable("the worker is shutting down; retry the whole batch")
	case errors.Is(err, errBusy):
		return unavailable("%v; retry the whole batch shortly", err)
	case err != nil:
		return err
	}
	var failed []string
	var first error
	for i, done := range results {
		if err := <-done; err != nil {
			failed = append(failed, fmt.Sprintf("%q", rules[i]))
			if first == nil {
				first = err
			}
		}
	}
	if first == nil {
		return nil
	}
	rf := refuse(http.StatusBadGateway, "signal rule %s failed; retry the whole batch (the rules that got it apply it once more, harmlessly)",
		strings.Join(failed, ", "))
	var unavail *serviceerror.Unavailable
	if errors.Is(first, context.DeadlineExceeded) || errors.Is(first, context.Canceled) || errors.As(first, &unavail) {
		rf.status, rf.retryAfter = http.StatusServiceUnavailable, 1
	}
	return rf
}

func unavailable(format string, args ...any) *refusal {
	rf := refuse(http.StatusServiceUnavailable, format, args...)
	rf.retryAfter = 1
	return rf
}

// remember records the request's signature, and its Idempotency-Key if it
// has one, until their window closes, and refuses a request seen before.
// done settles the reservations: kept for an accepted request, forgotten
// for one that was not, which the sender may then send again.
func (h *Handler) remember(name string, sig signature, idem string, now time.Time, logger *slog.Logger) (done func(accepted bool), err error) {
	if len(idem) > maxIdempotency || strings.ContainsFunc(idem, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return nil, refuse(http.StatusBadRequest, "%s: at most %d printable ASCII characters", IdempotencyKey, maxIdempotency)
	}
	s, inProgress, evicted := h.seen.reserve(keyOf("sig", name, string(sig.mac)), sig.t.Add(MaxClockSkew), now)
	if s == nil {
		return nil, seenBefore("replay", "this signed request", inProgress)
	}
	h.warnEvicted(evicted, logger)
	var k *seenEntry
	if idem != "" {
		k, inProgress, evicted = h.seen.reserve(keyOf("idem", name, idem), now.Add(MaxClockSkew), now)
		if k == nil {
			h.seen.release(s)
			return nil, seenBefore("duplicate", "a request with this "+IdempotencyKey, inProgress)
		}
		h.warnEvicted(evicted, logger)
	}
	return func(accepted bool) {
		if accepted {
			h.seen.accept(s, k)
		} else {
			h.seen.release(s, k)
		}
	}, nil
}

// seenBefore is the 409 for a request received before: code "replay" or
// "duplicate" once the first was accepted, "in_progress" while it is being
// signalled (it may still fail, and then this one should be sent again).
func seenBefore(code, what string, inProgress bool) *refusal {
	if inProgress {
		return &refusal{status: http.StatusConflict, code: "in_progress", retryAfter: 1,
			msg: code + ": " + what + " is being signalled now; nothing was signalled for this one: retry shortly"}
	}
	return &refusal{status: http.StatusConflict, code: code,
		msg: fmt.Sprintf("%s: %s was accepted in the last %s; nothing was signalled (sign each new batch anew)", code, what, MaxClockSkew)}
}

// warnEvicted says, at most once a minute, that the replay cache is full.
func (h *Handler) warnEvicted(evicted bool, logger *slog.Logger) {
	if !evicted {
		return
	}
	now := time.Now().UnixNano()
	last := h.lastEvict.Load()
	if now-last < int64(time.Minute) || !h.lastEvict.CompareAndSwap(last, now) {
		return
	}
	logger.Warn("webhook replay cache full: forgetting requests whose window is still open; a replay of those would be accepted",
		"capacity", h.seen.max)
}
