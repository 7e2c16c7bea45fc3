// Package scim implements a target connector for SCIM 2.0 service providers
// (RFC 7643 schema, RFC 7644 protocol): users with the enterprise extension,
// groups and group memberships.
//
// An example connection's settings:
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
// The canonical user maps to the SCIM User as follows: externalId, userName,
// name.givenName, name.familyName, displayName, active, title, the primary
// (else "work", else first) emails and phoneNumbers entry, and the
// enterprise extension's employeeNumber, department and manager.value. The
// canonical manager is the manager's ExternalID; SCIM's manager.value is the
// manager's target id, so the connector translates between the two (a
// manager not yet on the target is left unset until a later sync). Other
// keys of User.Attributes are not written. An update reads the user and
// writes it back whole (PUT), so the attributes idsync does not map are
// kept; deprovisioning and group changes use PATCH.
package scim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
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
	// Token is a reference to the bearer token, env:NAME or file:PATH;
	// never the token itself. Required.
	Token string `json:"token"`
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
}

var _ connectors.Config = (*Config)(nil)

// Validate implements connectors.Config: it fills defaults and returns
// every problem it finds, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.BaseURL == "" {
		bad("baseUrl is required")
	} else if u, err := url.Parse(c.BaseURL); err != nil {
		bad("baseUrl: %w", err)
	} else {
		switch {
		case u.Scheme != "http" && u.Scheme != "https":
			bad("baseUrl: scheme must be http or https, not %q", u.Scheme)
		case u.Host == "":
			bad("baseUrl: no host")
		case u.User != nil:
			bad("baseUrl: must not hold credentials; use token")
		case u.RawQuery != "" || u.Fragment != "":
			bad("baseUrl: must not have a query or fragment")
		}
	}
	if c.Token == "" {
		bad("token is required (env:NAME or file:PATH)")
	} else if err := connectors.ValidateSecretRef(c.Token); err != nil {
		bad("token: %w", err)
	}
	switch c.Deprovision {
	case "":
		c.Deprovision = DeprovisionDisable
	case DeprovisionDisable, DeprovisionDelete:
	default:
		bad("deprovision: %q is not %q or %q", c.Deprovision, DeprovisionDisable, DeprovisionDelete)
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	} else if c.PageSize < 1 || c.PageSize > 10_000 {
		bad("pageSize: %d is not between 1 and 10000", c.PageSize)
	}
	if c.MembersPerRequest == 0 {
		c.MembersPerRequest = DefaultMembersPerRequest
	} else if c.MembersPerRequest < 1 || c.MembersPerRequest > 10_000 {
		bad("membersPerRequest: %d is not between 1 and 10000", c.MembersPerRequest)
	}
	if c.Timeout == "" {
		c.Timeout = DefaultTimeout.String()
	} else if d, err := time.ParseDuration(c.Timeout); err != nil {
		bad("timeout: %w", err)
	} else if d <= 0 {
		bad("timeout: %s is not positive", c.Timeout)
	}
	return errors.Join(errs...)
}

// Open implements connectors.Config: it validates the settings, resolves
// the token and returns the connector. It sends no request; Test does.
func (c *Config) Open(ctx context.Context, logger *slog.Logger) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("scim: %w", err)
	}
	token, err := connectors.ResolveSecret(c.Token)
	if err != nil {
		return nil, fmt.Errorf("scim: token: %w", err)
	}
	if token == "" {
		return nil, fmt.Errorf("scim: token: secret reference %q resolves to an empty value", c.Token)
	}
	timeout, _ := time.ParseDuration(c.Timeout) // checked by Validate
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	baseURL := strings.TrimRight(c.BaseURL, "/")
	return &scimConnector{
		baseURL: baseURL,
		token:   token,
		client: &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			Timeout:   timeout,
		},
		deprovision:       c.Deprovision,
		pageSize:          c.PageSize,
		membersPerRequest: c.MembersPerRequest,
		logger:            logger.With(slog.Group("scim", "base_url", baseURL)),
	}, nil
}

// scimConnector is an open SCIM target.
type scimConnector struct {
	baseURL           string // without a trailing slash
	token             string // never logged nor put in an error
	client            *http.Client
	deprovision       string
	pageSize          int
	membersPerRequest int
	logger            *slog.Logger
	ids               idCache // target id <-> ExternalID, for managers
}

var (
	_ connectors.Target = (*scimConnector)(nil)
	_ connectors.Tester = (*scimConnector)(nil)
)

// Close implements connectors.Connector.
func (c *scimConnector) Close() error {
	c.client.CloseIdleConnections()
	return nil
}
