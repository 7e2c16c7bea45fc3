package google

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	admin "google.golang.org/api/admin/directory/v1"
	reports "google.golang.org/api/admin/reports/v1"
	"google.golang.org/api/option"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/httpx"
)

// Type is the "google" connection type.
var Type = connectors.Type{
	New:     func() connectors.Config { return new(Config) },
	Summary: "Google Workspace (Admin SDK Directory API) users, groups and members, with a service account key and domain-wide delegation, as a source and as a target",
	Cadence: connectors.Cadence{PollInterval: 5 * time.Minute, BreakerReset: 30 * time.Minute, ResyncInterval: 24 * time.Hour},
	Flags: []connectors.Flag{
		{Name: "deprovision", Key: "deprovision", Help: "what deprovisioning a user does: disable (default) or delete"},
		{Name: "domain", Key: "domain", Help: "the Workspace domain of the accounts (userName@domain)"},
		{Name: "subject", Key: "subject", Help: "the admin the service account impersonates (domain-wide delegation)"},
		{Name: "credentials", Key: "credentials", Help: "secret reference (env:NAME or file:PATH) to the service account's JSON key"},
		{Name: "changes", Key: "changes", Help: "how a source poll finds changes: reports (default; the admin activity report, scope admin.reports.audit.readonly) or snapshot (a full listing's digest)"},
	},
	Examples: []string{
		"starter connection create workspace --type google --domain example.org --subject idsync-admin@example.org --credentials file:/run/secrets/idsync-sa.json",
		"starter connection create workspace --type google --domain example.org --subject idsync-admin@example.org --credentials env:GOOGLE_SA_KEY --deprovision delete --set pageSize=200",
		"starter connection create workspace-src --type google --domain example.org --subject idsync-admin@example.org --credentials file:/run/secrets/idsync-sa.json --set readOnly=true --changes snapshot",
	},
}

// Defaults and limits of the settings.
const (
	DefaultCustomer = "my_customer"
	DefaultPageSize = 500 // users.list's cap; groups and members cap at 200
	maxGroupPage    = 200
	// DefaultRequestsPerMinute is the Admin SDK API's default quota:
	// "2,400 queries per minute per user per Google Cloud project"
	// (403 userRateLimitExceeded, developers.google.com/workspace/admin/directory/v1/limits).
	DefaultRequestsPerMinute = 2400
)

// Scopes are the OAuth scopes a target connection asks for; the service
// account's client id must be granted them in the Admin console.
var Scopes = []string{admin.AdminDirectoryUserScope, admin.AdminDirectoryGroupScope, admin.AdminDirectoryGroupMemberScope}

// ReadOnlyScopes are the scopes of a connection that is only a source
// (readOnly).
var ReadOnlyScopes = []string{admin.AdminDirectoryUserReadonlyScope, admin.AdminDirectoryGroupReadonlyScope, admin.AdminDirectoryGroupMemberReadonlyScope}

// Config is a google connection's settings.
type Config struct {
	// Domain is the Workspace domain: a userName without @ becomes
	// userName@domain, and groups get addresses in it. Required.
	Domain string `json:"domain"`
	// Customer is the account's customer id; default my_customer (the
	// subject's own).
	Customer string `json:"customer,omitempty"`
	// Subject is the admin the service account impersonates. Required.
	Subject string `json:"subject"`
	// Credentials is a secret reference to the service account's JSON key.
	Credentials string `json:"credentials" secret:"ref"`
	// Endpoint is the API's root URL, default https://admin.googleapis.com/;
	// TokenURL overrides the key's token_uri. For proxies and fakes.
	// ReadOnly asks for the read-only scopes, for a connection that is
	// only read as a source (its writes are then refused).
	Endpoint string `json:"endpoint,omitempty"`
	TokenURL string `json:"tokenUrl,omitempty"`
	ReadOnly bool   `json:"readOnly,omitempty"`
	// Deprovision is what DeprovisionUser does: disable (suspend, the
	// default) or delete (undoable for about 20 days in the console).
	Deprovision string `json:"deprovision,omitempty"`
	// PageSize is maxResults of listings (users up to 500, groups and
	// members up to 200); default 500.
	PageSize int `json:"pageSize,omitempty"`
	// RetryWait is the first wait after a 403/429 rate-limit answer; each
	// next one doubles, up to MaxRetries retries, after which the call
	// fails with a connectors.RateLimitError. Default 1s and 5.
	RetryWait  string `json:"retryWait,omitempty"`
	MaxRetries int    `json:"maxRetries,omitempty"`
	// RequestsPerMinute is the connection's request budget (Directory
	// and Reports API requests, token requests apart), shared by every
	// connector opened on it in a worker; default 2400, the Admin SDK
	// API's default quota per user (the subject) per project.
	RequestsPerMinute int `json:"requestsPerMinute,omitempty"`
	// Changes is how a source poll finds what changed: "reports" (the
	// default: the Reports API's admin activity report, which needs the
	// scope admin.reports.audit.readonly; a connection refused it falls
	// back to snapshot) or "snapshot" (a digest of a full listing).
	Changes string `json:"changes,omitempty"`
	// ReportsLag is how far before where the last poll read up to a
	// poll reads the report again, for events Google reports late;
	// default 15m.
	ReportsLag string `json:"reportsLag,omitempty"`
	// MaxChanges bounds the users and groups one poll reads again; the
	// rest of a backlog comes in the next polls, at once. Default 200.
	MaxChanges int `json:"maxChanges,omitempty"`

	retryWait  time.Duration
	reportsLag time.Duration
}

