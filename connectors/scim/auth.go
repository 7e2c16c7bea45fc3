package scim

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/idsync/idsync/connectors"
)

// Auth kinds, the values of Config.Auth.
const (
	AuthBearer = "bearer"
	AuthOAuth2 = "oauth2"
	AuthBasic  = "basic"
)

// OAuth2 client authentication styles, the values of Config.AuthStyle.
const (
	AuthStyleHeader = "header"
	AuthStyleParams = "params"
)

// authenticator puts credentials on requests. It holds secrets: none of
// its fields may reach an error or a log.
type authenticator interface {
	// authorize sets the credentials of req. The stamp it returns names
	// the credentials used, for refused.
	authorize(ctx context.Context, req *http.Request) (stamp uint64, err error)
	// refused is told that the server answered 401 to the credentials
	// stamped; it reports whether the request is worth sending again
	// with fresh credentials.
	refused(stamp uint64) bool
	// redact replaces the secrets it knows in s.
	redact(s string) string
	// describe says what the credentials are, without a secret.
	describe() string
}

const redacted = "[redacted]"

// redactAll replaces each non-empty secret in s.
func redactAll(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// bearerAuth sends a static bearer token.
type bearerAuth struct{ token string }

func (a *bearerAuth) authorize(_ context.Context, req *http.Request) (uint64, error) {
	req.Header.Set("Authorization", "Bearer "+a.token)
	return 0, nil
}
func (a *bearerAuth) refused(uint64) bool    { return false }
func (a *bearerAuth) redact(s string) string { return redactAll(s, a.token) }
func (a *bearerAuth) describe() string       { return "auth: bearer token" }

// basicAuth sends a user name and password (RFC 7617).
type basicAuth struct{ username, password string }

func (a *basicAuth) authorize(_ context.Context, req *http.Request) (uint64, error) {
	req.SetBasicAuth(a.username, a.password)
	return 0, nil
}
func (a *basicAuth) refused(uint64) bool { return false }
func (a *basicAuth) redact(s string) string {
	return redactAll(s, a.password, base64.StdEncoding.EncodeToString([]byte(a.username+":"+a.password)))
}
func (a *basicAuth) describe() string { return fmt.Sprintf("auth: basic, user %q", a.username) }

// oauthAuth gets access tokens by the OAuth 2.0 client credentials grant
// (RFC 6749 §4.4) and reuses each until it expires or the server refuses
// it.
type oauthAuth struct {
	cfg      *clientcredentials.Config
	tokenCtx context.Context // carries the HTTP client; never cancelled
	mu       sync.Mutex
	ts       oauth2.TokenSource // caching; replaced when a token is refused
	gen      uint64             // counts replacements of ts
	recent   []string           // the last access tokens handed out, to redact
}

// keepTokens is how many recent access tokens redact knows.
const keepTokens = 4

// newOAuthAuth builds the token source once; it fetches no token yet.
// Token requests go through client, with its timeout, but outlive ctx:
// the token is shared by every request of the connector.
func newOAuthAuth(ctx context.Context, cfg *clientcredentials.Config, client *http.Client) *oauthAuth {
	tctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, client)
	return &oauthAuth{cfg: cfg, tokenCtx: tctx, ts: cfg.TokenSource(tctx)}
}

func (a *oauthAuth) authorize(ctx context.Context, req *http.Request) (uint64, error) {
	a.mu.Lock()
	ts, gen := a.ts, a.gen
	a.mu.Unlock()
	tok, err := tokenUntil(ctx, ts)
	if ctxErr := ctx.Err(); ctxErr != nil && tok == nil {
		return gen, fmt.Errorf("wait for an oauth2 token: %w", ctxErr)
	}
	if err != nil {
		return gen, a.tokenError(err)
	}
	a.mu.Lock()
	if !slices.Contains(a.recent, tok.AccessToken) {
		a.recent = append(a.recent, tok.AccessToken)
		if len(a.recent) > keepTokens {
			a.recent = a.recent[1:]
		}
	}
	a.mu.Unlock()
	req.Header.Set("Authorization", tok.Type()+" "+tok.AccessToken)
	return gen, nil
}

// tokenUntil gets a token from ts but gives up when ctx ends. The token
// request itself goes on (bounded by the token client's timeout): its
// token is shared by every request of the connector, so the next request
// finds it cached. The goroutine only hands its result to a buffered
// channel; nothing of the caller's is touched after tokenUntil returns.
func tokenUntil(ctx context.Context, ts oauth2.TokenSource) (*oauth2.Token, error) {
	type result struct {
		tok *oauth2.Token
		err error
	}
	ch := make(chan result, 1)
	go func() {
		tok, err := ts.Token()
		ch <- result{tok, err}
	}()
	select {
	case r := <-ch:
		return r.tok, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// refused drops the cached token, unless another request already did
// since stamp, so that the next request fetches a new one: a server may
// revoke a token before its expiry, or count expiry differently.
func (a *oauthAuth) refused(stamp uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if stamp == a.gen {
		a.gen++
		a.ts = a.cfg.TokenSource(a.tokenCtx)
	}
	return true
}

func (a *oauthAuth) redact(s string) string {
	a.mu.Lock()
	secrets := append([]string{a.cfg.ClientSecret}, a.recent...)
	a.mu.Unlock()
	return redactAll(s, secrets...)
}

func (a *oauthAuth) describe() string {
	return fmt.Sprintf("auth: OAuth 2.0 client credentials, client %q, token endpoint %s", a.cfg.ClientID, endpointName(a.cfg.TokenURL))
}

// endpointName is u without its query, which may carry parameters that
// are nobody's business in a status line.
func endpointName(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Scheme + "://" + p.Host + p.Path
}

// TokenError is a failure to get an OAuth 2.0 access token. It unwraps to
// connectors.ErrUnauthorized when the token endpoint refused the client.
type TokenError struct {
	Status      int    // the token endpoint's HTTP status; 0 if none came
	Code        string // RFC 6749 §5.2 error code, e.g. invalid_client
	Description string // the start of error_description
	Refused     bool
	Err         error // the transport error when there is no status
}

func (e *TokenError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("oauth2 token request: %v", e.Err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "oauth2 token request: %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ": %s", e.Description)
	}
	return b.String()
}

func (e *TokenError) Unwrap() error {
	if e.Refused {
		return connectors.ErrUnauthorized
	}
	return e.Err
}

// tokenError turns what the token source returned into an error without
// the token endpoint's raw body (it could echo what we sent): a
// *TokenError, inside a *connectors.RateLimitError for 429 and 503.
func (a *oauthAuth) tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the settings already
		}
		return &TokenError{Err: errors.New(a.redact(err.Error()))}
	}
	status := re.Response.StatusCode
	e := &TokenError{
		Status:      status,
		Code:        truncate(a.redact(re.ErrorCode), 64),
		Description: truncate(a.redact(re.ErrorDescription), maxErrorQuote),
		// A 4xx (invalid_client, invalid_scope, …) says the settings are
		// wrong: the same request would be refused again.
		Refused: status/100 == 4 && status != http.StatusTooManyRequests,
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		return &connectors.RateLimitError{RetryAfter: retryAfter(re.Response.Header, time.Now()), Err: e}
	}
	return e
}
