package workday

import (
	"slices"
	"strings"
)

// dateLayout is an xsd:date without offset, as the tenant's local date.
const dateLayout = "2006-01-02"

// reference is a Workday reference: <X_Reference><wd:ID wd:type="…">.
type reference struct {
	Descriptor string `xml:"Descriptor,attr"`
	IDs        []struct {
		Type  string `xml:"type,attr"`
		Value string `xml:",chardata"`
	} `xml:"ID"`
}

// id returns the reference's ID of that type, or "".
func (r reference) id(typ string) string {
	for _, id := range r.IDs {
		if id.Type == typ {
			return strings.TrimSpace(id.Value)
		}
	}
	return ""
}

type getWorkersResponse struct {
	Results struct {
		Total int `xml:"Total_Results"`
		Pages int `xml:"Total_Pages"`
		Page  int `xml:"Page"`
	} `xml:"Response_Results"`
	Workers []wdWorker `xml:"Response_Data>Worker"`
}

type wdName struct {
	Formatted string `xml:"Formatted_Name,attr"`
	First     string `xml:"First_Name"`
	Last      string `xml:"Last_Name"`
}

type usage struct {
	Types []struct {
		Primary string    `xml:"Primary,attr"`
		Ref     reference `xml:"Type_Reference"`
	} `xml:"Type_Data"`
}

// work says whether a usage is WORK, and primary.
func work(us []usage) (isWork, primary bool) {
	for _, u := range us {
		for _, t := range u.Types {
			if t.Ref.id("Communication_Usage_Type_ID") == "WORK" {
				isWork = true
				primary = primary || t.Primary == "1" || t.Primary == "true"
			}
		}
	}
	return isWork, primary
}

// wdWorker is a wd:Worker as Get_Workers renders it (notes A3).
type wdWorker struct {
	Ref  reference `xml:"Worker_Reference"`
	Data struct {
		WorkerID string `xml:"Worker_ID"`
		UserID   string `xml:"User_ID"`
		Personal struct {
			Legal     wdName  `xml:"Name_Data>Legal_Name_Data>Name_Detail_Data"`
			Preferred *wdName `xml:"Name_Data>Preferred_Name_Data>Name_Detail_Data"`
			Emails    []struct {
				Address string  `xml:"Email_Address"`
				Usage   []usage `xml:"Usage_Data"`
			} `xml:"Contact_Data>Email_Address_Data"`
			Phones []struct {
				Formatted string  `xml:"Formatted_Phone,attr"`
				Number    string  `xml:"Phone_Number"`
				Usage     []usage `xml:"Usage_Data"`
			} `xml:"Contact_Data>Phone_Data"`
		} `xml:"Personal_Data"`
		Employment struct {
			Jobs   []wdJob `xml:"Worker_Job_Data"`
			Status struct {
				Active          string `xml:"Active"`
				HireDate        string `xml:"Hire_Date"`
				Terminated      string `xml:"Terminated"`
				TerminationDate string `xml:"Termination_Date"`
				Rehire          string `xml:"Rehire"`
			} `xml:"Worker_Status_Data"`
		} `xml:"Employment_Data"`
		Orgs []struct {
			RefID string    `xml:"Organization_Reference_ID"`
			Code  string    `xml:"Organization_Code"`
			Name  string    `xml:"Organization_Name"`
			Type  reference `xml:"Organization_Type_Reference"`
		} `xml:"Organization_Data>Worker_Organization_Data>Organization_Data"`
		Chains []struct {
			Chain []struct {
				Manager reference `xml:"Manager_Reference"`
			} `xml:"Management_Chain_Data"`
		} `xml:"Management_Chain_Data>Worker_Supervisory_Management_Chain_Data"`
	} `xml:"Worker_Data"`
}

// wdJob is a Worker_Job_Data; the primary job has Primary_Job=1.
type wdJob struct {
	Primary string    `xml:"Primary_Job,attr"`
	Title   string    `xml:"Position_Data>Business_Title"`
	Type    reference `xml:"Position_Data>Worker_Type_Reference"`
}

// org is an organization a worker belongs to.
type org struct{ ID, Name string }

