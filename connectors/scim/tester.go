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

// Test implements connectors.Tester. It resolves the host, connects, does
// the TLS handshake (when there is no proxy in the way), gets an OAuth 2.0
// token (with auth oauth2), runs discovery (/ServiceProviderConfig) and
// reads one user. Its error is a *connectors.TestError naming the stage
// that failed. Describe then says what was discovered.
func (c *scimConnector) Test(ctx context.Context) error {
	if err := c.testNetwork(ctx); err != nil {
		return err
	}
	if _, err := c.features(ctx); err != nil {
		return &connectors.TestError{Stage: failedStage(err), Err: fmt.Errorf("scim: %w", err)}
	}
	var page listResponse[scimUser]
	err := c.do(ctx, http.MethodGet, "/Users", url.Values{"count": {"1"}}, nil, &page)
	switch {
	case err == nil:
		return nil
	case isStatus(err, http.StatusNotFound):
		return &connectors.TestError{Stage: connectors.StageConfig, Err: fmt.Errorf("scim: no /Users below baseUrl: %w", err)}
	default:
		return &connectors.TestError{Stage: failedStage(err), Err: fmt.Errorf("scim: list users: %w", err)}
	}
}

// failedStage names the stage of a failed request: auth for a 401 or a
// token that could not be had, permissions for any other answer from the
// server, a network stage when no answer came.
func failedStage(err error) string {
	var te *TokenError
	var me *MalformedError
	switch {
	case errors.As(err, &te), isStatus(err, http.StatusUnauthorized):
		return connectors.StageAuth
	case isSCIMError(err), errors.As(err, &me):
		return connectors.StagePermissions
	}
	return transportStage(err)
}

// testNetwork checks DNS, TCP and TLS on their own, so that a failure
// names its stage. Behind a proxy these say nothing about the path to the
// server, so they are left to the HTTP requests.
func (c *scimConnector) testNetwork(ctx context.Context) error {
	u, err := url.Parse(c.baseURL)
	if err != nil {
		return &connectors.TestError{Stage: connectors.StageConfig, Err: fmt.Errorf("scim: baseUrl: %w", err)}
	}
	tr := c.transport
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
