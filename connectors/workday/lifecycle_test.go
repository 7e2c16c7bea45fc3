package workday

import (
	"testing"
	"time"

	"github.com/idsync/idsync/internal/workdayfake"
)

// TestLifecycle: a worker's place in the source as effective dating
// puts it, by GetUser and by ListUsers (which must list it once at most).
func TestLifecycle(t *testing.T) {
	const la, sydney = "America/Los_Angeles", "Australia/Sydney"
	type want struct {
		found, active bool
		attrs         map[string]string // some attributes, "" for absent
		userName      string
	}
	tests := []struct {
		name     string
		settings map[string]any
		fakeTZ   string
		// setup changes the tenant and returns the Worker_ID to read;
		// then (optional) moves the clock, and the second want applies.
		setup  func(s *workdayfake.Server) string
		want   want
		then   func(s *workdayfake.Server)
		wantAt *want
	}{
		{name: "hire today",
			setup: func(s *workdayfake.Server) string {
				return s.Hire(workdayfake.Hire{FirstName: "Ada", LastName: "L", UserID: "ada", Email: "ada@acme.example"})
			},
			want: want{found: true, active: true, userName: "ada"}},
		{name: "hire in 10 days with pre-hire 14", settings: map[string]any{"preHireDays": 14},
			setup: func(s *workdayfake.Server) string {
				d := workdayfake.AddDays(s.Today(), 10)
				id := s.Hire(workdayfake.Hire{FirstName: "Pre", LastName: "Hire", UserID: "pre", HireDate: d, Title: "Offer title"})
				// Org and job effective on the hire date: read as of it.
				s.Change(id, d, func(w *workdayfake.Worker) { w.Title = "Day-one title" })
				return id
			},
			want: want{found: true, active: true, attrs: map[string]string{"title": "Day-one title"}}},
		{name: "hire in 10 days without pre-hire",
			setup: func(s *workdayfake.Server) string {
				return s.Hire(workdayfake.Hire{FirstName: "Too", LastName: "Early", HireDate: workdayfake.AddDays(s.Today(), 10)})
			},
			want:   want{found: false},
			then:   func(s *workdayfake.Server) { s.Advance(10 * 24 * time.Hour) },
			wantAt: &want{found: true, active: true}},
		{name: "termination tomorrow",
			setup: func(s *workdayfake.Server) string {
				id := s.Hire(workdayfake.Hire{FirstName: "Leaves", LastName: "Soon", HireDate: "2024-01-02"})
				s.Terminate(id, workdayfake.AddDays(s.Today(), 1))
				return id
			},
			want:   want{found: true, active: true},
			then:   func(s *workdayfake.Server) { s.Advance(24 * time.Hour) },
			wantAt: &want{found: true, active: false}},
		{name: "rescinded termination",
			setup: func(s *workdayfake.Server) string {
				id := s.Hire(workdayfake.Hire{WorkerID: "4242", FirstName: "Stays", LastName: "After", HireDate: "2024-01-02"})
				s.Terminate(id, "")
				return id
			},
			want:   want{found: true, active: false},
			then:   func(s *workdayfake.Server) { s.RescindTermination("4242") },
			wantAt: &want{found: true, active: true}},
		{name: "rehire after 6 months",
			setup: func(s *workdayfake.Server) string {
				s.SetNow(t0.AddDate(0, -8, 0))
				id := s.Hire(workdayfake.Hire{FirstName: "Comes", LastName: "Back", UserID: "back", HireDate: "2025-01-06"})
				s.Terminate(id, s.Today())
				s.SetNow(t0)
				s.Rehire(id, s.Today())
				return id
			},
			want: want{found: true, active: true, userName: "back"}},
		{name: "conversion contingent to employee",
			setup: func(s *workdayfake.Server) string {
				id := s.Hire(workdayfake.Hire{WorkerID: "C777", Contingent: true, FirstName: "Con", LastName: "Vert", HireDate: "2025-03-03"})
				s.Convert(id, s.Today())
				return id
			},
			want: want{found: true, active: true, attrs: map[string]string{"employeeId": "C777", "contingentWorkerId": "", "employeeType": "Regular"}}},
		{name: "manager change",
			setup: func(s *workdayfake.Server) string {
				m1 := s.Hire(workdayfake.Hire{WorkerID: "900", FirstName: "M", LastName: "One", HireDate: "2020-01-01"})
				s.Hire(workdayfake.Hire{WorkerID: "901", FirstName: "M", LastName: "Two", HireDate: "2020-01-01"})
				id := s.Hire(workdayfake.Hire{FirstName: "Re", LastName: "Port", HireDate: "2024-01-02", ManagerID: m1})
				s.ChangeManager(id, "901", "")
				return id
			},
			want: want{found: true, active: true, attrs: map[string]string{"manager": "901"}}},
		{name: "manager by WID only",
			setup: func(s *workdayfake.Server) string {
				s.SetKnobs(workdayfake.Knobs{ManagerWIDOnly: true})
				m := s.Hire(workdayfake.Hire{WorkerID: "950", FirstName: "Boss", HireDate: "2020-01-01"})
				return s.Hire(workdayfake.Hire{FirstName: "Re", LastName: "Port", HireDate: "2024-01-02", ManagerID: m})
			},
			want: want{found: true, active: true, attrs: map[string]string{"manager": "950"}}},
		{name: "contingent worker",
			setup: func(s *workdayfake.Server) string {
				return s.Hire(workdayfake.Hire{Contingent: true, FirstName: "Temp", LastName: "Staff", HireDate: "2025-05-05"})
			},
			want: want{found: true, active: true, attrs: map[string]string{"employeeType": "Contractor", "employeeId": ""}}},
		{name: "no email, a User_ID",
			setup: func(s *workdayfake.Server) string {
				return s.Hire(workdayfake.Hire{FirstName: "No", LastName: "Mail", UserID: "nomail"})
			},
			want: want{found: true, active: true, userName: "nomail"}},
		{name: "no email, no User_ID",
			setup: func(s *workdayfake.Server) string {
				return s.Hire(workdayfake.Hire{WorkerID: "31337", FirstName: "Bare"})
			},
			want: want{found: true, active: true, userName: "31337"}},
		{name: "terminated, inactive workers left out", settings: map[string]any{"includeInactive": false},
			setup: func(s *workdayfake.Server) string {
				id := s.Hire(workdayfake.Hire{FirstName: "Gone", HireDate: "2024-01-02"})
				s.Terminate(id, "2025-01-01")
				return id
			},
			want: want{found: false}},
		{name: "rescinded hire",
			setup: func(s *workdayfake.Server) string {
				id := s.Hire(workdayfake.Hire{FirstName: "Never", HireDate: "2024-01-02"})
				s.RescindHire(id)
				return id
			},
			want: want{found: false}},
		{name: "termination today in Sydney, read in Sydney", settings: map[string]any{"timeZone": sydney}, fakeTZ: sydney,
			setup: func(s *workdayfake.Server) string {
				id := s.Hire(workdayfake.Hire{FirstName: "Syd", HireDate: "2024-01-02"})
				s.Terminate(id, "2026-12-06") // Sydney's today at t0
				return id
			},
			want: want{found: true, active: false}},
		{name: "termination today in Sydney, read in Los Angeles", settings: map[string]any{"timeZone": la}, fakeTZ: sydney,
			setup: func(s *workdayfake.Server) string {
				id := s.Hire(workdayfake.Hire{FirstName: "Syd", HireDate: "2024-01-02"})
				s.Terminate(id, "2026-12-06")
				return id
			},
			want: want{found: true, active: true}},
	}
	check := func(t *testing.T, c *conn, id string, w want) {
		t.Helper()
		u, found := getUser(t, c, id)
		l := listed(t, c, id)
		if found != w.found || len(l) != map[bool]int{true: 1, false: 0}[w.found] {
			t.Fatalf("worker %s: GetUser found %t, listed %d times; want found %t", id, found, len(l), w.found)
		}
		if !found {
			return
		}
		if u.Active != w.active || l[0].Active != w.active {
			t.Errorf("worker %s: active %t (listed %t), want %t", id, u.Active, l[0].Active, w.active)
		}
		if w.userName != "" && u.UserName != w.userName {
			t.Errorf("worker %s: userName %q, want %q", id, u.UserName, w.userName)
		}
		for k, v := range w.attrs {
			if got := u.Attributes[k]; got != v {
				t.Errorf("worker %s: %s %q, want %q", id, k, got, v)
			}
			if got := l[0].Attributes[k]; got != v {
				t.Errorf("worker %s listed: %s %q, want %q", id, k, got, v)
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, workdayfake.Options{TimeZone: tt.fakeTZ})
			id := tt.setup(srv)
			c := openConn(t, srv, tt.settings)
			check(t, c, id, tt.want)
			if tt.then != nil {
				tt.then(srv)
				check(t, c, id, *tt.wantAt)
			}
		})
	}
}
