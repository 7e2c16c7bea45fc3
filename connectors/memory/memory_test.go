package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/connectortest"
	"github.com/idsync/idsync/connectors/memory"
)

var registry = connectors.Registry{"memory": memory.Type}

// open opens a memory connection through the registry, as the worker
// does, with settings on top of the store's name.
func open(t *testing.T, store *memory.Store, settings map[string]any) connectors.Connector {
	t.Helper()
	s := map[string]any{"store": store.Name()}
	for k, v := range settings {
		s[k] = v
	}
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	conn, err := registry.Open(t.Context(), "mem", "memory", raw, logger)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func openTarget(t *testing.T, store *memory.Store, settings map[string]any) connectors.Target {
	t.Helper()
	tgt, err := connectors.AsTarget(open(t, store, settings))
	if err != nil {
		t.Fatal(err)
	}
	return tgt
}

func openSource(t *testing.T, store *memory.Store, settings map[string]any) connectors.Source {
	t.Helper()
	src, err := connectors.AsSource(open(t, store, settings))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

var extSeq atomic.Int64

// sourceHarness writes to the store through its Go API, as a test does.
func sourceHarness(store *memory.Store, settings map[string]any) connectortest.SourceHarness {
	return connectortest.SourceHarness{
		Open: func(t *testing.T) connectors.Source { return openSource(t, store, settings) },
		PutUser: func(t *testing.T, u connectors.User) string {
			if u.ExternalID == "" {
				u.ExternalID = fmt.Sprintf("src-%d", extSeq.Add(1))
			}
			store.PutUser(u)
			return u.ExternalID
		},
		DeleteUser: func(t *testing.T, ext string) {
			if !store.DeleteUser(ext) {
				t.Fatalf("no user %s to delete", ext)
			}
		},
		PutGroup: func(t *testing.T, g connectors.Group) string {
			if g.ExternalID == "" {
				g.ExternalID = fmt.Sprintf("src-g-%d", extSeq.Add(1))
			}
			store.PutGroup(g)
			return g.ExternalID
		},
		DeleteGroup: func(t *testing.T, ext string) {
			if !store.DeleteGroup(ext) {
				t.Fatalf("no group %s to delete", ext)
			}
		},
		PageSize:   4,
		Attributes: []string{"title", "department", "employeeNumber", "phoneNumber", "manager"},
	}
}

// TestConformance runs the connector suites over memory stores with all
// capabilities and with reduced ones, and with knobs that make the store
// slow and refuse a lookup.
func TestConformance(t *testing.T) {
	tests := []struct {
		name        string
		settings    map[string]any
		deprovision string
		unsupported []string
	}{
		{name: "full", settings: map[string]any{"pageSize": 4}},
		{name: "no-groups", settings: map[string]any{"pageSize": 4, "groups": false}},
		{name: "no-incremental", settings: map[string]any{"pageSize": 4, "incremental": false}},
		{name: "users-only", settings: map[string]any{"pageSize": 4, "groups": false, "incremental": false}},
		{name: "delete-mode", settings: map[string]any{"pageSize": 4, "deprovision": "delete"}, deprovision: connectors.DeprovisionDelete},
		{name: "slow-refuses-email", settings: map[string]any{"pageSize": 4, "latency": "100us", "latencyMax": "1ms", "refuseLookup": []string{"email"}},
			unsupported: []string{connectors.MatchEmail}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Run("target", func(t *testing.T) {
				store := memory.ForTest(t)
				connectortest.RunTarget(t, connectortest.TargetHarness{
					Open:        func(t *testing.T) connectors.Target { return openTarget(t, store, tt.settings) },
					PageSize:    4,
					Attributes:  []string{"title", "department", "employeeNumber", "phoneNumber", "manager"},
					Deprovision: tt.deprovision,
					Unsupported: tt.unsupported,
				})
			})
			t.Run("source", func(t *testing.T) {
				connectortest.RunSource(t, sourceHarness(memory.ForTest(t), tt.settings))
			})
		})
	}
}

// TestCapabilities: the settings take capabilities away from both roles.
func TestCapabilities(t *testing.T) {
	tests := []struct {
		settings            map[string]any
		groups, incremental bool
	}{
		{map[string]any{}, true, true},
		{map[string]any{"groups": false}, false, true},
		{map[string]any{"incremental": false}, true, false},
		{map[string]any{"groups": false, "incremental": false}, false, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.settings), func(t *testing.T) {
			store := memory.ForTest(t)
			conn := open(t, store, tt.settings)
			src, err := connectors.AsSource(conn)
			if err != nil {
				t.Fatal(err)
			}
			tgt, err := connectors.AsTarget(conn)
			if err != nil {
				t.Fatal(err)
			}
			_, gs := src.(connectors.GroupSource)
			_, inc := src.(connectors.Incremental)
			_, gt := tgt.(connectors.GroupTarget)
			_, mo := tgt.(connectors.MemberOf)
			if gs != tt.groups || gt != tt.groups || mo != tt.groups || inc != tt.incremental {
				t.Errorf("GroupSource %t, GroupTarget %t, MemberOf %t, Incremental %t; want groups %t, incremental %t",
					gs, gt, mo, inc, tt.groups, tt.incremental)
			}
			for name, ok := range map[string]bool{
				"UserReader":        is[connectors.UserReader](tgt),
				"ModeDeprovisioner": is[connectors.ModeDeprovisioner](tgt),
				"Tester (target)":   is[connectors.Tester](tgt),
				"Tester (source)":   is[connectors.Tester](src),
			} {
				if !ok {
					t.Errorf("not a %s", name)
				}
			}
		})
	}
}

