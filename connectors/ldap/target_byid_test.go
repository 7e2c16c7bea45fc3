package ldap

import (
	"context"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// TestTargetGetUserByID: a user is read by its id (entryUUID) alone; an id
// of no user is not found, without an error.
func TestTargetGetUserByID(t *testing.T) {
	f := newFixture(t)
	tgt := f.openTarget(t)
	ctx := context.Background()
	bob := connectors.User{ExternalID: "hr/ext-bob", UserName: "bob", FamilyName: "Builder", Email: "bob@example.org", Active: true}
	id := mustCreateUser(t, tgt, bob)

	tests := []struct {
		name  string
		id    string
		found bool
	}{
		{"by its id", id, true},
		{"an id of no user", "00000000-0000-4000-8000-000000000000", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found, err := tgt.GetUserByID(ctx, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if found != tt.found {
				t.Fatalf("found = %v, want %v", found, tt.found)
			}
			if found && (got.ID != id || !reconcile.UsersEqual(got.User, bob)) {
				t.Errorf("got %+v (id %s), want %+v (id %s)", got.User, got.ID, bob, id)
			}
		})
	}
}
