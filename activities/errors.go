package activities

import (
	"context"
	"errors"
	"fmt"
	"net"

	"go.temporal.io/sdk/temporal"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// Error types, as workflows see them in ApplicationError.Type().
const (
	ErrTypeConfig          = "ConfigError"
	ErrTypeUnauthorized    = "Unauthorized"
	ErrTypeRateLimited     = "RateLimited"
	ErrTypeNetwork         = "Network"
	ErrTypeMassDeprovision = "MassDeprovisionGuard"
)

// openError classifies a failure to open a rule's connection: a missing
// connection or invalid settings will not mend by retrying; a lookup that
// timed out or a server that did not answer may.
func openError(role string, err error) error {
	err = fmt.Errorf("%s: %w", role, err)
	if errors.Is(err, connectors.ErrNotFound) || errors.Is(err, connectors.ErrInvalidConfig) {
		return configError(err)
	}
	return classify(err)
}

func configError(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeConfig, nil)
}

// classify turns an error into one Temporal retries, or not, as it should.
// The cause is not attached: connector errors are already flattened into
// the message, and a cause's details could carry more than we want in
// history.
func classify(err error) error {
	var rl *connectors.RateLimitError
	var md *reconcile.MassDeprovisionError
	switch {
	case errors.As(err, &md):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeMassDeprovision, nil)
	case errors.As(err, &rl):
		// A 429 is never a failure of the sync: wait as long as asked.
		return temporal.NewApplicationErrorWithOptions(err.Error(), ErrTypeRateLimited,
			temporal.ApplicationErrorOptions{NextRetryDelay: rl.RetryAfter})
	case errors.Is(err, connectors.ErrUnauthorized):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeUnauthorized, nil)
	case isNetwork(err):
		// Retried as before; typed so that the rule's status can say the
		// store did not answer, rather than that it refused.
		return temporal.NewApplicationError(err.Error(), ErrTypeNetwork)
	}
	return err
}

// isNetwork says whether err is a store that did not answer: refused,
// reset, unresolvable or timed out.
func isNetwork(err error) bool {
	// Not any net.Error: *url.Error is one whatever it wraps (a refused
	// certificate, a redirect policy).
	var op *net.OpError
	var dns *net.DNSError
	var ne net.Error
	return errors.As(err, &op) || errors.As(err, &dns) ||
		(errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, context.DeadlineExceeded)
}
