package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/httpx"
)

// Profile is what one vendor's SCIM service needs beyond the standard:
// where it lives, how it authenticates, what its DELETE means and how
// fast it may be called. A profile is a connection type of its own
// ("slack", "zoom", …) built on the generic client.
type Profile struct {
	// Type is the connection type.
	Type string
	// Doc is where the profile's details come from.
	Doc string
	// DefaultBaseURL builds the base URL when the connection gives none.
	DefaultBaseURL func(c *Config) (string, error)
	// Settings are the keys of the vendor's own settings, beyond the
	// generic ones (github-emu: enterprise): strings in the connection's
	// settings object, read with Config.Vendor. No other type takes them.
	Settings []string
	// Configure fills the vendor's settings (auth, token endpoint) and
	// returns what is wrong with the connection's.
	Configure func(c *Config) []error
	// DeleteDeactivates says that DELETE /Users/{id} only deactivates the
	// user, who stays listed (Slack): "delete" is then refused as a
	// deprovision mode, since it would not delete.
	DeleteDeactivates bool
	// RequireExternalID refuses, before sending it, a user or group
	// without externalId (GitHub EMU rejects them).
	RequireExternalID bool
	// Limit is the default request budget, from the vendor's published
	// limits; a connection's rateLimit overrides it.
	Limit httpx.Limit
	// Summary, Flags and Examples describe the type to the CLI (see
	// connectors.Type).
	Summary  string
	Flags    []connectors.Flag
	Examples []string
}

// Flags shared by the SCIM types.
var (
	flagBaseURL = func(help string) connectors.Flag {
		return connectors.Flag{Name: "base-url", Key: "baseUrl", Help: help}
	}
	flagBaseURLProxy = flagBaseURL("the SCIM base URL, only to go through a proxy")
	flagToken        = connectors.Flag{Name: "token", Key: "token", Help: "secret reference (env:NAME or file:PATH) to the bearer token"}
	flagClientID     = connectors.Flag{Name: "client-id", Key: "clientId", Help: "the OAuth client id"}
	flagClientSecret = connectors.Flag{Name: "client-secret", Key: "clientSecret", Help: "secret reference to the OAuth client secret"}
	flagDeprovision  = connectors.Flag{Name: "deprovision", Key: "deprovision", Help: "what deprovisioning a user does: disable (default) or delete"}
)

// Type is the connection type of a profile.
func (p *Profile) ConnectionType() connectors.Type {
	return connectors.Type{
		New:      func() connectors.Config { return NewConfig(p) },
		Summary:  p.Summary,
		Flags:    p.Flags,
		Examples: p.Examples,
	}
}

// Types are the connection types of every profile.
func Types() map[string]connectors.Type {
	types := map[string]connectors.Type{}
	for name, p := range Profiles {
		types[name] = p.ConnectionType()
	}
	return types
}

