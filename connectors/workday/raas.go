package workday

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// readReport reads the RaaS report (see the package doc for its columns)
// and passes its rows to page, PageSize records at a time. The report is
// unpaged: one request, its body bounded by maxBody.
func (c *conn) readReport(ctx context.Context, page func([]record) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.reportURL+"?format=json", nil)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	req.SetBasicAuth(c.reportUser, c.reportPassword)
	req.Header.Set("Accept", "application/json")
	start := c.localNow()
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("report: %w", c.redactErr(err))
	}
	defer resp.Body.Close()
	c.observeDate(resp.Header.Get("Date"), start)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("report: read: %w", err)
	}
	if len(raw) > maxBody {
		return &MalformedError{Op: "RaaS", Status: resp.StatusCode, Reason: fmt.Sprintf("larger than %d MiB", maxBody>>20)}
	}
	if resp.StatusCode != http.StatusOK {
		return c.statusError("RaaS", resp, raw, nil)
	}
	var body struct {
		Entries []map[string]json.RawMessage `json:"Report_Entry"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Entries == nil {
		reason := "no Report_Entry"
		if err != nil {
			reason = err.Error()
		}
		return &MalformedError{Op: "RaaS", Status: resp.StatusCode, Reason: reason, Body: c.quote(raw)}
	}
	recs := make([]record, 0, len(body.Entries))
	for i, e := range body.Entries {
		r := reportRecord(e)
		if r.WID == "" || r.WorkerID == "" {
			return &MalformedError{Op: "RaaS", Status: resp.StatusCode, Reason: fmt.Sprintf("row %d has no WID or Worker_ID column", i+1)}
		}
		recs = append(recs, r)
	}
	c.learn(recs)
	for start := 0; start < len(recs); start += c.cfg.PageSize {
		if err := page(recs[start:min(start+c.cfg.PageSize, len(recs))]); err != nil {
			return err
		}
	}
	return nil
}

// reportOrgColumns name the report's org columns by org type.
var reportOrgColumns = map[string]string{OrgSupervisory: "Supervisory_Organization", OrgCostCenter: "Cost_Center", OrgLocation: "Location"}

// reportRecord reads a row; a value may be a JSON string or number.
func reportRecord(e map[string]json.RawMessage) record {
	col := func(k string) string {
		v, ok := e[k]
		if !ok {
			return ""
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			return strings.TrimSpace(s)
		}
		return strings.Trim(strings.TrimSpace(string(v)), `"`)
	}
	r := record{
		WID: col("WID"), WorkerID: col("Worker_ID"), EmployeeID: col("Employee_ID"), ContingentID: col("Contingent_Worker_ID"),
		UserID: col("User_ID"), First: col("First_Name"), Last: col("Last_Name"), Preferred: col("Preferred_Name"),
		Email: col("Email_Address"), Phone: col("Phone"), Title: col("Business_Title"), WorkerType: col("Worker_Type"),
		HireDate: date(col("Hire_Date")), TerminationDate: date(col("Termination_Date")),
		Active: bit(col("Active")), ManagerID: col("Manager_ID"),
	}
	r.WorkerID = cmpOr(r.WorkerID, r.EmployeeID, r.ContingentID)
	r.Terminated = r.TerminationDate != "" && !r.Active
	for typ, name := range reportOrgColumns {
		if id := col(name + "_ID"); id != "" {
			if r.Orgs == nil {
				r.Orgs, r.Memberships = map[string]org{}, map[string]string{}
			}
			r.Orgs[typ] = org{ID: id, Name: col(name)}
			r.Memberships[groupID(typ, id)] = col(name)
		}
	}
	return r
}
