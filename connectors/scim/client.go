package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
)

const (
	// maxResponseBody bounds what one response may hold.
	maxResponseBody = 16 << 20
	// maxErrorQuote bounds how much of an error body an error quotes.
	maxErrorQuote = 200

	mediaType     = "application/scim+json"
	schemaPatchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	schemaError   = "urn:ietf:params:scim:api:messages:2.0:Error"
)

// Error is a non-2xx answer from the service provider. It unwraps to
// connectors.ErrNotFound (404), ErrAlreadyExists (409, or a 400 with
// scimType uniqueness), ErrUnauthorized (401, 403) or ErrRejected (other
// 4xx); 429 and 503 come wrapped in a *connectors.RateLimitError.
type Error struct {
	Method string
	Path   string // the request path below the base URL, without the query
	Status int
	// SCIMType and Detail come from a SCIM error body (RFC 7644 §3.12).
	SCIMType string
	Detail   string
	// Body is the start of a body that is not a SCIM error.
	Body string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
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
	case e.Status == http.StatusNotFound:
		return connectors.ErrNotFound
	case e.Status == http.StatusConflict || e.SCIMType == "uniqueness":
		return connectors.ErrAlreadyExists
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return connectors.ErrUnauthorized
	case e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests:
		return connectors.ErrRejected
	}
	return nil
}

// errorBody is a SCIM error; status is a string in RFC 7644 but some
// servers send a number.
type errorBody struct {
	Schemas  []string        `json:"schemas"`
	Status   json.RawMessage `json:"status"`
	SCIMType string          `json:"scimType"`
	Detail   string          `json:"detail"`
}

// newError builds the error for a non-2xx response.
func newError(method, path string, resp *http.Response, body []byte, now time.Time) error {
	e := &Error{Method: method, Path: path, Status: resp.StatusCode}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && (eb.Detail != "" || eb.SCIMType != "" || containsFold(eb.Schemas, schemaError)) {
		e.SCIMType = eb.SCIMType
		e.Detail = truncate(eb.Detail, maxErrorQuote)
	} else {
		e.Body = truncate(strings.TrimSpace(string(body)), maxErrorQuote)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		return &connectors.RateLimitError{RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now), Err: e}
	}
	return e
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
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// filterValue quotes s as a SCIM filter string: a JSON string, so that
// `"` and `\` (and control characters) are escaped (RFC 7644 §3.4.2.2).
func filterValue(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// do sends one request: in (if not nil) as the JSON body, and decodes a
// 2xx body into out (if not nil and the body is not empty).
func (c *scimConnector) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := c.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", mediaType+", application/json")
	req.Header.Set("User-Agent", "idsync")
	if in != nil {
		req.Header.Set("Content-Type", mediaType)
	}
	start := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	c.logger.DebugContext(ctx, "scim request", "method", method, "path", path,
		"status", resp.StatusCode, "duration_ms", time.Since(start).Milliseconds())
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if len(b) > maxResponseBody {
		return fmt.Errorf("%s %s: response larger than %d bytes", method, path, maxResponseBody)
	}
	if resp.StatusCode/100 != 2 {
		return newError(method, path, resp, b, time.Now())
	}
	if out == nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// listResponse is a SCIM ListResponse (RFC 7644 §3.4.2).
type listResponse[T any] struct {
	TotalResults int `json:"totalResults"`
	StartIndex   int `json:"startIndex"`
	ItemsPerPage int `json:"itemsPerPage"`
	Resources    []T `json:"Resources"`
}

// list calls fn for every resource at path that matches filter (all if
// empty), page by page. It trusts only startIndex and totalResults:
// servers may return fewer resources than count asked for, and report a
// wrong itemsPerPage. It stops after the page that reaches totalResults,
// or at an empty page.
func list[T any](ctx context.Context, c *scimConnector, path, filter string, fn func(T) error) error {
	start := 1
	for {
		q := url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(c.pageSize)}}
		if filter != "" {
			q.Set("filter", filter)
		}
		var page listResponse[T]
		if err := c.do(ctx, http.MethodGet, path, q, nil, &page); err != nil {
			return err
		}
		if page.StartIndex != 0 && page.StartIndex != start && len(page.Resources) > 0 {
			// Going on would repeat or skip resources, or never end.
			return fmt.Errorf("GET %s: asked for startIndex %d, got %d: the server does not page by startIndex", path, start, page.StartIndex)
		}
		for _, r := range page.Resources {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page.Resources) == 0 || start+len(page.Resources)-1 >= page.TotalResults {
			return nil
		}
		start += len(page.Resources)
	}
}

// patchOp is one operation of a PATCH request (RFC 7644 §3.5.2).
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

// patch sends a PatchOp; the server may answer 200 with the resource or
// 204 without a body.
func (c *scimConnector) patch(ctx context.Context, path string, ops []patchOp) error {
	msg := struct {
		Schemas    []string  `json:"schemas"`
		Operations []patchOp `json:"Operations"`
	}{[]string{schemaPatchOp}, ops}
	return c.do(ctx, http.MethodPatch, path, nil, msg, nil)
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
