package reconcile_test

import (
	"context"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// narrowTarget holds only title of the profile attributes, as a SCIM
// service has no place for a Workday hireDate: it drops the others on
// every write, without saying so (declaredNarrow does).
type narrowTarget struct{ fullTarget }

func (n narrowTarget) keep(u connectors.User) connectors.User {
	u.Attributes = map[string]string{"title": u.Attributes["title"]}
	return u
}

func (n narrowTarget) CreateUser(ctx context.Context, u connectors.User) (string, error) {
	return n.fullTarget.CreateUser(ctx, n.keep(u))
}

func (n narrowTarget) UpdateUser(ctx context.Context, id string, u connectors.User) error {
	return n.fullTarget.UpdateUser(ctx, id, n.keep(u))
}

// declaredNarrow is a narrowTarget that declares what it keeps.
type declaredNarrow struct{ narrowTarget }

func (declaredNarrow) KeptAttributes() []string { return []string{"title"} }

// TestKeptAttributes: source attributes a target cannot hold do not make
// its users differ on every run. A second full resync finds every user
// unchanged, and a change of such an attribute alone writes nothing,
// while a change of one the target keeps is written. Without the
// declaration every run rewrites every user (the defect a Workday rule
// into SCIM had: 1,001 updates in a resync that should make one).
func TestKeptAttributes(t *testing.T) {
	for _, tt := range []struct {
		name        string
		declare     bool
		wantUpdated int // by the second full resync
	}{
		{name: "declared", declare: true, wantUpdated: 0},
		{name: "undeclared", declare: false, wantUpdated: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var users []entry
			for _, uid := range []string{"ada", "grace", "edsger"} {
				users = append(users, e.addUser(t, uid, "title: Engineer", "hireDate: 2020-01-06", "costCenter: CC-1"))
			}
			var tgt connectors.Target = narrowTarget{e.tgt}
			if tt.declare {
				tgt = declaredNarrow{narrowTarget{e.tgt}}
			}
			s := &reconcile.Syncer{Source: e.src, Target: tgt, Opts: reconcile.Options{Owner: "hr"}}
			first, _ := fullSync(t, s)
			checkCounts(t, "first resync", first.Users, reconcile.Counts{Created: 3})
			second, _ := fullSync(t, s)
			checkCounts(t, "second resync", second.Users, reconcile.Counts{Updated: tt.wantUpdated, Unchanged: 3 - tt.wantUpdated})
			if !tt.declare {
				return
			}
			e.modifyUser(t, users[0], "hireDate: 2021-02-01") // not kept: nothing to write
			e.modifyUser(t, users[1], "title: Admiral")       // kept: written
			third, _ := fullSync(t, s)
			checkCounts(t, "third resync", third.Users, reconcile.Counts{Updated: 1, Unchanged: 2})
			if got := e.targetUser(t, reconcile.OwnedExternalID("hr", users[1].ID)).Attributes["title"]; got != "Admiral" {
				t.Errorf("grace's title in the target: %q", got)
			}
		})
	}
}

func TestKeptBy(t *testing.T) {
	u := connectors.User{UserName: "ada", Attributes: map[string]string{"title": "Engineer", "hireDate": "2020-01-06"}}
	got := reconcile.KeptBy(declaredNarrow{}, u)
	if len(got.Attributes) != 1 || got.Attributes["title"] != "Engineer" {
		t.Errorf("KeptBy: %v", got.Attributes)
	}
	if len(u.Attributes) != 2 {
		t.Errorf("KeptBy changed its argument: %v", u.Attributes)
	}
	if got := reconcile.KeptBy(narrowTarget{}, u); len(got.Attributes) != 2 {
		t.Errorf("KeptBy of a target that declares nothing: %v", got.Attributes)
	}
}
