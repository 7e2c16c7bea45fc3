package activities

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// Error types, as workflows see them in ApplicationError.Type().
const (
	ErrTypeConfig          = "ConfigError"
	ErrTypeUnauthorized    = "Unauthorized"
	ErrTypeRateLimited     = "RateLimited"
	ErrTypeMassDeprovision = "MassDeprovisionGuard"
)

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
	}
	return err
}
