package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// TestAdoption: a target user that idsync does not manage yet is adopted
// when exactly one matches a source user by the ranked match attributes,
// case-insensitively; it is never duplicated, and an ambiguous match or a
// user managed for another source id is never taken over.
func TestAdoption(t *testing.T) {
	const other = "other-source-id"
	tests := []struct {
		name string
		opts reconcile.Options
		// target holds the users made in the target before the sync.
		target []connectors.User
		// adopted is the index in target of the user that must end up
		// managed for ada; -1 for none.
		adopted   int
		want      reconcile.Counts
		wantUsers int // users in the target after the sync
	}{
		{
			name:    "userName in another letter case",
			target:  []connectors.User{{UserName: "ADA", Email: "someone@example.org", Active: true}},
			adopted: 0, want: reconcile.Counts{Adopted: 1}, wantUsers: 1,
		},
		{
			name:    "email, when the userName differs",
			target:  []connectors.User{{UserName: "a.lovelace", Email: "Ada@Example.ORG", Active: true}},
			adopted: 0, want: reconcile.Counts{Adopted: 1}, wantUsers: 1,
		},
		{
			name:    "an inactive account is adopted and activated",
			target:  []connectors.User{{UserName: "ada", Active: false}},
			adopted: 0, want: reconcile.Counts{Adopted: 1}, wantUsers: 1,
		},
		{
			name: "default ranking, userName then email: a custom attribute is not used",
			target: []connectors.User{
				{UserName: "a.l", Email: "ada@example.org", Active: true},
				{UserName: "lovelace", Active: true, Attributes: map[string]string{"employeeNumber": "1815"}},
			},
			adopted: 0, want: reconcile.Counts{Adopted: 1}, wantUsers: 2,
		},
		{
			name: "ranking from the options: employeeNumber first",
			opts: reconcile.Options{Policy: reconcile.Policy{MatchAttributes: []string{"employeeNumber", connectors.MatchEmail}}},
			target: []connectors.User{
				{UserName: "a.l", Email: "ada@example.org", Active: true},
				{UserName: "lovelace", Active: true, Attributes: map[string]string{"employeeNumber": "1815"}},
			},
			adopted: 1, want: reconcile.Counts{Adopted: 1}, wantUsers: 2,
		},
		{
			name: "ambiguous: two unmanaged users with the email",
			target: []connectors.User{
				{UserName: "a.one", Email: "ada@example.org", Active: true},
				{UserName: "a.two", Email: "ADA@example.org", Active: true},
			},
			adopted: -1, want: reconcile.Counts{Created: 1}, wantUsers: 3,
		},
		{
			// Inactive, so that the deprovisioning pass leaves it alone:
			// a managed user whose id the source lacks is deprovisioned.
			name:    "managed for another source id",
			target:  []connectors.User{{ExternalID: other, UserName: "Ada", Email: "ada@example.org", GivenName: "Other"}},
			adopted: -1, want: reconcile.Counts{Conflicts: 1}, wantUsers: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ada := e.addUser(t, "ada", "email: ada@example.org", "employeeNumber: 1815")
			ids := make([]string, len(tt.target))
			for i, u := range tt.target {
				ids[i] = e.createTargetUser(t, u)
			}
			mark := e.mark(t)

			s := e.syncer(tt.opts)
			res, err := s.SyncUsers(context.Background())
			if err != nil {
				t.Fatalf("SyncUsers: %v", err)
			}
			checkCounts(t, "users", res.Users, tt.want)
			written := e.written(t, mark)
			if n := len(e.targetUsers(t)); n != tt.wantUsers {
				t.Errorf("target has %d users, want %d", n, tt.wantUsers)
			}
			for i, id := range ids {
				tu := e.targetUserByID(t, id)
				if i == tt.adopted {
					if tu.ExternalID != ada.ID || tu.UserName != "ada" || !tu.Active {
						t.Errorf("target user %d: %+v, want adopted as ada (externalId %s)", i, tu.User, ada.ID)
					}
					continue
				}
				pre := tt.target[i]
				if tu.ExternalID != pre.ExternalID || tu.UserName != pre.UserName || tu.Email != pre.Email || tu.GivenName != pre.GivenName {
					t.Errorf("target user %d was overwritten: %+v, was %+v", i, tu.User, pre)
				}
				// An unmanaged user that is not adopted is never written.
				if pre.ExternalID == "" && written[id] {
					t.Errorf("unmanaged target user %d was written", i)
				}
			}
			if tt.want.Conflicts > 0 && (len(res.Failures) != 1 || !strings.Contains(res.Failures[0], other)) {
				t.Errorf("failures = %q, want one naming %s", res.Failures, other)
			}

			// Adopted users are managed now: the next run leaves them be.
			res, err = s.SyncUsers(context.Background())
			if err != nil {
				t.Fatalf("second SyncUsers: %v", err)
			}
			if res.Users.Changed() != 0 || res.Users.Conflicts != tt.want.Conflicts {
				t.Errorf("second run: %+v, want nothing changed", res.Users)
			}
		})
	}
}

