package graphfake

import (
	"net/http/httptest"
	"testing"
)

// TestIsPage: PageLatency slows the reads of a listing's pages, not
// single objects or writes.
func TestIsPage(t *testing.T) {
	for _, tt := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/v1.0/users", true},
		{"GET", "/v1.0/groups?$top=999", true},
		{"GET", "/v1.0/users/delta", true},
		{"GET", "/v1.0/groups/g1/members", true},
		{"GET", "/v1.0/users/u1", false},
		{"GET", "/v1.0/users/u1/manager", false},
		{"POST", "/v1.0/users", false},
		{"PATCH", "/v1.0/groups/g1", false},
	} {
		if got := isPage(httptest.NewRequest(tt.method, tt.path, nil)); got != tt.want {
			t.Errorf("%s %s: page %t, want %t", tt.method, tt.path, got, tt.want)
		}
	}
}
