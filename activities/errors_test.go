package activities

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/all"
	"github.com/idsync/idsync/reconcile"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		wantType     string // "" means: passed through, retried by the policy
		nonRetryable bool
		retryAfter   time.Duration
	}{
		{name: "rate limited", err: fmt.Errorf("scim: create user: %w", &connectors.RateLimitError{RetryAfter: 42 * time.Second, Err: errors.New("429")}),
			wantType: ErrTypeRateLimited, retryAfter: 42 * time.Second},
		{name: "credentials refused", err: fmt.Errorf("ldap: bind: %w", connectors.ErrUnauthorized),
			wantType: ErrTypeUnauthorized, nonRetryable: true},
		{name: "guard", err: fmt.Errorf("resync users: %w", &reconcile.MassDeprovisionError{Kind: "users", Would: 50, Managed: 60, Allowed: 12}),
			wantType: ErrTypeMassDeprovision, nonRetryable: true},
		{name: "network", err: fmt.Errorf("ldap: dial: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}),
			wantType: ErrTypeNetwork},
		{name: "network under url", err: fmt.Errorf("scim: list users: %w", &url.Error{Op: "Get", URL: "https://app/Users", Err: &net.DNSError{Err: "no such host", Name: "app"}}),
			wantType: ErrTypeNetwork},
		{name: "timed out", err: fmt.Errorf("workday: get workers: %w", context.DeadlineExceeded), wantType: ErrTypeNetwork},
		{name: "unknown", err: errors.New("scim: 500 Internal Server Error")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			var app *temporal.ApplicationError
			if tt.wantType == "" {
				if got != tt.err {
					t.Fatalf("classify changed a transient error: %v", got)
				}
				return
			}
			if !errors.As(got, &app) {
				t.Fatalf("classify = %T %v, want an ApplicationError", got, got)
			}
			if app.Type() != tt.wantType || app.NonRetryable() != tt.nonRetryable || app.NextRetryDelay() != tt.retryAfter {
				t.Errorf("type %q nonRetryable %t delay %s; want %q %t %s",
					app.Type(), app.NonRetryable(), app.NextRetryDelay(), tt.wantType, tt.nonRetryable, tt.retryAfter)
			}
			if app.Message() != tt.err.Error() {
				t.Errorf("message %q, want %q", app.Error(), tt.err.Error())
			}
		})
	}
}

// connections answers Connection from a map, or with err.
type connections struct {
	byName map[string]connectors.Connection
	err    error
}

func (c connections) Connection(_ context.Context, name string) (connectors.Connection, error) {
	if c.err != nil {
		return connectors.Connection{}, c.err
	}
	conn, ok := c.byName[name]
	if !ok {
		return conn, fmt.Errorf("connection %q: %w", name, connectors.ErrNotFound)
	}
	return conn, nil
}

// TestOpenErrors: a missing connection or invalid settings are final; a
// connection lookup that timed out, or a server that refused the
// connection, is retried.
func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name      string
		conns     connections
		wantFinal bool
	}{
		{name: "missing connection", conns: connections{}, wantFinal: true},
		{name: "invalid settings", conns: connections{byName: map[string]connectors.Connection{
			"corp": {Name: "corp", Type: "ldap", Settings: []byte(`{"url":"http://nope"}`)}}}, wantFinal: true},
		{name: "unknown type", conns: connections{byName: map[string]connectors.Connection{
			"corp": {Name: "corp", Type: "ldapp", Settings: []byte(`{}`)}}}, wantFinal: true},
		{name: "lookup timed out", conns: connections{err: fmt.Errorf("connection %q: %w", "corp", context.DeadlineExceeded)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Activities{Connections: tt.conns, Registry: all.Registry(), Pool: &Pool{}}
			_, _, err := a.openSource(context.Background(), RuleSpec{Name: "r", SourceConnection: "corp"})
			if err == nil {
				t.Fatal("openSource succeeded")
			}
			var app *temporal.ApplicationError
			final := errors.As(err, &app) && app.NonRetryable()
			if final != tt.wantFinal {
				t.Errorf("openSource: %v: non-retryable %t, want %t", err, final, tt.wantFinal)
			}
		})
	}
}
