// Package graph connects Microsoft Entra ID (Azure AD, Office 365)
// through Microsoft Graph v1.0, in plain net/http with the OAuth 2.0
// client credentials grant (golang.org/x/oauth2/clientcredentials), as a
// target (users, security or Microsoft 365 groups, members, managers)
// and as a source (full
// listing, and incremental through delta queries).
//
//	starter connection create entra --type graph --tenant contoso.onmicrosoft.com \
//	  --client-id 11111111-2222-3333-4444-555555555555 --client-secret env:GRAPH_SECRET \
//	  --set domain=contoso.com
//
// # Credentials
//
// A client secret (clientSecret), or a certificate credential
// (clientCertificate: a PEM with the certificate registered on the
// application and its unencrypted RSA key). With a certificate, each
// token request carries a new client assertion
// (https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials):
// a JWT signed PS256, its header naming the certificate by x5t#S256,
// aud the token URL, iss and sub the client id, a random jti, valid for
// five minutes. It is signed with the standard library: the connector
// only signs, and parses no token. Neither the secret nor the key
// appears in an error or a log.
//
// # Where the ExternalID is kept
//
// The ExternalID (in idsync an ownership string "<rule>/<id>", up to
// about 100 characters) is kept in a directory extension property,
// extension_{appId}_idsyncExternalId by default (setting
// externalIdAttribute), registered on the application for User and
// Group objects. Not employeeId: it holds at most 16 characters and is
// usually the HR number (idsync maps employeeNumber to it). Not
// onPremisesImmutableId: it is the sourceAnchor of hybrid identity and
// federation, and writing it to a synchronized or federated user breaks
// sign-in. Not onPremisesExtensionAttributes: users only, read-only for
// synchronized users, and filterable only as an advanced query
// (ConsistencyLevel: eventual), whose index lags writes. A directory
// extension holds 256 characters, exists on users and groups alike, and
// takes a plain $filter eq. It must exist before the first sync, made
// once with Application.ReadWrite.OwnedBy:
//
//	POST /v1.0/applications/{object id}/extensionProperties
//	{"name":"idsyncExternalId","dataType":"String","targetObjects":["User","Group"]}
//
// As a source, a user's or group's ExternalID is its object id, which
// never changes. A poll follows the deltaLinks of /users/delta and
// /groups/delta (the cursor holds both) and reads each changed object
// again (a delta item may carry only the changed properties): a poll
// costs one request per delta page plus one per changed user and two per
// changed group (the group and its members). A poll reads at most about
// maxChanges objects (whole delta pages); a longer backlog is cut there,
// the nextLink kept in the cursor, and the poll says More, so that the
// rule polls again at once. "@removed" is a deletion; a
// changed object that reads 404 is retried for replicationWait and then
// fails the poll, to be read again from the same cursor; 410
// syncStateNotFound or an unreadable cursor asks for a full resync.
//
// Graph's eq compares strings without regard to case; an ExternalID
// compares exactly, so lookups by it check the value again here.
//
// # Mapping
//
// userName is userPrincipalName, whose part before the @ Entra ID limits
// to A-Z a-z 0-9 ' . - _ ! # ^ ~ (no accents): a userName outside that
// is refused before it is sent (ErrRejected, saying which character), so
// map names with accents to ASCII in the rule. A userName without "@" gets "@"+domain,
// and a userPrincipalName in that domain reads back without it (so give
// userNames without the domain when domain is set). displayName is
// required by Graph: an empty one is written as the userPrincipalName,
// and a displayName equal to the userPrincipalName reads back empty.
// Attributes: title → jobTitle, department → department,
// employeeNumber → employeeId, phoneNumber → mobilePhone; manager (the
// manager's ExternalID) → the manager reference, written with PUT or
// DELETE /users/{id}/manager/$ref and read with the user through
// $expand=manager($select=id,{externalIdAttribute}), so that a full sync
// compares it and writes nothing when it is equal. A manager idsync does
// not manage (set by an administrator) reads as none and is never
// cleared. A manager not in Entra ID yet (the source lists a report
// before its manager) fails nothing: the report is written without it,
// the reference is made when this connection (kept open across runs by
// the worker's connection pool) creates or adopts the manager, and else
// by the next full sync, which reads the report without it. As a
// source, manager is the manager's object id. A new user
// gets a random password that must be changed at the first sign-in
// (sign-in is normally federated or by SSO; the password is never kept).
// Groups are security groups (mailEnabled false, securityEnabled true)
// with a mailNickname made from the name and a random suffix, or, with
// groupType microsoft365, Microsoft 365 groups (groupTypes ["Unified"],
// mailEnabled true) whose mailNickname, their mail alias, is the name
// (with the suffix only when another object has it). Made with
// application permissions and no owner, a Microsoft 365 group has no
// owner until an administrator names one.
//
// # Graph's pitfalls, and what the connector does
//
//   - Replication delay: right after a create, a read of the object or a
//     member reference to it can answer 404. A 404 naming an object this
//     connection created within replicationWait (default 30 s) is retried
//     with backoff, never reported as "deleted in the target".
//   - A member already in the group: 400 "One or more added object
//     references already exist" — done. Removing a non-member: 404 —
//     done. Members are added 20 to a PATCH (members@odata.bind), and
//     one by one when a PATCH is refused because one of them is there;
//     removed 20 to a JSON $batch, an inner 429 sent again alone.
//   - A 401 to a cached token (revoked early) fetches a new one, once.
//   - A delta query with $select reports an object only when a selected
//     property changed: the delta queries select every property read,
//     the manager and the members, not just the id.
//   - A 404 to a PUT of a manager just created is the replication delay
//     too, and waited out the same way.
//   - 429 and 503 are waited out for up to maxRetryWait (Retry-After),
//     then become connectors.RateLimitError. The default request budget
//     keeps under the identity service's documented limits for the
//     smallest tenants: 3,500 resource units per 10 s (a user listing
//     costs 2) and 3,000 writes per 150 s.
package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/httpx"
)

