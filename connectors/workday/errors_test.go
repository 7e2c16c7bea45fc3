package workday

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/workdayfake"
)

const validationFault = `<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client.validationError</faultcode><faultstring>Validation error occurred. Page Number cannot be zero</faultstring><detail><wd:Validation_Fault xmlns:wd="urn:com.workday/bsvc"><wd:Validation_Error><wd:Message>Page Number cannot be zero</wd:Message><wd:Detail_Message>Page Number cannot be zero (detail)</wd:Detail_Message><wd:Xpath>/ns0:Get_Workers_Request[1]/ns0:Response_Filter[1]/ns0:Page[1]</wd:Xpath></wd:Validation_Error></wd:Validation_Fault></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`

const processingFault = `<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client.processingFault</faultcode><faultstring>Processing error occurred.</faultstring><detail><wd:Processing_Fault xmlns:wd="urn:com.workday/bsvc"><wd:Detail_Message>The task submitted is not authorized.</wd:Detail_Message></wd:Processing_Fault></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`

const emptyEnvelope = `<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body></env:Body></env:Envelope>`

// TestErrors: each kind of failure reads as a clear error of the right
// class, and never quotes the password.
func TestErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		header   map[string]string
		body     string
		contains []string
		is       error // a sentinel it must unwrap to, or nil for none
		rate     time.Duration
	}{
		{name: "validation fault", status: 500, body: validationFault,
			contains: []string{"validation fault", "Page Number cannot be zero", "(detail)", "Response_Filter[1]"}, is: connectors.ErrRejected},
		{name: "processing fault", status: 500, body: processingFault,
			contains: []string{"processing fault", "The task submitted is not authorized."}},
		{name: "auth fault", status: 500, body: strings.Replace(processingFault, "<faultstring>Processing error occurred.</faultstring>", "<faultstring>invalid username or password</faultstring>", 1),
			contains: []string{"credentials refused"}, is: connectors.ErrUnauthorized},
		{name: "401", status: 401, body: "no", contains: []string{"401"}, is: connectors.ErrUnauthorized},
		{name: "429", status: 429, header: map[string]string{"Retry-After": "7"}, body: "slow down", rate: 7 * time.Second},
		{name: "503", status: 503, body: "maintenance", contains: []string{"503"}, rate: -1},
		{name: "502", status: 502, body: "bad gateway", contains: []string{"502"}},
		{name: "html", status: 200, body: "<html><body>login</body></html>", contains: []string{"malformed", "not a SOAP 1.1 envelope"}},
		{name: "not xml", status: 200, body: "{\"json\":true}", contains: []string{"malformed"}},
		{name: "no response element", status: 200, body: emptyEnvelope, contains: []string{"malformed", "no Get_Workers_Response"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotBody string
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				gotBody = string(b)
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer hs.Close()
			fake := newFake(t, workdayfake.Options{})
			c := openConn(t, fake, map[string]any{"maxRetryWait": "0s"})
			c.endpoint = hs.URL + "/ccx/service/acme/Human_Resources/v44.0"
			_, _, err := c.GetUser(t.Context(), "1001")
			if err == nil {
				t.Fatal("GetUser: no error")
			}
			if !strings.Contains(gotBody, "<wsse:Password") {
				t.Fatalf("the request has no UsernameToken: %s", gotBody)
			}
			msg := err.Error()
			for _, s := range tt.contains {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not say %q", msg, s)
				}
			}
			if strings.Contains(msg, fake.Password()) {
				t.Errorf("error %q quotes the password", msg)
			}
			for _, s := range []error{connectors.ErrRejected, connectors.ErrUnauthorized, connectors.ErrNotFound} {
				if errors.Is(err, s) != (s == tt.is) {
					t.Errorf("error %q: errors.Is(%v) = %t", msg, s, errors.Is(err, s))
				}
			}
			var rl *connectors.RateLimitError
			if isRate := errors.As(err, &rl); isRate != (tt.rate != 0) {
				t.Errorf("error %q: rate limit %t, want %t", msg, isRate, tt.rate != 0)
			} else if isRate && tt.rate > 0 && rl.RetryAfter != tt.rate {
				t.Errorf("Retry-After %s, want %s", rl.RetryAfter, tt.rate)
			}
		})
	}
}

