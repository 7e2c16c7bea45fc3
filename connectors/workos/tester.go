package workos

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
)

// Test implements connectors.Tester: it reads one page of the directory's
// users (the key, its permissions and the directory id) and one page of
// events (the Events API). Its error is a *connectors.TestError.
func (c *workosConnector) Test(ctx context.Context) error {
	var pg list[directoryUser]
	q := url.Values{"directory": {c.cfg.Directory}, "limit": {"1"}}
	if err := c.client.get(ctx, "/directory_users", q, &pg); err != nil {
		if isStatus(err, http.StatusNotFound) {
			return &connectors.TestError{Stage: connectors.StageConfig,
				Err: fmt.Errorf("workos: directory %s not found for this API key's environment: %w", c.cfg.Directory, err)}
		}
		return &connectors.TestError{Stage: stage(err), Err: fmt.Errorf("workos: list users: %w", err)}
	}
	if _, err := c.eventPage(ctx, position{at: c.now().Add(-time.Minute)}); err != nil {
		return &connectors.TestError{Stage: stage(err), Err: fmt.Errorf("workos: list events: %w", err)}
	}
	return nil
}

// stage names the stage a failed request stopped at.
func stage(err error) string {
	var e *Error
	var rl *connectors.RateLimitError
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var op *net.OpError
	switch {
	case isStatus(err, http.StatusUnauthorized):
		return connectors.StageAuth
	case errors.As(err, &e), errors.As(err, &rl):
		return connectors.StagePermissions
	case errors.As(err, &dns):
		return connectors.StageDNS
	case errors.As(err, &cert), strings.Contains(err.Error(), "tls:"):
		return connectors.StageTLS
	case errors.As(err, &op):
		return connectors.StageTCP
	}
	return connectors.StageTCP
}

// Describe implements connectors.Describer.
func (c *workosConnector) Describe(context.Context) ([]string, error) {
	types := "every Directory Sync event type"
	if len(c.cfg.EventTypes) != len(EventTypes) {
		types = strings.Join(c.cfg.EventTypes, ", ")
	}
	return []string{
		fmt.Sprintf("API %s, directory %s, pages of %d", c.cfg.URL, c.cfg.Directory, c.cfg.PageSize),
		fmt.Sprintf("changes from the Events API (%s), at most %d events a poll; events kept %s",
			types, c.cfg.MaxBatchEvents, time.Duration(c.cfg.Retention)),
		fmt.Sprintf("/directory_users at most %g requests/s (WorkOS allows 4 per directory)", c.cfg.UsersPerSecond),
		"webhooks (WorkOS-Signature) make rules poll at once; changes arrive through the Events API",
	}, nil
}