// racingTarget is the real target with one twist: right before it creates
// a user whose userName it knows, it creates another user first, as
// someone else would between the Syncer's indexing and its create (or as
// an earlier attempt whose answer was lost did).
type racingTarget struct {
	fullTarget
	mu    sync.Mutex
	race  map[string]connectors.User // by lower-cased source userName
	raced int
}

func (r *racingTarget) CreateUser(ctx context.Context, u connectors.User) (string, error) {
	r.mu.Lock()
	first, ok := r.race[strings.ToLower(u.UserName)]
	delete(r.race, strings.ToLower(u.UserName))
	r.mu.Unlock()
	if ok {
		if _, err := r.fullTarget.CreateUser(ctx, first); err != nil {
			return "", fmt.Errorf("racing create: %w", err)
		}
		r.mu.Lock()
		r.raced++
		r.mu.Unlock()
	}
	return r.fullTarget.CreateUser(ctx, u)
}

// TestAdoptOnConflict: a create that the target refuses with 409 because
// the user appeared meanwhile ends with that user adopted (or found
// already managed), never with a duplicate; a user managed for another
// source id is left as it is and the source user counts as failed. Both
// the full resync and a change event go through this path.
func TestAdoptOnConflict(t *testing.T) {
	const other = "other-source-id"
	tests := []struct {
		name string
		// racer is the user created in the target right before ada is.
		racer func(ada connectors.User) connectors.User
		want  reconcile.Counts // for ada alone
		// wantExt is the ExternalID the one "ada" of the target ends with.
		wantExt func(ada connectors.User) string
	}{
		{
			name: "someone created it, userName in another case",
			racer: func(connectors.User) connectors.User {
				return connectors.User{UserName: "ADA", Email: "ada@example.org", Active: true}
			},
			want:    reconcile.Counts{Adopted: 1},
			wantExt: func(ada connectors.User) string { return ada.ExternalID },
		},
		{
			name:    "an earlier attempt created it and its answer was lost",
			racer:   func(ada connectors.User) connectors.User { return ada },
			want:    reconcile.Counts{Unchanged: 1},
			wantExt: func(ada connectors.User) string { return ada.ExternalID },
		},
		{
			name: "managed for another source id",
			racer: func(connectors.User) connectors.User {
				return connectors.User{ExternalID: other, UserName: "Ada", GivenName: "Other", Active: true}
			},
			want:    reconcile.Counts{Conflicts: 1},
			wantExt: func(connectors.User) string { return other },
		},
	}
	for _, tt := range tests {
		for _, mode := range []string{"full", "event"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				e := newEnv(t)
				adaEntry := e.addUser(t, "ada", "email: ada@example.org")
				e.addUser(t, "bob")
				ada, found, err := e.src.GetUser(context.Background(), adaEntry.ID)
				if err != nil || !found {
					t.Fatalf("GetUser: %v, %v", found, err)
				}
				racing := &racingTarget{fullTarget: e.tgt, race: map[string]connectors.User{"ada": tt.racer(ada)}}
				s := &reconcile.Syncer{Source: e.src, Target: racing}

				var res reconcile.Result
				want := tt.want
				if mode == "full" {
					res, err = s.SyncUsers(context.Background())
					want.Created++ // bob
				} else {
					res, err = s.ApplyEvents(context.Background(), []reconcile.Event{
						{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: ada.ExternalID}})
				}
				if err != nil {
					t.Fatal(err)
				}
				if racing.raced != 1 {
					t.Fatalf("the racing user was created %d times, want 1", racing.raced)
				}
				checkCounts(t, "users", res.Users, want)

				var adas []connectors.TargetUser
				for _, tu := range e.targetUsers(t) {
					if strings.EqualFold(tu.UserName, "ada") {
						adas = append(adas, tu)
					}
				}
				if len(adas) != 1 {
					t.Fatalf("target has %d users named ada, want 1: %+v", len(adas), adas)
				}
				if got, want := adas[0].ExternalID, tt.wantExt(ada); got != want {
					t.Errorf("ada's externalId = %q, want %q", got, want)
				}
				if tt.wantExt(ada) == other && (adas[0].GivenName != "Other" || adas[0].UserName != "Ada") {
					t.Errorf("the user managed for %s was overwritten: %+v", other, adas[0].User)
				}
				if tt.want.Conflicts > 0 && (len(res.Failures) != 1 || !strings.Contains(res.Failures[0], other)) {
					t.Errorf("failures = %q, want one naming %s", res.Failures, other)
				}
			})
		}
	}
}

