package reconcile_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
)

// writeBackTarget is the memory target as an update-only one (a Workday
// connection taking write-back): it has records idsync must never create,
// deprovision or own, and it updates only email, phone and username. It
// keeps the memory target's group methods, so that the tests also show
// that an update-only target gets no group work even if it could.
type writeBackTarget struct {
	fullTarget
	refused atomic.Int32
}

func (w *writeBackTarget) UpdatedFields() []string {
	return []string{connectors.MatchEmail, "phoneNumber", connectors.MatchUserName}
}

func (w *writeBackTarget) CreateUser(context.Context, connectors.User) (string, error) {
	w.refused.Add(1)
	return "", errors.New("update-only target: never creates")
}

func (w *writeBackTarget) DeprovisionUser(context.Context, string) error {
	w.refused.Add(1)
	return errors.New("update-only target: never deprovisions")
}

// writeBackMatch: a rule's options, with an owner as the worker sets it
// (the ownership layer must not hide that the target is update-only).
var writeBackMatch = reconcile.Options{Policy: reconcile.Policy{MatchAttributes: []string{"employeeNumber"}}, Owner: "corp-to-hr"}

// worker puts an HR record in the target store, as Workday has it.
func (e *env) worker(t *testing.T, employee, userName, email string) string {
	t.Helper()
	return e.createTargetUser(t, connectors.User{UserName: userName, GivenName: "HR", FamilyName: "Record",
		Email: email, Active: true, Attributes: map[string]string{"employeeNumber": employee, "title": "Engineer"}})
}

func TestWriteBackFullSync(t *testing.T) {
	e := newEnv(t)
	wb := &writeBackTarget{fullTarget: e.tgt}
	s := &reconcile.Syncer{Source: e.src, Target: wb, Opts: writeBackMatch}

	changed := e.worker(t, "1001", "old.ada", "ada@old.example.org")
	same := e.worker(t, "1002", "grace", "grace@example.org")
	noEmail := e.worker(t, "1003", "alan", "alan@example.org")
	other := e.worker(t, "9999", "nobody", "nobody@example.org")
	ada := e.addUser(t, "ada", "employeeNumber: 1001", "email: ada@example.org", "phoneNumber: +1 555 0101", "givenName: Ada")
	e.addUser(t, "grace", "employeeNumber: 1002", "email: grace@example.org")
	// The source has not assigned alan an email yet: write-back must not
	// clear the one Workday has.
	e.addUser(t, "alan", "employeeNumber: 1003")
	e.addUser(t, "newhire", "employeeNumber: 2000", "email: newhire@example.org")
	e.addUser(t, "contractor", "email: c@example.org") // no employee number at all
	e.addGroup(t, "engineering", ada)
	e.target.ResetCalls()

	users, groups := fullSync(t, s)
	checkCounts(t, "users", users.Users, reconcile.Counts{Updated: 1, Unchanged: 2, Unmatched: 2})
	checkCounts(t, "groups", groups.Groups, reconcile.Counts{})
	if n := wb.refused.Load(); n != 0 {
		t.Errorf("%d creates or deprovisions reached the update-only target", n)
	}
	got := e.targetUserByID(t, changed)
	if got.Email != "ada@example.org" || got.Attributes["phoneNumber"] != "+1 555 0101" || got.UserName != "ada" {
		t.Errorf("written back: %+v; want email, phone and userName from the source", got.User)
	}
	if got.GivenName != "HR" || got.Attributes["title"] != "Engineer" || got.ExternalID != "" {
		t.Errorf("written back: %+v; only email, phone and userName may change, and idsync owns nothing", got.User)
	}
	if got := e.targetUserByID(t, noEmail); got.Email != "alan@example.org" {
		t.Errorf("a source without an email cleared the record's: %q", got.Email)
	}
	for _, id := range []string{same, other} {
		if got := e.targetUserByID(t, id); got.ExternalID != "" || !got.Active {
			t.Errorf("record %s: %+v, want untouched", id, got.User)
		}
	}
	if len(e.targetUsers(t)) != 4 || len(e.targetGroups(t)) != 0 {
		t.Errorf("target has %d users and %d groups, want the 4 records and no group", len(e.targetUsers(t)), len(e.targetGroups(t)))
	}
	if calls := e.target.Calls(); calls["UpdateUser"] != 1 {
		t.Errorf("target calls %v: want one UpdateUser, for the one changed record", calls)
	}

	// Again, with nothing changed: no write. Then everyone leaves the
	// source: a full resync deprovisions nothing, guard or not.
	e.target.ResetCalls()
	users, _ = fullSync(t, s)
	checkCounts(t, "users again", users.Users, reconcile.Counts{Unchanged: 3, Unmatched: 2})
	if calls := e.target.Calls(); calls["UpdateUser"] != 0 {
		t.Errorf("a sync with nothing changed wrote: %v", calls)
	}
	for _, su := range e.source.Users() {
		e.source.DeleteUser(su.ID)
	}
	users, _ = fullSync(t, s)
	checkCounts(t, "users after the source emptied", users.Users, reconcile.Counts{})
	for _, tu := range e.targetUsers(t) {
		if !tu.Active {
			t.Errorf("record %s was disabled", tu.ID)
		}
	}
	if n := wb.refused.Load(); n != 0 {
		t.Errorf("%d creates or deprovisions reached the update-only target", n)
	}
}

