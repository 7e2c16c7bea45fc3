// Package memory is an identity store held in the process's memory, for
// tests and demos: a source (users, groups, a change log for incremental
// polls) and a target (users, groups, memberships) that answers the way
// reconciliation expects of real ones. A connection names a process-wide
// store ({"store": "hr"}), so that a source and a target connection, or a
// test and a worker in one process, share it; the test reads and writes
// it through Named's Store.
//
// Its settings can take capabilities away ("groups": false,
// "incremental": false), so that the engine's paths for stores without
// them are exercised, and knobs make it slow and imperfect (latency,
// refused lookups, throttling, errors) as real peers are.
package memory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/idsync/idsync/connectors"
)

// Type is the "memory" connection type.
var Type = connectors.Type{
	New:     func() connectors.Config { return new(Config) },
	Summary: "an in-memory store shared by the connections of one process (tests and demos), as a source and as a target",
	// Reading memory costs nothing: poll often, so that a test or a demo
	// sees a change within seconds; resync hourly.
	Cadence: connectors.Cadence{PollInterval: 10 * time.Second, PollJitter: 2 * time.Second,
		BreakerReset: time.Minute, ResyncInterval: time.Hour},
	Flags: []connectors.Flag{
		{Name: "store", Key: "store", Help: "the name of the process-wide store (connections naming it share it)"},
		{Name: "deprovision", Key: "deprovision", Help: "what deprovisioning a user does: disable (default) or delete"},
	},
	Examples: []string{
		"starter connection create demo-hr --type memory --store hr",
		`starter connection create demo-app --type memory --store app --set groups=false --set latency=20ms --set 'refuseLookup=["email"]'`,
	},
}

// Config is a memory connection's settings.
type Config struct {
	// Store names the process-wide store; required.
	Store string `json:"store"`
	// Groups and Incremental, when false, take the capability away from
	// the connection: a source without GroupSource or Incremental, a
	// target without GroupTarget and MemberOf. Default true.
	Groups      *bool `json:"groups,omitempty"`
	Incremental *bool `json:"incremental,omitempty"`
	// Deprovision is what DeprovisionUser does: disable (default) or
	// delete.
	Deprovision string `json:"deprovision,omitempty"`
	// PageSize is how many objects a listing returns per call (a call
	// meets the latency and the failure knobs); default 100.
	PageSize int `json:"pageSize,omitempty"`
	Knobs
}

// Defaults of the settings.
const DefaultPageSize = 100

// Validate implements connectors.Config.
func (c *Config) Validate() error {
	var errs []error
	if c.Store == "" {
		errs = append(errs, errors.New("store is required: the name of the process-wide store"))
	}
	switch c.Deprovision {
	case "":
		c.Deprovision = connectors.DeprovisionDisable
	case connectors.DeprovisionDisable, connectors.DeprovisionDelete:
	default:
		errs = append(errs, fmt.Errorf("deprovision: %q is not disable or delete", c.Deprovision))
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	} else if c.PageSize < 0 {
		errs = append(errs, fmt.Errorf("pageSize: %d is negative", c.PageSize))
	}
	errs = append(errs, c.Knobs.validate()...)
	return errors.Join(errs...)
}

func on(b *bool) bool { return b == nil || *b }

// Open implements connectors.Config: the store is made on first use. The
// connector is a source; connectors.AsTarget gives its target role.
func (c *Config) Open(_ context.Context, logger *slog.Logger) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	b := &conn{store: Named(c.Store), cfg: *c, knobs: c.Knobs.clone(), logger: logger.With("store", c.Store)}
	b.target = newTarget(b)
	return newSource(b), nil
}

// conn is what both roles of an open connection share.
type conn struct {
	store  *Store
	cfg    Config
	knobs  Knobs
	logger *slog.Logger
	target connectors.Target
}

func (b *conn) call(ctx context.Context, op string, write bool) error {
	return b.store.call(ctx, &b.knobs, op, write)
}

// Close implements connectors.Connector; the store outlives it.
func (b *conn) Close() error { return nil }

// AsTarget implements connectors.TargetRole.
func (b *conn) AsTarget() (connectors.Target, error) { return b.target, nil }

// Test implements connectors.Tester: the store is always there, but a
// failure the knobs inject is reported as a network one.
func (b *conn) Test(ctx context.Context) error {
	if err := b.call(ctx, "Test", false); err != nil {
		stage := connectors.StageTCP
		if errors.Is(err, connectors.ErrUnauthorized) {
			stage = connectors.StageAuth
		}
		return &connectors.TestError{Stage: stage, Err: err}
	}
	return nil
}

// pages calls fn for each page of items: each page is a call, which
// meets the latency and the failure knobs. It stops at fn's first error.
func pages[T any](ctx context.Context, b *conn, op string, items []T, fn func(T) error) error {
	size := b.cfg.PageSize
	for start := 0; start == 0 || start < len(items); start += size {
		if err := b.call(ctx, op, false); err != nil {
			return err
		}
		for _, it := range items[start:min(start+size, len(items))] {
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}
