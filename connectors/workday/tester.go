package workday

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/idsync/idsync/connectors"
)

// Test implements connectors.Tester: one Get_Workers page of one worker,
// which checks the path, TLS, the ISU's credentials and its permission
// to read workers.
func (c *conn) Test(ctx context.Context) error {
	q := workersQuery{asOf: c.today(c.tenantNow()), count: 1, refsOnly: true}
	if _, err := c.call(ctx, "Get_Workers", q.body(c.cfg.Version, 1)); err != nil {
		return &connectors.TestError{Stage: stage(err), Err: err}
	}
	if c.reportURL != "" {
		if err := c.readReport(ctx, func([]record) error { return nil }); err != nil {
			return &connectors.TestError{Stage: stage(err), Err: fmt.Errorf("report: %w", err)}
		}
	}
	return nil
}

// stage says where a request failed.
func stage(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var f *Fault
	var h *HTTPError
	var rl *connectors.RateLimitError
	switch {
	case errors.Is(err, connectors.ErrUnauthorized):
		return connectors.StageAuth
	case errors.As(err, &rl):
		// Throttled or down for maintenance: reached, but not serving.
		return connectors.StageTCP
	case errors.As(err, &dnsErr):
		return connectors.StageDNS
	case errors.As(err, &certErr), errors.As(err, &recErr), strings.Contains(err.Error(), "tls:"):
		return connectors.StageTLS
	case errors.As(err, &opErr):
		return connectors.StageTCP
	case errors.As(err, &f), errors.As(err, &h):
		return connectors.StagePermissions
	}
	return connectors.StageTCP
}

// Describe implements connectors.Describer.
func (c *conn) Describe(ctx context.Context) ([]string, error) {
	q := workersQuery{asOf: c.today(c.tenantNow()), count: 1, refsOnly: true}
	rb, err := c.call(ctx, "Get_Workers", q.body(c.cfg.Version, 1))
	if err != nil {
		return nil, err
	}
	now := c.tenantNow()
	total := 0
	if rb.Body.GetWorkers != nil {
		total = rb.Body.GetWorkers.Results.Total
	}
	c.mu.Lock()
	offset := c.offset
	c.mu.Unlock()
	lines := []string{
		fmt.Sprintf("endpoint %s (tenant %s, Human_Resources %s), user %s", c.endpoint, c.cfg.Tenant, c.cfg.Version, c.isu),
		fmt.Sprintf("%d worker records (every record: rehires and conversions count twice)", total),
		fmt.Sprintf("today is %s in %s; tenant clock differs from ours by %s", c.today(now), c.cfg.TimeZone, offset),
		fmt.Sprintf("pre-hires appear %d days before their hire date; inactive workers %s", c.cfg.PreHireDays, map[bool]string{true: "listed, inactive", false: "left out"}[*c.cfg.IncludeInactive]),
		fmt.Sprintf("incremental: Updated window overlaps the last by %s (Workday's transaction log lags about 1h); page size %d", c.cfg.overlap, c.cfg.PageSize),
	}
	if len(c.cfg.Groups) > 0 {
		lines = append(lines, "groups: organizations of type "+strings.Join(c.cfg.Groups, ", "))
	} else {
		lines = append(lines, "groups: none")
	}
	if c.reportURL != "" {
		lines = append(lines, "full listings read the RaaS report "+c.cfg.Report)
	}
	lines = append(lines, "as a target: update-only (work email, work phone, username); never creates or deprovisions")
	return lines, nil
}
