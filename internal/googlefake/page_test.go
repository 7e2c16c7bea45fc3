package googlefake

import "testing"

// TestIsPage: PageLatency slows the reads of a listing's pages, not
// single objects.
func TestIsPage(t *testing.T) {
	for path, want := range map[string]bool{
		"/admin/directory/v1/users":                               true,
		"/admin/directory/v1/groups":                              true,
		"/admin/directory/v1/groups/eng@x/members":                true,
		"/admin/reports/v1/activity/users/all/applications/admin": true,
		"/admin/directory/v1/users/ada@x":                         false,
		"/admin/directory/v1/groups/eng@x":                        false,
		"/admin/directory/v1/groups/eng@x/hasMember/ada@x":        false,
	} {
		if got := isPage(path); got != want {
			t.Errorf("%s: page %t, want %t", path, got, want)
		}
	}
}
