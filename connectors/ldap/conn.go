package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/connectors"
)

// newTLSConfig returns the TLS settings, or nil when the connection is
// plain ldap:// without StartTLS.
func (c *ldapConnector) newTLSConfig() (*tls.Config, error) {
	if c.url.Scheme != "ldaps" && !c.cfg.StartTLS {
		return nil, nil
	}
	tc := &tls.Config{
		ServerName:         c.url.Hostname(),
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: c.cfg.InsecureSkipVerify, //nolint:gosec // opt-in, documented as discouraged
	}
	if c.cfg.CAFile != "" {
		pem, err := os.ReadFile(c.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ldap: caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ldap: caFile %s: no PEM certificate in it", c.cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.cfg.InsecureSkipVerify {
		c.logger.Warn("TLS certificate verification is off (insecureSkipVerify)")
	}
	return tc, nil
}

// hostPort is the address to dial, with the scheme's default port.
func (c *ldapConnector) hostPort() string {
	port := c.url.Port()
	if port == "" {
		port = ldap.DefaultLdapPort
		if c.url.Scheme == "ldaps" {
			port = ldap.DefaultLdapsPort
		}
	}
	return net.JoinHostPort(c.url.Hostname(), port)
}

// connect dials, sets up TLS and binds. Its error is a
// *connectors.TestError naming the stage that failed.
func (c *ldapConnector) connect(parent context.Context) (*ldap.Conn, error) {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	d := net.Dialer{Timeout: c.timeout}
	raw, err := d.DialContext(ctx, "tcp", c.hostPort())
	if err != nil {
		stage := connectors.StageTCP
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			stage = connectors.StageDNS
		}
		return nil, &connectors.TestError{Stage: stage, Err: fmt.Errorf("connect to %s: %w", c.hostPort(), deadlineErr(parent, ctx, c.timeout, err))}
	}
	if c.url.Scheme == "ldaps" {
		tconn := tls.Client(raw, c.tlsConfig)
		if err := tconn.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, &connectors.TestError{Stage: connectors.StageTLS, Err: fmt.Errorf("TLS handshake with %s: %w", c.hostPort(), deadlineErr(parent, ctx, c.timeout, err))}
		}
		raw = tconn
	}
	// No conn.SetTimeout: go-ldap applies it to a whole request and, when
	// the reader is slow, drops response packets after it silently. Each
	// request gets a deadline from do instead.
	conn := ldap.NewConn(raw, c.url.Scheme == "ldaps")
	conn.Start()
	// go-ldap's requests take no context: closing the connection is how a
	// cancelled ctx interrupts them.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if c.cfg.StartTLS {
		if err := conn.StartTLS(c.tlsConfig); err != nil {
			conn.Close()
			return nil, &connectors.TestError{Stage: connectors.StageTLS, Err: fmt.Errorf("StartTLS with %s: %w", c.hostPort(), deadlineErr(parent, ctx, c.timeout, err))}
		}
	}
	err = c.bind(conn)
	if !stop() {
		// ctx ended, closing conn, however the bind went.
		err = errOr(err, ctx.Err())
	}
	if err != nil {
		conn.Close()
		return nil, &connectors.TestError{Stage: connectors.StageAuth, Err: deadlineErr(parent, ctx, c.timeout, err)}
	}
	return conn, nil
}

func (c *ldapConnector) bind(conn *ldap.Conn) error {
	if c.cfg.Anonymous {
		if err := conn.UnauthenticatedBind(""); err != nil {
			return fmt.Errorf("anonymous bind: %w", classify(err))
		}
		return nil
	}
	if err := conn.Bind(c.cfg.BindDN, c.password); err != nil {
		return fmt.Errorf("bind as %q: %w", c.cfg.BindDN, classify(err))
	}
	return nil
}

// acquire returns a bound connection: an idle one that is still open
// (reused is true), else a new one. Pass it back to release.
func (c *ldapConnector) acquire(ctx context.Context) (conn *ldap.Conn, reused bool, err error) {
	var stale []*ldap.Conn
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, errors.New("ldap: connector is closed")
	}
	// The most recently used first: the likeliest to be still open.
	for len(c.idle) > 0 && conn == nil {
		last := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if last.IsClosing() {
			stale = append(stale, last)
		} else {
			conn = last
		}
	}
	c.mu.Unlock()
	for _, s := range stale {
		s.Close()
	}
	if conn != nil {
		return conn, true, nil
	}
	conn, err = c.dial(ctx)
	return conn, false, err
}

// dial returns a new bound connection.
func (c *ldapConnector) dial(ctx context.Context) (*ldap.Conn, error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("ldap: %w", err)
	}
	return conn, nil
}

// release keeps conn for a later operation if the one that used it
// succeeded, up to maxIdleConns; after any error the connection is closed,
// since it may be broken or hold an unfinished paged search.
func (c *ldapConnector) release(conn *ldap.Conn, opErr error) {
	if opErr == nil && !conn.IsClosing() {
		c.mu.Lock()
		if len(c.idle) < maxIdleConns && !c.closed {
			c.idle, conn = append(c.idle, conn), nil
		}
		c.mu.Unlock()
	}
	if conn != nil {
		conn.Close()
	}
}

// withConn runs fn with a bound connection. fn must only read: it may run
// twice (see withConnRetry).
func (c *ldapConnector) withConn(ctx context.Context, fn func(*ldap.Conn) error) error {
	return c.withConnRetry(ctx, nil, fn)
}

