package webhook

import (
	"errors"
	"sync"
)

// flight shares a lookup among the requests that need it while it is in
// flight: in a burst of webhooks for one connection, one query reads the
// connection and one lists its rules, instead of one per request. Nothing
// is kept once the lookup returns, so an answer is never older than the
// request that waits for it by more than one lookup.
type flight[T any] struct {
	mu    sync.Mutex
	calls map[string]*flightCall[T]
}

type flightCall[T any] struct {
	done   chan struct{}
	val    T
	err    error
	joined int // callers waiting for it besides the first; for tests
}

// do returns fn's result for key, calling fn unless a call for key is in
// flight, whose result it then waits for. fn must not depend on the
// caller's request: its result is shared.
func (f *flight[T]) do(key string, fn func() (T, error)) (T, error) {
	f.mu.Lock()
	if c, ok := f.calls[key]; ok {
		c.joined++
		f.mu.Unlock()
		<-c.done
		return c.val, c.err
	}
	if f.calls == nil {
		f.calls = map[string]*flightCall[T]{}
	}
	// Should fn panic, the waiters get this error rather than a zero value.
	c := &flightCall[T]{done: make(chan struct{}), err: errors.New("lookup did not return")}
	f.calls[key] = c
	f.mu.Unlock()

	defer func() {
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn()
	return c.val, c.err
}
