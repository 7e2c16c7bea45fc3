package workos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/idsync/idsync/connectors"
	"golang.org/x/time/rate"
)

// client sends GET requests to the API: Bearer auth, JSON, retries of 429
// and 5xx as the WorkOS SDKs do (honouring Retry-After), and a budget for
// /directory_users, which WorkOS limits to 4 requests/s per directory.
type client struct {
	base, key string
	http      *http.Client
	users     *rate.Limiter
	// attempts is how many times a request is sent before its 429 or
	// 5xx is returned; maxWait bounds each wait between them.
	attempts int
	maxWait  time.Duration
}

// UsersPerSecond is WorkOS's limit on /directory_users per directory.
const UsersPerSecond = 4

// maxBody bounds what a response body may be.
const maxBody = 32 << 20

// usersBudgets is one /directory_users budget per base URL and directory
// in the process, shared by every connection opened on them, since the
// limit is WorkOS's, not a connection's.
var usersBudgets sync.Map // string → *rate.Limiter

func newClient(base, key, directory string, usersRate float64) *client {
	l, _ := usersBudgets.LoadOrStore(fmt.Sprintf("%s|%s|%g", base, directory, usersRate),
		rate.NewLimiter(rate.Limit(usersRate), max(1, int(usersRate))))
	return &client{base: base, key: key, http: &http.Client{Timeout: 60 * time.Second},
		users: l.(*rate.Limiter), attempts: 4, maxWait: 30 * time.Second}
}

// get sends GET path?query and decodes a 2xx JSON answer into out.
func (c *client) get(ctx context.Context, path string, query url.Values, out any) error {
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if path == "/directory_users" {
			if err := c.users.Wait(ctx); err != nil {
				return err
			}
		}
		err := c.once(ctx, path, query, out)
		wait, retry := c.retryable(err, backoff)
		if !retry || attempt >= c.attempts {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
		backoff = min(2*backoff, c.maxWait)
	}
}

// retryable says whether err is worth another attempt, and after how
// long: a 429 after its Retry-After, a 5xx after the backoff.
func (c *client) retryable(err error, backoff time.Duration) (time.Duration, bool) {
	var rl *connectors.RateLimitError
	var e *Error
	switch {
	case err == nil:
		return 0, false
	case errors.As(err, &rl):
		return min(max(rl.RetryAfter, backoff), c.maxWait), true
	case errors.As(err, &e) && e.Status >= 500:
		return backoff, true
	}
	return 0, false
}

func (c *client) once(ctx context.Context, path string, query url.Values, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "idsync-workos")
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error quotes the URL, which holds no secret.
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("GET %s: read the answer: %w", path, err)
	}
	if len(body) > maxBody {
		return fmt.Errorf("GET %s: the answer is larger than %d bytes", path, maxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := newError(http.MethodGet, path, resp.StatusCode, body)
		if resp.StatusCode == http.StatusTooManyRequests {
			return &connectors.RateLimitError{RetryAfter: retryAfter(resp.Header, time.Now()), Err: e}
		}
		return e
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: %d answer is not the JSON expected: %w (%q)", path, resp.StatusCode, err,
			string(body[:min(len(body), maxErrorQuote)]))
	}
	return nil
}
