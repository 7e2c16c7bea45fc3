package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/httpx"
)

// graphConnector is an open graph connection.
type graphConnector struct {
	base            string // the Graph v1.0 base, without a trailing slash
	client          *http.Client
	tokens          *tokenSource
	secret          string
	domain          string
	extAttr         string
	deprovision     string
	groupType       string
	pageSize        int
	maxChanges      int
	replicationWait time.Duration
	logger          *slog.Logger

	mu     sync.Mutex
	recent map[string]time.Time // objects this connection created, when
	known  map[string]string    // ExternalID → user id
	// managers is each user's manager as last read or written, by its
	// ExternalID ("" for none, or one idsync does not manage): an
	// update sends no manager request when it is unchanged.
	managers map[string]string
	// pending are the users whose manager was not in Entra ID when they
	// were written: user id → the manager's ExternalID.
	pending map[string]string
}

var (
	_ connectors.Target            = (*graphConnector)(nil)
	_ connectors.GroupTarget       = (*graphConnector)(nil)
	_ connectors.KnownUsers        = (*graphConnector)(nil)
	_ connectors.UserReader        = (*graphConnector)(nil)
	_ connectors.ModeDeprovisioner = (*graphConnector)(nil)
	_ connectors.Tester            = (*graphConnector)(nil)
)

// credential is how the connection authenticates: a client secret, or
// a certificate that signs client assertions.
type credential struct {
	secret string
	cert   *certCredential
}

func newConnector(ctx context.Context, c *Config, cred credential, logger *slog.Logger) *graphConnector {
	transport := http.DefaultTransport
	tokenClient := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	cc := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: cred.secret, TokenURL: c.TokenURL,
		Scopes: []string{"https://graph.microsoft.com/.default"}, AuthStyle: oauth2.AuthStyleInParams}
	tctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, tokenClient)
	fresh := func() oauth2.TokenSource { return cc.TokenSource(tctx) }
	if cred.cert != nil {
		as := &assertionSource{ctx: tctx, cfg: cc, cred: cred.cert}
		fresh = func() oauth2.TokenSource { return oauth2.ReuseTokenSource(nil, as) }
	}
	budgeted := &httpx.Transport{Base: transport, Budget: httpx.BudgetFor(ctx, c.limit), MaxWait: c.maxRetryWait}
	tokens := &tokenSource{fresh: fresh, ts: fresh()}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &oauth2.Transport{Source: tokens, Base: budgeted}}
	return &graphConnector{
		base: strings.TrimRight(c.GraphURL, "/"), client: client, tokens: tokens, secret: cred.secret, domain: c.Domain,
		extAttr: c.ExternalIDAttribute, deprovision: c.Deprovision, groupType: c.GroupType, pageSize: c.PageSize, maxChanges: c.MaxChanges,
		replicationWait: c.replicationWait, logger: logger.With(slog.Group("connector", "type", "graph")),
		recent: map[string]time.Time{}, known: map[string]string{}, managers: map[string]string{}, pending: map[string]string{},
	}
}

func (c *graphConnector) Close() error { c.client.CloseIdleConnections(); return nil }

// Error is a non-2xx answer from Graph, with the code and message of its
// error body ({"error":{"code","message"}}). It unwraps to
// connectors.ErrNotFound (404), ErrAlreadyExists (a 400 "Another object
// with the same value … already exists", ObjectConflict), ErrUnauthorized
// (401, 403) or ErrRejected (another 4xx); 429 and 503 come inside a
// *connectors.RateLimitError, 409 Directory_ConcurrencyViolation and
// 5xx unwrap to nothing (a retry may succeed).
type Error struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("graph: %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func (e *Error) Unwrap() error {
	switch {
	case e.Status == http.StatusNotFound:
		return connectors.ErrNotFound
	case e.Status == http.StatusBadRequest && strings.Contains(e.Message, "Another object with the same value"):
		return connectors.ErrAlreadyExists
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return connectors.ErrUnauthorized
	case e.Status == http.StatusTooManyRequests || e.Status == http.StatusConflict:
		return nil
	case e.Status >= 400 && e.Status < 500:
		return connectors.ErrRejected
	}
	return nil
}

// memberExists is the 400 message of a member added twice.
const memberExists = "One or more added object references already exist"

func isMemberExists(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusBadRequest && strings.Contains(e.Message, memberExists)
}

func isNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusNotFound ||
		// the 400 Entra ID also sends for a reference not replicated yet
		e.Status == http.StatusBadRequest && strings.Contains(e.Message, "objects being referenced do not exist"))
}

const maxQuote = 300

// do sends a request to path (below the base, or an absolute nextLink)
// with body as JSON, and decodes a 2xx answer into out (when not nil).
func (c *graphConnector) do(ctx context.Context, method, path string, body, out any) error {
	u := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		u = c.base + path
	}
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return fmt.Errorf("graph: encode %s %s: %w", method, pathOf(u), err)
		}
	}
	var resp *http.Response
	var data []byte
	for attempt := 0; ; attempt++ {
		var err error
		resp, data, err = c.send(ctx, method, u, b)
		if err != nil {
			return err
		}
		// A token revoked or expired early: fetch a new one, once.
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 {
			break
		}
		c.tokens.reset()
	}
	if resp.StatusCode/100 != 2 {
		return c.newError(method, u, resp, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("graph: %s %s: malformed %d answer (%v); body starts %q", method, pathOf(u), resp.StatusCode, err, quote(string(data)))
	}
	return nil
}

// send sends one request and reads the whole answer.
func (c *graphConnector) send(ctx context.Context, method, u string, body []byte) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("graph: %s %s: %w", method, pathOf(u), err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, c.transportError(method, u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("graph: %s %s: read the answer: %w", method, pathOf(u), err)
	}
	return resp, data, nil
}

// tokenSource is the client credentials token source, cached, that a
// 401 replaces so that the next request fetches a new token.
type tokenSource struct {
	mu    sync.Mutex
	fresh func() oauth2.TokenSource // a new caching source, with no token yet
	ts    oauth2.TokenSource
}

func (t *tokenSource) Token() (*oauth2.Token, error) {
	t.mu.Lock()
	ts := t.ts
	t.mu.Unlock()
	tok, err := ts.Token()
	var re *oauth2.RetrieveError
	if err != nil && !errors.As(err, &re) {
		// A refusal (RetrieveError) is reported by transportError; any
		// other failure (an answer that is not JSON, no access_token)
		// must still say it was the token request.
		return nil, fmt.Errorf("token request: %w", err)
	}
	return tok, err
}

func (t *tokenSource) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ts = t.fresh()
}

func (c *graphConnector) newError(method, u string, resp *http.Response, data []byte) error {
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	e := &Error{Method: method, Path: pathOf(u), Status: resp.StatusCode}
	if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message = quote(eb.Error.Code), quote(eb.Error.Message)
	} else {
		e.Message = fmt.Sprintf("%q", quote(strings.TrimSpace(string(data))))
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		wait, _ := httpx.RetryAfter(resp.Header.Get("Retry-After"), time.Now())
		return &connectors.RateLimitError{RetryAfter: wait, Err: e}
	}
	return e
}

// transportError reports a failure to send, the token request's among
// them: a token endpoint's 4xx (a wrong secret, an unknown client or
// tenant) is ErrUnauthorized, its 429/503 a RateLimitError.
func (c *graphConnector) transportError(method, u string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		st := re.Response.StatusCode
		msg := fmt.Sprintf("graph: token request: %d %s (%s): %s", st, http.StatusText(st), quote(re.ErrorCode), quote(re.ErrorDescription))
		msg = c.redact(msg)
		switch {
		case st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable:
			wait, _ := httpx.RetryAfter(re.Response.Header.Get("Retry-After"), time.Now())
			return &connectors.RateLimitError{RetryAfter: wait, Err: errors.New(msg)}
		case st/100 == 4:
			return fmt.Errorf("%s: %w", msg, connectors.ErrUnauthorized)
		}
		return errors.New(msg)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("graph: %s %s: %s", method, pathOf(u), c.redact(err.Error()))
}

// redact removes the client secret from s: a token endpoint or a proxy
// may echo the request. (A client assertion is not echoed, and lives
// minutes.)
func (c *graphConnector) redact(s string) string {
	if c.secret == "" {
		return s // ReplaceAll of "" would mark every rune
	}
	return strings.ReplaceAll(s, c.secret, "[redacted]")
}

// pathOf is the path of u below the base, without the query.
func pathOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return strings.TrimPrefix(p.Path, "/v1.0")
}

