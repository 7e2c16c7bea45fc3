package webhook

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// DefaultReplayCacheSize bounds the requests a handler remembers to refuse
// their replays: 100,000 is 333 accepted requests a second for the whole
// 5-minute window, in about 15 MB.
const DefaultReplayCacheSize = 100_000

// seenCache remembers the signatures (and idempotency keys) of requests
// until their window closes, so that a captured request cannot be sent
// again while its timestamp is still acceptable. It holds hashes, never a
// signature itself. When it is full, the oldest entry is dropped even if
// its window is still open: a replay of that one request would then be
// accepted again (which is logged), rather than every new request refused.
type seenCache struct {
	max int

	mu      sync.Mutex
	entries map[seenKey]*list.Element // of *seenEntry
	order   *list.List                // oldest first
	evicted int                       // entries dropped while still live
}

type seenKey [sha256.Size]byte

type seenEntry struct {
	key      seenKey
	expires  time.Time
	accepted bool // its request was answered 202; until then a resend is told to wait
}

func newSeenCache(max int) *seenCache {
	if max <= 0 {
		max = DefaultReplayCacheSize
	}
	return &seenCache{max: max, entries: map[seenKey]*list.Element{}, order: list.New()}
}

// keyOf scopes a value (a signature, an idempotency key) to its kind and
// connection: the same key on two connections is two requests.
func keyOf(kind, connection, value string) seenKey {
	return sha256.Sum256([]byte(kind + "\x00" + connection + "\x00" + value))
}

// reserve records key until expires and returns the entry, or nil when the
// key is already there and not yet expired: a replay, or a resend while
// the first request is still in progress (inProgress). evictedLive is true
// when making room dropped an entry whose window was still open.
func (c *seenCache) reserve(key seenKey, expires, now time.Time) (e *seenEntry, inProgress, evictedLive bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		old := el.Value.(*seenEntry)
		if !now.After(old.expires) {
			return nil, !old.accepted, false
		}
		c.remove(el)
	}
	c.pruneExpired(now)
	for c.order.Len() >= c.max {
		front := c.order.Front()
		if now.Before(front.Value.(*seenEntry).expires) {
			c.evicted++
			evictedLive = true
		}
		c.remove(front)
	}
	e = &seenEntry{key: key, expires: expires}
	c.entries[key] = c.order.PushBack(e)
	return e, false, evictedLive
}

// accept marks reservations whose request was accepted.
func (c *seenCache) accept(es ...*seenEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range es {
		if e != nil {
			e.accepted = true
		}
	}
}

// release forgets a reservation whose request was not accepted, so that
// the sender may retry the same signed request. A newer reservation of the
// same key is left alone.
func (c *seenCache) release(es ...*seenEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range es {
		if e == nil {
			continue
		}
		if el, ok := c.entries[e.key]; ok && el.Value.(*seenEntry) == e {
			c.remove(el)
		}
	}
}

// pruneExpired drops expired entries from the oldest end. Entries are
// kept in the order they arrived, which is nearly the order they expire;
// one that expires later than a newer one only waits a little longer.
func (c *seenCache) pruneExpired(now time.Time) {
	for el := c.order.Front(); el != nil && now.After(el.Value.(*seenEntry).expires); el = c.order.Front() {
		c.remove(el)
	}
}

func (c *seenCache) remove(el *list.Element) {
	delete(c.entries, el.Value.(*seenEntry).key)
	c.order.Remove(el)
}

func (c *seenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
