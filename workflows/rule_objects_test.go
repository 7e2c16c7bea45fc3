package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/reconcile"
)

// namedPoll answers poll n with n objects named user-n-0, user-n-1, …,
// and dropped more not named.
func namedPoll(n, named, dropped int) activities.PollResult {
	res := reconcile.Result{Users: reconcile.Counts{Updated: named + dropped}, ObjectsDropped: dropped}
	for i := range named {
		res.Objects = append(res.Objects, reconcile.Object{Action: reconcile.ActionUpdated, Kind: reconcile.KindUser,
			Name: fmt.Sprintf("user-%d-%d", n, i), ID: fmt.Sprintf("uid-%d-%d", n, i)})
	}
	return activities.PollResult{Cursor: fmt.Sprintf("c%d", n+1), Changes: named + dropped, Result: res}
}

// TestRecentObjects: the rule keeps the objects its runs named, newest
// last, the newest 200 only, with a line for those a run did not name;
// status returns them and the Web UI's details show the newest.
func (s *ruleSuite) TestRecentObjects() {
	s.mockPoll(func(n int, in activities.PollInput) (activities.PollResult, error) {
		switch n {
		case 0:
			return namedPoll(0, 150, 5), nil
		case 1:
			return namedPoll(1, 100, 0), nil
		}
		return okPoll(n, in)
	})
	after1 := s.statusAt(90 * time.Second)
	after2 := s.statusAt(150 * time.Second)
	var details string
	s.at(150*time.Second, func() { details = s.currentDetails() })
	s.runToDelete(ruleState("events"), 3*time.Minute)

	s.Len(after1.RecentObjects, 151, "150 named and a line for 5 more")
	s.Equal(5, after1.RecentObjects[150].More)
	s.Equal(RunPoll, after1.RecentObjects[0].Run)
	s.Equal("user-0-0", after1.RecentObjects[0].Name)

	got := after2.RecentObjects
	s.Require().Len(got, MaxRecentObjects)
	s.Equal("user-0-51", got[0].Name, "the oldest kept: 251 entries, the first 51 gone")
	s.Equal(5, got[99].More, "poll 0's line for its unnamed objects")
	s.Equal("user-1-99", got[199].Name, "newest last")
	s.True(got[199].At.After(got[0].At))

	s.Contains(details, "Last objects written")
	s.Contains(details, "user-1-99")
	s.NotContains(details, "user-1-89", "the details show the newest 10 only")
	s.Equal(detailsObjects, strings.Count(details, "updated user"))
}

// TestNewRuleInput: a new rule's input, which the Web UI shows, holds its
// settings and no zero totals that would read as current figures.
func TestNewRuleInput(t *testing.T) {
	b, err := json.Marshal(RuleState{Config: RuleConfig{Name: "corp-to-app", SourceConnection: "corp", TargetConnection: "app"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"totals"`, `"managedUsers"`, `"managedGroups"`, `"managed"`, `"recentObjects"`} {
		if strings.Contains(string(b), k) {
			t.Errorf("a new rule's input has %s: %s", k, b)
		}
	}
	var back RuleState
	if err := json.Unmarshal(b, &back); err != nil || back.Config.Name != "corp-to-app" || back.Managed != nil {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}