func quote(s string) string {
	if len(s) <= maxQuote {
		return s
	}
	n := maxQuote
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// created remembers that this connection created id now.
func (c *graphConnector) created(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.recent[id] = now
	for k, t := range c.recent {
		if now.Sub(t) > c.replicationWait {
			delete(c.recent, k)
		}
	}
}

// forget drops id from the recent creations: it was deleted, and a
// 404 about it now means what it says.
func (c *graphConnector) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.recent, id)
	delete(c.managers, id)
	delete(c.pending, id)
	for k, v := range c.known {
		if v == id {
			delete(c.known, k)
		}
	}
}

// youngest is the latest creation among ids by this connection, or zero.
func (c *graphConnector) youngest(ids ...string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t time.Time
	for _, id := range ids {
		if r, ok := c.recent[id]; ok && r.After(t) {
			t = r
		}
	}
	return t
}

// retryFresh runs fn and, while it fails with a 404 and one of ids was
// created by this connection within replicationWait, runs it again after
// a backoff: the object exists, Graph has not replicated it everywhere
// yet.
func (c *graphConnector) retryFresh(ctx context.Context, fn func() error, ids ...string) error {
	wait := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil || !isNotFound(err) {
			return err
		}
		born := c.youngest(named(err, ids)...)
		if born.IsZero() || time.Since(born)+wait > c.replicationWait {
			return err
		}
		c.logger.Debug("graph: 404 within the replication delay; retrying", "ids", ids, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// named is the ids that err's message names ("Resource '{id}' does not
// exist …"), or all of ids when it names none of them: a 404 about a
// group deleted long ago is not waited out because its new member is
// young.
func named(err error, ids []string) []string {
	var e *Error
	if !errors.As(err, &e) {
		return ids
	}
	var out []string
	for _, id := range ids {
		if strings.Contains(e.Message, "'"+id+"'") {
			out = append(out, id)
		}
	}
	if out == nil {
		return ids
	}
	return out
}

// list GETs path and each @odata.nextLink after it, calling fn with the
// raw items of each page.
func (c *graphConnector) list(ctx context.Context, path string, fn func(json.RawMessage) error) error {
	next := path
	for next != "" {
		var pg struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		if err := c.do(ctx, http.MethodGet, next, nil, &pg); err != nil {
			return err
		}
		for _, item := range pg.Value {
			if err := fn(item); err != nil {
				return err
			}
		}
		next = pg.NextLink
	}
	return nil
}

// each lists path as list does, reads each item with read, and calls
// fn with it: the loop of every listing of users or groups.
func each[T any](ctx context.Context, c *graphConnector, path string, read func(json.RawMessage) (T, error), fn func(T) error) error {
	return c.list(ctx, path, func(raw json.RawMessage) error {
		v, err := read(raw)
		if err != nil {
			return err
		}
		return fn(v)
	})
}

// lookup lists path, a $filter of attr eq value, through each. Graph's
// eq compares without regard to case; an ExternalID (ext of an item)
// must match exactly, so the others are dropped here.
func lookup[T any](ctx context.Context, c *graphConnector, kind, path string, read func(json.RawMessage) (T, error),
	attr, value string, ext func(T) string) ([]T, error) {
	var out []T
	err := each(ctx, c, path, read, func(v T) error {
		if attr != connectors.MatchExternalID || ext(v) == value {
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("graph: look up %s by %s: %w", kind, attr, err)
	}
	return out, nil
}

// query is "?"+q encoded, with "$" kept as Graph's examples write it
// and a space as %20 (a literal "+" is %2B): an OData URL need not read
// "+" as a space.
func query(q url.Values) string {
	return "?" + strings.NewReplacer("%24", "$", "+", "%20").Replace(q.Encode())
}

// literal quotes v as an OData string literal: ' doubled.
func literal(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// Test reads one page of one user: the token endpoint, the credentials
// and User.Read.All.
func (c *graphConnector) Test(ctx context.Context) error {
	var pg struct {
		Value []json.RawMessage `json:"value"`
	}
	err := c.do(ctx, http.MethodGet, "/users"+query(url.Values{"$top": {"1"}, "$select": {"id"}}), nil, &pg)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, connectors.ErrUnauthorized) && strings.Contains(err.Error(), "token request"):
		return &connectors.TestError{Stage: connectors.StageAuth, Err: err}
	case errors.Is(err, connectors.ErrUnauthorized):
		return &connectors.TestError{Stage: connectors.StagePermissions, Err: err}
	}
	return &connectors.TestError{Stage: connectors.StageTCP, Err: err}
}
