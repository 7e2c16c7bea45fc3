package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/idsync/idsync/connectors"
)

// Pool defaults. A poll every few minutes keeps its connectors open; a
// connector idle for longer is closed, and none lives past maxAge, so that
// a rotated secret in a file or a changed DNS answer is picked up.
const (
	defaultPoolIdle   = 10 * time.Minute
	defaultPoolMaxAge = 15 * time.Minute
)

// Pool keeps opened connectors for the activities that come after: an idle
// poll then costs its one source request, not a dial, TLS handshake, bind,
// OAuth token and discovery each time. Connectors are safe for concurrent
// use, so one opened connector serves every activity of the worker that
// needs that connection, in either role.
//
// A connector is keyed by its connection's name and a digest of its
// type and settings: changing a connection opens a new one. After any
// error the connector is dropped (closed once its last user is done), as
// it may hold a broken connection.
type Pool struct {
	// Idle and MaxAge default to 10 and 15 minutes.
	Idle, MaxAge time.Duration

	mu      sync.Mutex
	entries map[poolKey]*pooled
	closed  bool
	now     func() time.Time // for tests
}

type poolKey struct {
	name, digest string
}

type pooled struct {
	conn     connectors.Connector
	refs     int
	opened   time.Time
	lastUsed time.Time
	dropped  bool // no new users; closed when refs reaches 0
}

func (p *Pool) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

func settingsDigest(c connectors.Connection) string {
	h := sha256.New()
	h.Write([]byte(c.Type))
	h.Write([]byte{0})
	h.Write(c.Settings)
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// acquire returns the pooled connector for key, opening one with open when
// there is none (or it is too old). Call release exactly once with the
// error of the work done with it.
func (p *Pool) acquire(key poolKey, open func() (connectors.Connector, error)) (connectors.Connector, func(error), error) {
	p.mu.Lock()
	stale := p.sweepLocked()
	e := p.entries[key]
	if e != nil && !e.dropped && p.clock().Sub(e.opened) < p.maxAge() {
		e.refs++
		p.mu.Unlock()
		closeAll(slog.Default(), stale...)
		return e.conn, p.releaser(key, e), nil
	}
	if e != nil {
		stale = append(stale, p.dropLocked(key, e)...)
	}
	p.mu.Unlock()
	closeAll(slog.Default(), stale...)

	// Open without the lock: a dial may take seconds. Two activities
	// opening the same key at once both open; the later one keeps its own
	// unpooled and closes it on release.
	c, err := open()
	if err != nil {
		return nil, nil, err
	}
	now := p.clock()
	e = &pooled{conn: c, refs: 1, opened: now, lastUsed: now}
	p.mu.Lock()
	if p.closed || p.entries[key] != nil {
		e.dropped = true
	} else {
		if p.entries == nil {
			p.entries = map[poolKey]*pooled{}
		}
		p.entries[key] = e
	}
	p.mu.Unlock()
	return c, p.releaser(key, e), nil
}

func (p *Pool) releaser(key poolKey, e *pooled) func(error) {
	var once sync.Once
	return func(err error) {
		once.Do(func() {
			p.mu.Lock()
			e.refs--
			e.lastUsed = p.clock()
			var toClose []connectors.Connector
			if err != nil && !e.dropped {
				toClose = p.dropLocked(key, e)
			} else if e.dropped && e.refs == 0 {
				toClose = []connectors.Connector{e.conn}
			}
			p.mu.Unlock()
			closeAll(slog.Default(), toClose...)
		})
	}
}

// dropLocked takes e out of the pool; it returns e's connector when
// nobody uses it any more, for the caller to close outside the lock.
func (p *Pool) dropLocked(key poolKey, e *pooled) []connectors.Connector {
	if p.entries[key] == e {
		delete(p.entries, key)
	}
	e.dropped = true
	if e.refs == 0 {
		return []connectors.Connector{e.conn}
	}
	return nil
}

// sweepLocked drops connectors unused for longer than Idle.
func (p *Pool) sweepLocked() []connectors.Connector {
	var out []connectors.Connector
	now := p.clock()
	for k, e := range p.entries {
		if e.refs == 0 && now.Sub(e.lastUsed) > p.idle() {
			out = append(out, p.dropLocked(k, e)...)
		}
	}
	return out
}

func (p *Pool) idle() time.Duration {
	if p.Idle > 0 {
		return p.Idle
	}
	return defaultPoolIdle
}

func (p *Pool) maxAge() time.Duration {
	if p.MaxAge > 0 {
		return p.MaxAge
	}
	return defaultPoolMaxAge
}

// Close closes every idle connector now and the others when their
// activities are done; the pool opens nothing afterwards that it keeps.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	var toClose []connectors.Connector
	for k, e := range p.entries {
		toClose = append(toClose, p.dropLocked(k, e)...)
	}
	p.mu.Unlock()
	closeAll(slog.Default(), toClose...)
}

// Len is the number of connectors the pool holds.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries)
}

// openPooled opens a connection through the pool, or directly when the
// activities have no pool. One connector serves both roles.
func (a *Activities) openPooled(ctx context.Context, name string) (connectors.Connector, func(error), error) {
	c, err := a.Connections.Connection(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	// The connector outlives this activity: it must not keep the
	// activity's context (cancelled when the activity ends) for later
	// token fetches or dials. Its logs name the connection, not a rule.
	open := func() (connectors.Connector, error) {
		octx := context.WithoutCancel(ctx)
		logger := a.baseLogger().With("connection", c.Name)
		return a.openConn(octx, c, logger)
	}
	if a.Pool == nil {
		conn, err := open()
		if err != nil {
			return nil, nil, err
		}
		return conn, func(error) { closeAll(a.baseLogger(), conn) }, nil
	}
	return a.Pool.acquire(poolKey{name: c.Name, digest: settingsDigest(c)}, open)
}
