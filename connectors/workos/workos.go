// Package workos reads users and groups from WorkOS Directory Sync: a
// source connection type ("workos") over the WorkOS REST API, with net/http
// (the official Go SDK is not a dependency of idsync).
//
//	starter connection create corp-idp --type workos \
//	  --api-key env:WORKOS_API_KEY --directory directory_01ECAZ4NV9QMV47GW873HDCX74 \
//	  --webhook-secret env:WORKOS_WEBHOOK_SECRET
//
// # Design
//
// The state APIs (/directory_users, /directory_groups) answer ListUsers,
// GetUser, ListGroups and GetGroup, and so the full resync that WorkOS
// recommends every 1–6 hours (Type's ResyncInterval).
//
// The Events API is a queue, and Incremental reads it as one: WorkOS keeps
// every event of the environment for 30 days, oldest first, and a
// consumer resumes after the id of the last event it applied. A cursor is
// that id, versioned and with the event's time ("workos:v1:e:<id>:<ms>"),
// so that a cursor older than the retention asks for a resync without a
// request; before any event, it is a time ("workos:v1:t:<ms>") that
// Changes reads from with range_start. Changes reads strictly in order,
// page after page, and folds the events of the connection's directory
// into one ChangeSet (a user as of its last event, a deletion, a group
// with its members as they are now); a large backlog is cut into batches
// of at most MaxBatchEvents events, each ending at a cursor, so that
// several polls apply it. A cursor the API refuses (expired, unknown) and
// a directory deleted, activated or deactivated ask for a full resync.
//
// Webhooks are only a doorbell. WorkOS delivers them without order and
// sometimes twice, while the Events API is ordered and replayable, as
// WorkOS itself recommends. So VerifyPush only checks the WorkOS-Signature
// of a webhook; the engine then has every rule reading the connection poll
// at once, and the event arrives through Changes, in order and once. A
// lost webhook delays a change by one poll interval; a duplicated or late
// one costs a poll that finds nothing new.
package workos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
)

// Type is the "workos" connection type.
var Type = connectors.Type{
	New:     func() connectors.Config { return new(Config) },
	Summary: "WorkOS Directory Sync (a directory's users and groups), as a source read through the Events API",
	// An idle poll is one /events request; WorkOS allows 6,000 requests a
	// minute per key. Resync every 6 hours, the long end of what WorkOS
	// recommends for reconciling through the state APIs, since those
	// are limited to 4 requests/s per directory.
	Cadence: connectors.Cadence{PollInterval: time.Minute, PollJitter: 10 * time.Second,
		BreakerReset: 30 * time.Minute, ResyncInterval: 6 * time.Hour},
	Flags: []connectors.Flag{
		{Name: "url", Key: "url", Help: "the WorkOS API base URL (default " + DefaultURL + ")"},
		{Name: "api-key", Key: "apiKey", Help: "secret reference (env:NAME or file:PATH) to the WorkOS API key (sk_…)"},
		{Name: "directory", Key: "directory", Help: "the id of the WorkOS directory to read (directory_…)"},
	},
	Examples: []string{
		"starter connection create corp-idp --type workos --api-key env:WORKOS_API_KEY --directory directory_01ECAZ4NV9QMV47GW873HDCX74 --webhook-secret env:WORKOS_WEBHOOK_SECRET",
		`starter connection create corp-idp --type workos --api-key file:/run/secrets/workos --directory directory_01ECAZ4NV9QMV47GW873HDCX74 --set pageSize=50 --set 'eventTypes=["dsync.user.created","dsync.user.updated","dsync.user.deleted"]'`,
	},
	VerifyPush: VerifyPush,
}

// Defaults and bounds of the settings.
const (
	DefaultURL       = "https://api.workos.com"
	DefaultPageSize  = 100
	MaxPageSize      = 100
	DefaultRetention = 30 * 24 * time.Hour
	// DefaultMaxBatchEvents bounds the events one Changes folds into a
	// ChangeSet, so that a backlog is applied over several polls, each
	// a bounded activity.
	DefaultMaxBatchEvents = 1000
	// maxBatchBytes bounds the same batch by the size of the events read.
	maxBatchBytes = 1 << 20
)

// EventTypes are the Directory Sync event types, the default of
// Config.EventTypes.
var EventTypes = []string{
	"dsync.activated", "dsync.deactivated", "dsync.deleted",
	"dsync.user.created", "dsync.user.updated", "dsync.user.deleted",
	"dsync.group.created", "dsync.group.updated", "dsync.group.deleted",
	"dsync.group.user_added", "dsync.group.user_removed",
}

