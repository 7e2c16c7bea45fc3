package workday

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/connectortest"
	"github.com/idsync/idsync/internal/workdayfake"
)

// TestConformance runs the source suite against the fake, slowed and
// throttled as the real service is. The fake's clock is the real one and
// it has no lag, so the connection's window overlap is 0 and its
// windows end at its now; groups are orgs of a custom type, MATRIX, that
// a worker can be in many of, as the suite's groups share members.
func TestConformance(t *testing.T) {
	srv := workdayfake.ForTest(t, workdayfake.Options{Knobs: workdayfake.Knobs{
		Latency: time.Millisecond, LatencyMax: 3 * time.Millisecond, ThrottleRate: 0.02, RetryAfter: time.Second}})
	h := &harness{srv: srv, members: map[string][]string{}}
	connectortest.RunSource(t, connectortest.SourceHarness{
		Open: func(t *testing.T) connectors.Source {
			c := openConn(t, srv, map[string]any{"windowOverlap": "0s", "groups": []string{"MATRIX"}, "pageSize": 4})
			c.settle = 0
			return &groupSource{c}
		},
		PutUser:     h.putUser,
		DeleteUser:  func(t *testing.T, ext string) { srv.RescindHire(ext) },
		PutGroup:    h.putGroup,
		DeleteGroup: h.deleteGroup,
		PageSize:    4,
		Attributes:  []string{"title", "department", "phoneNumber", "costCenter"},
		Expect:      h.expect,
	})
}

type harness struct {
	srv     *workdayfake.Server
	mu      sync.Mutex
	members map[string][]string // LOCATION org id → Worker_IDs
	seq     int
}

// orgFor is the org of type typ named name, made on first use.
func (h *harness) orgFor(typ, name string) string {
	if name == "" {
		return ""
	}
	f := fnv.New64a()
	_, _ = f.Write([]byte(typ + "\x00" + name))
	id := fmt.Sprintf("%s-%x", typ, f.Sum64())
	h.srv.PutOrg(workdayfake.Org{ID: id, Type: typ, Name: name})
	return id
}

func (h *harness) putUser(t *testing.T, u connectors.User) string {
	orgs := map[string]string{}
	for typ, attr := range map[string]string{"SUPERVISORY": "department", "COST_CENTER": "costCenter"} {
		orgs[typ] = h.orgFor(typ, u.Attributes[attr])
	}
	set := func(w *workdayfake.Worker) {
		w.UserID, w.FirstName, w.LastName, w.Email = u.UserName, u.GivenName, u.FamilyName, u.Email
		w.PreferredFirstName, w.PreferredLastName = u.DisplayName, ""
		w.Title, w.Phone = u.Attributes["title"], u.Attributes["phoneNumber"]
		w.Orgs = maps.Clone(w.Orgs)
		if w.Orgs == nil {
			w.Orgs = map[string]string{}
		}
		for typ, id := range orgs {
			if id != "" {
				w.Orgs[typ] = id
			} else {
				delete(w.Orgs, typ)
			}
		}
	}
	id := u.ExternalID
	if id == "" {
		var w workdayfake.Worker
		set(&w)
		id = h.srv.Hire(workdayfake.Hire{UserID: w.UserID, FirstName: w.FirstName, LastName: w.LastName,
			PreferredFirstName: w.PreferredFirstName, Email: w.Email, Title: w.Title, Phone: w.Phone, Orgs: w.Orgs})
	} else {
		h.srv.Change(id, "", set)
	}
	cur, ok := h.srv.Worker(id)
	switch {
	case !ok:
		t.Fatalf("no worker %s", id)
	case u.Active && !cur.Active:
		h.srv.RescindTermination(id)
	case !u.Active && cur.Active:
		h.srv.Terminate(id, "")
	}
	return id
}

// expect is how the source reads a worker the harness put: the ids and
// type it has in Workday, its hire date, its LOCATION group's name, and
// the legal name as displayName when there is no preferred one.
func (h *harness) expect(u connectors.User) connectors.User {
	w, _ := h.srv.Worker(u.ExternalID)
	attrs := maps.Clone(u.Attributes)
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["employeeNumber"], attrs["employeeId"], attrs["employeeType"], attrs["hireDate"] = u.ExternalID, u.ExternalID, "Regular", w.HireDate
	if u.DisplayName != "" {
		attrs["preferredName"] = u.DisplayName
	} else {
		u.DisplayName = strings.TrimSpace(u.GivenName + " " + u.FamilyName)
	}
	u.Attributes = attrs
	return u
}

func (h *harness) putGroup(t *testing.T, g connectors.Group) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := strings.TrimPrefix(g.ExternalID, "MATRIX/")
	if id == "" {
		h.seq++
		id = fmt.Sprintf("MTX-%d", h.seq)
	}
	h.srv.PutOrg(workdayfake.Org{ID: id, Type: "MATRIX", Name: g.DisplayName})
	for _, m := range h.members[id] {
		if !slices.Contains(g.Members, m) {
			h.srv.LeaveOrg(m, id, "")
		}
	}
	for _, m := range g.Members {
		h.srv.JoinOrg(m, id, "")
	}
	h.members[id] = slices.Clone(g.Members)
	return "MATRIX/" + id
}

func (h *harness) deleteGroup(t *testing.T, ext string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := strings.TrimPrefix(ext, "MATRIX/")
	for _, m := range h.members[id] {
		h.srv.LeaveOrg(m, id, "")
	}
	delete(h.members, id)
	h.srv.DeleteOrg(id)
}
