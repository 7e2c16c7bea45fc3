package reconcile

import (
	"slices"
	"testing"
)

// TestMemberDiff: members to add are those wanted and missing; members to
// remove are those present, unwanted and managed by idsync. A member
// someone added by hand in the target (not managed) is never removed.
func TestMemberDiff(t *testing.T) {
	managed := map[string]bool{"m1": true, "m2": true, "m3": true}
	tests := []struct {
		name            string
		current, want   []string
		wantAdd, wantRm []string
	}{
		{"empty", nil, nil, nil, nil},
		{"from nothing", nil, []string{"m2", "m1"}, []string{"m1", "m2"}, nil},
		{"equal, in another order", []string{"m2", "m1"}, []string{"m1", "m2"}, nil, nil},
		{"add and remove", []string{"m1", "m2"}, []string{"m2", "m3"}, []string{"m3"}, []string{"m1"}},
		{"an unmanaged member stays", []string{"m1", "hand"}, nil, nil, []string{"m1"}},
		{"an unmanaged member is added when wanted", []string{"m1"}, []string{"m1", "hand"}, []string{"hand"}, nil},
		{"all removed", []string{"m3", "m1", "m2"}, []string{}, nil, []string{"m1", "m2", "m3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			add, rm := memberDiff(tt.current, tt.want, managed)
			if !slices.Equal(add, tt.wantAdd) || !slices.Equal(rm, tt.wantRm) {
				t.Errorf("memberDiff(%q, %q) = add %q, remove %q; want add %q, remove %q",
					tt.current, tt.want, add, rm, tt.wantAdd, tt.wantRm)
			}
		})
	}
}
