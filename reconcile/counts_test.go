package reconcile

import "testing"

func TestCountsAfter(t *testing.T) {
	tests := []struct {
		name        string
		retry, prev Counts
		want        Counts
	}{
		{"nothing before", Counts{Created: 3, Unchanged: 7}, Counts{}, Counts{Created: 3, Unchanged: 7}},
		{"creates of the first attempt seen unchanged", Counts{Created: 1821, Unchanged: 180}, Counts{Created: 180},
			Counts{Created: 2001}},
		{"updates and adoptions too", Counts{Unchanged: 10}, Counts{Updated: 2, Adopted: 3}, Counts{Updated: 2, Adopted: 3, Unchanged: 5}},
		{"deprovisions are not seen again", Counts{Unchanged: 5}, Counts{Deprovisioned: 4}, Counts{Deprovisioned: 4, Unchanged: 5}},
		{"never below zero", Counts{Unchanged: 1}, Counts{Created: 5}, Counts{Created: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.retry.After(tt.prev); got != tt.want {
				t.Errorf("After = %+v, want %+v", got, tt.want)
			}
		})
	}
}
