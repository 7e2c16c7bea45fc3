package workdayfake

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)

// soap posts a request body in an envelope with the fake's credentials
// (or the given password) and returns the status and the answer.
func soap(t *testing.T, s *Server, body, password string) (int, string) {
	t.Helper()
	if password == "" {
		password = s.Password()
	}
	env := `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:bsvc="urn:com.workday/bsvc"><soapenv:Header>` +
		`<wsse:Security xmlns:wsse="` + nsWSSE + `"><wsse:UsernameToken><wsse:Username>` + s.Username() + "@" + s.Tenant() +
		`</wsse:Username><wsse:Password>` + password + `</wsse:Password></wsse:UsernameToken></wsse:Security></soapenv:Header><soapenv:Body>` +
		body + `</soapenv:Body></soapenv:Envelope>`
	resp, err := http.Post(s.URL()+"/ccx/service/"+s.Tenant()+"/Human_Resources/v44.0", "text/xml", strings.NewReader(env))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getWorkers(filter, criteria string) string {
	return `<bsvc:Get_Workers_Request>` + criteria + `<bsvc:Response_Filter>` + filter + `</bsvc:Response_Filter></bsvc:Get_Workers_Request>`
}

func TestGetWorkers(t *testing.T) {
	s := ForTest(t, Options{Now: t0, Lag: time.Hour})
	ids := s.Populate(250)
	s.Advance(2 * time.Hour)
	before := s.Now()
	s.Advance(time.Minute)
	s.Change(ids[7], "", func(w *Worker) { w.Title = "New Title" })
	s.Change(ids[8], AddDays(s.Today(), 3), func(w *Worker) { w.Title = "Future Title" })
	s.Advance(time.Minute)
	updated := func(from, through time.Time) string {
		return `<bsvc:Request_Criteria><bsvc:Transaction_Log_Criteria_Data><bsvc:Transaction_Date_Range_Data><bsvc:Updated_From>` +
			from.Format(time.RFC3339Nano) + `</bsvc:Updated_From><bsvc:Updated_Through>` + through.Format(time.RFC3339Nano) +
			`</bsvc:Updated_Through></bsvc:Transaction_Date_Range_Data></bsvc:Transaction_Log_Criteria_Data></bsvc:Request_Criteria>`
	}
	tests := []struct {
		name, body string
		status     int
		contains   []string
		absent     []string
	}{
		{"paging", getWorkers("<bsvc:Page>3</bsvc:Page><bsvc:Count>100</bsvc:Count>", ""), 200,
			[]string{"<wd:Total_Results>250</wd:Total_Results>", "<wd:Total_Pages>3</wd:Total_Pages>", "<wd:Page_Results>50</wd:Page_Results>"}, nil},
		{"page zero", getWorkers("<bsvc:Page>0</bsvc:Page>", ""), 500, []string{"Validation_Fault", "Page Number cannot be zero"}, nil},
		{"count too large", getWorkers("<bsvc:Count>1000</bsvc:Count>", ""), 500, []string{"Validation_Fault", "Count"}, nil},
		{"as of now", getWorkers("", `<bsvc:Request_References><bsvc:Worker_Reference><bsvc:ID bsvc:type="Employee_ID">`+ids[7]+`</bsvc:ID></bsvc:Worker_Reference></bsvc:Request_References>`), 200,
			[]string{"New Title"}, nil},
		{"as of an earlier entry moment", getWorkers("<bsvc:As_Of_Entry_DateTime>"+before.Format(time.RFC3339)+"</bsvc:As_Of_Entry_DateTime>", `<bsvc:Request_References><bsvc:Worker_Reference><bsvc:ID bsvc:type="Employee_ID">`+ids[7]+`</bsvc:ID></bsvc:Worker_Reference></bsvc:Request_References>`), 200,
			nil, []string{"New Title"}},
		{"future change as of today", getWorkers("", `<bsvc:Request_References><bsvc:Worker_Reference><bsvc:ID bsvc:type="Employee_ID">`+ids[8]+`</bsvc:ID></bsvc:Worker_Reference></bsvc:Request_References>`), 200,
			nil, []string{"Future Title"}},
		{"future change as of its date", getWorkers("<bsvc:As_Of_Effective_Date>"+AddDays(s.Today(), 3)+"</bsvc:As_Of_Effective_Date>", `<bsvc:Request_References><bsvc:Worker_Reference><bsvc:ID bsvc:type="Employee_ID">`+ids[8]+`</bsvc:ID></bsvc:Worker_Reference></bsvc:Request_References>`), 200,
			[]string{"Future Title"}, nil},
		{"unknown reference", getWorkers("", `<bsvc:Request_References><bsvc:Worker_Reference><bsvc:ID bsvc:type="Employee_ID">nobody</bsvc:ID></bsvc:Worker_Reference></bsvc:Request_References>`), 500,
			[]string{"Invalid ID value"}, nil},
		{"skipped unknown reference", getWorkers("", `<bsvc:Request_References bsvc:Skip_Non_Existing_Instances="true"><bsvc:Worker_Reference><bsvc:ID bsvc:type="Employee_ID">nobody</bsvc:ID></bsvc:Worker_Reference></bsvc:Request_References>`), 200,
			[]string{"<wd:Total_Results>0</wd:Total_Results>"}, nil},
		{"updated window within the lag", getWorkers("", updated(before, s.Now())), 200,
			[]string{"<wd:Total_Results>0</wd:Total_Results>"}, nil},
		{"updated through the future", getWorkers("", updated(before, s.Now().Add(time.Hour))), 500,
			[]string{"Updated Through must be less than or equal to Current Moment!"}, nil},
		{"effective window", getWorkers("", `<bsvc:Request_Criteria><bsvc:Transaction_Log_Criteria_Data><bsvc:Transaction_Date_Range_Data><bsvc:Effective_From>`+AddDays(s.Today(), 1)+`</bsvc:Effective_From><bsvc:Effective_Through>`+AddDays(s.Today(), 5)+`</bsvc:Effective_Through></bsvc:Transaction_Date_Range_Data></bsvc:Transaction_Log_Criteria_Data></bsvc:Request_Criteria>`), 200,
			[]string{"<wd:Total_Results>1</wd:Total_Results>", ">" + ids[8] + "<"}, nil},
		{"org members", getWorkers("", `<bsvc:Request_Criteria><bsvc:Organization_Reference><bsvc:ID bsvc:type="Organization_Reference_ID">LOC-01</bsvc:ID></bsvc:Organization_Reference></bsvc:Request_Criteria>`), 200,
			[]string{"<wd:Total_Results>50</wd:Total_Results>"}, nil},
		{"unknown operation", `<bsvc:Get_Nothing_Request/>`, 500, []string{"Invalid request service or element: Get_Nothing_Request"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := soap(t, s, tt.body, "")
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			for _, c := range tt.contains {
				if !strings.Contains(body, c) {
					t.Errorf("answer lacks %q: %.600s", c, body)
				}
			}
			for _, c := range tt.absent {
				if strings.Contains(body, c) {
					t.Errorf("answer has %q", c)
				}
			}
		})
	}
	s.Advance(time.Hour)
	if _, body := soap(t, s, getWorkers("", updated(before, s.Now())), ""); !strings.Contains(body, "<wd:Total_Results>2</wd:Total_Results>") {
		t.Errorf("after the lag, the Updated window does not find the two changes: %.400s", body)
	}
}

func TestAuthAndKnobs(t *testing.T) {
	s := ForTest(t, Options{Now: t0})
	s.Populate(3)
	if status, body := soap(t, s, getWorkers("", ""), "wrong"); status != 500 || !strings.Contains(body, "invalid username or password") {
		t.Errorf("wrong password: %d %s", status, body)
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL()+s.ReportPath()+"?format=json", nil)
	req.SetBasicAuth(s.Username(), "wrong")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("report with a wrong password: %v %v", resp, err)
	}
	req.SetBasicAuth(s.Username(), s.Password())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct{ Report_Entry []map[string]string } //nolint:revive // Workday's name
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || len(rep.Report_Entry) != 3 {
		t.Errorf("report: %d entries, %v", len(rep.Report_Entry), err)
	}
	resp.Body.Close()
	s.SetKnobs(Knobs{ThrottleRate: 1, RetryAfter: 3 * time.Second})
	resp, err = http.Post(s.URL()+"/ccx/service/acme/Human_Resources/v44.0", "text/xml", strings.NewReader("x"))
	if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("throttled: %v %v", resp, err)
	}
	s.SetKnobs(Knobs{})
	s.SetOutage(true)
	if status, _ := soap(t, s, getWorkers("", ""), ""); status != 503 {
		t.Errorf("outage: status %d", status)
	}
	if s.Requests("RaaS") != 2 || s.RequestCounts()["Get_Workers"] < 1 {
		t.Errorf("counts: %v", s.RequestCounts())
	}
}