// Type is the "graph" connection type.
var Type = connectors.Type{
	New:     func() connectors.Config { return new(Config) },
	Summary: "Microsoft Entra ID (Azure AD, Office 365) through Microsoft Graph: users, security groups and members, as a target and as a source (delta queries)",
	Cadence: connectors.Cadence{PollInterval: 5 * time.Minute, BreakerReset: 30 * time.Minute, ResyncInterval: 24 * time.Hour},
	Flags: []connectors.Flag{
		{Name: "tenant", Key: "tenant", Help: "the Entra tenant: its id or a verified domain (required)"},
		{Name: "client-id", Key: "clientId", Help: "the OAuth client id"},
		{Name: "client-secret", Key: "clientSecret", Help: "secret reference to the OAuth client secret"},
		{Name: "client-certificate", Key: "clientCertificate", Help: "secret reference to a PEM with the application's certificate and RSA key (a certificate credential, instead of --client-secret)"},
		{Name: "deprovision", Key: "deprovision", Help: "what deprovisioning a user does: disable (default) or delete"},
	},
	Examples: []string{
		"starter connection create entra --type graph --tenant contoso.onmicrosoft.com --client-id 11111111-2222-3333-4444-555555555555 --client-secret env:GRAPH_SECRET --set domain=contoso.com",
		"starter connection create entra --type graph --tenant 9188040d-6c67-4c5b-b112-36a304b66dad --client-id $APP --client-secret file:/run/secrets/graph --deprovision delete --set externalIdAttribute=extension_0123456789abcdef0123456789abcdef_idsyncId",
		"starter connection create entra --type graph --tenant contoso.onmicrosoft.com --client-id $APP --client-certificate file:/run/secrets/graph.pem --set domain=contoso.com",
		"starter connection create entra-m365 --type graph --tenant contoso.onmicrosoft.com --client-id $APP --client-secret env:GRAPH_SECRET --set groupType=microsoft365",
	},
}

// Defaults.
const (
	DefaultAuthority       = "https://login.microsoftonline.com"
	DefaultGraphURL        = "https://graph.microsoft.com/v1.0"
	DefaultPageSize        = 999 // Graph's most for users and groups
	DefaultMaxRetryWait    = time.Minute
	DefaultReplicationWait = 30 * time.Second
	DefaultMaxChanges      = 1000 // changed objects one poll reads
	extensionName          = "idsyncExternalId"
)

// Values of Config.GroupType.
const (
	GroupSecurity     = "security"
	GroupMicrosoft365 = "microsoft365"
)

// DefaultLimit keeps under the identity service's limits for a tenant
// of fewer than 50 users (https://learn.microsoft.com/en-us/graph/throttling-limits,
// "Identity and access service limits"): 3,500 resource units per 10 s,
// a user listing costing 2, and 3,000 writes per 150 s (200 per 10 s).
var DefaultLimit = httpx.Limit{Requests: 1500, Writes: 200, Per: 10 * time.Second}

