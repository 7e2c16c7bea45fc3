package ldap

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
)

// TestWatch: with realtime on, a change in the directory is noticed while
// it happens; nothing is reported for the entries that were there before;
// without realtime, Watch says it is off. It waits on events, never on the
// clock: the watch is live when the server ends its refresh phase, and
// each change must then be the next entry reported, so that an entry
// reported that should not be shows up ahead of it.
func TestWatch(t *testing.T) {
	f := newFixture(t)
	before := f.addUser(t, "before", "Before")
	off := f.open(t)
	if err := off.Watch(context.Background(), func() {}); !errors.Is(err, connectors.ErrWatchOff) {
		t.Fatalf("Watch without realtime: %v", err)
	}

	c := f.open(t, func(c *Config) { c.Realtime = true })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reported := make(chan string, 100)
	live := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.watch(ctx, func(dn string) { reported <- dn }, sync.OnceFunc(func() { close(live) }))
	}()
	select {
	case <-live:
	case err := <-done:
		t.Fatalf("Watch ended before its refresh phase did: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the persistent search did not end its refresh phase within 10 s")
	}

	steps := []struct {
		name   string
		change func() string // makes the change, returns the DN that must be reported
	}{
		{"added user", func() string { return f.addUser(t, "during", "During") }},
		{"modified user", func() string {
			f.modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: mail\nmail: b@example.org\n", before))
			return before
		}},
	}
	for _, s := range steps {
		want := s.change()
		select {
		case dn := <-reported:
			if dn != want {
				t.Fatalf("%s: %s was reported before (or instead of) %s", s.name, dn, want)
			}
		case err := <-done:
			t.Fatalf("%s: Watch ended: %v", s.name, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: %s was not reported within 10 s", s.name, want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Watch after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not end when its context did")
	}
}