// Profiles are the SCIM-based targets idsync knows, by connection type.
var Profiles = map[string]*Profile{
	"scim": {
		Type:    "scim",
		Summary: "any SCIM 2.0 service (RFC 7643/7644), with a bearer token, basic auth or OAuth 2.0 client credentials",
		Flags: []connectors.Flag{flagBaseURL("the SCIM base URL (required)"), flagToken,
			{Name: "client-id", Key: "clientId", Help: "with --set auth=oauth2: the OAuth client id"},
			{Name: "client-secret", Key: "clientSecret", Help: "with --set auth=oauth2: secret reference to the OAuth client secret"},
			flagDeprovision},
		Examples: []string{
			"starter connection create app --type scim --base-url http://127.0.0.1:8999/scim/v2 --token env:SCIM_TOKEN",
			`starter connection create app2 --type scim --base-url https://app.example.com/scim/v2 --set auth=oauth2 \
    --set tokenUrl=https://app.example.com/oauth/token --client-id idsync --client-secret env:APP_SECRET`,
		},
	},
	"slack": {
		Type:     "slack",
		Summary:  "Slack's SCIM API (Business+ and Enterprise Grid), with an org-level token",
		Flags:    []connectors.Flag{flagToken, flagBaseURLProxy, flagDeprovision},
		Examples: []string{"starter connection create chat --type slack --token env:SLACK_SCIM_TOKEN"},
		Doc:      "docs.slack.dev/reference/scim-api and …/scim-api/rate-limits",
		DefaultBaseURL: func(*Config) (string, error) {
			return "https://api.slack.com/scim/v2", nil
		},
		// Writes 600/min (bursts of 180), reads 1,000/min, org-wide for
		// all SCIM apps; user creates are 180/min (burst 20) on their own,
		// which the writes budget covers.
		Limit:             httpx.Limit{Requests: 1000, Writes: 600, Per: time.Minute, Burst: 20},
		DeleteDeactivates: true,
	},
	"zoom": {
		Type:     "zoom",
		Settings: []string{"accountId"},
		Summary:  "Zoom's SCIM API, with a Server-to-Server OAuth app",
		Flags: []connectors.Flag{{Name: "account-id", Key: "accountId", Help: "the Server-to-Server OAuth app's account id"},
			flagClientID, flagClientSecret, flagBaseURLProxy, flagDeprovision},
		Examples: []string{"starter connection create meet --type zoom --account-id ACCOUNT --client-id CLIENT --client-secret env:ZOOM_SECRET"},
		Doc:      "developers.zoom.us/docs/api/rest/scim-api/ and Server-to-Server OAuth",
		DefaultBaseURL: func(*Config) (string, error) {
			return "https://api.zoom.us/scim2", nil
		},
		Configure: configureZoom,
		// Zoom limits per account by category; SCIM user calls are
		// "Medium"/"Heavy". Stay well under: 10 requests a second.
		Limit: httpx.Limit{Requests: 600, Per: time.Minute, Burst: 10},
	},
	"github-emu": {
		Type:     "github-emu",
		Settings: []string{"enterprise"},
		Summary:  "GitHub Enterprise Managed Users, with a personal access token (scope scim:enterprise)",
		Flags: []connectors.Flag{{Name: "enterprise", Key: "enterprise", Help: "the enterprise's slug"},
			flagToken, flagBaseURLProxy, flagDeprovision},
		Examples: []string{"starter connection create gh --type github-emu --enterprise octo --token env:GITHUB_SCIM_TOKEN"},
		Doc:      "docs.github.com enterprise-admin SCIM for Enterprise Managed Users",
		DefaultBaseURL: func(c *Config) (string, error) {
			enterprise := c.Vendor("enterprise")
			if enterprise == "" {
				return "", errors.New("enterprise is required (the enterprise's slug)")
			}
			return "https://api.github.com/scim/v2/enterprises/" + url.PathEscape(enterprise), nil
		},
		RequireExternalID: true,
		// GitHub's guidance: under 1,000 users assigned an hour.
		Limit: httpx.Limit{Requests: 5000, Writes: 1000, Per: time.Hour, Burst: 10},
	},
	"aquera": {
		Type:     "aquera",
		Summary:  "Aquera's per-tenant SCIM gateway",
		Flags:    []connectors.Flag{flagBaseURL("the tenant's SCIM base URL from Aquera (required)"), flagToken, flagDeprovision},
		Examples: []string{"starter connection create hr-apps --type aquera --base-url https://TENANT.example/scim/v2 --token env:AQUERA_TOKEN"},
		Doc:      "per-tenant SCIM 2.0 endpoint and bearer token issued by Aquera",
		Configure: func(c *Config) []error {
			if c.BaseURL == "" {
				return []error{errors.New("baseUrl is required: the tenant's SCIM base URL from Aquera")}
			}
			return nil
		},
		Limit: httpx.Limit{Requests: 600, Per: time.Minute, Burst: 10},
	},
}

// NewConfig returns an empty config of a profile's connection type.
func NewConfig(p *Profile) *Config { return &Config{profile: p} }

// zoomTokenURL is Zoom's OAuth token endpoint.
const zoomTokenURL = "https://zoom.us/oauth/token"