// Validate implements connectors.Config.
func (c *Config) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v, why string }{
		{"domain", c.Domain, "the Workspace domain"},
		{"subject", c.Subject, "the admin to impersonate"},
		{"credentials", c.Credentials, "a secret reference to the service account key"},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s is required: %s", f.name, f.why))
		}
	}
	if c.Credentials != "" {
		if err := connectors.ValidateSecretRef(c.Credentials); err != nil {
			errs = append(errs, fmt.Errorf("credentials: %w", err))
		}
	}
	if c.Customer == "" {
		c.Customer = DefaultCustomer
	}
	switch c.Deprovision {
	case "", "suspend":
		c.Deprovision = connectors.DeprovisionDisable
	case connectors.DeprovisionDisable, connectors.DeprovisionDelete:
	default:
		errs = append(errs, fmt.Errorf("deprovision: %q is not disable or delete", c.Deprovision))
	}
	switch {
	case c.PageSize == 0:
		c.PageSize = DefaultPageSize
	case c.PageSize < 0 || c.PageSize > DefaultPageSize:
		errs = append(errs, fmt.Errorf("pageSize: %d is not in 1..500", c.PageSize))
	}
	c.retryWait = time.Second
	if c.RetryWait != "" {
		d, err := time.ParseDuration(c.RetryWait)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("retryWait: %q is not a duration", c.RetryWait))
		}
		c.retryWait = d
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 5
	} else if c.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("maxRetries: %d is negative", c.MaxRetries))
	}
	if c.RequestsPerMinute == 0 {
		c.RequestsPerMinute = DefaultRequestsPerMinute
	} else if c.RequestsPerMinute < 0 {
		errs = append(errs, fmt.Errorf("requestsPerMinute: %d is negative", c.RequestsPerMinute))
	}
	switch c.Changes {
	case "":
		c.Changes = ChangesReports
	case ChangesReports, ChangesSnapshot:
	default:
		errs = append(errs, fmt.Errorf("changes: %q is not reports or snapshot", c.Changes))
	}
	c.reportsLag = DefaultReportsLag
	if c.ReportsLag != "" {
		d, err := time.ParseDuration(c.ReportsLag)
		if err != nil || d < 0 || d > 7*24*time.Hour {
			errs = append(errs, fmt.Errorf("reportsLag: %q is not a duration of 0 to 168h", c.ReportsLag))
		}
		c.reportsLag = d
	}
	if c.MaxChanges == 0 {
		c.MaxChanges = DefaultMaxChanges
	} else if c.MaxChanges < 0 {
		errs = append(errs, fmt.Errorf("maxChanges: %d is negative", c.MaxChanges))
	}
	return errors.Join(errs...)
}

