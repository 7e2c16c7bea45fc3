// Package realtime runs in the worker: it keeps a watch on every source
// connection that asks for real-time mode (a persistent LDAP sync search)
// and, when the source changes, asks the rules reading it to poll at once.
// The poll reads what changed with the rule's own cursor, so a notice that
// is missed or doubled loses or repeats nothing: polling on the interval
// stays the fallback whenever a watch is down.
package realtime

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/idsync/idsync/connectors"
)

// Backend is what the Notifier needs of Temporal.
type Backend interface {
	Connections(ctx context.Context) ([]string, error)
	Connection(ctx context.Context, name string) (connectors.Connection, error)
	Rules(ctx context.Context, connection, role string) ([]string, error)
	PollNow(ctx context.Context, rule string) error
}

// Notifier keeps a watch (connectors.Watcher) on each source connection
// in real-time mode and asks the rules reading it to poll when it changes.
type Notifier struct {
	Backend  Backend
	Registry connectors.Registry
	Logger   *slog.Logger
	// Refresh is how often the list of connections is read (default 30s).
	Refresh time.Duration
	// Debounce gathers a burst of changes into one poll (default 250ms).
	Debounce time.Duration
}

type watch struct {
	settings []byte
	cancel   context.CancelFunc
}

// Run watches until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	refresh := n.Refresh
	if refresh <= 0 {
		refresh = 30 * time.Second
	}
	running := map[string]*watch{}
	var wg sync.WaitGroup
	defer func() {
		for _, r := range running {
			r.cancel()
		}
		wg.Wait()
	}()
	for {
		n.reconcile(ctx, running, &wg)
		select {
		case <-ctx.Done():
			return
		case <-time.After(refresh):
		}
	}
}

// reconcile starts watches for new real-time connections and stops those
// of connections deleted, changed or no longer real-time.
func (n *Notifier) reconcile(ctx context.Context, running map[string]*watch, wg *sync.WaitGroup) {
	names, err := n.Backend.Connections(ctx)
	if err != nil {
		n.logger().Warn("list connections for real-time mode", "error", err)
		return
	}
	want := map[string][]byte{}
	for _, name := range names {
		c, err := n.Backend.Connection(ctx, name)
		if err != nil || !n.Registry.Realtime(c.Type, c.Settings) {
			continue
		}
		want[name] = c.Settings
	}
	for name, r := range running {
		if s, ok := want[name]; !ok || !bytes.Equal(s, r.settings) {
			n.logger().Info("stopping the real-time watch: the connection changed or was deleted", "connection", name, "found", ok)
			r.cancel()
			delete(running, name)
		}
	}
	for name, settings := range want {
		if _, ok := running[name]; ok {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		running[name] = &watch{settings: settings, cancel: cancel}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.watch(wctx, name)
		}()
	}
}

// watch keeps one connection's watch up, reconnecting with a backoff.
func (n *Notifier) watch(ctx context.Context, name string) {
	logger := n.logger().With("connection", name)
	notices := make(chan struct{}, 1)
	go n.pollOnNotice(ctx, name, notices, logger)
	backoff := time.Second
	for ctx.Err() == nil {
		err := n.watchOnce(ctx, name, func() {
			select {
			case notices <- struct{}{}:
			default: // a poll is already on its way
			}
		})
		switch {
		case errors.Is(err, connectors.ErrWatchOff):
			logger.Info("real-time mode is not available for this connection; it is polled")
			return
		case ctx.Err() != nil:
			return
		}
		logger.Warn("the real-time watch dropped; rules poll on their interval until it is back", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

func (n *Notifier) watchOnce(ctx context.Context, name string, changed func()) error {
	c, err := n.Backend.Connection(ctx, name)
	if err != nil {
		return err
	}
	conn, err := n.Registry.Open(ctx, c.Name, c.Type, c.Settings, n.logger())
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	wt, ok := conn.(connectors.Watcher)
	if !ok {
		return connectors.ErrWatchOff
	}
	return wt.Watch(ctx, changed)
}

// pollOnNotice asks every rule reading the connection to poll, at most
// once per debounce period.
func (n *Notifier) pollOnNotice(ctx context.Context, name string, notices <-chan struct{}, logger *slog.Logger) {
	debounce := n.Debounce
	if debounce <= 0 {
		debounce = 250 * time.Millisecond
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-notices:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(debounce):
		}
		rules, err := n.Backend.Rules(ctx, name, "source")
		if err != nil {
			logger.Warn("list rules to poll", "error", err)
			continue
		}
		for _, rule := range rules {
			if err := n.Backend.PollNow(ctx, rule); err != nil {
				logger.Warn("ask a rule to poll", "rule", rule, "error", err)
			}
		}
		logger.Debug("source changed: rules asked to poll", "rules", len(rules))
	}
}

func (n *Notifier) logger() *slog.Logger {
	if n.Logger != nil {
		return n.Logger
	}
	return slog.Default()
}
