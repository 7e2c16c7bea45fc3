package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/idsync/idsync/connectors"
)

// Knobs make a store slow and imperfect on purpose, as real peers are:
// every call waits, some lookups are refused, some calls are throttled or
// fail. The zero value turns them all off. A connection's settings hold
// its own; Store.SetKnobs sets the store's, which every connection of it
// meets as well.
type Knobs struct {
	// Latency delays every call (and every page of a listing); with
	// LatencyMax larger, by a random time in [Latency, LatencyMax].
	Latency    Duration `json:"latency,omitzero"`
	LatencyMax Duration `json:"latencyMax,omitzero"`
	// RefuseLookup are the attributes LookupUsers cannot look up by
	// ("email", "userName", …): it returns ErrLookupUnsupported, as a
	// SCIM service that refuses every filter form of an attribute does.
	// "group:externalId" and "group:displayName" refuse LookupGroups,
	// "group:members" GroupsOfUser.
	RefuseLookup []string `json:"refuseLookup,omitempty"`
	// ThrottleRate is the share of calls (0 to 1) that fail with a
	// *connectors.RateLimitError asking to wait RetryAfter (default 1s).
	ThrottleRate float64  `json:"throttleRate,omitempty"`
	RetryAfter   Duration `json:"retryAfter,omitzero"`
	// ErrorRate is the share of calls that fail as a 5xx does: an error
	// that unwraps to no connectors sentinel, which the engine retries.
	ErrorRate float64 `json:"errorRate,omitempty"`
	// RejectRate is the share of writes that fail with ErrRejected, as a
	// 400 does: the object is counted as failed, not retried.
	RejectRate float64 `json:"rejectRate,omitempty"`
}

// Duration is a time.Duration that reads and writes as a Go duration
// string ("250ms").
type Duration time.Duration

// MarshalJSON writes "250ms".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a Go duration string such as 250ms, not %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a Go duration such as 250ms, not %q", s)
	}
	*d = Duration(v)
	return nil
}

// Errors the knobs make; a test may also hand them to Store.FailNext.
var (
	// ErrUnavailable is the transient failure of ErrorRate: it unwraps to
	// no connectors sentinel, so it is retried.
	ErrUnavailable = errors.New("503 service unavailable (injected)")
)

// RateLimited is the error of ThrottleRate.
func RateLimited(retryAfter time.Duration) error {
	return &connectors.RateLimitError{RetryAfter: retryAfter, Err: errors.New("429 too many requests (injected)")}
}

// Rejected is the error of RejectRate.
func Rejected() error {
	return fmt.Errorf("400 bad request (injected): %w", connectors.ErrRejected)
}

func (k Knobs) validate() []error {
	var errs []error
	if k.Latency < 0 || k.LatencyMax < 0 || k.RetryAfter < 0 {
		errs = append(errs, errors.New("latency, latencyMax and retryAfter cannot be negative"))
	}
	for name, r := range map[string]float64{"throttleRate": k.ThrottleRate, "errorRate": k.ErrorRate, "rejectRate": k.RejectRate} {
		if r < 0 || r > 1 {
			errs = append(errs, fmt.Errorf("%s: %g is not between 0 and 1", name, r))
		}
	}
	for _, a := range k.RefuseLookup {
		if a == "" {
			errs = append(errs, errors.New("refuseLookup: an empty attribute"))
		}
	}
	return errs
}

func (k Knobs) clone() Knobs {
	k.RefuseLookup = slices.Clone(k.RefuseLookup)
	return k
}

// refuses says whether lookups by attr are refused.
func (k *Knobs) refuses(attr string) bool {
	return k != nil && slices.Contains(k.RefuseLookup, attr)
}

// apply waits out the latency, then draws the failures.
func (k *Knobs) apply(ctx context.Context, op string, write bool) error {
	if k == nil {
		return nil
	}
	if d := k.delay(); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("memory: %s: %w", op, ctx.Err())
		case <-timer.C:
		}
	} else if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	switch {
	case k.ThrottleRate > 0 && rand.Float64() < k.ThrottleRate:
		ra := time.Duration(k.RetryAfter)
		if ra == 0 {
			ra = time.Second
		}
		return fmt.Errorf("memory: %s: %w", op, RateLimited(ra))
	case k.ErrorRate > 0 && rand.Float64() < k.ErrorRate:
		return fmt.Errorf("memory: %s: %w", op, ErrUnavailable)
	case write && k.RejectRate > 0 && rand.Float64() < k.RejectRate:
		return fmt.Errorf("memory: %s: %w", op, Rejected())
	}
	return nil
}

func (k *Knobs) delay() time.Duration {
	lo, hi := time.Duration(k.Latency), time.Duration(k.LatencyMax)
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo+1)
}
