package workdayfake

import (
	"fmt"
	"maps"
	"slices"
)

// Hire describes a new worker. Zero fields take defaults: WorkerID the
// next number (C-prefixed for a contingent worker), HireDate today,
// WorkerType Regular or Contractor.
type Hire struct {
	WorkerID                              string
	Contingent                            bool
	HireDate                              string
	UserID                                string
	FirstName, LastName                   string
	PreferredFirstName, PreferredLastName string
	Email, Phone, Title, WorkerType       string
	// ManagerID is the manager's WorkerID.
	ManagerID string
	// Orgs maps an organization type to an org id (see PutOrg; an
	// unknown id makes an org named after it); Memberships are further
	// orgs (see JoinOrg).
	Orgs        map[string]string
	Memberships []string
}

// The scenario helpers below change the tenant as its HR staff would,
// each a business process entered now. A date argument is the
// tenant-local effective date ("2006-01-02"); empty means today. They
// panic on a WorkerID the tenant does not have: they are for tests.

// Hire hires a worker (a future HireDate makes a pre-hire: Active=0
// until then) and returns its WorkerID.
func (s *Server) Hire(h Hire) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	if h.WorkerID == "" {
		h.WorkerID = fmt.Sprint(10000 + s.seq)
		if h.Contingent {
			h.WorkerID = "C" + h.WorkerID
		}
	}
	if len(s.byID[h.WorkerID]) > 0 {
		panic("workdayfake: worker " + h.WorkerID + " exists: use Rehire")
	}
	s.newRecord(h, "")
	return h.WorkerID
}

// newRecord adds a record hired as h says; originalHire is set on a
// rehire or a conversion.
func (s *Server) newRecord(h Hire, originalHire string) *record {
	if h.HireDate == "" {
		h.HireDate = s.today()
	}
	if h.WorkerType == "" {
		h.WorkerType = "Regular"
		if h.Contingent {
			h.WorkerType = "Contractor"
		}
	}
	for typ, id := range h.Orgs {
		if _, ok := s.orgs[id]; !ok && id != "" {
			s.orgs[id] = Org{ID: id, Type: typ, Name: id, Code: id}
		}
	}
	s.seq++
	r := &record{seq: s.seq, wid: wid(s.seq), workerID: h.WorkerID, contingent: h.Contingent}
	orgs := maps.Clone(h.Orgs)
	r.events = []*event{{kind: "hire", eff: h.HireDate, entered: s.now(), apply: func(w *Worker) {
		w.UserID, w.FirstName, w.LastName = h.UserID, h.FirstName, h.LastName
		w.PreferredFirstName, w.PreferredLastName = h.PreferredFirstName, h.PreferredLastName
		w.Email, w.Phone, w.Title, w.WorkerType = h.Email, h.Phone, h.Title, h.WorkerType
		w.HireDate, w.OriginalHireDate = h.HireDate, h.HireDate
		if originalHire != "" {
			w.OriginalHireDate, w.Rehire = originalHire, true
		}
		w.ManagerID, w.Orgs, w.Memberships = h.ManagerID, maps.Clone(orgs), slices.Clone(h.Memberships)
	}}}
	s.records = append(s.records, r)
	s.byWID[r.wid] = r
	s.byID[h.WorkerID] = append(s.byID[h.WorkerID], r)
	return r
}

// wid makes a 32-hex-digit Workday ID from a sequence number.
func wid(n int) string {
	return fmt.Sprintf("%016x%016x", uint64(n)*0x9E3779B97F4A7C15, uint64(n))
}

// latest is a worker's latest record.
func (s *Server) latest(workerID string) *record {
	rs := s.byID[workerID]
	if len(rs) == 0 {
		panic("workdayfake: no worker " + workerID)
	}
	return rs[len(rs)-1]
}

func (s *Server) date(d string) string {
	if d == "" {
		return s.today()
	}
	if _, ok := parseDate(d); !ok || len(d) != len(dateLayout) {
		panic("workdayfake: bad date " + d)
	}
	return d
}

