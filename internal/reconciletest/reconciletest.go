// Package reconciletest holds what the tests of reconcile share between
// its two test packages: reconcile's own, between in-memory stores, and
// reconcile/peertest, between real peers.
package reconciletest

import (
	"context"
	"slices"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// FullTarget and FullSource are connectors with every capability the
// Syncer uses: groups, and for a source, changes.
type (
	FullTarget interface {
		connectors.Target
		connectors.GroupTarget
	}
	FullSource interface {
		connectors.Source
		connectors.GroupSource
		connectors.Incremental
	}
)

// FullSync runs the users and then the groups phase, as a full resync
// does, and fails the test on an error.
func FullSync(t testing.TB, s *reconcile.Syncer) (users, groups reconcile.Result) {
	t.Helper()
	users, err := s.SyncUsers(context.Background())
	if err != nil {
		t.Fatalf("SyncUsers: %v", err)
	}
	groups, err = s.SyncGroups(context.Background())
	if err != nil {
		t.Fatalf("SyncGroups: %v", err)
	}
	return users, groups
}

// CheckCounts fails the test when got is not want.
func CheckCounts(t testing.TB, what string, got, want reconcile.Counts) {
	t.Helper()
	if got != want {
		t.Errorf("%s counts = %+v, want %+v", what, got, want)
	}
}

// CheckNoFailures fails the test if a result reports failed objects.
func CheckNoFailures(t testing.TB, what string, r reconcile.Result) {
	t.Helper()
	if len(r.Failures) > 0 {
		t.Errorf("%s failures: %q", what, r.Failures)
	}
}

// Sorted returns ids sorted, [] for none, to compare member lists.
func Sorted(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	if ids == nil {
		ids = []string{}
	}
	return ids
}

// MemberIDs returns the target ids of the users with the given
// ExternalIDs, sorted, to compare with a group's MemberIDs.
func MemberIDs(t testing.TB, users []connectors.TargetUser, exts ...string) []string {
	t.Helper()
	byExt := map[string]string{}
	for _, tu := range users {
		if tu.ExternalID != "" {
			byExt[tu.ExternalID] = tu.ID
		}
	}
	out := make([]string, 0, len(exts))
	for _, ext := range exts {
		id, ok := byExt[ext]
		if !ok {
			t.Fatalf("no target user with externalId %q", ext)
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
