package ldap

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
)

// TestWatch: with realtime on, a change in the directory is noticed while
// it happens; nothing is reported for the entries that were there before;
// without realtime, Watch says it is off.
func TestWatch(t *testing.T) {
	f := newFixture(t)
	f.addUser(t, "before", "Before")
	off := f.open(t)
	if err := off.Watch(context.Background(), func() {}); !errors.Is(err, connectors.ErrWatchOff) {
		t.Fatalf("Watch without realtime: %v", err)
	}

	c := f.open(t, func(c *Config) { c.Realtime = true })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx, func() { changes <- struct{}{} }) }()

	// Let the persistent search start, then check it reported nothing.
	time.Sleep(500 * time.Millisecond)
	select {
	case <-changes:
		t.Fatal("existing entries were reported as changes")
	case err := <-done:
		t.Fatalf("Watch ended early: %v", err)
	default:
	}
	f.addUser(t, "during", "During")
	select {
	case <-changes:
	case err := <-done:
		t.Fatalf("Watch ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("an added user was not noticed within 10 s")
	}
	f.modify(t, fmt.Sprintf("dn: uid=before,%s\nchangetype: modify\nreplace: mail\nmail: b@example.org\n", f.people))
	select {
	case <-changes:
	case <-time.After(10 * time.Second):
		t.Fatal("a modified user was not noticed within 10 s")
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