// TestWriteBackAmbiguous: two records with one employee number are a
// conflict; writing to either could give one person another's email.
func TestWriteBackAmbiguous(t *testing.T) {
	e := newEnv(t)
	wb := &writeBackTarget{fullTarget: e.tgt}
	s := &reconcile.Syncer{Source: e.src, Target: wb, Opts: writeBackMatch}
	a := e.worker(t, "1001", "a", "a@old.example.org")
	b := e.worker(t, "1001", "b", "b@old.example.org")
	e.addUser(t, "ada", "employeeNumber: 1001", "email: ada@example.org")

	users, _ := fullSync(t, s)
	if users.Users.Conflicts != 1 || users.Users.Updated != 0 {
		t.Errorf("counts %+v: want one conflict and no update", users.Users)
	}
	for _, id := range []string{a, b} {
		if got := e.targetUserByID(t, id); got.Email == "ada@example.org" {
			t.Errorf("record %s was written although the match is ambiguous", id)
		}
	}

	res, err := s.ApplyEvents(context.Background(), []reconcile.Event{{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: "x",
		User: &connectors.User{UserName: "ada", Email: "ada@example.org", Active: true, Attributes: map[string]string{"employeeNumber": "1001"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Users.Conflicts != 1 {
		t.Errorf("incremental counts %+v: want one conflict", res.Users)
	}
}

// TestWriteBackIncremental: polls and webhook changes update records by
// lookup; deletions and group changes do nothing.
func TestWriteBackIncremental(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	wb := &writeBackTarget{fullTarget: e.tgt}
	s := &reconcile.Syncer{Source: e.src, Target: wb, Opts: writeBackMatch}
	rec := e.worker(t, "1001", "ada", "ada@old.example.org")
	ada := e.addUser(t, "ada", "employeeNumber: 1001", "email: ada@example.org")
	gone := e.addUser(t, "gone", "employeeNumber: 1001")
	e.addGroup(t, "engineering", ada)
	// A record that answers a lookup by the leaving user's id (a target
	// may key its records by the same HR id): still not deprovisioned.
	e.createTargetUser(t, connectors.User{ExternalID: gone.ID, UserName: "gone", Active: true})

	res, err := s.ApplyEvents(ctx, []reconcile.Event{
		{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: ada.ID},
		{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: "someone", User: &connectors.User{UserName: "x", Active: true,
			Attributes: map[string]string{"employeeNumber": "7777"}}},
		{Kind: reconcile.KindUser, Op: reconcile.OpDelete, ID: gone.ID},
		{Kind: reconcile.KindGroup, Op: reconcile.OpUpsert, ID: "g", Group: &connectors.Group{DisplayName: "g"}},
		{Kind: reconcile.KindAny, Op: reconcile.OpDelete, ID: ada.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "users", res.Users, reconcile.Counts{Updated: 1, Unmatched: 1})
	checkCounts(t, "groups", res.Groups, reconcile.Counts{})
	if got := e.targetUserByID(t, rec); got.Email != "ada@example.org" || !got.Active {
		t.Errorf("record after the events: %+v; want the new email, still active", got.User)
	}

	cs := connectors.ChangeSet{Users: []connectors.User{{ExternalID: ada.ID, UserName: "ada", Email: "ada@example.org", Active: true,
		Attributes: map[string]string{"employeeNumber": "1001", "phoneNumber": "+1 555 0101"}}}, DeletedIDs: []string{ada.ID}}
	res, err = s.ApplyChangeSet(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "change set", res.Users, reconcile.Counts{Updated: 1})
	if got := e.targetUserByID(t, rec); got.Attributes["phoneNumber"] != "+1 555 0101" || !got.Active {
		t.Errorf("record after the change set: %+v", got.User)
	}
	if n := wb.refused.Load(); n != 0 {
		t.Errorf("%d creates or deprovisions reached the update-only target", n)
	}
}