func is[T any](v any) bool { _, ok := v.(T); return ok }

// TestSharedStore: connections naming one store share it, with the test
// that seeds and inspects it; a source sees what a target wrote.
func TestSharedStore(t *testing.T) {
	store := memory.ForTest(t)
	if memory.Named(store.Name()) != store {
		t.Fatal("Named returns another store for the same name")
	}
	store.PutUser(connectors.User{ExternalID: "hr-1", UserName: "ada", Active: true})
	src := openSource(t, store, nil)
	if u, found, err := src.GetUser(t.Context(), "hr-1"); err != nil || !found || u.UserName != "ada" {
		t.Fatalf("GetUser = %+v, %t, %v", u, found, err)
	}
	tgt := openTarget(t, store, nil)
	id, err := tgt.CreateUser(t.Context(), connectors.User{ExternalID: "rule/x", UserName: "bob", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	users := store.Users()
	if len(users) != 2 || users[1].ID != id || users[1].ExternalID != "rule/x" || users[0].ExternalID != "" {
		t.Errorf("the store holds %+v", users)
	}
	// Read as a source, a user's ExternalID is its id; the engine's mark
	// is the target's business.
	if u, found, _ := src.GetUser(t.Context(), id); !found || u.ExternalID != id {
		t.Errorf("the source reads the target's user as %+v, %t", u, found)
	}
	memory.Drop(store.Name())
	if memory.Named(store.Name()) == store {
		t.Error("Named after Drop returns the dropped store")
	}
}

// TestChangesResync: a cursor the change log cannot answer asks for a
// resync: older than the retained log, of a dropped store, or not this
// connector's.
func TestChangesResync(t *testing.T) {
	store := memory.ForTest(t)
	inc := openSource(t, store, nil).(connectors.Incremental)
	ctx := t.Context()
	cur, err := inc.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	store.SetLogLimit(2)
	for i := range 2 {
		store.PutUser(connectors.User{ExternalID: fmt.Sprint(i), UserName: fmt.Sprint("u", i)})
	}
	if cs, err := inc.Changes(ctx, cur); err != nil || cs.ResyncRequired || len(cs.Users) != 2 {
		t.Fatalf("within the log: %+v, %v", cs, err)
	}
	store.PutUser(connectors.User{ExternalID: "2", UserName: "u2"})
	cs, err := inc.Changes(ctx, cur)
	if err != nil || !cs.ResyncRequired || cs.Cursor == "" || cs.Cursor == cur {
		t.Fatalf("past the log: %+v, %v; want ResyncRequired and a new cursor", cs, err)
	}
	if next, err := inc.Changes(ctx, cs.Cursor); err != nil || next.ResyncRequired || len(next.Users) > 0 {
		t.Errorf("from the new cursor: %+v, %v", next, err)
	}

	for _, c := range []string{"", "snapshot:v1:3:abc", "memory:v1:other:1", cs.Cursor + "9"} {
		if got, err := inc.Changes(ctx, c); err != nil || !got.ResyncRequired {
			t.Errorf("Changes(%q) = %+v, %v; want ResyncRequired", c, got, err)
		}
	}
	memory.Drop(store.Name())
	again := openSource(t, memory.Named(store.Name()), nil).(connectors.Incremental)
	if got, err := again.Changes(ctx, cs.Cursor); err != nil || !got.ResyncRequired {
		t.Errorf("a cursor of the dropped store: %+v, %v; want ResyncRequired", got, err)
	}
}

// TestChangesMembership: a user's deletion takes it out of its groups,
// which Changes reports changed; a connection without groups reports
// neither the groups nor their deletions.
func TestChangesMembership(t *testing.T) {
	store := memory.ForTest(t)
	store.PutUser(connectors.User{ExternalID: "u1", UserName: "ada"})
	store.PutUser(connectors.User{ExternalID: "u2", UserName: "bob"})
	store.PutGroup(connectors.Group{ExternalID: "g1", DisplayName: "eng", Members: []string{"u1", "u2"}})
	store.PutGroup(connectors.Group{ExternalID: "g2", DisplayName: "ops"})
	full := openSource(t, store, nil).(connectors.Incremental)
	bare := openSource(t, store, map[string]any{"groups": false}).(connectors.Incremental)
	cur, _ := full.Cursor(t.Context())
	store.DeleteUser("u1")
	store.DeleteGroup("g2")
	cs, err := full.Changes(t.Context(), cur)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Groups) != 1 || cs.Groups[0].ExternalID != "g1" || strings.Join(cs.Groups[0].Members, ",") != "u2" ||
		strings.Join(cs.DeletedIDs, ",") != "u1,g2" {
		t.Errorf("with groups: %+v", cs)
	}
	cs, err = bare.Changes(t.Context(), cur)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Groups) > 0 || strings.Join(cs.DeletedIDs, ",") != "u1" {
		t.Errorf("without groups: %+v", cs)
	}
}