// TestSharedMatchValue: two source objects that share a match value — two
// accounts of one person with one email, two groups of one name (in
// different OUs of a directory) — are two target objects. The one that is
// managed already is not the other's to adopt, and it does not block the
// other's create. Full resyncs, change sets and events agree.
func TestSharedMatchValue(t *testing.T) {
	kinds := []struct {
		name string
		// first adds the object synced first, second the other one; both
		// return the ExternalID.
		first, second func(*testing.T, *env) string
		count         func(*reconcile.Result) reconcile.Counts
		event         func(ext string) reconcile.Event
		check         func(t *testing.T, e *env, a, b string)
	}{
		{
			name:   "users with one email",
			first:  func(t *testing.T, e *env) string { return e.addUser(t, "ada", "email: ada@example.org").ID },
			second: func(t *testing.T, e *env) string { return e.addUser(t, "ada-admin", "email: Ada@example.org").ID },
			count:  func(r *reconcile.Result) reconcile.Counts { return r.Users },
			event: func(ext string) reconcile.Event {
				return reconcile.Event{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: ext}
			},
			check: func(t *testing.T, e *env, a, b string) {
				if ua, ub := e.targetUser(t, a), e.targetUser(t, b); ua.UserName != "ada" || ub.UserName != "ada-admin" {
					t.Errorf("users = %q and %q, want ada and ada-admin", ua.UserName, ub.UserName)
				}
			},
		},
		{
			name:   "groups with one name",
			first:  func(t *testing.T, e *env) string { return e.addGroup(t, "staff").ID },
			second: func(t *testing.T, e *env) string { return e.addGroup(t, "staff").ID },
			count:  func(r *reconcile.Result) reconcile.Counts { return r.Groups },
			event: func(ext string) reconcile.Event {
				return reconcile.Event{Kind: reconcile.KindGroup, Op: reconcile.OpUpsert, ID: ext}
			},
			check: func(t *testing.T, e *env, a, b string) {
				if ga, gb := e.targetGroup(t, a), e.targetGroup(t, b); ga.ID == gb.ID || ga.DisplayName != "staff" || gb.DisplayName != "staff" {
					t.Errorf("groups = %+v and %+v, want two named staff", ga, gb)
				}
			},
		},
	}
	for _, k := range kinds {
		for _, mode := range []string{"full", "change set", "event"} {
			t.Run(k.name+"/"+mode, func(t *testing.T) {
				e := newEnv(t)
				ctx := context.Background()
				s := e.syncer(reconcile.Options{})
				a := k.first(t, e)
				fullSync(t, s)
				cursor, err := e.src.Cursor(ctx)
				if err != nil {
					t.Fatal(err)
				}
				b := k.second(t, e)

				var res reconcile.Result
				switch mode {
				case "full":
					var users, groups reconcile.Result
					users, groups = fullSync(t, s)
					res.Merge(users)
					res.Merge(groups)
				case "change set":
					cs, err := e.src.Changes(ctx, cursor)
					if err != nil || cs.ResyncRequired {
						t.Fatalf("Changes: %+v, %v", cs, err)
					}
					if res, err = s.ApplyChangeSet(ctx, cs); err != nil {
						t.Fatal(err)
					}
				case "event":
					if res, err = s.ApplyEvents(ctx, []reconcile.Event{k.event(b)}); err != nil {
						t.Fatal(err)
					}
				}
				got := k.count(&res)
				got.Unchanged = 0 // the full resync also counts the first
				checkCounts(t, "second object", got, reconcile.Counts{Created: 1})
				checkNoFailures(t, mode, res)
				k.check(t, e, a, b)
			})
		}
	}
}
