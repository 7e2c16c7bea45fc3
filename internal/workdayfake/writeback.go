package workdayfake

import (
	"fmt"
	"strings"
)

// maintainContactRequest is Maintain_Contact_Information_for_Person_Event_Request
// (notes A4, after treestryder's Set-WorkdayWorkerEmail).
type maintainContactRequest struct {
	AddOnly string `xml:"Add_Only,attr"`
	Data    *struct {
		Worker        reference `xml:"Worker_Reference"`
		EffectiveDate string    `xml:"Effective_Date"`
		Contact       struct {
			Emails []struct {
				Address string      `xml:"Email_Address"`
				Usage   []usageData `xml:"Usage_Data"`
			} `xml:"Email_Address_Data"`
			Phones []struct {
				// [U] The phone's parts (country code, area code,
				// device type) are not modelled: Phone_Number holds it
				// as formatted.
				Number string      `xml:"Phone_Number"`
				Usage  []usageData `xml:"Usage_Data"`
			} `xml:"Phone_Data"`
		} `xml:"Worker_Contact_Information_Data"`
	} `xml:"Maintain_Contact_Information_Data"`
}

type usageData struct {
	Types []struct {
		Ref reference `xml:"Type_Reference"`
	} `xml:"Type_Data"`
}

func isWork(us []usageData) bool {
	for _, u := range us {
		for _, t := range u.Types {
			for _, id := range t.Ref.IDs {
				if id.Type == "Communication_Usage_Type_ID" && strings.TrimSpace(id.Value) == "WORK" {
					return true
				}
			}
		}
	}
	return false
}

const xpathContact = "/bsvc:Maintain_Contact_Information_for_Person_Event_Request[1]/bsvc:Maintain_Contact_Information_Data[1]"

func (s *Server) maintainContact(r *maintainContactRequest) (string, *fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Data == nil {
		return "", validation("Maintain_Contact_Information_Data is required", xpathContact)
	}
	rec, f := s.workerByRef(r.Data.Worker, xpathContact+"/bsvc:Worker_Reference[1]")
	if f != nil {
		return "", f
	}
	eff := s.today()
	if v := strings.TrimSpace(r.Data.EffectiveDate); v != "" {
		d, ok := parseDate(v)
		if !ok {
			return "", validation(fmt.Sprintf("Invalid date: %q", v), xpathContact+"/bsvc:Effective_Date[1]")
		}
		eff = d
	}
	fields := map[string]string{}
	for _, e := range r.Data.Contact.Emails {
		if !isWork(e.Usage) {
			return "", validation("Only WORK email addresses can be maintained by this integration", xpathContact+"/bsvc:Worker_Contact_Information_Data[1]/bsvc:Email_Address_Data[1]")
		}
		fields["email"] = strings.TrimSpace(e.Address)
	}
	for _, p := range r.Data.Contact.Phones {
		if !isWork(p.Usage) {
			return "", validation("Only WORK phones can be maintained by this integration", xpathContact+"/bsvc:Worker_Contact_Information_Data[1]/bsvc:Phone_Data[1]")
		}
		fields["phoneNumber"] = strings.TrimSpace(p.Number)
	}
	if len(fields) == 0 {
		return "", validation("No contact information submitted", xpathContact+"/bsvc:Worker_Contact_Information_Data[1]")
	}
	if truthy(r.AddOnly) {
		// Add_Only adds beside what is there; the fake keeps one work
		// email and one work phone, so it refuses to add a second.
		cur := rec.state(eff, s.now())
		if (fields["email"] != "" && cur.Email != "") || (fields["phoneNumber"] != "" && cur.Phone != "") {
			return "", validation("Add Only is set and the worker already has a WORK email address or phone (fake keeps one of each)", xpathContact)
		}
	}
	s.change(rec, "contact", eff, func(w *Worker) {
		if v, ok := fields["email"]; ok {
			w.Email = v
		}
		if v, ok := fields["phoneNumber"]; ok {
			w.Phone = v
		}
	})
	s.writes = append(s.writes, Write{Op: "Maintain_Contact_Information", WorkerID: rec.workerID, Fields: fields})
	s.seq++
	return `<wd:Maintain_Contact_Information_for_Person_Event_Response xmlns:wd="` + nsWD + `"><wd:Contact_Information_for_Person_Event_Reference><wd:ID wd:type="WID">` +
		wid(s.seq) + `</wd:ID></wd:Contact_Information_for_Person_Event_Reference></wd:Maintain_Contact_Information_for_Person_Event_Response>`, nil
}

