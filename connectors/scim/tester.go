package scim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/idsync/idsync/connectors"
)

// serviceProviderConfig is the part of RFC 7643 §5 that Test looks at.
type serviceProviderConfig struct {
	Patch  struct{ Supported bool } `json:"patch"`
	Filter struct{ Supported bool } `json:"filter"`
}

// Test implements connectors.Tester. It resolves the host, connects, does
// the TLS handshake (when there is no proxy in the way), then reads
// /ServiceProviderConfig and one user. Its error is a *connectors.TestError
// naming the stage that failed.
func (c *scimConnector) Test(ctx context.Context) error {
	if err := c.testNetwork(ctx); err != nil {
		return err
	}
	var spc serviceProviderConfig
	err := c.do(ctx, http.MethodGet, "/ServiceProviderConfig", nil, nil, &spc)
	switch {
	case err == nil:
		if !spc.Filter.Supported {
			c.logger.WarnContext(ctx, "the service provider says it does not support filters: existing accounts cannot be matched")
		}
		if !spc.Patch.Supported {
			c.logger.WarnContext(ctx, "the service provider says it does not support PATCH: group memberships cannot be changed")
		}
	case isStatus(err, http.StatusUnauthorized):
		return &connectors.TestError{Stage: connectors.StageAuth, Err: fmt.Errorf("scim: %w", err)}
	case isStatus(err, http.StatusForbidden):
		return &connectors.TestError{Stage: connectors.StagePermissions, Err: fmt.Errorf("scim: %w", err)}
	case !isSCIMError(err):
		return &connectors.TestError{Stage: transportStage(err), Err: fmt.Errorf("scim: %w", err)}
	default:
		// Some providers have no discovery endpoints: /Users decides.
		c.logger.InfoContext(ctx, "no usable /ServiceProviderConfig", "error", err)
	}

	var page listResponse[scimUser]
	err = c.do(ctx, http.MethodGet, "/Users", url.Values{"count": {"1"}}, nil, &page)
	switch {
	case err == nil:
		return nil
	case isStatus(err, http.StatusUnauthorized):
		return &connectors.TestError{Stage: connectors.StageAuth, Err: fmt.Errorf("scim: %w", err)}
	case isStatus(err, http.StatusNotFound):
		return &connectors.TestError{Stage: connectors.StageConfig, Err: fmt.Errorf("scim: no /Users below baseUrl: %w", err)}
	case !isSCIMError(err):
		return &connectors.TestError{Stage: transportStage(err), Err: fmt.Errorf("scim: %w", err)}
	default:
		return &connectors.TestError{Stage: connectors.StagePermissions, Err: fmt.Errorf("scim: list users: %w", err)}
	}
}

// testNetwork checks DNS, TCP and TLS on their own, so that a failure
// names its stage. Behind a proxy these say nothing about the path to the
// server, so they are left to the HTTP requests.
func (c *scimConnector) testNetwork(ctx context.Context) error {
	u, err := url.Parse(c.baseURL)
	if err != nil {
		return &connectors.TestError{Stage: connectors.StageConfig, Err: fmt.Errorf("scim: baseUrl: %w", err)}
	}
	tr, _ := c.client.Transport.(*http.Transport)
	if tr != nil && tr.Proxy != nil {
		if p, err := tr.Proxy(&http.Request{URL: u}); err != nil || p != nil {
			return nil
		}
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if net.ParseIP(host) == nil {
		if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
			return &connectors.TestError{Stage: connectors.StageDNS, Err: fmt.Errorf("scim: resolve %s: %w", host, err)}
		}
	}
	d := net.Dialer{Timeout: c.client.Timeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return &connectors.TestError{Stage: connectors.StageTCP, Err: fmt.Errorf("scim: connect: %w", err)}
	}
	defer conn.Close()
	if u.Scheme != "https" {
		return nil
	}
	var cfg *tls.Config
	if tr != nil && tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return &connectors.TestError{Stage: connectors.StageTLS, Err: fmt.Errorf("scim: TLS handshake with %s: %w", host, err)}
	}
	return nil
}

// isSCIMError reports whether err is an HTTP answer from the server, as
// opposed to a failure to get one.
func isSCIMError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// transportStage names the stage of a failed HTTP exchange.
func transportStage(err error) string {
	var (
		dnsErr   *net.DNSError
		certErr  *tls.CertificateVerificationError
		authErr  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
	)
	switch {
	case errors.As(err, &dnsErr):
		return connectors.StageDNS
	case errors.As(err, &certErr), errors.As(err, &authErr), errors.As(err, &hostErr),
		errors.As(err, &recErr), errors.As(err, &alertErr):
		return connectors.StageTLS
	default:
		return connectors.StageTCP
	}
}
