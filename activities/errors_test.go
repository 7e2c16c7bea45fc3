package activities

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/idsync/idsync/connectors"
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
		{name: "network", err: errors.New("dial tcp: connection refused")},
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
