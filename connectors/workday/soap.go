package workday

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Namespaces of what the connector sends.
const (
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsWSSE     = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsWD       = "urn:com.workday/bsvc"
	passText   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
	maxBody    = 64 << 20 // a page of 999 workers is a few MB
	maxQuote   = 512
	defaultCap = 32
)

// xmlText escapes s for XML text and attribute values.
func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// envelope wraps a request body (bsvc-prefixed elements) in a SOAP 1.1
// envelope with a WS-Security UsernameToken.
func (c *conn) envelope(body string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	b.WriteString(`<soapenv:Envelope xmlns:soapenv="` + nsSOAP + `" xmlns:bsvc="` + nsWD + `"><soapenv:Header>`)
	b.WriteString(`<wsse:Security soapenv:mustUnderstand="1" xmlns:wsse="` + nsWSSE + `"><wsse:UsernameToken>`)
	b.WriteString(`<wsse:Username>` + xmlText(c.isu) + `</wsse:Username>`)
	b.WriteString(`<wsse:Password Type="` + passText + `">` + xmlText(c.password) + `</wsse:Password>`)
	b.WriteString(`</wsse:UsernameToken></wsse:Security></soapenv:Header><soapenv:Body>`)
	b.WriteString(body)
	b.WriteString(`</soapenv:Body></soapenv:Envelope>`)
	return b.Bytes()
}

// responseBody is what a 200 answer holds; a fault is read from a 500.
type responseBody struct {
	XMLName xml.Name
	Body    *struct {
		Fault      *soapFault          `xml:"Fault"`
		GetWorkers *getWorkersResponse `xml:"Get_Workers_Response"`
		Contact    *struct {
			Event reference `xml:"Contact_Information_for_Person_Event_Reference"`
		} `xml:"Maintain_Contact_Information_for_Person_Event_Response"`
		Account *struct{} `xml:"Workday_Account_for_Worker_Update_Response"`
	} `xml:"Body"`
}

// call posts one SOAP request of operation op and decodes the answer.
// Every error says which operation failed and never holds the password.
func (c *conn) call(ctx context.Context, op, body string) (*responseBody, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(c.envelope(body)))
	if err != nil {
		return nil, fmt.Errorf("workday: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `""`)
	start := c.localNow()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("workday: %s: %w", op, c.redactErr(err))
	}
	defer resp.Body.Close()
	c.observeDate(resp.Header.Get("Date"), start)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("workday: %s: read the response: %w", op, err)
	}
	if len(raw) > maxBody {
		return nil, &MalformedError{Op: op, Status: resp.StatusCode, Reason: fmt.Sprintf("larger than %d MiB: lower pageSize", maxBody>>20)}
	}
	var rb responseBody
	xmlErr := xml.Unmarshal(raw, &rb)
	if xmlErr == nil && (rb.XMLName.Local != "Envelope" || rb.XMLName.Space != nsSOAP || rb.Body == nil) {
		xmlErr = fmt.Errorf("not a SOAP 1.1 envelope (root %s)", rb.XMLName.Local)
	}
	if resp.StatusCode != http.StatusOK || (xmlErr == nil && rb.Body.Fault != nil) {
		var f *soapFault
		if xmlErr == nil {
			f = rb.Body.Fault
		}
		return nil, c.statusError(op, resp, raw, f)
	}
	if xmlErr != nil {
		return nil, &MalformedError{Op: op, Status: resp.StatusCode, Reason: xmlErr.Error(), Body: c.quote(raw)}
	}
	return &rb, nil
}

// redactErr drops the password from an error's text, should a transport
// ever echo it.
func (c *conn) redactErr(err error) error {
	if c.password != "" && strings.Contains(err.Error(), c.password) {
		return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), c.password, "[redacted]"))
	}
	return err
}

// quote is the start of a body, for an error, the password redacted.
func (c *conn) quote(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	if c.password != "" {
		s = strings.ReplaceAll(s, c.password, "[redacted]")
		s = strings.ReplaceAll(s, xmlText(c.password), "[redacted]")
	}
	return trunc(s, maxQuote)
}

// maxSkew is the clock difference with the tenant below which the local
// clock is trusted (it is finer than the Date header's seconds).
const maxSkew = 2 * time.Second

// observeDate learns the tenant's clock from a response's Date header.
// Workday refuses an Updated_Through past its current moment, so the
// windows are cut by its clock, not ours. The header has whole seconds
// and is read after the request was sent: the estimate runs behind the
// tenant, never ahead.
func (c *conn) observeDate(h string, sent time.Time) {
	t, err := http.ParseTime(h)
	if err != nil {
		return
	}
	skew := t.Sub(sent)
	c.mu.Lock()
	defer c.mu.Unlock()
	if skew > maxSkew || skew < -maxSkew {
		c.offset = skew
	} else {
		c.offset = 0
	}
}

// tenantNow is the tenant's current moment as last learned.
func (c *conn) tenantNow() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.localNow().Add(c.offset)
}

// today is the tenant-local date of t in the connection's time zone.
func (c *conn) today(t time.Time) string { return t.In(c.cfg.loc).Format(dateLayout) }

// now is the tenant's current moment, from the Date header of a small
// request (Workday refuses an Updated_Through past its current moment,
// so windows are cut by its clock, not ours).
func (c *conn) now(ctx context.Context) (time.Time, error) {
	q := workersQuery{asOf: c.today(c.tenantNow()), count: 1, refsOnly: true}
	if _, err := c.call(ctx, "Get_Workers", q.body(c.cfg.Version, 1)); err != nil {
		return time.Time{}, err
	}
	return c.tenantNow(), nil
}

// atToday runs read as of the tenant's today as last learned, without a
// request to learn it; when the answer shows the tenant's date differs
// (a clock moved, the first request of a connection), it runs read once
// more with the right date.
func (c *conn) atToday(read func(today string) error) error {
	today := c.today(c.tenantNow())
	if err := read(today); err != nil {
		return err
	}
	if now := c.today(c.tenantNow()); now != today {
		return read(now)
	}
	return nil
}
