package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
)

// Error is a non-2xx answer from the service provider. It unwraps to
// connectors.ErrNotFound (404), ErrAlreadyExists (409, or a 400 with
// scimType uniqueness), ErrUnauthorized (401, 403) or ErrRejected (other
// 4xx). 429 and 503, and a 403 that is a rate limit in disguise
// (RateLimited), come wrapped in a *connectors.RateLimitError and unwrap
// to nothing else; so does 412 (the resource changed since it was read),
// which a later attempt may not meet.
type Error struct {
	Method string
	Path   string // the request path below the base URL, without the query
	Status int
	// RateLimited is set on a 403 that says it is a rate limit.
	RateLimited bool
	// SCIMType and Detail come from a SCIM error body (RFC 7644 §3.12).
	SCIMType string
	Detail   string
	// Body is the start of a body that is not a SCIM error.
	Body string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.RateLimited {
		b.WriteString(" (rate limited)")
	}
	if e.SCIMType != "" {
		fmt.Fprintf(&b, " (%s)", e.SCIMType)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	} else if e.Body != "" {
		fmt.Fprintf(&b, ": %q", e.Body)
	}
	return b.String()
}

// Unwrap returns the connectors sentinel that classifies the error.
func (e *Error) Unwrap() error {
	switch {
	case e.RateLimited, e.Status == http.StatusTooManyRequests, e.Status == http.StatusPreconditionFailed:
		return nil
	case e.Status == http.StatusNotFound:
		return connectors.ErrNotFound
	case e.Status == http.StatusConflict || e.SCIMType == "uniqueness":
		return connectors.ErrAlreadyExists
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return connectors.ErrUnauthorized
	case e.Status >= 400 && e.Status < 500:
		return connectors.ErrRejected
	}
	return nil
}

// MalformedError is a 2xx answer whose body is not what the request
// expects: empty, not JSON, or JSON of the wrong shape. It quotes the
// start of the body.
type MalformedError struct {
	Method string
	Path   string
	Status int
	Reason string // what is wrong
	Body   string // the first maxErrorQuote bytes
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("%s %s: malformed %d response (%s); body starts %q", e.Method, e.Path, e.Status, e.Reason, e.Body)
}

var (
	errEmptyBody      = errors.New("empty body")
	errNoTotalResults = errors.New("not a ListResponse: no totalResults")
	errNoID           = errors.New("no id")
)

// errorBody is a SCIM error; status is a string in RFC 7644 but some
// servers send a number.
type errorBody struct {
	Schemas  []string        `json:"schemas"`
	Status   json.RawMessage `json:"status"`
	SCIMType string          `json:"scimType"`
	Detail   string          `json:"detail"`
}

// newError builds the error for a non-2xx response. What it quotes of the
// body has the connector's secrets redacted: a server may echo a
// credential in an error.
func (c *scimConnector) newError(method, path string, resp *response, now time.Time) error {
	e := &Error{Method: method, Path: path, Status: resp.status}
	var eb errorBody
	if json.Unmarshal(resp.body, &eb) == nil && (eb.Detail != "" || eb.SCIMType != "" || containsFold(eb.Schemas, schemaError)) {
		e.SCIMType = truncate(c.auth.redact(eb.SCIMType), 64)
		e.Detail = truncate(c.auth.redact(eb.Detail), maxErrorQuote)
	} else {
		e.Body = truncate(c.auth.redact(strings.TrimSpace(string(resp.body))), maxErrorQuote)
	}
	e.RateLimited = resp.status == http.StatusForbidden && rateLimited403(resp.header, resp.body)
	if e.RateLimited || resp.status == http.StatusTooManyRequests || resp.status == http.StatusServiceUnavailable {
		return &connectors.RateLimitError{RetryAfter: retryAfter(resp.header, now), Err: e}
	}
	return e
}

// rateLimitMarkers are what 403 bodies say when they mean "slow down":
// Google's reasons rateLimitExceeded, userRateLimitExceeded and
// quotaExceeded; GitHub's "API rate limit exceeded" and "secondary rate
// limit"; and the like. Matched in lower case.
var rateLimitMarkers = []string{"ratelimit", "rate limit", "rate-limit", "quotaexceeded", "too many requests"}

// rateLimited403 reports whether a 403 is a rate limit: GitHub answers
// over its limits with 403 and x-ratelimit-remaining: 0 or retry-after,
// Google with 403 and a rate-limit reason in the body.
func rateLimited403(h http.Header, body []byte) bool {
	if h.Get("Retry-After") != "" || strings.TrimSpace(h.Get("X-RateLimit-Remaining")) == "0" {
		return true
	}
	s := strings.ToLower(string(body[:min(len(body), 4096)]))
	for _, m := range rateLimitMarkers {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// maxRetryAfter bounds a delay a server asks for.
const maxRetryAfter = 24 * time.Hour

// retryAfter reads how long the server asks us to wait: Retry-After, else
// (GitHub) x-ratelimit-reset, in Unix seconds, when x-ratelimit-remaining
// is 0. 0 means the caller's own backoff applies.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if d := parseRetryAfter(h.Get("Retry-After"), now); d > 0 {
		return d
	}
	if strings.TrimSpace(h.Get("X-RateLimit-Remaining")) != "0" {
		return 0
	}
	reset, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64)
	if err != nil {
		return 0
	}
	if d := time.Unix(reset, 0).Sub(now); d > 0 {
		return min(d.Round(time.Second), maxRetryAfter)
	}
	return 0
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date (RFC 9110 §10.2.3). A missing or unreadable value, or a date in
// the past, gives 0: the caller's own backoff applies.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d.Round(time.Second), maxRetryAfter)
		}
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut at a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// isStatus reports whether err is an *Error with one of the statuses.
func isStatus(err error, statuses ...int) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, s := range statuses {
		if e.Status == s {
			return true
		}
	}
	return false
}
