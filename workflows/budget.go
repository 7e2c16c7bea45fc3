package workflows

import (
	"errors"
	"fmt"
	"math"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/connectors/httpx"
)

// A target's request budget must hold across every worker, not only
// within one process: each target connection with a budget has a
// BudgetWorkflow ("budget/<connection>") that keeps the token buckets and
// leases tokens to workers in small batches. Workers spend a lease
// locally and ask for the next when it runs out, so the cost is one
// update per batch, not per request.

// BudgetIDPrefix prefixes a budget's workflow ID.
const BudgetIDPrefix = "budget/"

// UpdateNameLease asks a budget for tokens.
const UpdateNameLease = "lease"

// BudgetWorkflowID is the workflow ID of a connection's budget.
func BudgetWorkflowID(connection string) string { return BudgetIDPrefix + connection }

// LeaseRequest asks for up to Want tokens of the budget Limit (a changed
// limit replaces the old one), for writes or reads.
type LeaseRequest struct {
	Limit httpx.Limit `json:"limit"`
	Write bool        `json:"write,omitempty"`
	Want  int         `json:"want"`
}

// Lease grants Granted tokens now; with none granted, RetryAfter says when
// to ask again.
type Lease struct {
	Granted    int           `json:"granted"`
	RetryAfter time.Duration `json:"retryAfter,omitempty"`
}

// bucket is a token bucket kept in workflow time.
type bucket struct {
	Rate   float64   `json:"rate"` // tokens a second
	Burst  float64   `json:"burst"`
	Tokens float64   `json:"tokens"`
	At     time.Time `json:"at"`
}

func newBucket(n int, l httpx.Limit, now time.Time) *bucket {
	if n <= 0 {
		return nil
	}
	per := l.Per
	if per <= 0 {
		per = time.Minute
	}
	burst := float64(l.BurstFor(n))
	return &bucket{Rate: float64(n) / per.Seconds(), Burst: burst, Tokens: burst, At: now}
}

func (b *bucket) refill(now time.Time) {
	if b == nil || !now.After(b.At) {
		return
	}
	b.Tokens = math.Min(b.Burst, b.Tokens+now.Sub(b.At).Seconds()*b.Rate)
	b.At = now
}

// available is how many whole tokens the bucket has; unlimited for nil.
func (b *bucket) available() int {
	if b == nil {
		return math.MaxInt32
	}
	return int(b.Tokens)
}

// wait is how long until the bucket has one whole token.
func (b *bucket) wait() time.Duration {
	if b == nil || b.Tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - b.Tokens) / b.Rate * float64(time.Second)))
}

// BudgetState is a budget's durable state.
type BudgetState struct {
	Connection string      `json:"connection"`
	Limit      httpx.Limit `json:"limit"`
	All        *bucket     `json:"all,omitempty"`
	Writes     *bucket     `json:"writes,omitempty"`
}

// Budget tunables.
const (
	maxLeasesPerRun = 1000
	budgetIdle      = 24 * time.Hour
)

// BudgetWorkflow leases a target's request tokens to every worker. It
// ends after a day without a lease; the next lease starts it again.
func BudgetWorkflow(ctx workflow.Context, st BudgetState) error {
	leases := 0
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateNameLease,
		func(ctx workflow.Context, req LeaseRequest) (Lease, error) {
			leases++
			return st.lease(workflow.Now(ctx), req), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(req LeaseRequest) error {
			if req.Want <= 0 || req.Want > 10_000 {
				return fmt.Errorf("want %d: between 1 and 10000", req.Want)
			}
			if req.Limit.Zero() {
				return errors.New("a lease needs a limit")
			}
			return nil
		}}); err != nil {
		return fmt.Errorf("register lease update: %w", err)
	}
	for {
		before := leases
		ok, err := workflow.AwaitWithTimeout(ctx, budgetIdle, func() bool {
			return leases >= maxLeasesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		})
		if err != nil {
			return err
		}
		if !ok && leases == before {
			return nil // idle for a day: done
		}
		if ok {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			return workflow.NewContinueAsNewError(ctx, BudgetWorkflow, st)
		}
	}
}

// lease takes up to req.Want tokens from the buckets.
func (st *BudgetState) lease(now time.Time, req LeaseRequest) Lease {
	if req.Limit != st.Limit || (st.All == nil && st.Writes == nil) {
		st.Limit = req.Limit
		st.All = newBucket(req.Limit.Requests, req.Limit, now)
		st.Writes = newBucket(req.Limit.Writes, req.Limit, now)
	}
	st.All.refill(now)
	n := min(req.Want, st.All.available())
	if req.Write {
		st.Writes.refill(now)
		n = min(n, st.Writes.available())
	}
	if n == 0 {
		wait := st.All.wait()
		if req.Write {
			wait = max(wait, st.Writes.wait())
		}
		return Lease{RetryAfter: wait}
	}
	if st.All != nil {
		st.All.Tokens -= float64(n)
	}
	if req.Write && st.Writes != nil {
		st.Writes.Tokens -= float64(n)
	}
	return Lease{Granted: n}
}