// withConnRetry runs fn, which only reads, with a bound connection. A
// connector lives for hours in the worker's pool, and a connection that
// waited idle may have been closed by the server (an idle timeout, a
// restart) or broken on the way (a NAT or firewall that forgot it) without
// this end knowing: the first request on it fails. So when fn fails on a
// reused connection because the connection was lost, fn runs once more on a
// newly dialled one; a read is safe to repeat. canRetry, when not nil, says
// whether fn may still run again: a listing that has passed entries to its
// caller's callback may not, or they would be passed twice.
func (c *ldapConnector) withConnRetry(ctx context.Context, canRetry func() bool, fn func(*ldap.Conn) error) error {
	conn, reused, err := c.acquire(ctx)
	if err != nil {
		return err
	}
	err = fn(conn)
	lost := err != nil && lostConnection(ctx, conn, err)
	c.release(conn, err)
	if !lost || !reused || (canRetry != nil && !canRetry()) {
		return err
	}
	c.logger.Info("an idle connection to the server was lost; retrying on a new connection", "error", err)
	if conn, err = c.dial(ctx); err != nil {
		return err
	}
	err = fn(conn)
	c.release(conn, err)
	return err
}

// lostConnection reports whether fn's error err on conn means the
// connection broke, rather than the server refusing the request, ctx
// ending or the server not answering in time (do closes the connection
// then: repeating the request would double the wait). go-ldap reports a
// broken connection either as ErrorNetwork or, for a request in flight
// when the reader fails, as the read error itself, after closing conn.
func lostConnection(ctx context.Context, conn *ldap.Conn, err error) bool {
	var na *noAnswerError
	if ctx.Err() != nil || errors.As(err, &na) {
		return false
	}
	return ldap.IsErrorWithCode(err, ldap.ErrorNetwork) || conn.IsClosing()
}

// do runs one request on conn with a deadline of d: go-ldap's requests take
// no context, so when ctx ends or d passes, do closes the connection, which
// ends the request.
func do(ctx context.Context, conn *ldap.Conn, d time.Duration, fn func(ctx context.Context) error) error {
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	stop := context.AfterFunc(rctx, func() { conn.Close() })
	err := fn(rctx)
	if stop() {
		return err
	}
	// rctx ended and closed the connection: say why.
	return deadlineErr(ctx, rctx, d, errOr(err, rctx.Err()))
}

// deadlineErr explains err when ctx, derived from parent with a timeout of
// d, has ended: parent's end, or no answer within d.
func deadlineErr(parent, ctx context.Context, d time.Duration, err error) error {
	switch {
	case err == nil:
		return nil
	case parent.Err() != nil:
		return fmt.Errorf("%w (%v)", parent.Err(), err)
	case ctx.Err() != nil:
		return &noAnswerError{d: d, err: err}
	}
	return err
}

// noAnswerError is a request that the server did not answer within the
// timeout setting; do closed the connection to end it.
type noAnswerError struct {
	d   time.Duration
	err error
}

func (e *noAnswerError) Error() string {
	return fmt.Sprintf("no answer within %s (the timeout setting): %v", e.d, e.err)
}

func (e *noAnswerError) Unwrap() error { return e.err }

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// classify adds what an LDAP result code means for the caller: refused
// credentials and permissions wrap connectors.ErrUnauthorized, which no
// retry will cure.
func classify(err error) error {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return err
	}
	switch le.ResultCode {
	case ldap.LDAPResultInvalidCredentials:
		return fmt.Errorf("%w: invalid credentials: %w", connectors.ErrUnauthorized, err)
	case ldap.LDAPResultInappropriateAuthentication, ldap.LDAPResultStrongAuthRequired, ldap.LDAPResultConfidentialityRequired:
		return fmt.Errorf("%w: the server refuses this kind of bind: %w", connectors.ErrUnauthorized, err)
	case ldap.LDAPResultInsufficientAccessRights:
		return fmt.Errorf("%w: insufficient access: %w", connectors.ErrUnauthorized, err)
	case ldap.LDAPResultNoSuchObject:
		return fmt.Errorf("no such object (check the base DN, and that the bind may read it): %w", err)
	case ldap.LDAPResultSizeLimitExceeded, ldap.LDAPResultAdminLimitExceeded:
		return fmt.Errorf("the server's size limit for this bind cut the search short; raise it (OpenLDAP: limits dn.exact=<bindDn> size=unlimited): %w", err)
	case ldap.LDAPResultTimeLimitExceeded:
		return fmt.Errorf("the server's time limit for this bind cut the search short: %w", err)
	case ldap.ErrorNetwork:
		return fmt.Errorf("connection lost: %w", err)
	}
	return err
}

// Test checks the connection stage by stage: DNS, TCP, TLS, bind, then a
// base-scope read of the user and group base DNs. Its error is a
// *connectors.TestError.
func (c *ldapConnector) Test(ctx context.Context) error {
	if host := c.url.Hostname(); net.ParseIP(host) == nil {
		lctx, cancel := context.WithTimeout(ctx, c.timeout)
		_, err := net.DefaultResolver.LookupHost(lctx, host)
		cancel()
		if err != nil {
			return &connectors.TestError{Stage: connectors.StageDNS, Err: fmt.Errorf("look up %s: %w", host, err)}
		}
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	bases := []string{c.cfg.UserBaseDN}
	if c.cfg.GroupBaseDN != c.cfg.UserBaseDN {
		bases = append(bases, c.cfg.GroupBaseDN)
	}
	for _, base := range bases {
		req := ldap.NewSearchRequest(base, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{"1.1"}, nil)
		err := do(ctx, conn, c.timeout, func(context.Context) error {
			_, err := conn.Search(req)
			return err
		})
		if err != nil {
			return &connectors.TestError{Stage: connectors.StagePermissions, Err: fmt.Errorf("read %q: %w", base, classify(err))}
		}
	}
	return nil
}
