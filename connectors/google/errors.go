package google

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/idsync/idsync/connectors"
)

// rateLimited reports whether err is Google's answer to too many
// requests: a 429, or a 403 whose reason is rateLimitExceeded,
// userRateLimitExceeded or quotaExceeded (a 403 of any other reason is a
// refusal).
func rateLimited(err error) bool {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return false
	}
	if ge.Code == http.StatusTooManyRequests {
		return true
	}
	if ge.Code != http.StatusForbidden {
		return false
	}
	for _, e := range ge.Errors {
		switch e.Reason {
		case "rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded":
			return true
		}
	}
	return false
}

// serverError reports whether err is a 5xx of Google's: transient,
// worth the same backoff as a rate limit.
func serverError(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code >= http.StatusInternalServerError
}

// call runs fn, which does op ("create user x"), retrying it after
// rate-limit answers (a 429, a 403 rateLimitExceeded,
// userRateLimitExceeded or quotaExceeded) with a doubling wait: they are
// not failures, the requests were refused before they were applied; and
// after 5xx answers the same way. After MaxRetries a rate limit is a
// connectors.RateLimitError, whose
// RetryAfter the engine waits. A 404 is retried the same way while one
// of fresh was created by this connection within settleTime: Google
// answers 404 for a while after an insert. Other errors are classified
// (classify); every error says "google: <op>: ".
func (g *googleConnector) call(ctx context.Context, op string, fn func() error, fresh ...string) error {
	return g.callSettling(ctx, op, fn, func(error) bool { return g.isFresh(fresh...) })
}

// callSettling is call, with settling telling whether a 404 (the googleapi
// error) is one of an object that may still be propagating.
func (g *googleConnector) callSettling(ctx context.Context, op string, fn func() error, settling func(error) bool) error {
	wait := g.cfg.retryWait
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		limited := rateLimited(err)
		switch {
		case serverError(err):
			// Google's error table: 500 backendError and 503 "retry using
			// exponential backoff". A create that was applied before its
			// 503 then answers 409, which the engine adopts.
			if attempt >= g.cfg.MaxRetries {
				return fmt.Errorf("google: %s: %w", op, classify(err))
			}
		case !limited:
			raw := err
			err = classify(err)
			if !errors.Is(err, connectors.ErrNotFound) || !settling(raw) || attempt >= g.cfg.MaxRetries {
				return fmt.Errorf("google: %s: %w", op, err)
			}
		case attempt >= g.cfg.MaxRetries:
			return &connectors.RateLimitError{RetryAfter: wait, Err: fmt.Errorf("google: %s: %w", op, err)}
		}
		g.logger.Debug("backing off", "op", op, "wait", wait, "error", err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// classify maps Google's answers to the engine's errors, the message of
// the body kept.
func classify(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		// invalid_grant, unauthorized_client (no domain-wide delegation
		// for these scopes), invalid_scope: the key or the grant.
		// x/oauth2/jwt leaves ErrorCode empty: quote the body, Google's
		// {"error","error_description"} (no secret in it).
		body := strings.TrimSpace(string(re.Body))
		if len(body) > 300 {
			body = body[:300]
		}
		return fmt.Errorf("token: %s: %w", body, connectors.ErrUnauthorized)
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return err
	}
	var kind error
	switch ge.Code {
	case http.StatusNotFound:
		kind = connectors.ErrNotFound
	case http.StatusConflict:
		kind = connectors.ErrAlreadyExists
	case http.StatusUnauthorized, http.StatusForbidden:
		kind = connectors.ErrUnauthorized
	case http.StatusBadRequest, http.StatusPreconditionFailed:
		kind = connectors.ErrRejected
	default:
		return err
	}
	return fmt.Errorf("%d %s: %w", ge.Code, ge.Message, kind)
}

// notFoundOf reports whether err is a 404 naming key ("groupKey",
// "memberKey", "userKey").
func notFoundOf(err error, key string) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusNotFound && strings.Contains(ge.Message, key)
}

// memberGone reports whether err is the 404 of a member that is not in
// the group (not that of a missing group: "Resource Not Found: groupKey").
func memberGone(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusNotFound && strings.Contains(ge.Message, "memberKey")
}

// done is err, or nil if err is one of oks: a member already there, a
// member already gone.
func done(err error, oks ...error) error {
	for _, ok := range oks {
		if errors.Is(err, ok) {
			return nil
		}
	}
	return err
}
