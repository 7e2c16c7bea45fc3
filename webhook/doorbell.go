package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/idsync/idsync/workflows"
)

// doorbell serves a vendor's own webhook (see connectors.Type.VerifyPush):
// once verified, every rule reading the connection is asked to poll. The
// vendor retries until it gets a 2xx (WorkOS for up to three days), so a
// webhook no rule needs is still acknowledged, and a failure to reach a
// rule is a 503 the vendor retries.
func (h *Handler) doorbell(r *http.Request, name string, body, key []byte,
	verify func(http.Header, []byte, []byte, time.Time) error, now time.Time, logger *slog.Logger) (Response, error) {
	if err := verify(r.Header, body, key, now); err != nil {
		return Response{}, refuse(http.StatusUnauthorized, "signature: %v", err)
	}
	rules, err := h.rules.do(name, func() ([]string, error) {
		ctx, cancel := context.WithTimeout(h.co.ctx, lookupTimeout)
		defer cancel()
		return h.Backend.Rules(ctx, name, "source")
	})
	if err != nil {
		logger.Error("list rules", "error", err)
		return Response{}, unavailable("cannot list rules now; retry later")
	}
	if len(rules) == 0 {
		logger.Warn("vendor webhook for a connection no running rule reads: nothing to poll")
	}
	var failed []string
	for _, rule := range rules {
		ctx, cancel := context.WithTimeout(h.co.ctx, signalTimeout)
		err := h.Backend.PollNow(ctx, rule)
		cancel()
		if errors.Is(err, workflows.ErrNotFound) {
			continue // deleted since the list: nothing to poll
		}
		if err != nil {
			logger.Error("ask rule to poll", "rule", rule, "error", err)
			failed = append(failed, fmt.Sprintf("%q", rule))
		}
	}
	if len(failed) > 0 {
		return Response{}, unavailable("could not reach rule %s; retry later", strings.Join(failed, ", "))
	}
	return Response{Rules: rules, PollRequested: true}, nil
}
