package workday

import (
	"context"
	"fmt"
	"strings"

	"github.com/idsync/idsync/connectors"
)

// target is the update-only write-back role (see the package doc).
type target struct{ c *conn }

var (
	_ connectors.Target     = (*target)(nil)
	_ connectors.UpdateOnly = (*target)(nil)
)

// Fields the write-back updates, as connectors.User.Field names them.
var updatedFields = []string{connectors.MatchEmail, "phoneNumber", connectors.MatchUserName}

// UpdatedFields implements connectors.UpdateOnly.
func (t *target) UpdatedFields() []string { return append([]string(nil), updatedFields...) }

// Close implements connectors.Connector; the source role owns the
// connection.
func (t *target) Close() error { return nil }

// targetUser is a chosen record as the target shows it: ID is the WID of
// the record in effect, ExternalID empty (idsync owns no worker).
func (t *target) targetUser(ch chosen) connectors.TargetUser {
	u := t.c.user(ch)
	u.ExternalID = ""
	return connectors.TargetUser{ID: ch.rec.WID, User: u}
}

// ListUsers implements connectors.Target: every worker in the source.
func (t *target) ListUsers(ctx context.Context, fn func(connectors.TargetUser) error) error {
	if err := t.c.list(ctx, func(ch chosen) error { return fn(t.targetUser(ch)) }); err != nil {
		return fmt.Errorf("workday: list workers: %w", err)
	}
	return nil
}

// lookupTypes are the attributes LookupUsers finds workers by, and the
// reference ID types each is.
var lookupTypes = map[string][]string{
	"employeeId":         {"Employee_ID"},
	"contingentWorkerId": {"Contingent_Worker_ID"},
	"employeeNumber":     {"Employee_ID", "Contingent_Worker_ID"},
}

// LookupUsers implements connectors.Target by employeeId,
// contingentWorkerId or employeeNumber (the Worker_ID): Get_Workers has
// no filter by email or username, and a listing per lookup is too dear.
func (t *target) LookupUsers(ctx context.Context, attr, value string) ([]connectors.TargetUser, error) {
	types, ok := lookupTypes[attr]
	if !ok {
		return nil, fmt.Errorf("workday: look up workers by %s (only employeeId, contingentWorkerId, employeeNumber): %w", attr, connectors.ErrLookupUnsupported)
	}
	value = strings.TrimSpace(value)
	if value == "" {
		return nil, nil
	}
	var chs []chosen
	err := t.c.atToday(func(today string) error {
		q := workersQuery{asOf: today}
		for _, typ := range types {
			q.refs = append(q.refs, ref{typ, value})
		}
		var recs []record
		if err := t.c.getWorkers(ctx, q, func(rs []record) error { recs = append(recs, rs...); return nil }); err != nil {
			return err
		}
		chs = chs[:0]
		for _, ch := range t.c.choose(recs, today) {
			chs = append(chs, ch)
		}
		return t.c.complete(ctx, chs)
	})
	if err != nil {
		return nil, fmt.Errorf("workday: look up %s %q: %w", attr, value, err)
	}
	out := make([]connectors.TargetUser, 0, len(chs))
	for _, ch := range chs {
		out = append(out, t.targetUser(ch))
	}
	return out, nil
}

// errNeverWrites is what CreateUser and DeprovisionUser return.
var errNeverWrites = fmt.Errorf("a Workday connection never creates or deprovisions workers: hire and terminate them in Workday (the rule may only update %s): %w",
	strings.Join(updatedFields, ", "), connectors.ErrRejected)

// CreateUser implements connectors.Target: refused.
func (t *target) CreateUser(context.Context, connectors.User) (string, error) {
	return "", fmt.Errorf("workday: create user: %w", errNeverWrites)
}

// DeprovisionUser implements connectors.Target: refused.
func (t *target) DeprovisionUser(context.Context, string) error {
	return fmt.Errorf("workday: deprovision user: %w", errNeverWrites)
}

// UpdateUser implements connectors.Target: it reads the worker again and
// writes the work email and phone (one Maintain_Contact_Information) and
// the username (Update_Workday_Account) that differ from u. An empty
// value in u never clears Workday's. A pre-hire's contact change is
// effective on its hire date.
func (t *target) UpdateUser(ctx context.Context, id string, u connectors.User) error {
	if err := t.update(ctx, id, u); err != nil {
		return fmt.Errorf("workday: update worker %s: %w", id, err)
	}
	return nil
}