// Change enters a change of a worker's latest record, effective date:
// fn changes the worker's data (not its ids, dates or Active). fn is
// kept and run on every read that the change applies to, under the
// fake's lock: it must only set fields, and never call the Server.
func (s *Server) Change(workerID, date string, fn func(*Worker)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.change(s.latest(workerID), "change", s.date(date), fn)
}

func (s *Server) change(r *record, kind, eff string, fn func(*Worker)) *event {
	e := &event{kind: kind, eff: eff, entered: s.now(), apply: fn}
	r.add(e)
	return e
}

// ChangeManager gives a worker a new manager (a WorkerID; empty for none).
func (s *Server) ChangeManager(workerID, managerID, date string) {
	s.Change(workerID, date, func(w *Worker) { w.ManagerID = managerID })
}

// ChangeOrg moves a worker to the org of that type (empty: out of any).
func (s *Server) ChangeOrg(workerID, orgType, orgID, date string) {
	s.mu.Lock()
	if _, ok := s.orgs[orgID]; !ok && orgID != "" {
		s.orgs[orgID] = Org{ID: orgID, Type: orgType, Name: orgID, Code: orgID}
	}
	s.mu.Unlock()
	s.Change(workerID, date, func(w *Worker) {
		w.Orgs = maps.Clone(w.Orgs)
		if w.Orgs == nil {
			w.Orgs = map[string]string{}
		}
		if orgID == "" {
			delete(w.Orgs, orgType)
		} else {
			w.Orgs[orgType] = orgID
		}
	})
}

// JoinOrg adds a worker to an org of a type it can be in many of (see
// Worker.Memberships); LeaveOrg takes it out.
func (s *Server) JoinOrg(workerID, orgID, date string) {
	s.Change(workerID, date, func(w *Worker) {
		if !slices.Contains(w.Memberships, orgID) {
			w.Memberships = append(slices.Clone(w.Memberships), orgID)
		}
	})
}

// LeaveOrg: see JoinOrg.
func (s *Server) LeaveOrg(workerID, orgID, date string) {
	s.Change(workerID, date, func(w *Worker) {
		w.Memberships = slices.DeleteFunc(slices.Clone(w.Memberships), func(id string) bool { return id == orgID })
	})
}

// Terminate ends a worker's latest record: inactive from date on (a
// future date is a future-dated termination).
func (s *Server) Terminate(workerID, date string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.terminate(s.latest(workerID), s.date(date))
}

func (s *Server) terminate(r *record, eff string) {
	s.change(r, "terminate", eff, func(w *Worker) { w.TerminationDate = eff })
}

// RescindTermination rescinds the latest termination of a worker: as if
// it never happened, from now on.
func (s *Server) RescindTermination(workerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.latest(workerID)
	now := s.now()
	for i := len(r.events) - 1; i > 0; i-- {
		if e := r.events[i]; e.kind == "terminate" && !e.rescindedBy(now) {
			s.rescind(r, e)
			return
		}
	}
	panic("workdayfake: worker " + workerID + " has no termination to rescind")
}

// RescindHire rescinds the hire of a worker's latest record: the record
// no longer exists (reads skip it), but its rescind is in the
// transaction log.
func (s *Server) RescindHire(workerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.latest(workerID)
	s.rescind(r, r.hire())
}

func (s *Server) rescind(r *record, e *event) {
	e.rescinded = s.now()
	// [U] The rescind's effective date is the rescinded event's.
	r.add(&event{kind: "rescind", eff: e.eff, entered: e.rescinded, apply: func(*Worker) {}, rescinding: e})
}

// Rehire hires a terminated worker again on date: a new record with a
// new WID and the same WorkerID, its data as the old record's last; the
// old record stays, inactive. It returns the new WID.
func (s *Server) Rehire(workerID, date string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.latest(workerID)
	return s.again(old, s.date(date), old.contingent).wid
}