// Config is a workos connection's settings.
type Config struct {
	// URL is the API base URL; default https://api.workos.com.
	URL string `json:"url,omitempty"`
	// APIKey is a secret reference (env:NAME, file:PATH) to the API key.
	APIKey string `json:"apiKey" secret:"ref"`
	// Directory is the id of the directory to read; required. The events
	// stream is the environment's: events of other directories are read
	// past and ignored.
	Directory string `json:"directory"`
	// PageSize is the limit of each list request, 1–100; default 100.
	PageSize int `json:"pageSize,omitempty"`
	// EventTypes are the event types Changes asks for; default every
	// dsync.* type (EventTypes). Leaving some out leaves those changes
	// to the full resync.
	EventTypes []string `json:"eventTypes,omitempty"`
	// Retention is how long WorkOS keeps events (default 30 days): a
	// cursor older than that asks for a resync without a request.
	Retention Duration `json:"retention,omitzero"`
	// MaxBatchEvents bounds the events of one ChangeSet; default 1000.
	MaxBatchEvents int `json:"maxBatchEvents,omitempty"`
	// UsersPerSecond is the request budget for /directory_users, shared
	// by the connections of the process to one directory; default 4,
	// WorkOS's limit per directory.
	UsersPerSecond float64 `json:"usersPerSecond,omitempty"`
}

// Duration is a time.Duration that reads and writes as a Go duration
// string ("720h").
type Duration time.Duration

// MarshalJSON writes "720h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a Go duration string such as 720h, not %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a Go duration such as 720h, not %q", s)
	}
	*d = Duration(v)
	return nil
}

// Validate implements connectors.Config: it fills the defaults and
// reports every problem.
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q is not an http(s) URL", c.URL))
	}
	c.URL = strings.TrimRight(c.URL, "/")
	if c.APIKey == "" {
		errs = append(errs, errors.New("apiKey is required: a secret reference such as env:WORKOS_API_KEY"))
	} else if err := connectors.ValidateSecretRef(c.APIKey); err != nil {
		errs = append(errs, fmt.Errorf("apiKey: %w", err))
	}
	if c.Directory == "" {
		errs = append(errs, errors.New("directory is required: the directory id (directory_…)"))
	} else if !strings.HasPrefix(c.Directory, "directory_") {
		errs = append(errs, fmt.Errorf("directory: %q is not a directory id (directory_…)", c.Directory))
	}
	switch {
	case c.PageSize == 0:
		c.PageSize = DefaultPageSize
	case c.PageSize < 1 || c.PageSize > MaxPageSize:
		errs = append(errs, fmt.Errorf("pageSize: %d is not between 1 and %d", c.PageSize, MaxPageSize))
	}
	if len(c.EventTypes) == 0 {
		c.EventTypes = slices.Clone(EventTypes)
	}
	for _, t := range c.EventTypes {
		if !slices.Contains(EventTypes, t) {
			errs = append(errs, fmt.Errorf("eventTypes: %q is not a Directory Sync event type (%s)", t, strings.Join(EventTypes, ", ")))
		}
	}
	switch {
	case c.Retention == 0:
		c.Retention = Duration(DefaultRetention)
	case c.Retention < Duration(time.Hour):
		errs = append(errs, fmt.Errorf("retention: %s is less than an hour", time.Duration(c.Retention)))
	}
	switch {
	case c.MaxBatchEvents == 0:
		c.MaxBatchEvents = DefaultMaxBatchEvents
	case c.MaxBatchEvents < 1:
		errs = append(errs, fmt.Errorf("maxBatchEvents: %d is not positive", c.MaxBatchEvents))
	}
	switch {
	case c.UsersPerSecond == 0:
		c.UsersPerSecond = UsersPerSecond
	case c.UsersPerSecond < 0:
		errs = append(errs, fmt.Errorf("usersPerSecond: %g is negative", c.UsersPerSecond))
	}
	return errors.Join(errs...)
}

// Open implements connectors.Config: it resolves the API key. It sends
// no request; Test does.
func (c *Config) Open(_ context.Context, logger *slog.Logger) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("workos: %w", err)
	}
	key, err := connectors.ResolveSecret(c.APIKey)
	if err != nil {
		return nil, fmt.Errorf("workos: apiKey: %w", err)
	}
	return &workosConnector{
		cfg:    *c,
		client: newClient(c.URL, key, c.Directory, c.UsersPerSecond),
		logger: logger.With("directory", c.Directory),
		now:    time.Now,
	}, nil
}

// workosConnector is an open workos connection.
type workosConnector struct {
	cfg    Config
	client *client
	logger *slog.Logger
	now    func() time.Time
}

var (
	_ connectors.Source      = (*workosConnector)(nil)
	_ connectors.GroupSource = (*workosConnector)(nil)
	_ connectors.Incremental = (*workosConnector)(nil)
	_ connectors.Tester      = (*workosConnector)(nil)
	_ connectors.Describer   = (*workosConnector)(nil)
)

// Close implements connectors.Connector.
func (c *workosConnector) Close() error {
	c.client.http.CloseIdleConnections()
	return nil
}
