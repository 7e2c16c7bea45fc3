package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

// Bounds of the changes signals the handler sends.
const (
	// maxBatchEvents and maxBatchBytes bound one signal that carries the
	// events of several requests. Temporal warns about payloads over
	// 512 KiB and refuses them over 2 MiB; the rule compacts its pending
	// changes above 5,000.
	maxBatchEvents = 2000
	maxBatchBytes  = 512 << 10
	// maxSignalBytes bounds one request's events, which always travel in
	// one signal: a larger request is refused (413) rather than failing
	// in Temporal.
	maxSignalBytes = 3 << 19 // 1.5 MiB
	// maxQueuedEvents bounds the events waiting for one rule; beyond it a
	// request is refused with 503 until the signals catch up.
	maxQueuedEvents = 20 * maxBatchEvents
	// signalTimeout bounds one signal; lookupTimeout one read of a
	// connection or list of rules.
	signalTimeout = 15 * time.Second
	lookupTimeout = 10 * time.Second
)

var (
	errBusy   = errors.New("too many changes are waiting to be signalled")
	errClosed = errors.New("the webhook is shutting down")
)

// coalescer sends the changes of concurrent requests to a rule as few
// signals: while a signal to the rule is in flight, the requests that
// arrive for it wait in its queue, and the next signal carries all of
// them (up to the batch bounds), requests in arrival order and each
// request's events in its order. A request alone is sent at once; in a
// burst a request waits for the signal in flight and then its own, not
// for one signal per request ahead of it. There is one sender goroutine
// per rule with a non-empty queue, and none once the queues are empty.
type coalescer struct {
	signal    func(ctx context.Context, rule string, batch workflows.ChangeBatch) error
	logger    *slog.Logger
	maxEvents int
	maxBytes  int
	maxQueued int
	// ctx outlives requests: a request that goes away does not cancel a
	// signal that carries other requests' events too. drain cancels it
	// when its deadline passes.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	queues map[string]*ruleQueue // rules whose sender runs
	closed bool
	wg     sync.WaitGroup
}

// changeSet is one request's events on their way to one rule.
type changeSet struct {
	events []reconcile.Event
	size   int        // bytes, encoded
	done   chan error // the signal's outcome; buffered, so never blocks
}

type ruleQueue struct {
	sets   []*changeSet
	events int
}

func newCoalescer(signal func(context.Context, string, workflows.ChangeBatch) error, logger *slog.Logger) *coalescer {
	ctx, cancel := context.WithCancel(context.Background())
	return &coalescer{signal: signal, logger: logger, maxEvents: maxBatchEvents, maxBytes: maxBatchBytes,
		maxQueued: maxQueuedEvents, ctx: ctx, cancel: cancel, queues: map[string]*ruleQueue{}}
}

// submit queues a request's events for every rule, or for none when a
// queue is full or the handler is draining. It returns one channel per
// rule, in the order of rules, that receives the outcome of the signal
// carrying the events.
func (c *coalescer) submit(rules []string, events []reconcile.Event, size int) ([]<-chan error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	for _, rule := range rules {
		if q := c.queues[rule]; q != nil && q.events > 0 && q.events+len(events) > c.maxQueued {
			return nil, fmt.Errorf("rule %q: %w", rule, errBusy)
		}
	}
	out := make([]<-chan error, 0, len(rules))
	for _, rule := range rules {
		cs := &changeSet{events: events, size: size, done: make(chan error, 1)}
		q := c.queues[rule]
		if q == nil {
			q = &ruleQueue{}
			c.queues[rule] = q
			c.wg.Add(1)
			go c.run(rule, q)
		}
		q.sets = append(q.sets, cs)
		q.events += len(events)
		out = append(out, cs.done)
	}
	return out, nil
}

// run sends the rule's queue, one batch at a time, until it is empty.
func (c *coalescer) run(rule string, q *ruleQueue) {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		batch := q.take(c.maxEvents, c.maxBytes)
		if len(batch) == 0 {
			delete(c.queues, rule)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		err := c.send(rule, batch)
		for _, cs := range batch {
			cs.done <- err
		}
	}
}

// take removes the longest run of sets from the front of the queue that
// fits the bounds; the first set goes even if it alone does not.
func (q *ruleQueue) take(maxEvents, maxBytes int) []*changeSet {
	n, events, size := 0, 0, 0
	for _, cs := range q.sets {
		if n > 0 && (events+len(cs.events) > maxEvents || size+cs.size > maxBytes) {
			break
		}
		n++
		events += len(cs.events)
		size += cs.size
	}
	batch := make([]*changeSet, n)
	copy(batch, q.sets)
	// Shift rather than reslice, so that the queue does not keep sent
	// events alive in its backing array.
	rest := copy(q.sets, q.sets[n:])
	clear(q.sets[rest:])
	q.sets = q.sets[:rest]
	q.events -= events
	return batch
}

func (c *coalescer) send(rule string, batch []*changeSet) error {
	var events []reconcile.Event
	for _, cs := range batch {
		events = append(events, cs.events...)
	}
	ctx, cancel := context.WithTimeout(c.ctx, signalTimeout)
	defer cancel()
	start := time.Now()
	err := c.signal(ctx, rule, workflows.ChangeBatch{Events: events})
	took := time.Since(start)
	if err != nil {
		c.logger.Error("signal rule", "rule", rule, "events", len(events), "requests", len(batch),
			"duration_ms", took.Milliseconds(), "error", err)
		return fmt.Errorf("signal rule %q: %w", rule, err)
	}
	c.logger.Debug("signalled rule", "rule", rule, "events", len(events), "requests", len(batch),
		"duration_ms", took.Milliseconds())
	return nil
}

// drain refuses new requests and waits until every queued change has been
// signalled. When ctx ends first, it cancels the signals in flight (their
// requests get an error) and returns ctx's error once the senders are gone.
func (c *coalescer) drain(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
		c.cancel()
		return nil
	case <-ctx.Done():
		c.cancel()
		<-done
		return fmt.Errorf("drain webhook signals: %w", ctx.Err())
	}
}
