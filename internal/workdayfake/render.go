package workdayfake

import (
	"slices"
	"strings"
)

// renderWorker writes one wd:Worker as Get_Workers renders it (field
// paths: notes A3, from Entra's attribute reference). [U] Elements the
// connector does not read are left out; order follows the notes.
func (s *Server) renderWorker(b *strings.Builder, w Worker, q query) {
	b.WriteString("<wd:Worker>")
	if truthy(q.group.Reference) || q.group.Reference == "" {
		b.WriteString(`<wd:Worker_Reference wd:Descriptor="` + esc(formatted(w.FirstName, w.LastName)) + `">`)
		s.writeWorkerIDs(b, w.WID, w.WorkerID, w.Contingent, false)
		b.WriteString("</wd:Worker_Reference>")
	}
	b.WriteString("<wd:Worker_Data>")
	b.WriteString("<wd:Worker_ID>" + esc(w.WorkerID) + "</wd:Worker_ID>")
	if w.UserID != "" {
		b.WriteString("<wd:User_ID>" + esc(w.UserID) + "</wd:User_ID>")
	}
	if truthy(q.group.Personal) {
		writePersonal(b, w)
	}
	if truthy(q.group.Employment) {
		writeEmployment(b, w)
	}
	if truthy(q.group.Organizations) {
		s.writeOrgs(b, w)
	}
	if truthy(q.group.Management) && w.ManagerID != "" {
		if m, ok := s.preferred(w.ManagerID, q); ok {
			b.WriteString("<wd:Management_Chain_Data><wd:Worker_Supervisory_Management_Chain_Data><wd:Management_Chain_Data>")
			b.WriteString(`<wd:Manager_Reference wd:Descriptor="` + esc(formatted(m.FirstName, m.LastName)) + `">`)
			s.writeWorkerIDs(b, m.WID, m.WorkerID, m.Contingent, s.knobs.ManagerWIDOnly)
			b.WriteString("</wd:Manager_Reference></wd:Management_Chain_Data></wd:Worker_Supervisory_Management_Chain_Data></wd:Management_Chain_Data>")
		}
	}
	b.WriteString("</wd:Worker_Data></wd:Worker>")
}

func (s *Server) writeWorkerIDs(b *strings.Builder, wid, workerID string, contingent, widOnly bool) {
	b.WriteString(`<wd:ID wd:type="WID">` + wid + `</wd:ID>`)
	if widOnly {
		return
	}
	typ := "Employee_ID"
	if contingent {
		typ = "Contingent_Worker_ID"
	}
	b.WriteString(`<wd:ID wd:type="` + typ + `">` + esc(workerID) + `</wd:ID>`)
}

func formatted(first, last string) string {
	switch {
	case first == "":
		return last
	case last == "":
		return first
	}
	return first + " " + last
}

func writeName(b *strings.Builder, elem, first, last string) {
	b.WriteString("<wd:" + elem + `><wd:Name_Detail_Data wd:Formatted_Name="` + esc(formatted(first, last)) + `">`)
	if first != "" {
		b.WriteString("<wd:First_Name>" + esc(first) + "</wd:First_Name>")
	}
	if last != "" {
		b.WriteString("<wd:Last_Name>" + esc(last) + "</wd:Last_Name>")
	}
	b.WriteString("</wd:Name_Detail_Data></wd:" + elem + ">")
}

const workUsage = `<wd:Usage_Data wd:Public="1"><wd:Type_Data wd:Primary="1"><wd:Type_Reference><wd:ID wd:type="Communication_Usage_Type_ID">WORK</wd:ID></wd:Type_Reference></wd:Type_Data></wd:Usage_Data>`

func writePersonal(b *strings.Builder, w Worker) {
	b.WriteString("<wd:Personal_Data><wd:Name_Data>")
	writeName(b, "Legal_Name_Data", w.FirstName, w.LastName)
	if w.PreferredFirstName != "" || w.PreferredLastName != "" {
		writeName(b, "Preferred_Name_Data", w.PreferredFirstName, w.PreferredLastName)
	}
	b.WriteString("</wd:Name_Data><wd:Contact_Data>")
	if w.Phone != "" {
		b.WriteString(`<wd:Phone_Data wd:Formatted_Phone="` + esc(w.Phone) + `"><wd:Phone_Number>` + esc(w.Phone) + `</wd:Phone_Number>` + workUsage + `</wd:Phone_Data>`)
	}
	if w.Email != "" {
		b.WriteString(`<wd:Email_Address_Data><wd:Email_Address>` + esc(w.Email) + `</wd:Email_Address>` + workUsage + `</wd:Email_Address_Data>`)
	}
	b.WriteString("</wd:Contact_Data></wd:Personal_Data>")
}

