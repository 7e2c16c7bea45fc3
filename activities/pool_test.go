package activities

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
)

// countingConn is a connector that knows whether it was closed.
type countingConn struct {
	id     int
	closed atomic.Int32
}

func (c *countingConn) Close() error {
	c.closed.Add(1)
	return nil
}

type opener struct {
	mu     sync.Mutex
	opened []*countingConn
}

func (o *opener) open() (connectors.Connector, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := &countingConn{id: len(o.opened) + 1}
	o.opened = append(o.opened, c)
	return c, nil
}

func (o *opener) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.opened)
}

func TestPool(t *testing.T) {
	key := poolKey{name: "corp", digest: "a"}
	tests := []struct {
		name string
		// run uses the pool and returns the connector the last acquire got.
		run        func(t *testing.T, p *Pool, o *opener, clock *time.Time) connectors.Connector
		wantOpened int
		wantClosed []int // ids of the connectors closed at the end
	}{
		{
			name: "reused after success",
			run: func(t *testing.T, p *Pool, o *opener, _ *time.Time) connectors.Connector {
				c1 := use(t, p, key, o, nil)
				c2 := use(t, p, key, o, nil)
				if c1 != c2 {
					t.Error("second acquire opened a new connector")
				}
				return c2
			},
			wantOpened: 1,
		},
		{
			name: "dropped after an error",
			run: func(t *testing.T, p *Pool, o *opener, _ *time.Time) connectors.Connector {
				use(t, p, key, o, errors.New("connection reset"))
				return use(t, p, key, o, nil)
			},
			wantOpened: 2, wantClosed: []int{1},
		},
		{
			name: "other settings, other connector",
			run: func(t *testing.T, p *Pool, o *opener, _ *time.Time) connectors.Connector {
				use(t, p, key, o, nil)
				return use(t, p, poolKey{name: "corp", digest: "b"}, o, nil)
			},
			wantOpened: 2,
		},
		{
			name: "another connection, another connector",
			run: func(t *testing.T, p *Pool, o *opener, _ *time.Time) connectors.Connector {
				use(t, p, key, o, nil)
				return use(t, p, poolKey{name: "app", digest: "a"}, o, nil)
			},
			wantOpened: 2,
		},
		{
			name: "idle too long is closed",
			run: func(t *testing.T, p *Pool, o *opener, clock *time.Time) connectors.Connector {
				use(t, p, key, o, nil)
				*clock = clock.Add(11 * time.Minute)
				return use(t, p, key, o, nil)
			},
			wantOpened: 2, wantClosed: []int{1},
		},
		{
			name: "too old is replaced, and closed once its user is done",
			run: func(t *testing.T, p *Pool, o *opener, clock *time.Time) connectors.Connector {
				c1, release1, err := p.acquire(key, o.open)
				if err != nil {
					t.Fatal(err)
				}
				*clock = clock.Add(16 * time.Minute)
				c2 := use(t, p, key, o, nil)
				if c1 == c2 {
					t.Error("an old connector was handed out again")
				}
				if c1.(*countingConn).closed.Load() != 0 {
					t.Error("closed while still in use")
				}
				release1(nil)
				return c2
			},
			wantOpened: 2, wantClosed: []int{1},
		},
		{
			name: "release twice closes once",
			run: func(t *testing.T, p *Pool, o *opener, _ *time.Time) connectors.Connector {
				_, release, err := p.acquire(key, o.open)
				if err != nil {
					t.Fatal(err)
				}
				release(errors.New("boom"))
				release(errors.New("boom"))
				return use(t, p, key, o, nil)
			},
			wantOpened: 2, wantClosed: []int{1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
			p := &Pool{now: func() time.Time { return clock }}
			o := &opener{}
			last := tt.run(t, p, o, &clock)
			if got := o.count(); got != tt.wantOpened {
				t.Errorf("opened %d connectors, want %d", got, tt.wantOpened)
			}
			var closed []int
			for _, c := range o.opened {
				switch n := c.closed.Load(); {
				case n > 1:
					t.Errorf("connector %d closed %d times", c.id, n)
				case n == 1:
					closed = append(closed, c.id)
				}
			}
			if len(closed) != len(tt.wantClosed) || (len(closed) > 0 && closed[0] != tt.wantClosed[0]) {
				t.Errorf("closed %v, want %v", closed, tt.wantClosed)
			}
			if last.(*countingConn).closed.Load() != 0 {
				t.Error("the connector in the pool was closed")
			}
			p.Close()
			if last.(*countingConn).closed.Load() != 1 {
				t.Error("Close left a pooled connector open")
			}
		})
	}
}

// use acquires, and releases with err.
func use(t *testing.T, p *Pool, key poolKey, o *opener, err error) connectors.Connector {
	t.Helper()
	c, release, aerr := p.acquire(key, o.open)
	if aerr != nil {
		t.Fatal(aerr)
	}
	release(err)
	return c
}

// TestPoolConcurrent shares one connector between concurrent users (run
// with -race) and closes it after Close only when the last one is done.
func TestPoolConcurrent(t *testing.T) {
	p := &Pool{}
	o := &opener{}
	key := poolKey{name: "app"}
	first := use(t, p, key, o, nil)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 100 {
				c, release, err := p.acquire(key, o.open)
				if err != nil {
					t.Error(err)
					return
				}
				if c.(*countingConn).closed.Load() != 0 {
					t.Error("handed out a closed connector")
				}
				release(nil)
			}
		})
	}
	wg.Wait()
	if o.count() != 1 {
		t.Errorf("opened %d connectors for one key, want 1", o.count())
	}
	c, release, err := p.acquire(key, o.open)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if c.(*countingConn).closed.Load() != 0 {
		t.Error("Close closed a connector in use")
	}
	release(nil)
	if first.(*countingConn).closed.Load() != 1 {
		t.Error("connector not closed after its last user")
	}
	if p.Len() != 0 {
		t.Errorf("pool holds %d after Close", p.Len())
	}
}
