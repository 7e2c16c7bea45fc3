package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/idsync/idsync/reconcile"
)

func TestManagedSet(t *testing.T) {
	var m reconcile.ManagedSet
	m = m.Apply([]uint64{reconcile.HashID("b"), reconcile.HashID("a"), reconcile.HashID("a")}, nil)
	if len(m) != 2 || !m.Has("a") || !m.Has("b") || m.Has("c") || !slices.IsSorted(m) {
		t.Errorf("after adding a, b, a: %v", m)
	}
	m = m.Apply([]uint64{reconcile.HashID("c")}, []uint64{reconcile.HashID("a"), reconcile.HashID("zz")})
	if len(m) != 2 || m.Has("a") || !m.Has("b") || !m.Has("c") {
		t.Errorf("after adding c and removing a and zz: %v", m)
	}
	if got := m.Apply(nil, nil); !slices.Equal(got, m) {
		t.Errorf("nothing to apply: %v", got)
	}
}

// TestManagedSetJSON: the record round-trips through JSON in about 7
// bytes of varint a user (base64: about 10), an empty record stays a
// record, none stays none, and garbage is an error.
func TestManagedSetJSON(t *testing.T) {
	big := make([]uint64, 10_000)
	for i := range big {
		big[i] = reconcile.HashID(fmt.Sprintf("user-%d", i))
	}
	for _, tt := range []struct {
		name string
		in   reconcile.ManagedSet
	}{
		{"none", nil},
		{"empty", reconcile.ManagedSet{}},
		{"one", reconcile.ManagedSet{}.Apply([]uint64{reconcile.HashID("a")}, nil)},
		{"10,000", reconcile.ManagedSet{}.Apply(big, nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(struct {
				M reconcile.ManagedSet `json:"m"`
			}{tt.in})
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.in) > 1000 && len(b) > len(tt.in)*11 {
				t.Errorf("%d users in %d bytes", len(tt.in), len(b))
			}
			var back struct {
				M reconcile.ManagedSet `json:"m"`
			}
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back.M, tt.in) || (back.M == nil) != (tt.in == nil) {
				t.Errorf("round trip: %d users (nil %t), want %d (nil %t)", len(back.M), back.M == nil, len(tt.in), tt.in == nil)
			}
		})
	}
	var m reconcile.ManagedSet
	for _, bad := range []string{`"not base64!"`, `"/w=="`, `42`} {
		if err := json.Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestOnMissingRecord: with --on-missing report, a user the rule created
// and someone then deleted in the target is reported, not created again,
// by a poll on a worker that has never seen it (a fresh target
// connection, which remembers nothing) and by a full resync — because the
// rule keeps a record of the users it manages. A user new at the source
// is created; a user deprovisioned leaves the record; without a record
// (a rule from before it) the connection cannot tell, and creates.
func TestOnMissingRecord(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ada, bob, carol := e.addUser(t, "ada"), e.addUser(t, "bob"), e.addUser(t, "carol")
	report := reconcile.Options{Policy: reconcile.Policy{OnMissing: reconcile.MissingReport}}
	users, _ := fullSync(t, e.syncer(report))
	record := users.ManagedSet
	for _, u := range []entry{ada, bob, carol} {
		if !record.Has(u.ID) {
			t.Fatalf("the first full resync's record lacks %s: %v", u.ID, record)
		}
	}
	for _, u := range []entry{ada, bob} {
		if !e.target.DeleteUser(e.targetUser(t, u.ID).ID) {
			t.Fatalf("%s not in the target", u.ID)
		}
		e.modifyUser(t, u, "title: Countess")
	}
	dan := e.addUser(t, "dan")
	upserts := []reconcile.Event{
		{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: ada.ID},
		{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: dan.ID},
	}

	// A fresh worker, with the record: ada reported, dan created.
	reads := 0
	withRecord := &reconcile.Syncer{Source: e.src, Target: e.openTarget(t, nil), Opts: report,
		Record: func(context.Context) (reconcile.ManagedSet, error) { reads++; return record, nil }}
	res, err := withRecord.ApplyEvents(ctx, upserts)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "poll with the record", res.Users, reconcile.Counts{Created: 1, Failed: 1})
	if reads != 1 {
		t.Errorf("the record was read %d times, want once a run", reads)
	}
	record = record.Apply(res.ManagedAdded, res.ManagedRemoved)
	if !record.Has(ada.ID) || !record.Has(dan.ID) {
		t.Errorf("after the poll the record must keep ada (reported) and have dan (created)")
	}

	// Without a record, a fresh connection cannot tell: bob is created.
	noRecord := &reconcile.Syncer{Source: e.src, Target: e.openTarget(t, nil), Opts: report}
	res, err = noRecord.ApplyEvents(ctx, []reconcile.Event{{Kind: reconcile.KindUser, Op: reconcile.OpUpsert, ID: bob.ID}})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "poll without a record", res.Users, reconcile.Counts{Created: 1})

	// A full resync with the record reports ada again, creates erin, and
	// the record it leaves still holds ada. Carol leaves the source.
	erin := e.addUser(t, "erin")
	e.delete(t, carol)
	full := &reconcile.Syncer{Source: e.src, Target: e.openTarget(t, nil), Opts: report,
		Record: func(context.Context) (reconcile.ManagedSet, error) { return record, nil }}
	users, err = full.SyncUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "full resync with the record", users.Users, reconcile.Counts{Created: 1, Failed: 1, Unchanged: 2, Deprovisioned: 1})
	if e.targetUser(t, erin.ID).UserName != "erin" {
		t.Error("erin, new at the source, was not created")
	}
	for _, tu := range e.targetUsers(t) {
		if tu.UserName == "ada" {
			t.Error("ada was created again")
		}
	}
	got := users.ManagedSet
	if !got.Has(ada.ID) || !got.Has(erin.ID) || !got.Has(bob.ID) || !got.Has(dan.ID) || got.Has(carol.ID) {
		t.Errorf("record after the full resync: ada %t erin %t bob %t dan %t carol %t; want all but carol",
			got.Has(ada.ID), got.Has(erin.ID), got.Has(bob.ID), got.Has(dan.ID), got.Has(carol.ID))
	}

	// A record that cannot be read fails the run, to be retried; it does
	// not create.
	broken := &reconcile.Syncer{Source: e.src, Target: e.openTarget(t, nil), Opts: report,
		Record: func(context.Context) (reconcile.ManagedSet, error) { return nil, context.DeadlineExceeded }}
	if _, err := broken.ApplyEvents(ctx, upserts[:1]); err == nil {
		t.Error("an unreadable record: no error")
	}
}