// record is one worker record (one WID), read as of some date.
type record struct {
	WID, WorkerID             string
	EmployeeID, ContingentID  string
	UserID                    string
	First, Last, Formatted    string
	Preferred                 string // preferred name, formatted
	Email, Phone              string
	Title, WorkerType         string
	Active, Terminated        bool
	HireDate, TerminationDate string
	// Orgs by organization type: the first of each type.
	Orgs map[string]org
	// Memberships are every org the worker is in, as "TYPE/ID" group
	// ids, with their names.
	Memberships map[string]string
	// ManagerWID and ManagerID (Employee_ID or Contingent_Worker_ID,
	// when the reference has it) name the direct manager.
	ManagerWID, ManagerID string
}

func bit(s string) bool { s = strings.TrimSpace(s); return s == "1" || s == "true" }

// date keeps the date part of an xsd:date that may carry an offset.
func date(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= len(dateLayout) {
		return s[:len(dateLayout)]
	}
	return s
}

// toRecord reads a wd:Worker. The Worker_ID is Worker_Data/Worker_ID,
// else the reference's Employee_ID or Contingent_Worker_ID.
func (w *wdWorker) toRecord() record {
	d := &w.Data
	r := record{
		WID:          w.Ref.id("WID"),
		EmployeeID:   w.Ref.id("Employee_ID"),
		ContingentID: w.Ref.id("Contingent_Worker_ID"),
		WorkerID:     strings.TrimSpace(d.WorkerID),
		UserID:       d.UserID,
		First:        d.Personal.Legal.First,
		Last:         d.Personal.Legal.Last,
		Formatted:    d.Personal.Legal.Formatted,
	}
	if r.WorkerID == "" {
		r.WorkerID = cmpOr(r.EmployeeID, r.ContingentID)
	}
	if p := d.Personal.Preferred; p != nil {
		r.Preferred = cmpOr(p.Formatted, strings.TrimSpace(p.First+" "+p.Last))
	}
	emailPrimary := false
	for _, e := range d.Personal.Emails {
		if isWork, primary := work(e.Usage); isWork && (r.Email == "" || primary && !emailPrimary) {
			r.Email, emailPrimary = strings.TrimSpace(e.Address), primary
		}
	}
	phonePrimary := false
	for _, p := range d.Personal.Phones {
		if isWork, primary := work(p.Usage); isWork && (r.Phone == "" || primary && !phonePrimary) {
			r.Phone, phonePrimary = cmpOr(p.Formatted, strings.TrimSpace(p.Number)), primary
		}
	}
	jobs := d.Employment.Jobs
	if i := slices.IndexFunc(jobs, func(j wdJob) bool { return bit(j.Primary) }); len(jobs) > 0 {
		j := jobs[max(i, 0)]
		r.Title = j.Title
		r.WorkerType = cmpOr(j.Type.id("Employee_Type_ID"), j.Type.id("Contingent_Worker_Type_ID"), j.Type.Descriptor)
	}
	st := d.Employment.Status
	r.Active, r.Terminated = bit(st.Active), bit(st.Terminated)
	r.HireDate, r.TerminationDate = date(st.HireDate), date(st.TerminationDate)
	for _, o := range d.Orgs {
		typ := o.Type.id("Organization_Type_ID")
		if typ == "" {
			continue
		}
		if r.Orgs == nil {
			r.Orgs, r.Memberships = map[string]org{}, map[string]string{}
		}
		o2 := org{ID: cmpOr(o.RefID, o.Code), Name: o.Name}
		if _, ok := r.Orgs[typ]; !ok {
			r.Orgs[typ] = o2
		}
		r.Memberships[groupID(typ, o2.ID)] = o2.Name
	}
	// The direct manager is the last link of the first chain (notes A3).
	if len(d.Chains) > 0 && len(d.Chains[0].Chain) > 0 {
		m := d.Chains[0].Chain[len(d.Chains[0].Chain)-1].Manager
		r.ManagerWID = m.id("WID")
		r.ManagerID = cmpOr(m.id("Employee_ID"), m.id("Contingent_Worker_ID"))
	}
	return r
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
