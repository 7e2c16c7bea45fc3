// Package scim implements a target connector for SCIM 2.0 service providers
// (RFC 7643 schema, RFC 7644 protocol): users with the enterprise extension,
// groups and group memberships.
//
// Example connection settings, one per kind of authentication:
//
//	{
//	  "baseUrl": "https://api.example.com/scim/v2",
//	  "token": "env:EXAMPLE_SCIM_TOKEN",
//	  "deprovision": "disable",
//	  "pageSize": 100,
//	  "membersPerRequest": 100,
//	  "timeout": "30s"
//	}
//
//	{
//	  "baseUrl": "https://scim.example.com/v2",
//	  "auth": "oauth2",
//	  "tokenUrl": "https://login.example.com/oauth2/token",
//	  "clientId": "idsync",
//	  "clientSecret": "file:/run/secrets/scim-client-secret",
//	  "scopes": ["scim.read", "scim.write"],
//	  "authStyle": "header"
//	}
//
//	{
//	  "baseUrl": "https://legacy.example.com/scim/v2",
//	  "auth": "basic",
//	  "username": "idsync",
//	  "password": "env:LEGACY_SCIM_PASSWORD",
//	  "patch": false,
//	  "filter": "auto",
//	  "etag": true,
//	  "maxResults": 50
//	}
//
// Secrets (token, clientSecret, password) are references, env:NAME or
// file:PATH, resolved by the worker when it opens the connection; a
// literal secret is refused. No secret appears in an error or a log.
//
// On first use the connector reads /ServiceProviderConfig (RFC 7643 §5) to
// learn whether the service provider does PATCH, filters (and its
// maxResults), ETags and bulk. A connection may override what a server
// advertises wrongly with patch, filter and etag (auto, true or false)
// and maxResults. A missing or unreadable /ServiceProviderConfig means
// PATCH and filters are assumed, ETags are not. Without PATCH, group
// changes and deprovisioning read the resource and write it back (PUT);
// without filters, lookups page through every resource and match here.
// A filter form the server refuses (400 invalidFilter or invalidValue, or
// a bare 400) is remembered for the connector's life: an email lookup
// tries emails.value eq, emails[value eq …], then emails eq; when every
// form of an attribute is refused, the lookup pages through at most
// maxScan resources (10,000), past which it fails with
// connectors.ErrLookupUnsupported. Describe lists the refused forms.
// With ETags, every PUT carries If-Match with the version read, and a 412
// (changed meanwhile) reads again and retries once. Bulk is recorded
// (Describe shows it) but not used.
//
// The canonical user maps to the SCIM User as follows: externalId, userName,
// name.givenName, name.familyName, displayName, active, title, the primary
// (else "work", else first) emails and phoneNumbers entry, and the
// enterprise extension's employeeNumber, department and manager.value. The
// canonical manager is the manager's ExternalID; SCIM's manager.value is the
// manager's target id, so the connector translates between the two (a
// manager not yet on the target is left unset until this connection
// creates it, or a later sync). Other
// keys of User.Attributes are not written. An update reads the user and
// writes it back whole (PUT), so the attributes idsync does not map are
// kept; deprovisioning and group changes use PATCH where the server has it.
package scim

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/httpx"
)

// Deprovision modes.
const (
	DeprovisionDisable = "disable"
	DeprovisionDelete  = "delete"
)

// Defaults for Config.
const (
	DefaultPageSize          = 100
	DefaultMembersPerRequest = 100
	DefaultTimeout           = 30 * time.Second
)

