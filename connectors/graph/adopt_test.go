package graph

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/connectortest"
	"github.com/idsync/idsync/connectors/memory"
	"github.com/idsync/idsync/internal/graphfake"
	"github.com/idsync/idsync/reconcile"
)

// TestLookupUsers: each match attribute finds the user whatever the
// letter case; an attribute Graph cannot filter on says so.
func TestLookupUsers(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{})
	id := srv.AddUser(map[string]any{"userPrincipalName": "A.Smith@" + testDomain, "displayName": "Ann", "mailNickname": "asmith",
		"accountEnabled": true, "employeeId": "E-0042", "mail": "Ann.Smith@Example.ORG"})
	tgt := openTarget(t, settings(t, srv, nil))
	for _, tt := range []struct {
		attr, value string
		want        int
		wantErr     error
	}{
		{attrEmployeeNumber, "e-0042", 1, nil},
		{attrEmployeeNumber, "E-0043", 0, nil},
		{connectors.MatchUserName, "a.SMITH", 1, nil},
		{connectors.MatchUserName, "a.smith@" + strings.ToUpper(testDomain), 1, nil},
		{connectors.MatchEmail, "ann.smith@example.org", 1, nil},
		{connectors.MatchExternalID, "E-0042", 0, nil},
		{"title", "x", 0, connectors.ErrLookupUnsupported},
	} {
		found, err := tgt.LookupUsers(t.Context(), tt.attr, tt.value)
		if !errors.Is(err, tt.wantErr) || len(found) != tt.want || (tt.want == 1 && found[0].ID != id) {
			t.Errorf("LookupUsers(%s, %q): %d found, %v; want %d, %v", tt.attr, tt.value, len(found), err, tt.want, tt.wantErr)
		}
	}
}

// TestAdoptAndManage runs the engine's full sync from a memory source
// into the fake: an existing account is adopted by employeeNumber →
// employeeId (its userPrincipalName and the case of its employeeId
// differ), a report gets the adopted user as its manager, and a second
// full sync writes nothing.
func TestAdoptAndManage(t *testing.T) {
	srv := startFake(t, graphfake.Knobs{})
	existing := srv.AddUser(map[string]any{"userPrincipalName": "a.smith@" + testDomain, "displayName": "Ann", "mailNickname": "asmith",
		"accountEnabled": true, "employeeId": "E-0042"})
	store := memory.ForTest(t)
	// The report comes first: its manager is created (adopted) after it.
	store.PutUser(connectors.User{ExternalID: "u2", UserName: "bob", DisplayName: "Bob", Active: true,
		Attributes: map[string]string{"manager": "u1", "employeeNumber": "e-0077"}})
	store.PutUser(connectors.User{ExternalID: "u1", UserName: "ann", DisplayName: "Ann", Active: true,
		Attributes: map[string]string{"employeeNumber": "e-0042"}})
	src, err := connectors.AsSource(connectortest.Open(t, memory.Type, map[string]any{"store": store.Name()}))
	if err != nil {
		t.Fatal(err)
	}
	sync := func() {
		t.Helper()
		s := &reconcile.Syncer{Source: src, Target: openTarget(t, settings(t, srv, nil)), Opts: reconcile.Options{Owner: "hr-to-entra",
			Policy: reconcile.Policy{MatchAttributes: []string{attrEmployeeNumber, connectors.MatchUserName, connectors.MatchEmail}}}}
		res, err := s.SyncUsers(t.Context())
		if err != nil {
			t.Fatalf("SyncUsers: %v (%+v)", err, res)
		}
	}
	sync()
	users := srv.Users()
	if len(users) != 2 {
		t.Fatalf("%d users in the fake, want 2 (one adopted, one created): %+v", len(users), users)
	}
	if users[0].ID != existing || users[0].Props["userPrincipalName"] != "ann@"+testDomain {
		t.Errorf("the existing user was not adopted: %+v", users[0])
	}
	if users[1].ManagerID != existing {
		t.Errorf("bob's manager is %q, want the adopted %q", users[1].ManagerID, existing)
	}
	before := srv.Stats().Writes
	sync()
	if n := srv.Stats().Writes - before; n != 0 {
		t.Errorf("a second full sync wrote %d times, want 0", n)
	}
}

// TestGroupType: groupType makes security groups (the default) or
// Microsoft 365 groups as group-post-groups documents them; a Microsoft
// 365 group's alias is its name, with a suffix when it is taken.
func TestGroupType(t *testing.T) {
	for _, tt := range []struct {
		groupType  any // nil: unset
		wantTypes  []any
		wantMail   bool
		wantSuffix [2]bool // the first group's nickname has a suffix; the second's
	}{
		{nil, []any{}, false, [2]bool{true, true}},
		{"security", []any{}, false, [2]bool{true, true}},
		{"microsoft365", []any{"Unified"}, true, [2]bool{false, true}},
	} {
		srv := startFake(t, graphfake.Knobs{})
		gt := openTarget(t, settings(t, srv, map[string]any{"groupType": tt.groupType})).(connectors.GroupTarget)
		for i := range 2 {
			if _, err := gt.CreateGroup(t.Context(), connectors.Group{ExternalID: fmt.Sprint("g", i), DisplayName: "Sales Team"}); err != nil {
				t.Fatalf("groupType %v: %v", tt.groupType, err)
			}
		}
		for i, g := range srv.Groups() {
			nick, _ := g.Props["mailNickname"].(string)
			if !slices.Equal(g.Props["groupTypes"].([]any), tt.wantTypes) || g.Props["mailEnabled"] != tt.wantMail ||
				g.Props["securityEnabled"] != !tt.wantMail || (nick != "SalesTeam") != tt.wantSuffix[i] {
				t.Errorf("groupType %v: group %d is %v", tt.groupType, i, g.Props)
			}
		}
	}
	c := &Config{Tenant: "t", ClientID: "c", ClientSecret: "env:X", GroupType: "distribution"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "groupType") {
		t.Errorf("groupType distribution: %v", err)
	}
}
