package workday

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/httpx"
)

// Type is the "workday" connection type.
var Type = connectors.Type{
	New:     func() connectors.Config { return new(Config) },
	Summary: "Workday HCM (SOAP Get_Workers, or a RaaS report), as a source of workers and org groups, and as an update-only target for work email, phone and username",
	// Workday's transaction log lags about an hour and tenants watch
	// their API use: poll every 15–20 minutes; a broken tenant (an
	// expired ISU password, a maintenance window) is retried after 12
	// hours; a daily resync repairs drift and rehomes renamed orgs.
	Cadence: connectors.Cadence{PollInterval: 15 * time.Minute, PollJitter: 5 * time.Minute,
		BreakerReset: 12 * time.Hour, ResyncInterval: 24 * time.Hour},
	Flags: []connectors.Flag{
		{Name: "url", Key: "url", Help: "the Workday web services host, e.g. https://wd2-impl-services1.workday.com"},
		{Name: "tenant", Key: "tenant", Help: "the Workday tenant name"},
		{Name: "username", Key: "username", Help: "the integration system user (ISU), without or with @tenant"},
		{Name: "password", Key: "password", Help: "secret reference (env:NAME or file:PATH) to the ISU's password"},
	},
	Examples: []string{
		`starter connection create hr --type workday --url https://wd2-impl-services1.workday.com --tenant acme \
    --username ISU_IDSYNC --password env:WD_PASSWORD --set timeZone=Europe/Berlin --set preHireDays=14`,
		`starter connection create hr-writeback --type workday --url https://services1.myworkday.com --tenant acme \
    --username ISU_IDSYNC --password env:WD_PASSWORD --set 'groups=["SUPERVISORY","COST_CENTER"]'`,
	},
}

// Defaults of the settings.
const (
	DefaultVersion       = "v44.0"
	DefaultTimeZone      = "America/Los_Angeles"
	DefaultWindowOverlap = time.Hour
	DefaultPageSize      = 100
	MaxPageSize          = 999
	DefaultTimeout       = 2 * time.Minute
	DefaultMaxRetryWait  = time.Minute
)

// Organization types that can become groups.
const (
	OrgSupervisory = "SUPERVISORY"
	OrgCostCenter  = "COST_CENTER"
	OrgLocation    = "LOCATION"
)

// Config is a Workday connection's settings.
type Config struct {
	// URL is the web services host (scheme and host, no path).
	URL string `json:"url"`
	// Tenant is the tenant name, as in /ccx/service/{tenant}/….
	Tenant string `json:"tenant"`
	// Version is the Human_Resources service version; default v44.0.
	Version string `json:"version,omitempty"`
	// Username is the integration system user; "@tenant" is added when
	// it is missing. Password is a secret reference to its password.
	Username string `json:"username"`
	Password string `json:"password" secret:"ref"`
	// TimeZone is the IANA zone whose date is "today" for effective
	// dating: a termination effective on a date takes effect at that
	// date's midnight there. Default America/Los_Angeles, the zone an
	// ISU reads "NOW" in; set the tenant's own to stop APAC terminations
	// landing a day late.
	TimeZone string `json:"timeZone,omitempty"`
	// PreHireDays brings a hire into the source this many days before
	// its hire date (active, with its data as of the hire date); 0
	// (default) on the hire date.
	PreHireDays int `json:"preHireDays,omitempty"`
	// WindowOverlap is how far each poll's Updated window reaches back
	// before the previous one ended, to catch what the transaction log
	// showed late (Workday: about an hour); default 1h.
	WindowOverlap string `json:"windowOverlap,omitempty"`
	// PageSize is Get_Workers' Count: 1 to 999, default 100.
	PageSize int `json:"pageSize,omitempty"`
	// Groups are the organization types (Organization_Type_ID) that
	// become groups: SUPERVISORY, COST_CENTER, LOCATION or a tenant's
	// own (a worker may be in many orgs of a custom type); default
	// ["SUPERVISORY"]; an empty list makes a source without groups.
	Groups OrgTypes `json:"groups,omitempty"`
	// IncludeInactive lists terminated workers, inactive (default true),
	// so that their accounts are disabled; false leaves them out, so
	// that a termination deprovisions as a deletion does.
	IncludeInactive *bool `json:"includeInactive,omitempty"`
	// Report, when set, is the path of a RaaS report
	// (/ccx/service/customreport2/{tenant}/{owner}/{report}) that full
	// listings read in one request instead of paging Get_Workers; see
	// the package doc for its columns. ReportUsername and
	// ReportPassword default to Username and Password.
	Report         string `json:"report,omitempty"`
	ReportUsername string `json:"reportUsername,omitempty"`
	ReportPassword string `json:"reportPassword,omitempty" secret:"ref"`
	// Timeout bounds one request; default 2m.
	Timeout string `json:"timeout,omitempty"`
	// MaxRetryWait is the longest Retry-After of a 429 or 503 that the
	// connector waits out itself before it sends the request again (up
	// to 5 times); a longer one, or "0s", is returned as a rate limit
	// for the engine to wait. Default 1m.
	MaxRetryWait string `json:"maxRetryWait,omitempty"`

	loc                            *time.Location
	overlap, timeout, maxRetryWait time.Duration
}