// configureZoom sets up Server-to-Server OAuth: the account_credentials
// grant with the account id, client id and secret sent in the header.
func configureZoom(c *Config) []error {
	var errs []error
	account := c.Vendor("accountId")
	if account == "" {
		errs = append(errs, errors.New("accountId is required (the Server-to-Server OAuth app's account id)"))
	}
	if c.Auth != "" && c.Auth != AuthOAuth2 {
		errs = append(errs, fmt.Errorf("auth %q: Zoom takes Server-to-Server OAuth only", c.Auth))
	}
	c.Auth = AuthOAuth2
	if c.TokenURL == "" {
		c.TokenURL = zoomTokenURL
	}
	if c.AuthStyle == "" {
		c.AuthStyle = AuthStyleHeader
	}
	if c.TokenParams == nil {
		c.TokenParams = map[string]string{}
	}
	c.TokenParams["grant_type"] = "account_credentials"
	c.TokenParams["account_id"] = account
	return errs
}

// applyProfile fills what the profile decides before the generic
// validation runs, and returns the profile's own complaints.
func (c *Config) applyProfile() []error {
	p := c.profile
	if p == nil {
		return nil
	}
	var errs []error
	if p.Configure != nil {
		errs = append(errs, p.Configure(c)...)
	}
	if c.BaseURL == "" && p.DefaultBaseURL != nil {
		u, err := p.DefaultBaseURL(c)
		if err != nil {
			errs = append(errs, err)
		}
		c.BaseURL = u
	}
	if p.DeleteDeactivates && c.Deprovision == DeprovisionDelete {
		errs = append(errs, fmt.Errorf("deprovision delete: %s only deactivates users on DELETE; use disable", p.Type))
	}
	return errs
}

// limit is the profile's default request budget.
func (c *Config) limit() httpx.Limit {
	if c.profile != nil {
		return c.profile.Limit
	}
	return httpx.Limit{}
}

// requireExternalID refuses what the profile's service would.
func (c *scimConnector) requireExternalID(what, externalID string) error {
	if c.profile != nil && c.profile.RequireExternalID && externalID == "" {
		return fmt.Errorf("%s: %s requires externalId: %w", what, c.profile.Type, connectors.ErrRejected)
	}
	return nil
}

// budgeted wraps a transport with the connection's request budget and
// waits for Retry-Afters up to maxWait inside the request.
func budgeted(base http.RoundTripper, b *httpx.Budget, maxWait time.Duration) http.RoundTripper {
	return &httpx.Transport{Base: base, Budget: b, MaxWait: maxWait}
}

// MoreSettings implements connectors.MoreSettings: the profile's own
// settings (enterprise, accountId, …), beside the generic ones.
func (c *Config) MoreSettings() []string {
	if c.profile == nil {
		return nil
	}
	return c.profile.Settings
}

// Vendor is the value of one of the profile's own settings.
func (c *Config) Vendor(key string) string { return c.vendor[key] }

// UnmarshalJSON decodes the generic settings strictly, as the registry
// does, and the profile's own settings (Profile.Settings) beside them; a
// key of another profile's is refused by name.
func (c *Config) UnmarshalJSON(b []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	var own []string
	if c.profile != nil {
		own = c.profile.Settings
	}
	for _, name := range slices.Sorted(maps.Keys(Profiles)) {
		for _, key := range Profiles[name].Settings {
			raw, ok := all[key]
			if !ok {
				continue
			}
			if !slices.Contains(own, key) {
				return fmt.Errorf("%s is a %s setting, not %s", key, name, c.typeName())
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("%s: want a string", key)
			}
			if c.vendor == nil {
				c.vendor = map[string]string{}
			}
			c.vendor[key] = v
			delete(all, key)
		}
	}
	rest, err := json.Marshal(all)
	if err != nil {
		return err
	}
	// The generic fields, without this method.
	type generic Config
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	return dec.Decode((*generic)(c))
}

// typeName is the connection type of the config.
func (c *Config) typeName() string {
	if c.profile == nil {
		return "scim"
	}
	return c.profile.Type
}
