package activities

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/all"
	"github.com/idsync/idsync/connectors/memory"
)

// memoryRule is a rule "hr-to-app" from one memory store to another, the
// connections' settings extended by srcOpts and dstOpts (`, "groups":
// false`), and run, which runs one of its activities.
type memoryRule struct {
	t        *testing.T
	a        *Activities
	rule     RuleSpec
	src, dst *memory.Store
}

func newMemoryRule(t *testing.T, srcOpts, dstOpts string) *memoryRule {
	src, dst := memory.ForTest(t), memory.ForTest(t)
	settings := func(store, extra string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"store": %q%s}`, store, extra))
	}
	a := &Activities{
		Connections: connections{byName: map[string]connectors.Connection{
			"hr":  {Name: "hr", Type: "memory", Settings: settings(src.Name(), srcOpts)},
			"app": {Name: "app", Type: "memory", Settings: settings(dst.Name(), dstOpts)},
		}},
		Registry: all.Registry(),
		Pool:     &Pool{},
	}
	t.Cleanup(a.Pool.Close)
	return &memoryRule{t: t, a: a, src: src, dst: dst,
		rule: RuleSpec{Name: "hr-to-app", SourceConnection: "hr", TargetConnection: "app"}}
}

// run runs the activity fn with in and decodes its result into out.
func (m *memoryRule) run(fn, in, out any) {
	m.t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(m.a)
	v, err := env.ExecuteActivity(fn, in)
	if err != nil {
		m.t.Fatalf("activity: %v", err)
	}
	if err := v.Get(out); err != nil {
		m.t.Fatal(err)
	}
}

// TestSourceWithoutFeed: a rule whose source has no change feed (a
// memory store with incremental off) is polled by a digest of its
// listing. A poll when nothing changed neither reads nor writes the
// target; a change asks for a full resync, still without touching the
// target.
func TestSourceWithoutFeed(t *testing.T) {
	m := newMemoryRule(t, `, "incremental": false`, "")
	for i := range 3 {
		m.src.PutUser(connectors.User{ExternalID: fmt.Sprint(i), UserName: fmt.Sprintf("u%d", i), Active: true})
	}
	var cursor string
	m.run(m.a.SourceCursor, m.rule, &cursor)
	if !strings.HasPrefix(cursor, "snapshot:") {
		t.Fatalf("cursor %q: want a snapshot digest", cursor)
	}
	var res any
	m.run(m.a.Resync, ResyncInput{Rule: m.rule, Phase: PhaseUsers}, &res)
	if n := len(m.dst.Users()); n != 3 {
		t.Fatalf("the resync wrote %d users, want 3", n)
	}

	m.dst.ResetCalls()
	var check ChangeCheck
	m.run(m.a.CheckChanges, PollInput{Rule: m.rule, Cursor: cursor}, &check)
	var poll PollResult
	m.run(m.a.Poll, PollInput{Rule: m.rule, Cursor: cursor}, &poll)
	if check.Changed || poll.ResyncRequired || poll.Changes != 0 || poll.Cursor != cursor {
		t.Errorf("nothing changed, yet check %+v, poll %+v", check, poll)
	}
	if calls := m.dst.Calls(); len(calls) != 0 {
		t.Errorf("an idle poll called the target: %v", calls)
	}

	m.src.PutUser(connectors.User{ExternalID: "1", UserName: "u1", Active: false})
	m.run(m.a.CheckChanges, PollInput{Rule: m.rule, Cursor: cursor}, &check)
	m.run(m.a.Poll, PollInput{Rule: m.rule, Cursor: cursor}, &poll)
	if !check.Changed || !poll.ResyncRequired {
		t.Errorf("a user was disabled, yet check %+v, poll %+v", check, poll)
	}
	if calls := m.dst.Calls(); len(calls) != 0 {
		t.Errorf("a poll that can only ask for a resync called the target: %v", calls)
	}
}

// TestStoresWithoutGroups: when the source or the target has no groups,
// neither a full resync's groups phase nor a poll's group changes do any
// group work, and nothing fails.
func TestStoresWithoutGroups(t *testing.T) {
	tests := []struct {
		name             string
		srcOpts, dstOpts string
	}{
		{name: "target without groups", dstOpts: `, "groups": false`},
		{name: "source without groups", srcOpts: `, "groups": false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemoryRule(t, tt.srcOpts, tt.dstOpts)
			m.src.PutUser(connectors.User{ExternalID: "1", UserName: "ada", Active: true})
			m.src.PutGroup(connectors.Group{ExternalID: "g1", DisplayName: "eng", Members: []string{"1"}})
			var cursor string
			m.run(m.a.SourceCursor, m.rule, &cursor)
			var res struct{ Users, Groups struct{ Created, Failed int } }
			m.run(m.a.Resync, ResyncInput{Rule: m.rule, Phase: PhaseUsers}, &res)
			m.run(m.a.Resync, ResyncInput{Rule: m.rule, Phase: PhaseGroups}, &res)
			if res.Groups.Created != 0 || res.Groups.Failed != 0 || len(m.dst.Groups()) != 0 {
				t.Errorf("groups phase: %+v, target groups %v", res.Groups, m.dst.Groups())
			}
			m.src.PutGroup(connectors.Group{ExternalID: "g2", DisplayName: "ops", Members: []string{"1"}})
			var poll PollResult
			m.run(m.a.Poll, PollInput{Rule: m.rule, Cursor: cursor}, &poll)
			if poll.Result.Groups.Failed != 0 || len(m.dst.Groups()) != 0 {
				t.Errorf("poll: %+v, target groups %v", poll.Result.Groups, m.dst.Groups())
			}
			if len(m.dst.Users()) != 1 {
				t.Errorf("target users %v, want ada", m.dst.Users())
			}
		})
	}
}