// OrgTypes is a list of organization types; it also reads one string of
// types separated by commas or spaces, as --set gives it.
type OrgTypes []string

// UnmarshalJSON reads a JSON array of strings or one string.
func (o *OrgTypes) UnmarshalJSON(data []byte) error {
	var list []string
	if err := json.Unmarshal(data, &list); err == nil {
		*o = list
		if list == nil {
			*o = OrgTypes{}
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return errors.New("want a list of organization types or one string")
	}
	*o = strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
	return nil
}

var (
	versionRE = regexp.MustCompile(`^v?\d{1,3}\.\d$`)
	tenantRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	orgTypeRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
	reportRE  = regexp.MustCompile(`^/ccx/service/customreport2/[^/?#]+/[^/?#]+/[^/?#]+$`)
)

// Validate implements connectors.Config: it fills defaults and returns
// every problem, joined. It never quotes a secret reference's value.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := checkURL(c.URL); err != nil {
		bad("url: %w", err)
	}
	if c.Tenant == "" {
		bad("tenant is required")
	} else if !tenantRE.MatchString(c.Tenant) {
		bad("tenant %q: want letters, digits, '_', '.' or '-'", trunc(c.Tenant, 40))
	}
	switch {
	case c.Version == "":
		c.Version = DefaultVersion
	case !versionRE.MatchString(c.Version):
		bad("version %q: want vNN.N, such as %s", trunc(c.Version, 20), DefaultVersion)
	case !strings.HasPrefix(c.Version, "v"):
		c.Version = "v" + c.Version
	}
	if c.Username == "" {
		bad("username is required: the integration system user")
	}
	if c.Password == "" {
		bad("password is required: a secret reference env:NAME or file:PATH")
	} else if err := connectors.ValidateSecretRef(c.Password); err != nil {
		bad("password %w", err)
	}
	if c.TimeZone == "" {
		c.TimeZone = DefaultTimeZone
	}
	if loc, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "Local" {
		bad("timeZone %q: not an IANA time zone such as Europe/Berlin", trunc(c.TimeZone, 40))
	} else {
		c.loc = loc
	}
	if c.PreHireDays < 0 || c.PreHireDays > 366 {
		bad("preHireDays: %d is not between 0 and 366", c.PreHireDays)
	}
	c.overlap = DefaultWindowOverlap
	if c.WindowOverlap == "" {
		c.WindowOverlap = DefaultWindowOverlap.String()
	} else if d, err := time.ParseDuration(c.WindowOverlap); err != nil || d < 0 || d > 7*24*time.Hour {
		bad("windowOverlap %q: want a Go duration between 0s and 168h, such as 1h", trunc(c.WindowOverlap, 20))
	} else {
		c.overlap = d
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	} else if c.PageSize < 1 || c.PageSize > MaxPageSize {
		bad("pageSize: %d is not between 1 and %d", c.PageSize, MaxPageSize)
	}
	if c.Groups == nil {
		c.Groups = OrgTypes{OrgSupervisory}
	}
	for i, g := range c.Groups {
		g = strings.ToUpper(strings.TrimSpace(g))
		c.Groups[i] = g
		if !orgTypeRE.MatchString(g) {
			bad("groups: %q is not an organization type ID such as SUPERVISORY, COST_CENTER, LOCATION or a custom one", trunc(g, 30))
		}
	}
	if c.IncludeInactive == nil {
		t := true
		c.IncludeInactive = &t
	}
	if c.Report != "" && !reportRE.MatchString(c.Report) {
		bad("report %q: want the report's path /ccx/service/customreport2/{tenant}/{owner}/{report}", trunc(c.Report, 80))
	}
	for name, ref := range map[string]string{"reportPassword": c.ReportPassword} {
		if ref != "" {
			if err := connectors.ValidateSecretRef(ref); err != nil {
				bad("%s %w", name, err)
			}
		}
	}
	if c.Report == "" && (c.ReportUsername != "" || c.ReportPassword != "") {
		bad("reportUsername and reportPassword need report")
	}
	c.timeout = DefaultTimeout
	if c.Timeout == "" {
		c.Timeout = DefaultTimeout.String()
	} else if d, err := time.ParseDuration(c.Timeout); err != nil || d <= 0 {
		bad("timeout %q: want a positive Go duration such as 2m", trunc(c.Timeout, 20))
	} else {
		c.timeout = d
	}
	c.maxRetryWait = DefaultMaxRetryWait
	if c.MaxRetryWait == "" {
		c.MaxRetryWait = DefaultMaxRetryWait.String()
	} else if d, err := time.ParseDuration(c.MaxRetryWait); err != nil || d < 0 {
		bad("maxRetryWait %q: want a Go duration such as 1m, or 0s", trunc(c.MaxRetryWait, 20))
	} else {
		c.maxRetryWait = d
	}
	return errors.Join(errs...)
}