// Convert makes a contingent worker an employee on date: the contingent
// record ends the day before, and a new employee record (new WID, same
// WorkerID, as Employee_ID) starts on date. It returns the new WID.
func (s *Server) Convert(workerID, date string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.latest(workerID)
	if !old.contingent {
		panic("workdayfake: worker " + workerID + " is not a contingent worker")
	}
	d := s.date(date)
	s.terminate(old, d)
	return s.again(old, d, false).wid
}

func (s *Server) again(old *record, d string, contingent bool) *record {
	w := old.state(d, s.now())
	h := Hire{WorkerID: old.workerID, Contingent: contingent, HireDate: d, UserID: w.UserID,
		FirstName: w.FirstName, LastName: w.LastName, PreferredFirstName: w.PreferredFirstName,
		PreferredLastName: w.PreferredLastName, Email: w.Email, Phone: w.Phone, Title: w.Title,
		ManagerID: w.ManagerID, Orgs: w.Orgs, Memberships: w.Memberships}
	if contingent == old.contingent {
		h.WorkerType = w.WorkerType
	}
	return s.newRecord(h, w.OriginalHireDate)
}

// PutOrg adds or renames an organization.
func (s *Server) PutOrg(o Org) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.Code == "" {
		o.Code = o.ID
	}
	s.orgs[o.ID] = o
}

// DeleteOrg removes an organization: its workers are in no org of that
// type from then on (read in any time frame: orgs are not dated here).
func (s *Server) DeleteOrg(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.orgs, id)
}

// Worker is a worker as of today and now: its active record, else its
// latest.
func (s *Server) Worker(workerID string) (Worker, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.preferred(workerID, query{asOf: s.today(), entry: s.now()})
}

// Records are every record of a worker as of today and now, oldest first.
func (s *Server) Records(workerID string) []Worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Worker
	for _, r := range s.byID[workerID] {
		out = append(out, r.state(s.today(), s.now()))
	}
	return out
}

// Populate hires n workers with deterministic data, for benchmarks and
// load tests: 20 supervisory orgs, 10 cost centers, 5 locations; worker
// i (from 0) reports to worker i/8, every 20th is a contingent worker;
// hire dates spread over 2020–2022. It returns the WorkerIDs in order.
func (s *Server) Populate(n int) []string {
	for i := range 20 {
		s.PutOrg(Org{ID: fmt.Sprintf("SUP-%02d", i), Type: "SUPERVISORY", Name: fmt.Sprintf("Team %02d", i)})
	}
	for i := range 10 {
		s.PutOrg(Org{ID: fmt.Sprintf("CC-%02d", i), Type: "COST_CENTER", Name: fmt.Sprintf("Cost Center %02d", i)})
	}
	for i := range 5 {
		s.PutOrg(Org{ID: fmt.Sprintf("LOC-%02d", i), Type: "LOCATION", Name: fmt.Sprintf("Site %02d", i)})
	}
	ids := make([]string, n)
	for i := range n {
		h := Hire{WorkerID: fmt.Sprint(100000 + i), Contingent: i%20 == 19,
			HireDate:  AddDays("2020-01-01", i%1000),
			FirstName: fmt.Sprintf("First%d", i), LastName: fmt.Sprintf("Last%d", i),
			UserID: fmt.Sprintf("user%d", i), Email: fmt.Sprintf("user%d@acme.example", i),
			Phone: fmt.Sprintf("+1 555 %07d", i), Title: fmt.Sprintf("Engineer %d", i%7),
			Orgs: map[string]string{"SUPERVISORY": fmt.Sprintf("SUP-%02d", i%20),
				"COST_CENTER": fmt.Sprintf("CC-%02d", i%10), "LOCATION": fmt.Sprintf("LOC-%02d", i%5)}}
		if h.Contingent {
			h.WorkerID = "C" + h.WorkerID
		}
		if i > 0 {
			h.ManagerID = ids[i/8]
		}
		ids[i] = s.Hire(h)
	}
	return ids
}
