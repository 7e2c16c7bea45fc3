// Package workdayfake is an in-process Workday tenant on loopback, for the
// connectors/workday tests, e2e tests and benchmarks. It speaks SOAP 1.1
// at POST /ccx/service/{tenant}/Human_Resources/v{NN.N} (namespace
// urn:com.workday/bsvc, any prefix), checks the WS-Security
// UsernameToken (Username@tenant and the password), and serves a RaaS
// report at GET /ccx/service/customreport2/{tenant}/{owner}/{report}.
//
//	srv := workdayfake.ForTest(t, workdayfake.Options{Lag: time.Hour})
//	srv.Populate(10_000)
//	id := srv.Hire(workdayfake.Hire{FirstName: "Ada", LastName: "Lovelace", HireDate: workdayfake.AddDays(srv.Today(), 10)})
//	srv.Terminate(id, workdayfake.AddDays(srv.Today(), 30))
//	srv.Advance(time.Hour) // or SetNow: the clock runs from there
//
// # What it answers
//
//   - Get_Workers_Request: Request_References (Worker_Reference by WID,
//     Employee_ID, Contingent_Worker_ID; Skip_Non_Existing_Instances),
//     Request_Criteria (Transaction_Log_Criteria_Data/
//     Transaction_Date_Range_Data with Updated_From/Through and
//     Effective_From/Through, Organization_Reference,
//     Exclude_Inactive_Workers), Response_Filter (As_Of_Effective_Date,
//     As_Of_Entry_DateTime, Page, Count) and Response_Group; with
//     Workday's validations as Validation_Faults ("Page Number cannot be
//     zero", both-or-neither, From ≤ Through, "Updated Through must be
//     less than or equal to Current Moment!").
//   - Maintain_Contact_Information_for_Person_Event_Request (WORK email
//     and phone) and Workday_Account_for_Worker_Update (User_Name): each
//     is a dated change, and is recorded (Writes) so that a test can see
//     nothing else was written.
//   - Faults: HTTP 500 with a SOAP 1.1 Fault whose detail is a
//     wd:Validation_Fault or a wd:Processing_Fault; a malformed envelope
//     is a fault too. A bad UsernameToken is a 500 fault
//     ("invalid username or password").
//
// # Effective dating
//
// Each worker record is a list of business processes (hire, change,
// terminate, rescind), each effective on a tenant-local date and entered
// at a moment of the fake's clock. A read as of effective date D and
// entry moment M applies the processes entered by M and effective by D;
// the hire is the baseline, so a pre-hire exists, inactive, before its
// hire date. A rehire and a conversion make a new record (new WID) with
// the same Worker_ID; the old one stays, inactive. An Updated window
// matches records by entry moment, and sees an entry only Lag after it
// was made, as Workday's transaction log does (about an hour); an
// Effective window matches by effective date. "Today" is the date in
// Options.TimeZone.
//
// The clock starts at Options.Now (or the real time) and runs in real
// time from there; SetNow and Advance move it. Every response's Date
// header is the fake's clock, which is how a client learns the tenant's
// current moment.
//
// # Knobs
//
// Latency, throttling (429 or 503 with Retry-After), a rate of transient
// 500 Processing_Faults, an outage (503 on everything), and Manager
// references with a WID only. Requests counts requests by operation.
//
// # What is uncertain
//
// No Workday WSDL or XSD was available offline (nor found in the code
// search corpus), so the element names come from the notes in
// the project's shared API notes on Workday (section A: Entra's attribute
// reference, treestryder's PowerShell module, Nango's templates) and are
// marked [U] in the code where they are a guess: the fault codes, the
// phone's parts, the account update's reference form, what an ID that
// names two records returns, and the effective date of a rescind.
package workdayfake
