package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"time"
)

// Config is a connector's settings for one connection, as stored in its
// connection workflow. It never holds a secret value, only a reference that
// Open resolves (see ResolveSecret).
type Config interface {
	// Validate checks the settings and fills defaults; it returns every
	// problem it finds, joined.
	Validate() error
	// Open resolves secret references and connects.
	Open(ctx context.Context, logger *slog.Logger) (Connector, error)
}

// Type is one connection type as its connector package describes it: how
// to make its config, and what the engine and the CLI need to know of it.
// Nothing outside the connector's folder keeps a table keyed by type.
type Type struct {
	// New returns an empty config of the type.
	New func() Config
	// Summary is one line for `starter connection create --help`.
	Summary string
	// Cadence is how a rule reading this type polls and recovers; the
	// zero Cadence takes DefaultCadence.
	Cadence Cadence
	// Flags are the settings common enough to have a flag of their own
	// in `starter connection create`; any other goes by --set.
	Flags []Flag
	// Examples are `starter connection create` command lines.
	Examples []string
	// VerifyPush, when set, checks a webhook that the vendor sends in its
	// own format and signature scheme (WorkOS-Signature), with the
	// connection's webhook secret; its error says why, safely for the
	// sender to read. A webhook it accepts makes every rule reading the
	// connection poll at once: the vendor's ordered, replayable feed stays
	// the one way changes arrive, so a webhook that is duplicated, late or
	// out of order applies nothing twice and loses nothing.
	VerifyPush func(header http.Header, body, secret []byte, now time.Time) error
}

// Flag is a connection setting with a flag of its own. Types may share a
// flag (--token) as long as it names the same key.
type Flag struct {
	// Name is the flag without its dashes; Key the settings key it sets.
	Name, Key, Help string
}

// Cadence is how a rule reading a source type polls and recovers.
type Cadence struct {
	// PollInterval, plus a jitter in [0, PollJitter) chosen from the
	// rule's name, so that many rules do not poll one source in step.
	PollInterval time.Duration `json:"pollInterval,omitempty"`
	PollJitter   time.Duration `json:"pollJitter,omitempty"`
	// BreakerReset is how long the circuit breaker stays open before the
	// full resync that closes it.
	BreakerReset time.Duration `json:"breakerReset,omitempty"`
	// ResyncInterval is how often a full resync repairs drift in the
	// target (objects changed or deleted there behind idsync's back).
	ResyncInterval time.Duration `json:"resyncInterval,omitempty"`
}

// DefaultCadence fills what a type's Cadence leaves zero.
var DefaultCadence = Cadence{PollInterval: 5 * time.Minute, BreakerReset: 30 * time.Minute, ResyncInterval: 24 * time.Hour}

// WithDefaults is c with its zero fields from DefaultCadence.
func (c Cadence) WithDefaults() Cadence {
	if c.PollInterval <= 0 {
		c.PollInterval, c.PollJitter = DefaultCadence.PollInterval, DefaultCadence.PollJitter
	}
	if c.BreakerReset <= 0 {
		c.BreakerReset = DefaultCadence.BreakerReset
	}
	if c.ResyncInterval <= 0 {
		c.ResyncInterval = DefaultCadence.ResyncInterval
	}
	return c
}

// Pusher is a Config whose connection pushes changes as they happen (an
// LDAP persistent search) when its settings ask for it: the worker then
// keeps a Watch on it, and rules reading it poll at once.
type Pusher interface {
	PushesChanges() bool
}

// Registry maps a connection type ("ldap", "scim", …) to its Type. It is
// built by the worker and the CLI and passed in, so that this package
// imports no connector.
type Registry map[string]Type

// Types returns the registered connection types, sorted.
func (r Registry) Types() []string {
	types := make([]string, 0, len(r))
	for t := range r {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// Cadence is the cadence of a source type, defaults filled.
func (r Registry) Cadence(connType string) Cadence {
	return r[connType].Cadence.WithDefaults()
}

// ErrInvalidConfig is matched (errors.Is) by every error of Parse, and of
// Open when the settings are at fault: retrying will not mend them.
var ErrInvalidConfig = errors.New("invalid configuration")

// invalid marks err as an ErrInvalidConfig, its message unchanged.
type invalid struct{ err error }

func (e invalid) Error() string   { return e.err.Error() }
func (e invalid) Unwrap() []error { return []error{e.err, ErrInvalidConfig} }

// Parse decodes settings into the Config of connType and validates it.
// Unknown fields are an error, so that a typo never silently becomes a
// default; a key that differs from a field's only in case is taken, as
// encoding/json takes it, so that settings stored before ParseStrict keep
// working on the worker.
func (r Registry) Parse(connType string, settings json.RawMessage) (Config, error) {
	return r.parse(connType, settings, false)
}

// ParseStrict is Parse for settings being created or changed: a key must
// be exactly one of the type's settings, and an unknown one is named with
// the setting it probably meant ("unknown setting "pagesize" for type
// scim; did you mean "pageSize"?").
func (r Registry) ParseStrict(connType string, settings json.RawMessage) (Config, error) {
	return r.parse(connType, settings, true)
}

func (r Registry) parse(connType string, settings json.RawMessage, strict bool) (Config, error) {
	t, ok := r[connType]
	if !ok {
		return nil, invalid{fmt.Errorf("unknown connection type %q (known: %v)", connType, r.Types())}
	}
	cfg := t.New()
	if len(bytes.TrimSpace(settings)) > 0 {
		if err := decodeSettings(connType, t.New, cfg, settings, strict); err != nil {
			return nil, invalid{fmt.Errorf("%s settings: %w", connType, err)}
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, invalid{fmt.Errorf("%s settings: %w", connType, err)}
	}
	return cfg, nil
}

// Realtime says whether a connection asks for real-time mode; false for
// settings that do not parse (the connection test reports those).
func (r Registry) Realtime(connType string, settings json.RawMessage) bool {
	cfg, err := r.Parse(connType, settings)
	if err != nil {
		return false
	}
	p, ok := cfg.(Pusher)
	return ok && p.PushesChanges()
}

// Open parses, validates and opens a connection. The connector serves
// whichever roles its type has: see AsSource and AsTarget.
func (r Registry) Open(ctx context.Context, name, connType string, settings json.RawMessage, logger *slog.Logger) (Connector, error) {
	cfg, err := r.Parse(connType, settings)
	if err != nil {
		return nil, fmt.Errorf("connection %q: %w", name, err)
	}
	conn, err := cfg.Open(ctx, logger.With(slog.Group("connection", "name", name, "type", connType)))
	if err != nil {
		return nil, fmt.Errorf("connection %q: open: %w", name, err)
	}
	return conn, nil
}

// Connection is a named, configured connection to an identity store, as
// stored in its connection workflow. It holds no secret value: Settings and
// WebhookSecret hold secret references only.
type Connection struct {
	Name     string          `json:"name"`
	Type     string          `json:"type"`
	Settings json.RawMessage `json:"settings,omitempty"`
	// WebhookSecret is a secret reference (env:NAME, file:PATH) to the key
	// that signs change webhooks for this connection; empty disables them.
	WebhookSecret string `json:"webhookSecret,omitempty"`
}
