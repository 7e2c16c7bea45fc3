package workday

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/workdayfake"
)

func asTarget(t *testing.T, c *conn) connectors.Target {
	t.Helper()
	tgt, err := connectors.AsTarget(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tgt.(connectors.UpdateOnly); !ok {
		t.Fatal("the target is not UpdateOnly")
	}
	return tgt
}

// TestWriteBack: UpdateUser writes only the email, phone and username
// that differ, and nothing else; the target never creates or
// deprovisions.
func TestWriteBack(t *testing.T) {
	srv := newFake(t, workdayfake.Options{})
	id := srv.Hire(workdayfake.Hire{WorkerID: "2001", FirstName: "Wri", LastName: "Te", UserID: "wte", Email: "old@acme.example",
		Phone: "+1 555 0100", Title: "Clerk", HireDate: "2024-01-02"})
	tgt := asTarget(t, openConn(t, srv, nil))
	ctx := t.Context()

	if got := tgt.(connectors.UpdateOnly).UpdatedFields(); strings.Join(got, ",") != "email,phoneNumber,userName" {
		t.Errorf("UpdatedFields = %v", got)
	}
	found, err := tgt.LookupUsers(ctx, "employeeId", id)
	if err != nil || len(found) != 1 {
		t.Fatalf("LookupUsers(employeeId %s) = %+v, %v; want one", id, found, err)
	}
	tu := found[0]
	if tu.ExternalID != "" || tu.ID == "" || tu.Attributes["employeeId"] != id {
		t.Fatalf("LookupUsers: %+v; want a WID id, no ExternalID, employeeId %s", tu, id)
	}
	if _, err := tgt.LookupUsers(ctx, "email", "old@acme.example"); !errors.Is(err, connectors.ErrLookupUnsupported) {
		t.Errorf("LookupUsers(email): %v; want ErrLookupUnsupported", err)
	}
	if got, err := tgt.LookupUsers(ctx, "employeeId", "nobody"); err != nil || len(got) != 0 {
		t.Errorf("LookupUsers(employeeId nobody) = %+v, %v; want none", got, err)
	}

	steps := []struct {
		name   string
		change func(u *connectors.User)
		want   []workdayfake.Write
	}{
		{"nothing differs but what is not written", func(u *connectors.User) {
			u.GivenName, u.DisplayName = "Other", "Other Name"
			u.Attributes["title"] = "CEO"
		}, nil},
		{"email", func(u *connectors.User) { u.Email = "new@acme.example" },
			[]workdayfake.Write{{Op: "Maintain_Contact_Information", WorkerID: id, Fields: map[string]string{"email": "new@acme.example"}}}},
		{"email in another case is the same", func(u *connectors.User) { u.Email = "NEW@acme.example" }, nil},
		{"phone and username", func(u *connectors.User) { u.Attributes["phoneNumber"] = "+1 555 0199"; u.UserName = "w.te" },
			[]workdayfake.Write{
				{Op: "Maintain_Contact_Information", WorkerID: id, Fields: map[string]string{"phoneNumber": "+1 555 0199"}},
				{Op: "Update_Workday_Account", WorkerID: id, Fields: map[string]string{"userName": "w.te"}}}},
		{"empty values never clear", func(u *connectors.User) { u.Email, u.UserName = "", ""; delete(u.Attributes, "phoneNumber") }, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := len(srv.Writes())
			u := tu.User
			u.Attributes = maps.Clone(u.Attributes)
			st.change(&u)
			if err := tgt.UpdateUser(ctx, tu.ID, u); err != nil {
				t.Fatalf("UpdateUser: %v", err)
			}
			got := srv.Writes()[before:]
			if len(got) != len(st.want) {
				t.Fatalf("writes %+v, want %+v", got, st.want)
			}
			for i := range got {
				if got[i].Op != st.want[i].Op || got[i].WorkerID != st.want[i].WorkerID || !maps.Equal(got[i].Fields, st.want[i].Fields) {
					t.Errorf("write %d: %+v, want %+v", i, got[i], st.want[i])
				}
			}
			// What the next step starts from is what Workday now holds.
			cur, err := tgt.LookupUsers(ctx, "employeeId", id)
			if err != nil || len(cur) != 1 {
				t.Fatalf("LookupUsers after: %v", err)
			}
			tu = cur[0]
		})
	}
	w, _ := srv.Worker(id)
	if w.Title != "Clerk" || w.FirstName != "Wri" || w.Email != "new@acme.example" || w.Phone != "+1 555 0199" || w.UserID != "w.te" {
		t.Errorf("worker after write-back: %+v", w)
	}

	n := len(srv.Writes())
	if _, err := tgt.CreateUser(ctx, connectors.User{UserName: "x"}); err == nil || !strings.Contains(err.Error(), "never creates") {
		t.Errorf("CreateUser: %v; want a refusal", err)
	}
	if err := tgt.DeprovisionUser(ctx, tu.ID); err == nil || !errors.Is(err, connectors.ErrRejected) {
		t.Errorf("DeprovisionUser: %v; want a refusal", err)
	}
	if err := tgt.UpdateUser(ctx, "00000000000000000000000000000000", tu.User); !errors.Is(err, connectors.ErrNotFound) {
		t.Errorf("UpdateUser of an unknown WID: %v; want ErrNotFound", err)
	}
	if len(srv.Writes()) != n {
		t.Errorf("refused calls wrote: %+v", srv.Writes()[n:])
	}
	if w, _ := srv.Worker(id); !w.Active {
		t.Errorf("DeprovisionUser deactivated the worker")
	}
}

// TestWriteBackPreHire: a pre-hire's email is written effective on its
// hire date, where the source reads it.
func TestWriteBackPreHire(t *testing.T) {
	srv := newFake(t, workdayfake.Options{})
	id := srv.Hire(workdayfake.Hire{FirstName: "New", HireDate: workdayfake.AddDays(srv.Today(), 10)})
	c := openConn(t, srv, map[string]any{"preHireDays": 14})
	tgt := asTarget(t, c)
	found, err := tgt.LookupUsers(t.Context(), "employeeNumber", id)
	if err != nil || len(found) != 1 {
		t.Fatalf("LookupUsers: %+v, %v", found, err)
	}
	u := found[0].User
	u.Email = "new@acme.example"
	if err := tgt.UpdateUser(t.Context(), found[0].ID, u); err != nil {
		t.Fatal(err)
	}
	if got, _ := getUser(t, c, id); got.Email != "new@acme.example" {
		t.Errorf("the pre-hire reads with email %q", got.Email)
	}
}

// TestTargetList: the target lists each worker once, by the WID of its
// record in effect, without an ExternalID.
func TestTargetList(t *testing.T) {
	srv := newFake(t, workdayfake.Options{})
	ids := srv.Populate(30)
	srv.Terminate(ids[3], "2026-01-05")
	wid := srv.Rehire(ids[3], "")
	tgt := asTarget(t, openConn(t, srv, nil))
	seen := map[string]string{}
	err := tgt.ListUsers(t.Context(), func(u connectors.TargetUser) error {
		if u.ExternalID != "" {
			t.Errorf("target user %s has ExternalID %q", u.ID, u.ExternalID)
		}
		if _, dup := seen[u.Attributes["employeeNumber"]]; dup {
			t.Errorf("worker %s listed twice", u.Attributes["employeeNumber"])
		}
		seen[u.Attributes["employeeNumber"]] = u.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 30 || seen[ids[3]] != wid {
		t.Errorf("listed %d workers, the rehire as %s; want 30, %s", len(seen), seen[ids[3]], wid)
	}
}
