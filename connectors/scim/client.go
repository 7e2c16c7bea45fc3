package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const (
	// maxResponseBody bounds what one response may hold.
	maxResponseBody = 16 << 20
	// maxErrorQuote bounds how much of a body an error quotes.
	maxErrorQuote = 200

	mediaType     = "application/scim+json"
	schemaPatchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	schemaError   = "urn:ietf:params:scim:api:messages:2.0:Error"
)

// request is one SCIM request.
type request struct {
	method  string
	path    string // below the base URL, without the query
	query   url.Values
	body    any    // sent as JSON when not nil
	ifMatch string // the If-Match header, when not empty
}

// response is a 2xx answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// send sends r and returns its 2xx answer, or an error: an *Error (maybe
// inside a *connectors.RateLimitError) for any other status, a
// *TokenError when no token could be had, or a transport error. A 401
// to an OAuth 2.0 token makes it fetch a new token and send once more.
func (c *scimConnector) send(ctx context.Context, r request) (*response, error) {
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return nil, fmt.Errorf("%s %s: encode: %w", r.method, r.path, err)
		}
	}
	for attempt := 1; ; attempt++ {
		resp, stamp, err := c.roundTrip(ctx, r, payload)
		if err != nil {
			return nil, err
		}
		if resp.status == http.StatusUnauthorized && attempt == 1 && c.auth.refused(stamp) {
			c.logger.InfoContext(ctx, "token refused; fetching a new one", "method", r.method, "path", r.path)
			continue
		}
		if resp.status/100 != 2 {
			return nil, c.newError(r.method, r.path, resp, time.Now())
		}
		return resp, nil
	}
}

// roundTrip sends one HTTP request and reads the whole answer.
func (c *scimConnector) roundTrip(ctx context.Context, r request, payload []byte) (*response, uint64, error) {
	u := c.baseURL + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	stamp, err := c.auth.authorize(ctx, req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Accept", mediaType+", application/json")
	req.Header.Set("User-Agent", "idsync")
	if payload != nil {
		req.Header.Set("Content-Type", mediaType)
	}
	if r.ifMatch != "" {
		req.Header.Set("If-Match", r.ifMatch)
	}
	start := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		// *url.Error quotes the URL, which holds no secret.
		return nil, 0, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	c.logger.DebugContext(ctx, "scim request", "method", r.method, "path", r.path,
		"status", resp.StatusCode, "duration_ms", time.Since(start).Milliseconds())
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: read response: %w", r.method, r.path, err)
	}
	if len(b) > maxResponseBody {
		return nil, 0, fmt.Errorf("%s %s: response larger than %d bytes", r.method, r.path, maxResponseBody)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, stamp, nil
}

// do sends one request: in (if not nil) as the JSON body, and decodes the
// 2xx body into out (if not nil), which must then be there and have the
// right shape.
func (c *scimConnector) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.send(ctx, request{method: method, path: path, query: query, body: in})
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return c.decode(method, path, resp, out)
}

// shaped is a response type that can tell when a body decoded without
// error is still not what it should be (an object without an id, a list
// without totalResults).
type shaped interface {
	checkShape() error
}

// decode reads resp's JSON body into out; a body that is empty, not JSON,
// not of out's shape, or fails out's checkShape is a *MalformedError.
func (c *scimConnector) decode(method, path string, resp *response, out any) error {
	var err error
	if len(bytes.TrimSpace(resp.body)) == 0 {
		err = errEmptyBody
	} else if err = json.Unmarshal(resp.body, out); err == nil {
		if s, ok := out.(shaped); ok {
			err = s.checkShape()
		}
	}
	if err != nil {
		return c.malformed(method, path, resp, err)
	}
	return nil
}

// malformed builds the *MalformedError for resp.
func (c *scimConnector) malformed(method, path string, resp *response, reason error) error {
	return &MalformedError{
		Method: method, Path: path, Status: resp.status,
		Reason: truncate(c.auth.redact(reason.Error()), maxErrorQuote),
		Body:   truncate(c.auth.redact(string(resp.body)), maxErrorQuote),
	}
}

// listResponse is a SCIM ListResponse (RFC 7644 §3.4.2).
type listResponse[T any] struct {
	TotalResults *int `json:"totalResults"`
	StartIndex   int  `json:"startIndex"`
	ItemsPerPage int  `json:"itemsPerPage"`
	Resources    []T  `json:"Resources"`
}

// checkShape implements shaped: totalResults is required, and every
// resource must have its shape.
func (l *listResponse[T]) checkShape() error {
	if l.TotalResults == nil {
		return errNoTotalResults
	}
	for i := range l.Resources {
		if s, ok := any(&l.Resources[i]).(shaped); ok {
			if err := s.checkShape(); err != nil {
				return fmt.Errorf("list resource %d: %w", i, err)
			}
		}
	}
	return nil
}

// list calls fn for every resource at path that matches filter (all if
// empty), page by page.
func list[T any](ctx context.Context, c *scimConnector, path, filter string, fn func(T) error) error {
	return listPages(ctx, c, path, filter, func(_ int, page []T) error {
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// listPages calls fn with each page of the resources at path that match
// filter (all if empty), and the totalResults the page reports. It trusts
// only startIndex and totalResults: servers may return fewer resources
// than count asked for, and report a wrong itemsPerPage. It stops after
// the page that reaches totalResults, or at an empty page. It asks for at
// most maxResults per page when the server advertises a limit. It checks
// ctx before each page, so that a cancelled listing stops even when fn
// ignores ctx.
func listPages[T any](ctx context.Context, c *scimConnector, path, filter string, fn func(total int, page []T) error) error {
	count := c.pageSize
	if feat, err := c.features(ctx); err != nil {
		return err
	} else if feat.maxResults > 0 && feat.maxResults < count {
		count = feat.maxResults
	}
	start := 1
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		q := url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(count)}}
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
		if err := fn(*page.TotalResults, page.Resources); err != nil {
			return err
		}
		if len(page.Resources) == 0 || start+len(page.Resources)-1 >= *page.TotalResults {
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