// Config is a graph connection's settings.
type Config struct {
	// Tenant is the directory (tenant) id or a verified domain; required.
	Tenant string `json:"tenant"`
	// ClientID is the application (client) id; required.
	ClientID string `json:"clientId"`
	// ClientSecret is a secret reference (env:NAME, file:PATH) to the
	// client secret; this or ClientCertificate is required.
	ClientSecret string `json:"clientSecret,omitempty" secret:"ref"`
	// ClientCertificate is a secret reference to a PEM holding a
	// certificate registered on the application and its unencrypted RSA
	// private key: the connection then authenticates with a client
	// assertion signed by the key (a certificate credential), instead of
	// a client secret.
	ClientCertificate string `json:"clientCertificate,omitempty" secret:"ref"`
	// Authority is the identity platform's host, for national clouds
	// (https://login.microsoftonline.us); default login.microsoftonline.com.
	Authority string `json:"authority,omitempty"`
	// TokenURL overrides {authority}/{tenant}/oauth2/v2.0/token.
	TokenURL string `json:"tokenUrl,omitempty"`
	// GraphURL is the Graph v1.0 base; default https://graph.microsoft.com/v1.0.
	GraphURL string `json:"graphUrl,omitempty"`
	// Domain completes a userName without "@" into a userPrincipalName.
	Domain string `json:"domain,omitempty"`
	// Deprovision: "disable" (default: accountEnabled false) or "delete"
	// (to the recycle bin, restorable for 30 days).
	Deprovision string `json:"deprovision,omitempty"`
	// PageSize is $top of listings, 1–999; default 999.
	PageSize int `json:"pageSize,omitempty"`
	// ExternalIDAttribute is the directory extension property that holds
	// the ExternalID; default extension_{clientId without dashes}_idsyncExternalId.
	ExternalIDAttribute string `json:"externalIdAttribute,omitempty"`
	// GroupType is the kind of group CreateGroup makes: "security"
	// (default: a security group, mailEnabled false) or "microsoft365"
	// (a Microsoft 365 group: groupTypes ["Unified"], mailEnabled, with a
	// mailbox, calendar and SharePoint site, and a mail alias made from
	// the name). Groups of either kind are read, updated and deleted.
	GroupType string `json:"groupType,omitempty"`
	// MaxChanges bounds what one poll of the delta queries reads: after
	// the delta page that reaches this many changed objects, the poll
	// stops, keeps the page's nextLink in its cursor and sets More, so
	// that a backlog is applied in pieces a run can finish; default 1000.
	MaxChanges int `json:"maxChanges,omitempty"`
	// RateLimit overrides DefaultLimit.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// MaxRetryWait is the longest Retry-After waited for within a
	// request ("1m"); "0s" hands every 429 back as a RateLimitError.
	MaxRetryWait string `json:"maxRetryWait,omitempty"`
	// ReplicationWait is how long after creating an object a 404 about it
	// is taken for the replication delay and retried ("30s").
	ReplicationWait string `json:"replicationWait,omitempty"`

	limit           httpx.Limit
	maxRetryWait    time.Duration
	replicationWait time.Duration
}

// RateLimit is a request budget: requests (and, apart, writes) per period.
type RateLimit struct {
	Requests int    `json:"requests,omitempty"`
	Writes   int    `json:"writes,omitempty"`
	Per      string `json:"per,omitempty"` // a Go duration; default "10s"
	Burst    int    `json:"burst,omitempty"`
}

var _ connectors.Config = (*Config)(nil)

