package workdayfake

import (
	"encoding/json"
	"net/http"
	"time"
)

// reportOrgColumns name the report's org columns by org type.
var reportOrgColumns = map[string]string{"SUPERVISORY": "Supervisory_Organization", "COST_CENTER": "Cost_Center", "LOCATION": "Location"}

// serveReport answers the RaaS report: GET with Basic auth, format=json,
// the optional prompt Updated_From (a dateTime: only workers with a
// change entered since), unpaged, every record that exists, as of today.
// Column names are the report author's; the fake's are those the
// connector's report path reads (see connectors/workday).
func (s *Server) serveReport(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path != s.ReportPath() {
		http.Error(w, "report not found", http.StatusNotFound)
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || (user != s.opts.Username && user != s.opts.Username+"@"+s.opts.Tenant) || pass != s.opts.Password {
		w.Header().Set("WWW-Authenticate", `Basic realm="Workday"`)
		http.Error(w, "invalid username or password", http.StatusUnauthorized)
		return
	}
	if f := r.URL.Query().Get("format"); f != "json" {
		http.Error(w, "format must be json (the fake serves no other)", http.StatusBadRequest)
		return
	}
	var since time.Time
	if v := r.URL.Query().Get("Updated_From"); v != "" {
		t, ok := parseMoment(v)
		if !ok {
			http.Error(w, "Updated_From: not a dateTime", http.StatusBadRequest)
			return
		}
		since = t
	}
	s.mu.Lock()
	now, today := s.now(), s.today()
	rows := []map[string]string{}
	for _, rec := range s.records {
		if !rec.exists(now) || (!since.IsZero() && !rec.touched(since, now, now, s.lag)) {
			continue
		}
		wk := rec.state(today, now)
		row := map[string]string{
			"WID": wk.WID, "Worker_ID": wk.WorkerID, "User_ID": wk.UserID,
			"First_Name": wk.FirstName, "Last_Name": wk.LastName,
			"Preferred_Name": formatted(wk.PreferredFirstName, wk.PreferredLastName),
			"Email_Address":  wk.Email, "Phone": wk.Phone, "Business_Title": wk.Title,
			"Worker_Type": wk.WorkerType, "Hire_Date": wk.HireDate, "Termination_Date": wk.TerminationDate,
			"Active": bit(wk.Active),
		}
		if wk.Contingent {
			row["Contingent_Worker_ID"] = wk.WorkerID
		} else {
			row["Employee_ID"] = wk.WorkerID
		}
		if wk.ManagerID != "" {
			row["Manager_ID"] = wk.ManagerID
		}
		for typ, id := range wk.Orgs {
			if o, ok := s.orgs[id]; ok {
				key := reportOrgColumns[typ]
				if key == "" {
					key = typ
				}
				row[key+"_ID"], row[key] = o.ID, o.Name
			}
		}
		for k, v := range row {
			if v == "" {
				delete(row, k)
			}
		}
		rows = append(rows, row)
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"Report_Entry": rows})
}