func (t *target) update(ctx context.Context, wid string, u connectors.User) error {
	var recs []record
	var today string
	err := t.c.atToday(func(d string) (err error) {
		today = d
		recs, err = t.c.readWIDs(ctx, []string{wid}, d, false)
		return err
	})
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("no worker with WID %s: %w", wid, connectors.ErrNotFound)
	}
	r := recs[0]
	who := ref{"Employee_ID", r.EmployeeID}
	if r.EmployeeID == "" {
		who = ref{"Contingent_Worker_ID", cmpOr(r.ContingentID, r.WorkerID)}
	}
	email, phone := "", ""
	if v := strings.TrimSpace(u.Email); v != "" && !strings.EqualFold(v, r.Email) {
		email = v
	}
	if v := strings.TrimSpace(u.Attributes["phoneNumber"]); v != "" && v != r.Phone {
		phone = v
	}
	if email != "" || phone != "" {
		eff := max(today, r.HireDate)
		if _, err := t.c.call(ctx, "Maintain_Contact_Information", t.c.contactBody(who, eff, email, phone)); err != nil {
			return err
		}
		t.c.logger.Info("workday write-back: contact", "worker_id", r.WorkerID, "email", email != "", "phone", phone != "", "effective", eff)
	}
	if v := strings.TrimSpace(u.UserName); v != "" && v != r.UserID {
		if _, err := t.c.call(ctx, "Update_Workday_Account", t.c.accountBody(who, v)); err != nil {
			return err
		}
		t.c.logger.Info("workday write-back: username", "worker_id", r.WorkerID)
	}
	return nil
}

const workUsage = `<bsvc:Usage_Data bsvc:Public="true"><bsvc:Type_Data bsvc:Primary="true"><bsvc:Type_Reference>` +
	`<bsvc:ID bsvc:type="Communication_Usage_Type_ID">WORK</bsvc:ID></bsvc:Type_Reference></bsvc:Type_Data></bsvc:Usage_Data>`

// contactBody is Maintain_Contact_Information_for_Person_Event_Request
// (notes A4). [U] Add_Only=false replaces the worker's entries of the
// type sent; the phone goes as one Phone_Number with device type
// Landline, which a tenant may name otherwise.
func (c *conn) contactBody(r ref, eff, email, phone string) string {
	var b strings.Builder
	b.WriteString(`<bsvc:Maintain_Contact_Information_for_Person_Event_Request bsvc:Add_Only="false" bsvc:version="` + xmlText(c.cfg.Version) + `">`)
	b.WriteString(`<bsvc:Business_Process_Parameters><bsvc:Auto_Complete>true</bsvc:Auto_Complete><bsvc:Run_Now>true</bsvc:Run_Now></bsvc:Business_Process_Parameters>`)
	b.WriteString(`<bsvc:Maintain_Contact_Information_Data><bsvc:Worker_Reference><bsvc:ID bsvc:type="` + r.typ + `">` + xmlText(r.value) + `</bsvc:ID></bsvc:Worker_Reference>`)
	b.WriteString(`<bsvc:Effective_Date>` + eff + `</bsvc:Effective_Date><bsvc:Worker_Contact_Information_Data>`)
	if email != "" {
		b.WriteString(`<bsvc:Email_Address_Data><bsvc:Email_Address>` + xmlText(email) + `</bsvc:Email_Address>` + workUsage + `</bsvc:Email_Address_Data>`)
	}
	if phone != "" {
		b.WriteString(`<bsvc:Phone_Data><bsvc:Phone_Number>` + xmlText(phone) + `</bsvc:Phone_Number>` +
			`<bsvc:Phone_Device_Type_Reference><bsvc:ID bsvc:type="Phone_Device_Type_ID">Landline</bsvc:ID></bsvc:Phone_Device_Type_Reference>` +
			workUsage + `</bsvc:Phone_Data>`)
	}
	b.WriteString(`</bsvc:Worker_Contact_Information_Data></bsvc:Maintain_Contact_Information_Data></bsvc:Maintain_Contact_Information_for_Person_Event_Request>`)
	return b.String()
}

// accountBody is Workday_Account_for_Worker_Update (notes A4). [U] The
// contingent worker's Integration_ID system, WD-CWID, is a guess.
func (c *conn) accountBody(r ref, userName string) string {
	elem, system := "Employee_Reference", "WD-EMPLID"
	if r.typ == "Contingent_Worker_ID" {
		elem, system = "Contingent_Worker_Reference", "WD-CWID"
	}
	return `<bsvc:Workday_Account_for_Worker_Update bsvc:version="` + xmlText(c.cfg.Version) + `"><bsvc:Worker_Reference><bsvc:` + elem +
		`><bsvc:Integration_ID_Reference><bsvc:ID bsvc:System_ID="` + system + `">` + xmlText(r.value) + `</bsvc:ID></bsvc:Integration_ID_Reference></bsvc:` + elem +
		`></bsvc:Worker_Reference><bsvc:Workday_Account_for_Worker_Data><bsvc:User_Name>` + xmlText(userName) +
		`</bsvc:User_Name></bsvc:Workday_Account_for_Worker_Data></bsvc:Workday_Account_for_Worker_Update>`
}
