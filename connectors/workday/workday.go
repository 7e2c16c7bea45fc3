// Package workday is the "workday" connection type: Workday HCM as a
// source of workers and org groups (SOAP Get_Workers on the
// Human_Resources service, or a RaaS report for full listings), and as
// an update-only target that takes back the work email, phone and
// username other systems assign.
//
// # Keys
//
// A user's ExternalID is its Worker_ID (Worker_Data/Worker_ID: the
// Employee_ID or the Contingent_Worker_ID), never the WID: a rehire and
// a contingent-to-employee conversion make a new worker record with a
// new WID and the same Worker_ID, and the old record stays, inactive. A
// listing can therefore hold two records of one Worker_ID; the source
// keeps one: the record active today, else a pre-hire within the
// pre-hire window, else the latest inactive one.
//
// # Effective dating and time zone
//
// Workday keeps every change with an effective date and an entry
// moment. "Today" is the date in timeZone (default America/Los_Angeles,
// the zone Workday's "NOW" is read in for an ISU; set the tenant's zone
// so that a termination in Sydney takes effect at Sydney's midnight, not
// Los Angeles'), and every read says As_Of_Effective_Date explicitly. A
// worker whose hire date is more than preHireDays away is not in the
// source; within them it is, active, with its data read as of its hire
// date (its org and job are effective then). A termination makes the
// user inactive on its effective date, not before; a rescinded
// termination and a rehire make it active again, under the same
// ExternalID.
//
// # Incremental polls and lag
//
// The cursor ("workday:v1:{json}") holds the end of the last Updated
// window (an entry moment), the last date whose effective changes were
// read, and the digests of users reported in the last windowOverlap. A
// poll reads (a) the Updated window [end − windowOverlap, now] (never
// before the moment Cursor was called: the full resync that follows it
// reads what was entered before, and data reads do not lag), since
// Workday's transaction log shows an entry up to about an hour late, so
// windowOverlap must be at least that lag; (b) the Effective window
// (last date, today], for changes entered earlier that take effect now
// (future-dated terminations and hires); and (c) with preHireDays, the
// hires that enter the pre-hire window. It re-reads the workers found as
// of today and reports those whose digest changed; a worker that left
// the source (a rescinded hire, a hire moved past the window) is a
// deletion. Org groups whose membership changed are reported with all
// their members. "Now" is the tenant's clock, from the Date header of a
// small request at the start of each poll, because Workday refuses an
// Updated_Through past its current moment. A cursor older than 30 days,
// or unreadable, asks for a full resync.
//
// # Groups
//
// Groups are organizations of the types in groups (default SUPERVISORY):
// ExternalID "<TYPE>/<Organization_Reference_ID>", the org's name, and
// as members the Worker_IDs of the workers active in it today (a
// pre-hire joins on its hire date). An org without an active worker is
// not a group; a renamed org is seen at the next full resync.
//
// # Write-back
//
// As a target the connection is update-only (connectors.UpdateOnly): its
// users are the workers (ID: the WID of the record in effect; attributes
// employeeId and the rest), found by employeeId, contingentWorkerId or
// employeeNumber (Worker_ID); UpdateUser sends
// Maintain_Contact_Information (work email, work phone) and
// Update_Workday_Account (username) for the fields that differ, and
// nothing else. It never creates or deprovisions a worker.
//
// # RaaS
//
// With report set, full listings read the report (one GET,
// ?format=json, Basic auth) instead of paging Get_Workers. Its columns
// must be aliased as: WID, Worker_ID, Employee_ID, Contingent_Worker_ID,
// User_ID, First_Name, Last_Name, Preferred_Name, Email_Address, Phone,
// Business_Title, Worker_Type, Hire_Date, Termination_Date, Active (1/0),
// Manager_ID (the manager's Worker_ID), and for groups
// Supervisory_Organization(_ID), Cost_Center(_ID), Location(_ID).
// Incremental polls and single reads still use Get_Workers.
//
// No Workday WSDL was available when this was written: element names
// come from public integration docs (see internal/workdayfake), and the
// uncertain ones are marked [U].
package workday

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/idsync/idsync/connectors"
)

// defaultSettle is how far behind the tenant's clock an Updated window
// ends, for the clock estimate's error when it is the local clock.
const defaultSettle = 5 * time.Second

// conn is an open Workday connection: the source, and the target through
// AsTarget.
type conn struct {
	cfg      Config
	endpoint string
	isu      string
	password string
	http     *http.Client
	logger   *slog.Logger
	target   *target

	reportURL, reportUser, reportPassword string

	// settle is subtracted from the tenant's now for Updated_Through.
	settle   time.Duration
	localNow func() time.Time

	mu     sync.Mutex
	offset time.Duration     // tenant clock − local clock (see observeDate)
	wids   map[string]string // WID → Worker_ID, for managers
}

var (
	_ connectors.Source      = (*conn)(nil)
	_ connectors.Incremental = (*conn)(nil)
	_ connectors.TargetRole  = (*conn)(nil)
	_ connectors.Tester      = (*conn)(nil)
	_ connectors.Describer   = (*conn)(nil)
	_ connectors.GroupSource = (*groupSource)(nil)
)

// groupSource is a conn whose settings ask for groups.
type groupSource struct{ *conn }

// Close implements connectors.Connector.
func (c *conn) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// AsTarget implements connectors.TargetRole.
func (c *conn) AsTarget() (connectors.Target, error) { return c.target, nil }