// TestKnobs: latency, refused lookups and injected failures, through the
// settings and through the store, with the errors the engine classifies.
func TestKnobs(t *testing.T) {
	ctx := t.Context()
	u := connectors.User{UserName: "ada", Active: true}

	t.Run("latency", func(t *testing.T) {
		store := memory.ForTest(t)
		tgt := openTarget(t, store, map[string]any{"latency": "30ms"})
		start := time.Now()
		if _, err := tgt.LookupUsers(ctx, connectors.MatchUserName, "x"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 30*time.Millisecond {
			t.Errorf("a call took %s, want at least the 30ms latency", d)
		}
		store.SetKnobs(memory.Knobs{Latency: memory.Duration(time.Hour)})
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := tgt.CreateUser(short, u); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a call that outlives its context: %v, want DeadlineExceeded", err)
		}
		if len(store.Users()) != 0 {
			t.Error("a call that gave up wrote anyway")
		}
	})
	t.Run("refused lookups", func(t *testing.T) {
		store := memory.ForTest(t)
		tgt := openTarget(t, store, map[string]any{"refuseLookup": []string{"email", "group:members"}})
		if _, err := tgt.LookupUsers(ctx, connectors.MatchEmail, "a@example.org"); !errors.Is(err, connectors.ErrLookupUnsupported) {
			t.Errorf("refused email lookup: %v", err)
		}
		if _, err := tgt.LookupUsers(ctx, connectors.MatchUserName, "ada"); err != nil {
			t.Errorf("userName lookup: %v", err)
		}
		if _, err := tgt.(connectors.MemberOf).GroupsOfUser(ctx, "u"); !errors.Is(err, connectors.ErrLookupUnsupported) {
			t.Errorf("refused GroupsOfUser: %v", err)
		}
		store.SetKnobs(memory.Knobs{RefuseLookup: []string{"userName"}})
		if _, err := tgt.LookupUsers(ctx, connectors.MatchUserName, "ada"); !errors.Is(err, connectors.ErrLookupUnsupported) {
			t.Errorf("userName lookup refused by the store: %v", err)
		}
	})
	t.Run("failures", func(t *testing.T) {
		tests := []struct {
			name     string
			settings map[string]any
			inject   error
			check    func(error) bool
		}{
			{name: "throttled", settings: map[string]any{"throttleRate": 1, "retryAfter": "7s"}, check: func(err error) bool {
				var rl *connectors.RateLimitError
				return errors.As(err, &rl) && rl.RetryAfter == 7*time.Second
			}},
			{name: "5xx", settings: map[string]any{"errorRate": 1}, check: func(err error) bool {
				return errors.Is(err, memory.ErrUnavailable) && !errors.Is(err, connectors.ErrRejected) && !errors.Is(err, connectors.ErrNotFound)
			}},
			{name: "rejected", settings: map[string]any{"rejectRate": 1}, check: func(err error) bool { return errors.Is(err, connectors.ErrRejected) }},
			{name: "injected", inject: memory.RateLimited(time.Minute), check: func(err error) bool {
				var rl *connectors.RateLimitError
				return errors.As(err, &rl) && rl.RetryAfter == time.Minute
			}},
			{name: "injected unauthorized", inject: connectors.ErrUnauthorized, check: func(err error) bool { return errors.Is(err, connectors.ErrUnauthorized) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				store := memory.ForTest(t)
				tgt := openTarget(t, store, tt.settings)
				if tt.inject != nil {
					store.FailNext(1, tt.inject)
				}
				_, err := tgt.CreateUser(ctx, u)
				if err == nil || !tt.check(err) {
					t.Fatalf("CreateUser: %v", err)
				}
				if len(store.Users()) != 0 {
					t.Error("a failed call wrote")
				}
				if tt.inject != nil {
					if _, err := tgt.CreateUser(ctx, u); err != nil {
						t.Errorf("the call after the injected failure: %v", err)
					}
				}
			})
		}
		// A rejection is of writes only: reads go on.
		store := memory.ForTest(t)
		if _, err := openTarget(t, store, map[string]any{"rejectRate": 1}).LookupUsers(ctx, connectors.MatchUserName, "x"); err != nil {
			t.Errorf("a read with rejectRate 1: %v", err)
		}
	})
	t.Run("test", func(t *testing.T) {
		store := memory.ForTest(t)
		tgt := openTarget(t, store, nil).(connectors.Tester)
		if err := tgt.Test(ctx); err != nil {
			t.Fatal(err)
		}
		store.FailNext(1, connectors.ErrUnauthorized)
		var te *connectors.TestError
		if err := tgt.Test(ctx); !errors.As(err, &te) || te.Stage != connectors.StageAuth {
			t.Errorf("Test with the credentials refused: %v", err)
		}
	})
	t.Run("calls", func(t *testing.T) {
		store := memory.ForTest(t)
		src := openSource(t, store, map[string]any{"pageSize": 2})
		for i := range 5 {
			store.PutUser(connectors.User{ExternalID: fmt.Sprint(i), UserName: fmt.Sprint("u", i)})
		}
		if err := src.ListUsers(ctx, func(connectors.User) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if got := store.Calls()["ListUsers"]; got != 3 {
			t.Errorf("listing 5 users by pages of 2 made %d calls, want 3", got)
		}
	})
}

// TestValidate: settings are checked, and their problems reported
// together.
func TestValidate(t *testing.T) {
	tests := []struct {
		settings string
		wantErr  []string
	}{
		{`{"store": "x"}`, nil},
		{`{"store": "x", "deprovision": "delete", "groups": false, "latency": "1ms", "refuseLookup": ["email"]}`, nil},
		{`{}`, []string{"store is required"}},
		{`{"store": "x", "deprovision": "archive", "throttleRate": 2, "pageSize": -1}`, []string{"deprovision", "throttleRate", "pageSize"}},
		{`{"store": "x", "latency": "soon"}`, []string{"duration", "soon"}},
		{`{"store": "x", "bogus": 1}`, []string{"bogus"}},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			_, err := registry.Parse("memory", json.RawMessage(tt.settings))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded, want errors about %v", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