// Config is a SCIM target connection's settings.
type Config struct {
	// BaseURL is the service provider's SCIM base URL, the one /Users and
	// /Groups are below, e.g. https://api.example.com/scim/v2. Required;
	// http or https, without credentials, query or fragment.
	BaseURL string `json:"baseUrl"`

	// Auth is how requests authenticate: "bearer" (the default) sends
	// Token; "oauth2" gets tokens by the client credentials grant from
	// TokenURL; "basic" sends Username and Password.
	Auth string `json:"auth,omitempty"`
	// Token is a reference to the bearer token, env:NAME or file:PATH;
	// never the token itself. Required for auth bearer.
	Token string `json:"token,omitempty" secret:"ref"`
	// TokenURL is the OAuth 2.0 token endpoint. Required for auth oauth2.
	TokenURL string `json:"tokenUrl,omitempty"`
	// ClientID is the OAuth 2.0 client id. Required for auth oauth2.
	ClientID string `json:"clientId,omitempty"`
	// ClientSecret is a reference to the OAuth 2.0 client secret.
	// Required for auth oauth2.
	ClientSecret string `json:"clientSecret,omitempty" secret:"ref"`
	// Scopes are the OAuth 2.0 scopes asked for: a list, or one string
	// of names separated by spaces or commas.
	Scopes StringList `json:"scopes,omitempty"`
	// AuthStyle is how the client id and secret reach the token
	// endpoint: "header" (HTTP basic), "params" (form fields), or unset to
	// try the header first and remember what works.
	AuthStyle string `json:"authStyle,omitempty"`
	// TokenParams are extra form fields of the token request, e.g.
	// {"audience": "…"}; grant_type may be overridden for providers
	// with their own grant. Not for secrets.
	TokenParams map[string]string `json:"tokenParams,omitempty"`
	// Username is the user name for auth basic. Required for auth basic.
	Username string `json:"username,omitempty"`
	// Password is a reference to the password for auth basic. Required
	// for auth basic.
	Password string `json:"password,omitempty" secret:"ref"`

	// Patch, Filter and ETag override what /ServiceProviderConfig
	// advertises: "auto" (the default) believes it, true or false
	// decides.
	Patch  Toggle `json:"patch,omitempty"`
	Filter Toggle `json:"filter,omitempty"`
	ETag   Toggle `json:"etag,omitempty"`
	// MaxResults caps the resources asked for in one list request, over
	// what the server advertises (filter.maxResults); 0 believes it.
	MaxResults int `json:"maxResults,omitempty"`

	// Deprovision is what removing a user does: "disable" (the default)
	// sets active to false; "delete" deletes the user.
	Deprovision string `json:"deprovision,omitempty"`
	// PageSize is the count asked for in each list request (default 100).
	// Servers may return fewer; paging copes with that.
	PageSize int `json:"pageSize,omitempty"`
	// MembersPerRequest is the most members one PATCH adds or removes
	// (default 100).
	MembersPerRequest int `json:"membersPerRequest,omitempty"`
	// Timeout bounds each HTTP request, as a Go duration ("30s", the
	// default).
	Timeout string `json:"timeout,omitempty"`
	// MaxScan is the most resources a lookup pages through, comparing
	// here, when the server does not filter or refuses every filter form
	// of the attribute (default 10,000). Past it the lookup fails with
	// connectors.ErrLookupUnsupported, and reconciliation matches by the
	// next attribute.
	MaxScan int `json:"maxScan,omitempty"`

	// RateLimit overrides the connection type's request budget, which
	// every activity of a worker writing to this connection shares.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// MaxRetryWait is the longest Retry-After a request waits for before
	// it is sent again ("1m", the default); a longer one, or any with
	// "0s", fails the activity, which Temporal retries after that delay.
	MaxRetryWait string `json:"maxRetryWait,omitempty"`

	profile *Profile // the vendor's, or nil for plain SCIM
	// vendor holds the settings of the profile's own (Profile.Settings),
	// by key.
	vendor       map[string]string
	budget       httpx.Limit
	maxRetryWait time.Duration
}

// RateLimit is a request budget: requests (and, apart, writes) per period.
type RateLimit struct {
	Requests int    `json:"requests,omitempty"`
	Writes   int    `json:"writes,omitempty"`
	Per      string `json:"per,omitempty"` // a Go duration; default "1m"
	Burst    int    `json:"burst,omitempty"`
}

var _ connectors.Config = (*Config)(nil)

