package google

import (
	"context"
	"fmt"

	"github.com/idsync/idsync/connectors"
)

var (
	_ connectors.Describer = source{}
	_ connectors.Describer = reportsSource{}
)

// Describe implements connectors.Describer for `connection test`: who the
// connection acts as, and how its polls find changes, which costs the
// most.
func (s source) Describe(context.Context) ([]string, error) {
	return append(s.describeBase(),
		"changes: snapshot: each poll lists every user and group and compares a digest: ⌈users/"+fmt.Sprint(s.cfg.PageSize)+"⌉ + ⌈groups/200⌉ + one member listing per group requests"), nil
}

func (s source) describeBase() []string {
	scopes := "read-write directory scopes"
	if s.cfg.ReadOnly {
		scopes = "read-only directory scopes"
	}
	return []string{
		fmt.Sprintf("domain %s, customer %s, acting as %s (%s)", s.cfg.Domain, s.cfg.Customer, s.cfg.Subject, scopes),
		fmt.Sprintf("request budget %d a minute; rate limits and 5xx backed off up to %d times", s.cfg.RequestsPerMinute, s.cfg.MaxRetries),
	}
}

// Describe implements connectors.Describer: it also reads one entry of the
// admin activity report, which polls need, and says what happens when
// the connection may not read it (the test itself checks the directory
// only: a source connection works without reports, at a higher cost).
func (s reportsSource) Describe(ctx context.Context) ([]string, error) {
	lines := s.describeBase()
	err := s.call(ctx, "read one admin activity (connection test)", func() error {
		_, err := s.rs.Activities.List("all", "admin").MaxResults(1).Fields("items(id)").Context(ctx).Do()
		return err
	})
	switch {
	case err == nil:
		return append(lines, "changes: reports: the admin activity report answers; a poll with nothing changed costs 1 request"), nil
	case refused(err):
		return append(lines, "changes: reports REFUSED ("+err.Error()+"): polls fall back to listing everything; grant the service account's client id the scope "+
			ReportsScope+" and give the subject the Reports privilege, or set changes to snapshot"), nil
	default:
		return lines, err
	}
}