// Open implements connectors.Config: it resolves the key and builds the
// client; no request is sent (Test sends one).
func (c *Config) Open(ctx context.Context, logger *slog.Logger) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("google: %w", err)
	}
	key, err := connectors.ResolveSecret(c.Credentials)
	if err != nil {
		return nil, fmt.Errorf("google: credentials: %w", err)
	}
	scopes := Scopes
	if c.ReadOnly {
		scopes = ReadOnlyScopes
	}
	jwt, err := google.JWTConfigFromJSON([]byte(key), scopes...)
	if err != nil {
		// The error of the parser may quote the key: do not wrap it.
		return nil, fmt.Errorf("google: credentials %s: not a service account JSON key: %w", c.Credentials, connectors.ErrInvalidConfig)
	}
	jwt.Subject = c.Subject
	if c.TokenURL != "" {
		jwt.TokenURL = c.TokenURL
	}
	// The requests (not the token's) spend the connection's budget; a
	// 429 comes back at once (MaxWait 0) for call's back-off, which also
	// handles Google's 403 rate limits.
	budget := &httpx.Transport{Base: http.DefaultTransport, Budget: httpx.BudgetFor(ctx, httpx.Limit{Requests: c.RequestsPerMinute, Per: time.Minute})}
	// The clients' context outlives Open: token refreshes use it.
	tctx := context.WithoutCancel(ctx)
	client := func(scopes []string) *http.Client {
		j := *jwt
		j.Scopes = scopes
		return &http.Client{Transport: &oauth2.Transport{Source: j.TokenSource(tctx), Base: budget}}
	}
	hc := client(jwt.Scopes)
	opts := []option.ClientOption{option.WithHTTPClient(hc)}
	if c.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(strings.TrimSuffix(c.Endpoint, "/")+"/"))
	}
	svc, err := admin.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("google: client: %w", err)
	}
	g := &googleConnector{cfg: *c, svc: svc, hc: hc, logger: logger.With("domain", c.Domain),
		known: map[string]string{}, fresh: map[string]time.Time{}, alias: map[string]string{}}
	if c.Changes == ChangesSnapshot {
		return source{g}, nil
	}
	// The report is read with a token of its own scope: a grant that
	// asked for it beside the directory scopes would fail as a whole
	// (unauthorized_client) where the Admin console grants it not, and
	// the directory must work without it.
	ropts := []option.ClientOption{option.WithHTTPClient(client([]string{ReportsScope}))}
	if c.Endpoint != "" {
		ropts = append(ropts, option.WithEndpoint(strings.TrimSuffix(c.Endpoint, "/")+"/"))
	}
	rs, err := reports.NewService(ctx, ropts...)
	if err != nil {
		return nil, fmt.Errorf("google: reports client: %w", err)
	}
	return reportsSource{source: source{g}, rs: rs, st: &reportsState{retry: retryReports}}, nil
}

// googleConnector is an open google connection.
type googleConnector struct {
	cfg    Config
	svc    *admin.Service
	hc     *http.Client
	logger *slog.Logger

	mu    sync.Mutex
	known map[string]string    // ExternalID → id of users this connection created or updated
	fresh map[string]time.Time // id or address → when this connection created the user or group
	alias map[string]string    // id → the address it was created with
}

// settleTime is how long after an insert a 404 of the new object is taken
// for Google's propagation delay and retried.
const settleTime = 2 * time.Minute

// created notes that id (with the address email, if any) was just created.
func (g *googleConnector) created(id, email string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	for fid, at := range g.fresh {
		if now.Sub(at) > settleTime {
			delete(g.fresh, fid)
			delete(g.alias, fid)
		}
	}
	g.fresh[id] = now
	if email != "" {
		g.fresh[email] = now
		g.alias[id] = email
	}
}

// renamed drops the old address of a fresh user whose address changed:
// a 404 of it is no longer propagation.
func (g *googleConnector) renamed(id, email string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if old, ok := g.alias[id]; ok && old != email {
		delete(g.fresh, old)
		delete(g.alias, id)
	}
}

// isFresh reports whether one of ids was created within settleTime.
func (g *googleConnector) isFresh(ids ...string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ids {
		if at, ok := g.fresh[id]; ok && time.Since(at) < settleTime {
			return true
		}
	}
	return false
}

var (
	_ connectors.Target            = (*googleConnector)(nil)
	_ connectors.GroupTarget       = (*googleConnector)(nil)
	_ connectors.KnownUsers        = (*googleConnector)(nil)
	_ connectors.UserReader        = (*googleConnector)(nil)
	_ connectors.ModeDeprovisioner = (*googleConnector)(nil)
	_ connectors.MemberOf          = (*googleConnector)(nil)
	_ connectors.Tester            = (*googleConnector)(nil)
)

// Close implements connectors.Connector.
func (g *googleConnector) Close() error { return nil }

// Test implements connectors.Tester: it reads one page of one user.
func (g *googleConnector) Test(ctx context.Context) error {
	err := g.call(ctx, "list one user (connection test)", func() error {
		_, err := g.svc.Users.List().Customer(g.cfg.Customer).MaxResults(1).Fields("users(id)").Context(ctx).Do()
		return err
	})
	if err == nil {
		return nil
	}
	stage := connectors.StageTCP
	switch {
	case errors.Is(err, connectors.ErrUnauthorized):
		stage = connectors.StageAuth
	case errors.Is(err, connectors.ErrRejected):
		stage = connectors.StagePermissions
	}
	return &connectors.TestError{Stage: stage, Err: err}
}

// KnownUserID implements connectors.KnownUsers: users.list's externalId
// search can lag writes by up to a day, so what this connection wrote is
// found without it.
func (g *googleConnector) KnownUserID(externalID string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	id, ok := g.known[externalID]
	return id, ok
}

func (g *googleConnector) remember(externalID, id string) {
	if externalID == "" {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.known[externalID] = id
}

func (g *googleConnector) forget(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.fresh, id)
	delete(g.fresh, g.alias[id])
	delete(g.alias, id)
	for ext, kid := range g.known {
		if kid == id {
			delete(g.known, ext)
		}
	}
}