// Open implements connectors.Config: it validates the settings, resolves
// the secrets and returns the connector. It sends no request; the first
// operation, Test or Describe does.
func (c *Config) Open(ctx context.Context, logger *slog.Logger) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("scim: %w", err)
	}
	timeout, _ := time.ParseDuration(c.Timeout) // checked by Validate
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// The engine writes from several goroutines (a rule's concurrency, 4
	// by default, up to 64): keep that many connections alive rather than
	// the default 2, which makes every other request dial anew.
	transport.MaxIdleConnsPerHost = 64
	// SCIM requests and token requests share the connection pool but not
	// the client, so that what wraps the SCIM transport (a request
	// budget) leaves the token endpoint alone.
	client := &http.Client{Transport: budgeted(transport, httpx.BudgetFor(ctx, c.budget), c.maxRetryWait), Timeout: timeout}
	tokenClient := &http.Client{Transport: transport, Timeout: timeout}
	auth, err := c.openAuth(ctx, tokenClient)
	if err != nil {
		return nil, fmt.Errorf("scim: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	baseURL := strings.TrimRight(c.BaseURL, "/")
	return &scimConnector{
		baseURL:           baseURL,
		auth:              auth,
		client:            client,
		transport:         transport,
		deprovision:       c.Deprovision,
		pageSize:          c.PageSize,
		membersPerRequest: c.MembersPerRequest,
		maxScan:           c.MaxScan,
		discovering:       make(chan struct{}, 1),
		overrides:         overrides{patch: c.Patch, filter: c.Filter, etag: c.ETag, maxResults: c.MaxResults},
		profile:           c.profile,
		logger:            logger.With(slog.Group("scim", "base_url", baseURL, "auth", c.Auth)),
	}, nil
}

// openAuth resolves the secrets of the configured kind of
// authentication; client is for token requests. Errors name the setting
// and the reference, never the value.
func (c *Config) openAuth(ctx context.Context, client *http.Client) (authenticator, error) {
	resolve := func(name, ref string) (string, error) {
		v, err := connectors.ResolveSecret(ref)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		if v == "" {
			return "", fmt.Errorf("%s: secret reference %q resolves to an empty value", name, ref)
		}
		return v, nil
	}
	switch c.Auth {
	case AuthOAuth2:
		secret, err := resolve("clientSecret", c.ClientSecret)
		if err != nil {
			return nil, err
		}
		cc := &clientcredentials.Config{
			ClientID:     c.ClientID,
			ClientSecret: secret,
			TokenURL:     c.TokenURL,
			Scopes:       c.Scopes,
		}
		switch c.AuthStyle {
		case AuthStyleHeader:
			cc.AuthStyle = oauth2.AuthStyleInHeader
		case AuthStyleParams:
			cc.AuthStyle = oauth2.AuthStyleInParams
		}
		if len(c.TokenParams) > 0 {
			cc.EndpointParams = url.Values{}
			for k, v := range c.TokenParams {
				cc.EndpointParams.Set(k, v)
			}
		}
		return newOAuthAuth(ctx, cc, client), nil
	case AuthBasic:
		password, err := resolve("password", c.Password)
		if err != nil {
			return nil, err
		}
		return &basicAuth{username: c.Username, password: password}, nil
	default:
		token, err := resolve("token", c.Token)
		if err != nil {
			return nil, err
		}
		return &bearerAuth{token: token}, nil
	}
}

// scimConnector is an open SCIM target.
type scimConnector struct {
	baseURL           string        // without a trailing slash
	auth              authenticator // holds the secrets
	client            *http.Client
	transport         *http.Transport // under client, shared with the token client
	deprovision       string
	pageSize          int
	membersPerRequest int
	maxScan           int
	overrides         overrides
	profile           *Profile // nil for plain SCIM
	logger            *slog.Logger
	ids               idCache // target id <-> ExternalID, for managers
	pending           pendingManagers
	refusals          refusals

	// discovering is held (one token) while /ServiceProviderConfig is
	// read, so that one request reads it and the others wait, each only
	// as long as its own ctx lets it; discoverMu guards discovered.
	discovering chan struct{}
	discoverMu  sync.Mutex
	discovered  *features // nil until discovery has run
}

var (
	_ connectors.Target      = (*scimConnector)(nil)
	_ connectors.GroupTarget = (*scimConnector)(nil)
	_ connectors.Tester      = (*scimConnector)(nil)
	_ connectors.Describer   = (*scimConnector)(nil)
)

// Close implements connectors.Connector.
func (c *scimConnector) Close() error {
	c.client.CloseIdleConnections()
	c.transport.CloseIdleConnections()
	return nil
}
