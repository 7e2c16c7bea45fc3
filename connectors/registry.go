package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
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

// Registry maps a connection type ("ldap", "scim", …) to a fresh Config.
// It is built by the worker and the CLI and passed in, so that this package
// imports no connector.
type Registry map[string]func() Config

// Types returns the registered connection types, sorted.
func (r Registry) Types() []string {
	types := make([]string, 0, len(r))
	for t := range r {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// Parse decodes settings into the Config of connType and validates it.
// Unknown fields are an error, so that a typo never silently becomes a
// default.
func (r Registry) Parse(connType string, settings json.RawMessage) (Config, error) {
	newConfig, ok := r[connType]
	if !ok {
		return nil, fmt.Errorf("unknown connection type %q (known: %v)", connType, r.Types())
	}
	cfg := newConfig()
	if len(settings) > 0 {
		dec := json.NewDecoder(bytes.NewReader(settings))
		dec.DisallowUnknownFields()
		if err := dec.Decode(cfg); err != nil {
			return nil, fmt.Errorf("%s settings: %w", connType, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s settings: %w", connType, err)
	}
	return cfg, nil
}

// TargetOpener is a Config whose connector is a Source when opened with
// Open and a Target when opened with OpenTarget (LDAP: one directory, two
// roles), so that one connection can serve both.
type TargetOpener interface {
	OpenTarget(ctx context.Context, logger *slog.Logger) (Target, error)
}

// OpenTarget parses, validates and opens a connection for writing: with
// OpenTarget when its config has it, else with Open.
func (r Registry) OpenTarget(ctx context.Context, name, connType string, settings json.RawMessage, logger *slog.Logger) (Connector, error) {
	cfg, err := r.Parse(connType, settings)
	if err != nil {
		return nil, fmt.Errorf("connection %q: %w", name, err)
	}
	logger = logger.With(slog.Group("connection", "name", name, "type", connType))
	var conn Connector
	if t, ok := cfg.(TargetOpener); ok {
		conn, err = t.OpenTarget(ctx, logger)
	} else {
		conn, err = cfg.Open(ctx, logger)
	}
	if err != nil {
		return nil, fmt.Errorf("connection %q: open: %w", name, err)
	}
	return conn, nil
}

// Open parses, validates and opens a connection.
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
