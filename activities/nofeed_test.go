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

// TestSourceWithoutFeed: a rule whose source has no change feed (a
// memory store with incremental off) is polled by a digest of its
// listing. A poll when nothing changed neither reads nor writes the
// target; a change asks for a full resync, still without touching the
// target.
func TestSourceWithoutFeed(t *testing.T) {
	src, dst := memory.ForTest(t), memory.ForTest(t)
	for i := range 3 {
		src.PutUser(connectors.User{ExternalID: fmt.Sprint(i), UserName: fmt.Sprintf("u%d", i), Active: true})
	}
	settings := func(store string, extra string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"store": %q%s}`, store, extra))
	}
	a := &Activities{
		Connections: connections{byName: map[string]connectors.Connection{
			"hr":  {Name: "hr", Type: "memory", Settings: settings(src.Name(), `, "incremental": false`)},
			"app": {Name: "app", Type: "memory", Settings: settings(dst.Name(), "")},
		}},
		Registry: all.Registry(),
		Pool:     &Pool{},
	}
	defer a.Pool.Close()
	rule := RuleSpec{Name: "hr-to-app", SourceConnection: "hr", TargetConnection: "app"}
	var suite testsuite.WorkflowTestSuite
	run := func(fn any, in any, out any) {
		t.Helper()
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(a)
		v, err := env.ExecuteActivity(fn, in)
		if err != nil {
			t.Fatalf("activity: %v", err)
		}
		if err := v.Get(out); err != nil {
			t.Fatal(err)
		}
	}

	var cursor string
	run(a.SourceCursor, rule, &cursor)
	if !strings.HasPrefix(cursor, "snapshot:") {
		t.Fatalf("cursor %q: want a snapshot digest", cursor)
	}
	var res any
	run(a.Resync, ResyncInput{Rule: rule, Phase: PhaseUsers}, &res)
	if n := len(dst.Users()); n != 3 {
		t.Fatalf("the resync wrote %d users, want 3", n)
	}

	dst.ResetCalls()
	var check ChangeCheck
	run(a.CheckChanges, PollInput{Rule: rule, Cursor: cursor}, &check)
	var poll PollResult
	run(a.Poll, PollInput{Rule: rule, Cursor: cursor}, &poll)
	if check.Changed || poll.ResyncRequired || poll.Changes != 0 || poll.Cursor != cursor {
		t.Errorf("nothing changed, yet check %+v, poll %+v", check, poll)
	}
	if calls := dst.Calls(); len(calls) != 0 {
		t.Errorf("an idle poll called the target: %v", calls)
	}

	src.PutUser(connectors.User{ExternalID: "1", UserName: "u1", Active: false})
	run(a.CheckChanges, PollInput{Rule: rule, Cursor: cursor}, &check)
	run(a.Poll, PollInput{Rule: rule, Cursor: cursor}, &poll)
	if !check.Changed || !poll.ResyncRequired {
		t.Errorf("a user was disabled, yet check %+v, poll %+v", check, poll)
	}
	if calls := dst.Calls(); len(calls) != 0 {
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
			src, dst := memory.ForTest(t), memory.ForTest(t)
			src.PutUser(connectors.User{ExternalID: "1", UserName: "ada", Active: true})
			src.PutGroup(connectors.Group{ExternalID: "g1", DisplayName: "eng", Members: []string{"1"}})
			a := &Activities{
				Connections: connections{byName: map[string]connectors.Connection{
					"hr":  {Name: "hr", Type: "memory", Settings: json.RawMessage(fmt.Sprintf(`{"store": %q%s}`, src.Name(), tt.srcOpts))},
					"app": {Name: "app", Type: "memory", Settings: json.RawMessage(fmt.Sprintf(`{"store": %q%s}`, dst.Name(), tt.dstOpts))},
				}},
				Registry: all.Registry(),
			}
			rule := RuleSpec{Name: "hr-to-app", SourceConnection: "hr", TargetConnection: "app"}
			var suite testsuite.WorkflowTestSuite
			run := func(fn any, in any, out any) {
				t.Helper()
				env := suite.NewTestActivityEnvironment()
				env.RegisterActivity(a)
				v, err := env.ExecuteActivity(fn, in)
				if err != nil {
					t.Fatalf("activity: %v", err)
				}
				if err := v.Get(out); err != nil {
					t.Fatal(err)
				}
			}
			var cursor string
			run(a.SourceCursor, rule, &cursor)
			var res struct{ Users, Groups struct{ Created, Failed int } }
			run(a.Resync, ResyncInput{Rule: rule, Phase: PhaseUsers}, &res)
			run(a.Resync, ResyncInput{Rule: rule, Phase: PhaseGroups}, &res)
			if res.Groups.Created != 0 || res.Groups.Failed != 0 || len(dst.Groups()) != 0 {
				t.Errorf("groups phase: %+v, target groups %v", res.Groups, dst.Groups())
			}
			src.PutGroup(connectors.Group{ExternalID: "g2", DisplayName: "ops", Members: []string{"1"}})
			var poll PollResult
			run(a.Poll, PollInput{Rule: rule, Cursor: cursor}, &poll)
			if poll.Result.Groups.Failed != 0 || len(dst.Groups()) != 0 {
				t.Errorf("poll: %+v, target groups %v", poll.Result.Groups, dst.Groups())
			}
			if len(dst.Users()) != 1 {
				t.Errorf("target users %v, want ada", dst.Users())
			}
		})
	}
}