// checkURL accepts https://host[:port], and http:// for a loopback host
// (tests and the fake).
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("is required: the web services host, e.g. https://wd2-impl-services1.workday.com")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", trunc(raw, 80))
	}
	if u.User != nil {
		return errors.New("must not hold credentials: use username and password")
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want the host only (scheme://host), without a path", trunc(raw, 80))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return errors.New("must be https (http only for a loopback host)")
		}
	default:
		return fmt.Errorf("scheme %q: want https", u.Scheme)
	}
	return nil
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// Open implements connectors.Config: it resolves the secrets; nothing is
// sent until the first call (Test checks the credentials).
func (c *Config) Open(_ context.Context, logger *slog.Logger) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("workday: %w", err)
	}
	password, err := connectors.ResolveSecret(c.Password)
	if err != nil {
		return nil, fmt.Errorf("workday: password: %w", err)
	}
	user := c.Username
	if !strings.Contains(user, "@") {
		user += "@" + c.Tenant
	}
	cn := &conn{
		cfg:      *c,
		endpoint: strings.TrimSuffix(c.URL, "/") + "/ccx/service/" + c.Tenant + "/Human_Resources/" + c.Version,
		isu:      user,
		password: password,
		// Get_Workers and the write-backs set values: sending one again
		// after a 429 or 503 is safe.
		http:     &http.Client{Timeout: c.timeout, Transport: &httpx.Transport{MaxWait: c.maxRetryWait}},
		logger:   logger.With("tenant", c.Tenant),
		settle:   defaultSettle,
		localNow: time.Now,
		wids:     map[string]string{},
	}
	if c.Report != "" {
		cn.reportURL = strings.TrimSuffix(c.URL, "/") + c.Report
		cn.reportUser = c.ReportUsername
		if cn.reportUser == "" {
			cn.reportUser = c.Username
		}
		cn.reportPassword = password
		if c.ReportPassword != "" {
			if cn.reportPassword, err = connectors.ResolveSecret(c.ReportPassword); err != nil {
				return nil, fmt.Errorf("workday: reportPassword: %w", err)
			}
		}
	}
	cn.target = &target{cn}
	if len(c.Groups) > 0 {
		return &groupSource{cn}, nil
	}
	return cn, nil
}
