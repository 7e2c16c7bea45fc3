package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/idsync/idsync/workflows"
)

// doorbell serves a vendor's own webhook (see connectors.Type.VerifyPush).
// Once it is verified, the rules reading the connection are asked to poll,
// in the background (see ringer), and the vendor is answered at once: a
// vendor sends one webhook per event, thousands in a burst, and expects a
// fast 2xx. Should the rules not be reached after a few attempts
// (Temporal down, the worker stopping), the changes wait for the rules'
// next regular poll: the vendor's feed keeps them, so nothing is lost.
func (h *Handler) doorbell(r *http.Request, name string, body, key []byte,
	verify func(http.Header, []byte, []byte, time.Time) error, now time.Time, logger *slog.Logger) (Response, error) {
	if err := verify(r.Header, body, key, now); err != nil {
		return Response{}, refuse(http.StatusUnauthorized, "signature: %v", err)
	}
	if !h.ring.ring(name, func() { h.pollRules(name, logger) }) {
		return Response{}, unavailable("the worker is shutting down; retry later")
	}
	return Response{PollRequested: true}, nil
}

// ringBackoff is how long pollRules waits before each new attempt to
// reach the rules: a server or worker under load answers a burst of
// webhooks late, and a ring given up on leaves the changes to the rules'
// next regular poll, which may be an hour away.
var ringBackoff = []time.Duration{time.Second, 4 * time.Second, 15 * time.Second}

// pollRules asks every rule reading the connection to poll now, trying
// again (ringBackoff) the lookup and the rules that could not be reached.
func (h *Handler) pollRules(name string, logger *slog.Logger) {
	var rules []string
	for attempt := 0; ; attempt++ {
		if len(rules) == 0 {
			ctx, cancel := context.WithTimeout(h.co.ctx, lookupTimeout)
			found, err := h.Backend.Rules(ctx, name, "source")
			cancel()
			if err != nil {
				if h.ringWait(attempt) {
					continue
				}
				logger.Error("list rules for a vendor webhook; they read the changes at their next poll", "error", err, "attempts", attempt+1)
				return
			}
			if len(found) == 0 {
				return
			}
			rules = found
		}
		var missed []string
		var lastErr error
		for _, rule := range rules {
			ctx, cancel := context.WithTimeout(h.co.ctx, signalTimeout)
			err := h.Backend.PollNow(ctx, rule)
			cancel()
			if err != nil && !errors.Is(err, workflows.ErrNotFound) {
				missed, lastErr = append(missed, rule), err
			}
		}
		if len(missed) == 0 {
			return
		}
		if !h.ringWait(attempt) {
			logger.Error("ask rules to poll for a vendor webhook; they read the changes at their next poll", "rules", missed, "error", lastErr, "attempts", attempt+1)
			return
		}
		rules = missed
	}
}

// ringWait waits before attempt+1, and says whether there is one: not
// after the last backoff, nor once the worker is stopping.
func (h *Handler) ringWait(attempt int) bool {
	if attempt >= len(ringBackoff) {
		return false
	}
	select {
	case <-h.co.ctx.Done():
		return false
	case <-h.ring.stopping():
		return false
	case <-time.After(ringBackoff[attempt]):
		return true
	}
}

// ringer runs at most one round of poll requests per connection at a
// time. A doorbell during a round asks for one more round after it, so a
// burst of webhooks costs two rounds, not one per webhook, and every
// doorbell is still followed by a poll that starts after it.
type ringer struct {
	mu     sync.Mutex
	rounds map[string]*bool // connection → another round wanted
	closed bool
	stop   chan struct{} // closed by drain: rounds stop trying again
	wg     sync.WaitGroup
}

// stopping is closed once the ringer drains.
func (g *ringer) stopping() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stop == nil {
		g.stop = make(chan struct{})
	}
	return g.stop
}

// ring has round run for the connection, now or after the round in
// progress; false once the ringer is closed.
func (g *ringer) ring(conn string, round func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	if again, ok := g.rounds[conn]; ok {
		*again = true
		return true
	}
	if g.rounds == nil {
		g.rounds = map[string]*bool{}
	}
	again := new(bool)
	g.rounds[conn] = again
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			round()
			g.mu.Lock()
			if !*again {
				delete(g.rounds, conn)
				g.mu.Unlock()
				return
			}
			*again = false
			g.mu.Unlock()
		}
	}()
	return true
}

// drain refuses new rounds, ends their waits to try again, and waits for
// those in progress, or ctx.
func (g *ringer) drain(ctx context.Context) error {
	g.mu.Lock()
	if g.stop == nil {
		g.stop = make(chan struct{})
	}
	if !g.closed {
		close(g.stop)
	}
	g.closed = true
	g.mu.Unlock()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