// accountUpdateRequest is Workday_Account_for_Worker_Update (notes A4,
// after treestryder's Set-WorkdayWorkerUserId).
type accountUpdateRequest struct {
	Worker struct {
		IDs      []idEl `xml:"ID"`
		Employee *struct {
			Ref reference `xml:"Integration_ID_Reference"`
		} `xml:"Employee_Reference"`
		Contingent *struct {
			Ref reference `xml:"Integration_ID_Reference"`
		} `xml:"Contingent_Worker_Reference"`
	} `xml:"Worker_Reference"`
	Data *struct {
		UserName string `xml:"User_Name"`
	} `xml:"Workday_Account_for_Worker_Data"`
}

const xpathAccount = "/bsvc:Workday_Account_for_Worker_Update[1]"

func (s *Server) updateAccount(r *accountUpdateRequest) (string, *fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := reference{IDs: r.Worker.IDs}
	// [U] The Integration_ID_Reference form names an employee by
	// System_ID WD-EMPLID; the fake reads the ID as an Employee_ID (or a
	// Contingent_Worker_ID under Contingent_Worker_Reference).
	if e := r.Worker.Employee; e != nil {
		for _, id := range e.Ref.IDs {
			ref.IDs = append(ref.IDs, idEl{Type: "Employee_ID", Value: id.Value})
		}
	}
	if c := r.Worker.Contingent; c != nil {
		for _, id := range c.Ref.IDs {
			ref.IDs = append(ref.IDs, idEl{Type: "Contingent_Worker_ID", Value: id.Value})
		}
	}
	rec, f := s.workerByRef(ref, xpathAccount+"/bsvc:Worker_Reference[1]")
	if f != nil {
		return "", f
	}
	if r.Data == nil || strings.TrimSpace(r.Data.UserName) == "" {
		return "", validation("User Name is required", xpathAccount+"/bsvc:Workday_Account_for_Worker_Data[1]/bsvc:User_Name[1]")
	}
	name := strings.TrimSpace(r.Data.UserName)
	for _, other := range s.records {
		if other.workerID != rec.workerID && other.exists(s.now()) && other.state(s.today(), s.now()).UserID == name {
			return "", validation(fmt.Sprintf("User Name %q is already in use", name), xpathAccount+"/bsvc:Workday_Account_for_Worker_Data[1]/bsvc:User_Name[1]")
		}
	}
	s.change(rec, "account", s.today(), func(w *Worker) { w.UserID = name })
	s.writes = append(s.writes, Write{Op: "Update_Workday_Account", WorkerID: rec.workerID, Fields: map[string]string{"userName": name}})
	return `<wd:Workday_Account_for_Worker_Update_Response xmlns:wd="` + nsWD + `"/>`, nil
}

// workerByRef finds the record a write names: the worker's active record,
// else its latest.
func (s *Server) workerByRef(ref reference, xpath string) (*record, *fault) {
	now := s.now()
	for _, id := range ref.IDs {
		var best *record
		for _, r := range s.lookup(id) {
			if !r.exists(now) {
				continue
			}
			if best == nil || r.state(s.today(), now).Active || !best.state(s.today(), now).Active {
				best = r
			}
		}
		if best != nil {
			return best, nil
		}
	}
	v, t := "", ""
	if len(ref.IDs) > 0 {
		v, t = ref.IDs[0].Value, ref.IDs[0].Type
	}
	return nil, validation(fmt.Sprintf("Invalid ID value. '%s' is not a valid ID value for type = '%s'", v, t), xpath)
}