// Validate checks the settings and fills defaults.
func (c *Config) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{{"tenant", c.Tenant}, {"clientId", c.ClientID}} {
		if strings.TrimSpace(f.v) == "" {
			errs = append(errs, fmt.Errorf("%s is required", f.name))
		}
	}
	switch {
	case c.ClientSecret == "" && c.ClientCertificate == "":
		errs = append(errs, errors.New("clientSecret is required, or clientCertificate for a certificate credential"))
	case c.ClientSecret != "" && c.ClientCertificate != "":
		errs = append(errs, errors.New("clientSecret and clientCertificate: give one credential, not both"))
	}
	for _, f := range []struct{ name, v string }{{"clientSecret", c.ClientSecret}, {"clientCertificate", c.ClientCertificate}} {
		if f.v == "" {
			continue
		}
		if err := connectors.ValidateSecretRef(f.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	if c.Authority == "" {
		c.Authority = DefaultAuthority
	}
	if c.GraphURL == "" {
		c.GraphURL = DefaultGraphURL
	}
	if c.TokenURL == "" {
		c.TokenURL = strings.TrimRight(c.Authority, "/") + "/" + url.PathEscape(c.Tenant) + "/oauth2/v2.0/token"
	}
	for _, u := range []struct{ name, v string }{{"authority", c.Authority}, {"graphUrl", c.GraphURL}, {"tokenUrl", c.TokenURL}} {
		if p, err := url.Parse(u.v); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: want an http(s) URL", u.name, u.v))
		}
	}
	switch c.Deprovision {
	case "":
		c.Deprovision = connectors.DeprovisionDisable
	case connectors.DeprovisionDisable, connectors.DeprovisionDelete:
	default:
		errs = append(errs, fmt.Errorf("deprovision %q: want disable or delete", c.Deprovision))
	}
	switch c.GroupType {
	case "":
		c.GroupType = GroupSecurity
	case GroupSecurity, GroupMicrosoft365:
	default:
		errs = append(errs, fmt.Errorf("groupType %q: want %s or %s", c.GroupType, GroupSecurity, GroupMicrosoft365))
	}
	switch {
	case c.MaxChanges == 0:
		c.MaxChanges = DefaultMaxChanges
	case c.MaxChanges < 0:
		errs = append(errs, fmt.Errorf("maxChanges %d: want a positive number", c.MaxChanges))
	}
	switch {
	case c.PageSize == 0:
		c.PageSize = DefaultPageSize
	case c.PageSize < 1 || c.PageSize > 999:
		errs = append(errs, fmt.Errorf("pageSize %d: Graph takes 1 to 999", c.PageSize))
	}
	if c.ExternalIDAttribute == "" && c.ClientID != "" {
		c.ExternalIDAttribute = "extension_" + strings.ReplaceAll(c.ClientID, "-", "") + "_" + extensionName
	}
	if c.ExternalIDAttribute != "" && !strings.HasPrefix(c.ExternalIDAttribute, "extension_") {
		errs = append(errs, fmt.Errorf("externalIdAttribute %q: want a directory extension property, extension_{appId}_{name}", c.ExternalIDAttribute))
	}
	if c.Domain != "" && (strings.Contains(c.Domain, "@") || !strings.Contains(c.Domain, ".")) {
		errs = append(errs, fmt.Errorf("domain %q: want a verified domain such as contoso.com", c.Domain))
	}
	var err error
	if c.maxRetryWait, err = duration("maxRetryWait", c.MaxRetryWait, DefaultMaxRetryWait); err != nil {
		errs = append(errs, err)
	}
	if c.replicationWait, err = duration("replicationWait", c.ReplicationWait, DefaultReplicationWait); err != nil {
		errs = append(errs, err)
	}
	if err := c.validateRateLimit(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func duration(name, v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q: want a Go duration such as 30s", name, v)
	}
	return d, nil
}

func (c *Config) validateRateLimit() error {
	c.limit = DefaultLimit
	if c.RateLimit == nil {
		return nil
	}
	r := *c.RateLimit
	per := 10 * time.Second
	if r.Per != "" {
		d, err := time.ParseDuration(r.Per)
		if err != nil || d <= 0 {
			return fmt.Errorf("rateLimit.per %q: want a positive Go duration such as 10s", r.Per)
		}
		per = d
	}
	if r.Requests < 0 || r.Writes < 0 || r.Burst < 0 || (r.Requests == 0 && r.Writes == 0) {
		return errors.New("rateLimit: give requests and/or writes per period, positive numbers")
	}
	c.limit = httpx.Limit{Requests: r.Requests, Writes: r.Writes, Per: per, Burst: r.Burst}
	return nil
}

// Open resolves the client secret or certificate and makes the connector; it sends
// nothing yet (the token is fetched with the first request).
func (c *Config) Open(ctx context.Context, logger *slog.Logger) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	var cred credential
	if c.ClientCertificate != "" {
		pemData, err := connectors.ResolveSecret(c.ClientCertificate)
		if err != nil {
			return nil, fmt.Errorf("graph: clientCertificate: %w", err)
		}
		if cred.cert, err = parseCertCredential([]byte(pemData)); err != nil {
			return nil, fmt.Errorf("graph: clientCertificate: %w", err)
		}
	} else {
		secret, err := connectors.ResolveSecret(c.ClientSecret)
		if err != nil {
			return nil, fmt.Errorf("graph: clientSecret: %w", err)
		}
		cred.secret = secret
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &graphSource{t: newConnector(ctx, c, cred, logger)}, nil
}
