package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/httpx"
)

// Toggle is a setting that believes the server ("auto") or overrides it
// ("true", "false"). It reads a JSON boolean or one of those strings.
type Toggle string

// Toggle values.
const (
	ToggleAuto  Toggle = "auto"
	ToggleTrue  Toggle = "true"
	ToggleFalse Toggle = "false"
)

// UnmarshalJSON reads true, false or a string.
func (t *Toggle) UnmarshalJSON(data []byte) error {
	var b bool
	if err := json.Unmarshal(data, &b); err == nil {
		*t = ToggleFalse
		if b {
			*t = ToggleTrue
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("want auto, true or false, not %s", truncate(string(data), 40))
	}
	*t = Toggle(strings.ToLower(strings.TrimSpace(s)))
	return nil
}

// decide returns the override, or advertised when t is auto.
func (t Toggle) decide(advertised bool) bool {
	switch t {
	case ToggleTrue:
		return true
	case ToggleFalse:
		return false
	}
	return advertised
}

// StringList is a list of strings that also reads one string of items
// separated by spaces or commas, as a command-line flag gives it.
type StringList []string

// UnmarshalJSON reads a JSON array of strings or one string.
func (l *StringList) UnmarshalJSON(data []byte) error {
	var list []string
	if err := json.Unmarshal(data, &list); err == nil {
		*l = list
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return errors.New("want a list of strings or one string")
	}
	*l = strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
	return nil
}

// Validate implements connectors.Config: it fills defaults and returns
// every problem it finds, joined. It never quotes a secret: a setting
// that should hold a reference but holds something else is refused
// without being echoed.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	errs = append(errs, c.applyProfile()...)
	if err := c.validateRateLimit(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxRetryWait == "" {
		c.MaxRetryWait = DefaultMaxRetryWait.String()
	}
	if d, err := time.ParseDuration(c.MaxRetryWait); err != nil || d < 0 {
		errs = append(errs, fmt.Errorf("maxRetryWait %q: want a Go duration such as 1m, or 0s", c.MaxRetryWait))
	} else {
		c.maxRetryWait = d
	}
	if err := checkURL(c.BaseURL, false); err != nil {
		bad("baseUrl%w", err)
	}
	errs = append(errs, c.validateAuth()...)
	for _, t := range []struct {
		name string
		v    *Toggle
	}{{"patch", &c.Patch}, {"filter", &c.Filter}, {"etag", &c.ETag}} {
		switch *t.v {
		case "":
			*t.v = ToggleAuto
		case ToggleAuto, ToggleTrue, ToggleFalse:
		default:
			bad("%s: %q is not auto, true or false", t.name, truncate(string(*t.v), 40))
		}
	}
	if c.MaxResults < 0 || c.MaxResults > 10_000 {
		bad("maxResults: %d is not between 0 (as advertised) and 10000", c.MaxResults)
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
	if c.MaxScan == 0 {
		c.MaxScan = DefaultMaxScan
	} else if c.MaxScan < 0 {
		bad("maxScan: %d is negative", c.MaxScan)
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

// validateAuth checks the settings of the chosen kind of authentication,
// and that no setting of another kind is set (a sign of a mistake).
func (c *Config) validateAuth() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	secret := func(name, ref string) {
		if ref == "" {
			bad("%s is required with auth %s (env:NAME or file:PATH)", name, c.Auth)
		} else if err := connectors.ValidateSecretRef(ref); err != nil {
			bad("%s: %w", name, err)
		}
	}
	if c.Auth == "" {
		c.Auth = AuthBearer
	}
	var used []string
	switch c.Auth {
	case AuthBearer:
		secret("token", c.Token)
		used = []string{"token"}
	case AuthOAuth2:
		errs = append(errs, c.validateOAuth2()...)
		secret("clientSecret", c.ClientSecret)
		used = []string{"tokenUrl", "clientId", "clientSecret", "scopes", "authStyle", "tokenParams"}
	case AuthBasic:
		if c.Username == "" {
			bad("username is required with auth basic")
		} else if strings.Contains(c.Username, ":") {
			bad("username: must not contain a colon (RFC 7617)")
		}
		secret("password", c.Password)
		used = []string{"username", "password"}
	default:
		bad("auth: %q is not %q, %q or %q", truncate(c.Auth, 40), AuthBearer, AuthOAuth2, AuthBasic)
		return errs
	}
	set := map[string]bool{
		"token": c.Token != "", "tokenUrl": c.TokenURL != "", "clientId": c.ClientID != "",
		"clientSecret": c.ClientSecret != "", "scopes": len(c.Scopes) > 0, "authStyle": c.AuthStyle != "",
		"tokenParams": len(c.TokenParams) > 0, "username": c.Username != "", "password": c.Password != "",
	}
	for _, name := range []string{"token", "tokenUrl", "clientId", "clientSecret", "scopes", "authStyle", "tokenParams", "username", "password"} {
		if set[name] && !slices.Contains(used, name) {
			bad("%s: not used with auth %s", name, c.Auth)
		}
	}
	return errs
}

// validateOAuth2 checks the settings of auth oauth2 but the secret.
func (c *Config) validateOAuth2() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.TokenURL == "" {
		bad("tokenUrl is required with auth oauth2")
	} else if err := checkURL(c.TokenURL, true); err != nil {
		bad("tokenUrl%w", err)
	}
	if c.ClientID == "" {
		bad("clientId is required with auth oauth2")
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			bad("scopes: %q is not a scope name", truncate(s, 40))
		}
	}
	switch c.AuthStyle {
	case "", AuthStyleHeader, AuthStyleParams:
	default:
		bad("authStyle: %q is not %q or %q", truncate(c.AuthStyle, 40), AuthStyleHeader, AuthStyleParams)
	}
	for k := range c.TokenParams {
		switch strings.ToLower(k) {
		case "", "client_id", "client_secret", "scope":
			bad("tokenParams: %q is not allowed; use clientId, clientSecret or scopes", k)
		}
	}
	return errs
}

// checkURL checks an http(s) URL for a setting; its error starts with
// ": " or " " so that the caller prefixes the setting's name. A query is
// allowed only if allowQuery.
func checkURL(raw string, allowQuery bool) error {
	if raw == "" {
		return errors.New(" is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL, which is not a secret but may be long.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf(": %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf(": scheme must be http or https, not %q", u.Scheme)
	case u.Host == "":
		return errors.New(": no host")
	case u.User != nil:
		return errors.New(": must not hold credentials")
	case u.Fragment != "" || (u.RawQuery != "" && !allowQuery):
		if allowQuery {
			return errors.New(": must not have a fragment")
		}
		return errors.New(": must not have a query or fragment")
	}
	return nil
}

// DefaultMaxRetryWait is how long a request waits for a Retry-After.
const DefaultMaxRetryWait = time.Minute

// validateRateLimit turns the rateLimit setting, or the profile's
// default, into the connection's budget.
func (c *Config) validateRateLimit() error {
	c.budget = c.limit()
	if c.RateLimit == nil {
		return nil
	}
	r := *c.RateLimit
	per := time.Minute
	if r.Per != "" {
		d, err := time.ParseDuration(r.Per)
		if err != nil || d <= 0 {
			return fmt.Errorf("rateLimit.per %q: want a positive Go duration such as 1m", r.Per)
		}
		per = d
	}
	if r.Requests < 0 || r.Writes < 0 || r.Burst < 0 || (r.Requests == 0 && r.Writes == 0) {
		return errors.New("rateLimit: give requests and/or writes per period, positive numbers")
	}
	c.budget = httpx.Limit{Requests: r.Requests, Writes: r.Writes, Per: per, Burst: r.Burst}
	return nil
}