func bit(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

func writeEmployment(b *strings.Builder, w Worker) {
	b.WriteString(`<wd:Employment_Data><wd:Worker_Job_Data wd:Primary_Job="1"><wd:Position_Data>`)
	if w.Title != "" {
		b.WriteString("<wd:Business_Title>" + esc(w.Title) + "</wd:Business_Title>")
	}
	if w.WorkerType != "" {
		typ := "Employee_Type_ID"
		if w.Contingent {
			typ = "Contingent_Worker_Type_ID"
		}
		b.WriteString(`<wd:Worker_Type_Reference><wd:ID wd:type="` + typ + `">` + esc(w.WorkerType) + `</wd:ID></wd:Worker_Type_Reference>`)
	}
	b.WriteString("</wd:Position_Data></wd:Worker_Job_Data><wd:Worker_Status_Data>")
	b.WriteString("<wd:Active>" + bit(w.Active) + "</wd:Active>")
	if w.HireDate != "" {
		b.WriteString("<wd:Hire_Date>" + w.HireDate + "</wd:Hire_Date>")
		b.WriteString("<wd:Original_Hire_Date>" + cmp(w.OriginalHireDate, w.HireDate) + "</wd:Original_Hire_Date>")
	}
	b.WriteString("<wd:Terminated>" + bit(w.TerminationDate != "") + "</wd:Terminated>")
	if w.TerminationDate != "" {
		// [U] The termination's effective date is the first day the
		// worker is inactive here; the last day of work is the day before.
		b.WriteString("<wd:Termination_Date>" + w.TerminationDate + "</wd:Termination_Date>")
		b.WriteString("<wd:Termination_Last_Day_of_Work>" + AddDays(w.TerminationDate, -1) + "</wd:Termination_Last_Day_of_Work>")
	}
	b.WriteString("<wd:Rehire>" + bit(w.Rehire) + "</wd:Rehire>")
	b.WriteString("</wd:Worker_Status_Data></wd:Employment_Data>")
}

func (s *Server) writeOrgs(b *strings.Builder, w Worker) {
	b.WriteString("<wd:Organization_Data>")
	types := make([]string, 0, len(w.Orgs))
	for t := range w.Orgs {
		types = append(types, t)
	}
	slices.Sort(types)
	ids := make([]string, 0, len(types)+len(w.Memberships))
	for _, t := range types {
		ids = append(ids, w.Orgs[t])
	}
	for _, id := range append(ids, w.Memberships...) {
		o, ok := s.orgs[id]
		if !ok {
			continue
		}
		b.WriteString("<wd:Worker_Organization_Data><wd:Organization_Data>")
		b.WriteString(`<wd:Organization_Reference_ID>` + esc(o.ID) + `</wd:Organization_Reference_ID>`)
		b.WriteString(`<wd:Organization_Code>` + esc(o.Code) + `</wd:Organization_Code>`)
		b.WriteString(`<wd:Organization_Type_Reference><wd:ID wd:type="Organization_Type_ID">` + esc(o.Type) + `</wd:ID></wd:Organization_Type_Reference>`)
		b.WriteString(`<wd:Organization_Name>` + esc(o.Name) + `</wd:Organization_Name>`)
		b.WriteString("</wd:Organization_Data></wd:Worker_Organization_Data>")
	}
	b.WriteString("</wd:Organization_Data>")
}

// preferred is the record a Worker_ID stands for as of the query: its
// active record, else its latest that exists.
func (s *Server) preferred(workerID string, q query) (Worker, bool) {
	var best Worker
	found := false
	for _, r := range s.byID[workerID] {
		if !r.exists(q.entry) {
			continue
		}
		w := r.state(q.asOf, q.entry)
		if !found || w.Active || !best.Active {
			best, found = w, true
		}
	}
	return best, found
}
