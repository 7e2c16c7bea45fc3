package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
)

// These tests run the Notifier with a connection type of their own, whose
// Watch reports changes when the test says so, and a Backend in memory.

// fakeConfig is the "watched" connection type: realtime turns real-time
// mode on; fail makes each Watch drop at once with an error.
type fakeConfig struct {
	Realtime bool   `json:"realtime"`
	Fail     bool   `json:"fail"`
	Tag      string `json:"tag"` // changes the settings, nothing else
	env      *fakeEnv
}

func (c *fakeConfig) Validate() error     { return nil }
func (c *fakeConfig) PushesChanges() bool { return c.Realtime }
func (c *fakeConfig) Open(context.Context, *slog.Logger) (connectors.Connector, error) {
	return &fakeConn{cfg: c}, nil
}

type fakeConn struct{ cfg *fakeConfig }

func (c *fakeConn) Close() error { return nil }

// Watch reports a change each time the test sends on changes, until ctx
// ends; every start and stop is recorded.
func (c *fakeConn) Watch(ctx context.Context, changed func()) error {
	e := c.cfg.env
	e.event("start " + c.cfg.Tag)
	defer e.event("stop " + c.cfg.Tag)
	if c.cfg.Fail {
		return errors.New("connection reset")
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.changes:
			changed()
		}
	}
}

// fakeEnv is the Backend: connections by name, rules by source.
type fakeEnv struct {
	mu      sync.Mutex
	conns   map[string]connectors.Connection
	rules   map[string][]string // guarded by mu
	polled  chan string
	events  chan string
	changes chan struct{}
}

func newFakeEnv() *fakeEnv {
	return &fakeEnv{conns: map[string]connectors.Connection{}, rules: map[string][]string{},
		polled: make(chan string, 100), events: make(chan string, 100), changes: make(chan struct{})}
}

func (e *fakeEnv) event(s string) { e.events <- s }

func (e *fakeEnv) set(name, settings string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if settings == "" {
		delete(e.conns, name)
		return
	}
	e.conns[name] = connectors.Connection{Name: name, Type: "watched", Settings: json.RawMessage(settings)}
}

func (e *fakeEnv) Connections(context.Context) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var names []string
	for n := range e.conns {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

func (e *fakeEnv) Connection(_ context.Context, name string) (connectors.Connection, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.conns[name]
	if !ok {
		return c, errors.New("no such connection")
	}
	return c, nil
}

func (e *fakeEnv) Rules(_ context.Context, connection, role string) ([]string, error) {
	if role != "source" {
		return nil, errors.New("the notifier asks for the rules reading a connection")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rules[connection], nil
}

func (e *fakeEnv) setRules(connection string, rules ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rules[connection] = rules
}

func (e *fakeEnv) PollNow(_ context.Context, rule string) error {
	e.polled <- rule
	return nil
}

func (e *fakeEnv) notifier() *Notifier {
	return &Notifier{
		Backend: e,
		Registry: connectors.Registry{"watched": {New: func() connectors.Config {
			return &fakeConfig{env: e}
		}}},
		Logger:   slog.New(slog.DiscardHandler),
		Refresh:  20 * time.Millisecond,
		Debounce: 10 * time.Millisecond,
	}
}

// next waits for the next value of ch.
func next(t *testing.T, ch <-chan string, what string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
		return ""
	}
}

// TestPollOnChange: a change of a real-time connection makes every rule
// reading it poll, once for a burst of changes.
func TestPollOnChange(t *testing.T) {
	e := newFakeEnv()
	e.set("corp", `{"realtime": true, "tag": "corp"}`)
	e.setRules("corp", "corp-to-app", "corp-to-chat")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	n := e.notifier()
	n.Debounce = 200 * time.Millisecond
	go func() { defer close(done); n.Run(ctx) }()

	if got := next(t, e.events, "watch start"); got != "start corp" {
		t.Fatalf("event %q, want the watch to start", got)
	}
	for range 5 { // a burst over 80ms, within the debounce: one poll each
		e.changes <- struct{}{}
		time.Sleep(20 * time.Millisecond)
	}
	got := []string{next(t, e.polled, "poll"), next(t, e.polled, "poll")}
	slices.Sort(got)
	if !slices.Equal(got, []string{"corp-to-app", "corp-to-chat"}) {
		t.Errorf("polled %v, want both rules", got)
	}
	// Another rule reads the connection from now on: the next poll must
	// be its. Had the burst polled more than once, a leftover poll of the
	// first rules would come first.
	e.setRules("corp", "corp-to-wiki")
	e.changes <- struct{}{}
	if got := next(t, e.polled, "poll"); got != "corp-to-wiki" {
		t.Errorf("polled %s, want corp-to-wiki: the burst polled more than once", got)
	}
	cancel()
	<-done
}

// TestWatchFollowsConnections: only real-time connections are watched; a
// watch is restarted when its settings change, stopped when real-time
// mode is turned off or the connection deleted, and reconnected after it
// drops.
func TestWatchFollowsConnections(t *testing.T) {
	e := newFakeEnv()
	n := e.notifier()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	running := map[string]*watch{}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	pass := func() []string {
		n.reconcile(ctx, running, &wg)
		return slices.Sorted(func(yield func(string) bool) {
			for k := range running {
				if !yield(k) {
					return
				}
			}
		})
	}

	e.set("corp", `{"realtime": true, "tag": "v1"}`)
	e.set("polled", `{"realtime": false}`)
	e.set("broken", `{"realtime": true, "unknown": 1}`) // does not parse: not watched
	if got := pass(); !slices.Equal(got, []string{"corp"}) {
		t.Fatalf("watching %v, want [corp]", got)
	}
	if got := next(t, e.events, "watch start"); got != "start v1" {
		t.Fatalf("event %q, want start v1", got)
	}

	e.set("corp", `{"realtime": true, "tag": "v2"}`)
	pass()
	// The old watch stops as the new one starts, in either order.
	got := []string{next(t, e.events, "watch event"), next(t, e.events, "watch event")}
	slices.Sort(got)
	if !slices.Equal(got, []string{"start v2", "stop v1"}) {
		t.Fatalf("events %q, want the old watch stopped and the new settings watched", got)
	}

	e.set("corp", `{"realtime": false, "tag": "v2"}`)
	if got := pass(); len(got) != 0 {
		t.Fatalf("watching %v after real-time mode was turned off", got)
	}
	if got := next(t, e.events, "watch stop"); got != "stop v2" {
		t.Fatalf("event %q, want the watch stopped", got)
	}

	e.set("flaky", `{"realtime": true, "fail": true, "tag": "flaky"}`)
	pass()
	for range 2 { // dropped, then reconnected after its backoff
		if got := next(t, e.events, "watch start"); got != "start flaky" {
			t.Fatalf("event %q, want start flaky", got)
		}
		if got := next(t, e.events, "watch stop"); got != "stop flaky" {
			t.Fatalf("event %q, want stop flaky", got)
		}
	}
	e.set("flaky", "")
	if got := pass(); len(got) != 0 {
		t.Fatalf("watching %v after the connection was deleted", got)
	}
}