// TestWrongPassword: the fake refuses the UsernameToken; the error is an
// auth error at the auth stage, and does not quote what was sent.
func TestWrongPassword(t *testing.T) {
	srv := newFake(t, workdayfake.Options{})
	c := openConn(t, srv, nil)
	c.password = "not-the-password-4711"
	err := c.Test(t.Context())
	var te *connectors.TestError
	if !errors.As(err, &te) || te.Stage != connectors.StageAuth || !errors.Is(err, connectors.ErrUnauthorized) {
		t.Fatalf("Test with a wrong password: %v; want a TestError at stage auth", err)
	}
	if strings.Contains(err.Error(), "4711") {
		t.Errorf("error %q quotes the password", err)
	}
}

// TestFakeFaults: the fake answers a malformed envelope and a request
// its validations refuse with a 500 SOAP fault that the connector reads,
// and applies nothing.
func TestFakeFaults(t *testing.T) {
	srv := newFake(t, workdayfake.Options{})
	id := srv.Hire(workdayfake.Hire{FirstName: "A", Email: "a@acme.example"})
	c := openConn(t, srv, nil)
	for _, tt := range []struct {
		name, body, want string
	}{
		{"malformed envelope", "<soapenv:Envelope", "Invalid request: not a SOAP 1.1 envelope"},
		{"page zero", `<bsvc:Get_Workers_Request><bsvc:Response_Filter><bsvc:Page>0</bsvc:Page></bsvc:Response_Filter></bsvc:Get_Workers_Request>`, "Page Number cannot be zero"},
		{"updated from alone", `<bsvc:Get_Workers_Request><bsvc:Request_Criteria><bsvc:Transaction_Log_Criteria_Data><bsvc:Transaction_Date_Range_Data><bsvc:Updated_From>2026-12-01T00:00:00Z</bsvc:Updated_From></bsvc:Transaction_Date_Range_Data></bsvc:Transaction_Log_Criteria_Data></bsvc:Request_Criteria></bsvc:Get_Workers_Request>`, "both are required"},
		{"updated through in the future", `<bsvc:Get_Workers_Request><bsvc:Request_Criteria><bsvc:Transaction_Log_Criteria_Data><bsvc:Transaction_Date_Range_Data><bsvc:Updated_From>2026-12-01T00:00:00Z</bsvc:Updated_From><bsvc:Updated_Through>2030-01-01T00:00:00Z</bsvc:Updated_Through></bsvc:Transaction_Date_Range_Data></bsvc:Transaction_Log_Criteria_Data></bsvc:Request_Criteria></bsvc:Get_Workers_Request>`, "Updated Through must be less than or equal to Current Moment!"},
		{"unknown worker write", c.contactBody(ref{"Employee_ID", "nobody"}, "2026-12-05", "x@acme.example", ""), "Invalid ID value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.name == "malformed envelope" {
				var resp *http.Response
				resp, err = http.Post(c.endpoint, "text/xml", strings.NewReader(tt.body))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 500 || !strings.Contains(string(b), tt.want) || !strings.Contains(string(b), "Fault>") {
					t.Fatalf("malformed envelope: %d %s", resp.StatusCode, b)
				}
				return
			}
			_, err = c.call(t.Context(), "test", tt.body)
			var f *Fault
			if !errors.As(err, &f) || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, connectors.ErrRejected) {
				t.Fatalf("got %v; want a validation Fault saying %q", err, tt.want)
			}
		})
	}
	if w := srv.Writes(); len(w) != 0 {
		t.Errorf("the fake applied writes: %+v", w)
	}
	if u, _ := getUser(t, c, id); u.Email != "a@acme.example" {
		t.Errorf("worker changed: %+v", u)
	}
}
