package workflows

import (
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// RuleConfig is a provisioning rule's settings. Zero values take the
// defaults of the source's type (Cadence) or of the engine.
type RuleConfig struct {
	Name             string `json:"name"`
	SourceConnection string `json:"sourceConnection"`
	TargetConnection string `json:"targetConnection"`
	// SourceType and TargetType are copied from the connections when the
	// rule is created: they choose defaults and label status.
	SourceType string `json:"sourceType"`
	TargetType string `json:"targetType"`
	// Cadence is the source type's (connectors.Type.Cadence), copied when
	// the rule is created: the poll interval, breaker reset and resync
	// interval that the settings below override.
	Cadence connectors.Cadence `json:"cadence,omitzero"`

	// PollInterval overrides the source type's polling interval.
	PollInterval time.Duration `json:"pollInterval,omitempty"`
	// FailureThreshold is how many consecutive failed polls open the
	// circuit breaker (default 5).
	FailureThreshold int `json:"failureThreshold,omitempty"`
	// BreakerReset overrides how long the breaker stays open before the
	// full resync that closes it.
	BreakerReset time.Duration `json:"breakerReset,omitempty"`
	// ResyncInterval overrides how often a scheduled full resync repairs
	// drift (default 24h); negative turns scheduled resyncs off.
	ResyncInterval time.Duration `json:"resyncInterval,omitempty"`
	// BatchWindow is how long real-time changes wait for more to arrive
	// before they are applied together. The default, 0, applies them at
	// once; changes that arrive while a batch is applied form the next
	// batch, so bursts batch themselves. A window is a durable timer, and
	// the server fires timers with about a second of granularity: a window
	// costs that much latency.
	BatchWindow time.Duration `json:"batchWindow,omitempty"`

	// MaxDeprovisionPerHour, when set, is the count that polls and
	// real-time changes may deprovision within an hour, instead of the
	// Policy's MaxDeprovisionFraction; the rest waits for approval.
	MaxDeprovisionPerHour int `json:"maxDeprovisionPerHour,omitempty"`

	// Policy is how runs reconcile (match, guard, concurrency,
	// deprovision, on-missing); the guard's fraction also bounds what
	// polls and real-time changes deprovision within an hour.
	reconcile.Policy

	// SkipInitialSync starts polling from now instead of with a full resync.
	SkipInitialSync bool `json:"skipInitialSync,omitempty"`
	// ContinueAsNewAfter, when set, continues as new after that many loop
	// turns even if the server does not suggest it (for tests).
	ContinueAsNewAfter int `json:"continueAsNewAfter,omitempty"`
}

// legacyCadence is the cadence of a rule whose config has none: one
// created before connection types owned their cadence, when LDAP was the
// only source type and this was its cadence.
var legacyCadence = connectors.Cadence{PollInterval: 2 * time.Minute, PollJitter: time.Minute,
	BreakerReset: 30 * time.Minute, ResyncInterval: 24 * time.Hour}

// cadence is the source type's cadence the rule was created with.
func (c RuleConfig) cadence() connectors.Cadence {
	if c.Cadence == (connectors.Cadence{}) {
		return legacyCadence
	}
	return c.Cadence.WithDefaults()
}

const (
	defaultFailureThreshold = 5
	defaultBatchWindow      = 0
)

// EffectivePollInterval is the interval the rule sleeps between polls.
func (c RuleConfig) EffectivePollInterval() time.Duration {
	if c.PollInterval > 0 {
		return c.PollInterval
	}
	d := c.cadence()
	return d.PollInterval + jitter(c.Name, d.PollJitter)
}

// EffectiveBreakerReset is how long the breaker stays open.
func (c RuleConfig) EffectiveBreakerReset() time.Duration {
	if c.BreakerReset > 0 {
		return c.BreakerReset
	}
	return c.cadence().BreakerReset
}

// EffectiveResyncInterval is how often a scheduled full resync runs; 0
// when scheduled resyncs are off (ResyncInterval < 0).
func (c RuleConfig) EffectiveResyncInterval() time.Duration {
	switch {
	case c.ResyncInterval < 0:
		return 0
	case c.ResyncInterval > 0:
		return c.ResyncInterval
	}
	return c.cadence().ResyncInterval
}

// EffectiveFailureThreshold is how many failed polls open the breaker.
func (c RuleConfig) EffectiveFailureThreshold() int {
	if c.FailureThreshold > 0 {
		return c.FailureThreshold
	}
	return defaultFailureThreshold
}

func (c RuleConfig) effectiveBatchWindow() time.Duration {
	if c.BatchWindow > 0 {
		return c.BatchWindow
	}
	return defaultBatchWindow
}

// jitter is deterministic: the same rule always gets the same offset, whole
// seconds, so that replays and restarts agree.
func jitter(name string, max time.Duration) time.Duration {
	if max < time.Second {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return time.Duration(h.Sum32()%uint32(max/time.Second)) * time.Second
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// ValidateName checks a rule or connection name: lower-case letters,
// digits, '.', '_' and '-', at most 63 characters.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("name %q: use 1–63 lower-case letters, digits, '.', '_' or '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// Validate reports every problem with the config.
func (c RuleConfig) Validate() error {
	var errs []error
	if err := ValidateName(c.Name); err != nil {
		errs = append(errs, err)
	}
	if c.SourceConnection == "" {
		errs = append(errs, errors.New("source connection is required"))
	}
	if c.TargetConnection == "" {
		errs = append(errs, errors.New("target connection is required"))
	}
	if c.SourceConnection != "" && c.SourceConnection == c.TargetConnection {
		errs = append(errs, errors.New("source and target must be different connections"))
	}
	if c.PollInterval < 0 || (c.PollInterval > 0 && c.PollInterval < time.Second) {
		errs = append(errs, fmt.Errorf("poll interval %s: must be at least 1s", c.PollInterval))
	}
	if c.BreakerReset < 0 {
		errs = append(errs, fmt.Errorf("breaker reset %s: must not be negative", c.BreakerReset))
	}
	if c.ResyncInterval > 0 && c.ResyncInterval < time.Minute {
		errs = append(errs, fmt.Errorf("resync interval %s: must be at least 1m (or off)", c.ResyncInterval))
	}
	if c.MaxDeprovisionPerHour < 0 {
		errs = append(errs, fmt.Errorf("max deprovision per hour %d: must not be negative", c.MaxDeprovisionPerHour))
	}
	if c.FailureThreshold < 0 {
		errs = append(errs, fmt.Errorf("failure threshold %d: must not be negative", c.FailureThreshold))
	}
	if c.BatchWindow < 0 || c.BatchWindow > time.Minute {
		errs = append(errs, fmt.Errorf("batch window %s: must be between 0 and 1m", c.BatchWindow))
	}
	if c.MaxDeprovisionFraction < 0 || c.MaxDeprovisionFraction > 1 {
		errs = append(errs, fmt.Errorf("max deprovision fraction %g: must be between 0 and 1", c.MaxDeprovisionFraction))
	}
	if c.Concurrency < 0 || c.Concurrency > 64 {
		errs = append(errs, fmt.Errorf("concurrency %d: must be between 0 and 64", c.Concurrency))
	}
	switch c.Deprovision {
	case "", "none", "disable", "delete":
	default:
		errs = append(errs, fmt.Errorf("deprovision %q: want disable, delete or none, or leave it empty for the target connection's setting", c.Deprovision))
	}
	switch c.OnMissing {
	case "", "recreate", "report":
	default:
		errs = append(errs, fmt.Errorf("on missing %q: want recreate or report", c.OnMissing))
	}
	for _, a := range c.MatchAttributes {
		if a == "" {
			errs = append(errs, errors.New("match attributes must not be empty strings"))
		}
	}
	return errors.Join(errs...)
}
