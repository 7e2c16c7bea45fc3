package reconcile

import "testing"

func TestUserRun(t *testing.T) {
	u := func(id string) Event { return Event{Kind: KindUser, Op: OpUpsert, ID: id} }
	g := Event{Kind: KindGroup, Op: OpUpsert, ID: "g"}
	m := Event{Kind: KindMembership, Op: OpUpsert, GroupID: "g", UserID: "a"}
	tests := []struct {
		name   string
		events []Event
		want   int
	}{
		{"distinct users", []Event{u("a"), u("b"), u("c")}, 3},
		{"stops at a group", []Event{u("a"), u("b"), g, u("c")}, 2},
		{"a group alone", []Event{g, u("a")}, 1},
		{"a membership alone", []Event{m, m}, 1},
		{"stops at the same user again", []Event{u("a"), u("b"), u("a")}, 2},
		{"one event", []Event{u("a")}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := userRun(tt.events); got != tt.want {
				t.Errorf("userRun = %d, want %d", got, tt.want)
			}
		})
	}
}
