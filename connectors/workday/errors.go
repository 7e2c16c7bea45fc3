package workday

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
)

// soapFault is a SOAP 1.1 Fault with Workday's detail.
type soapFault struct {
	Code   string `xml:"faultcode"`
	String string `xml:"faultstring"`
	Detail struct {
		Validation *struct {
			Errors []ValidationError `xml:"Validation_Error"`
		} `xml:"Validation_Fault"`
		Processing *struct {
			Message string `xml:"Detail_Message"`
		} `xml:"Processing_Fault"`
	} `xml:"detail"`
}

// ValidationError is one wd:Validation_Error of a Validation_Fault.
type ValidationError struct {
	Message string `xml:"Message"`
	Detail  string `xml:"Detail_Message"`
	Xpath   string `xml:"Xpath"`
}

// Fault is a SOAP fault from Workday. Its kind is read from the detail
// element (Validation_Fault, Processing_Fault), since the faultcode
// strings are not published. A validation fault unwraps to
// connectors.ErrRejected (the same request fails again); an
// authentication fault to ErrUnauthorized; a processing fault to nothing
// (retried as transient).
type Fault struct {
	Op         string
	Status     int
	Code       string
	String     string
	Validation []ValidationError
	Processing string
}

func (f *Fault) auth() bool {
	s := strings.ToLower(f.Code + " " + f.String)
	return strings.Contains(s, "authentication") || strings.Contains(s, "invalid username or password")
}

func (f *Fault) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "workday: %s: ", f.Op)
	switch {
	case f.auth():
		fmt.Fprintf(&b, "credentials refused (%s): check username, password and the ISU's security group", f.String)
	case len(f.Validation) > 0:
		b.WriteString("validation fault: ")
		for i, v := range f.Validation {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(v.Message)
			if v.Detail != "" && v.Detail != v.Message {
				fmt.Fprintf(&b, " (%s)", v.Detail)
			}
			if v.Xpath != "" {
				fmt.Fprintf(&b, " at %s", v.Xpath)
			}
		}
	case f.Processing != "":
		fmt.Fprintf(&b, "processing fault: %s", f.Processing)
	default:
		fmt.Fprintf(&b, "fault %s: %s", f.Code, f.String)
	}
	return b.String()
}

// Unwrap classifies the fault.
func (f *Fault) Unwrap() error {
	switch {
	case f.auth():
		return connectors.ErrUnauthorized
	case len(f.Validation) > 0:
		return connectors.ErrRejected
	}
	return nil
}

// invalidID says whether f is Workday's "Invalid ID value" validation
// (a reference to nothing).
func (f *Fault) invalidID() bool {
	for _, v := range f.Validation {
		if strings.Contains(v.Message, "Invalid ID value") {
			return true
		}
	}
	return false
}

// HTTPError is a non-200 answer without a SOAP fault.
type HTTPError struct {
	Op     string
	Status int
	Body   string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("workday: %s: %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Status == http.StatusNotFound {
		msg += " (check url, tenant and version)"
	}
	if e.Body != "" {
		msg += fmt.Sprintf(": %q", e.Body)
	}
	return msg
}

// Unwrap: 401 and 403 are refused credentials; other 4xx are rejected;
// 5xx are transient.
func (e *HTTPError) Unwrap() error {
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return connectors.ErrUnauthorized
	case e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests:
		return connectors.ErrRejected
	}
	return nil
}

// MalformedError is an answer that is not what the request expects.
type MalformedError struct {
	Op     string
	Status int
	Reason string
	Body   string
}

func (e *MalformedError) Error() string {
	msg := fmt.Sprintf("workday: %s: malformed %d response: %s", e.Op, e.Status, e.Reason)
	if e.Body != "" {
		msg += fmt.Sprintf("; body starts %q", e.Body)
	}
	return msg
}

// statusError builds the error of a non-200 answer or a fault.
func (c *conn) statusError(op string, resp *http.Response, raw []byte, sf *soapFault) error {
	var err error
	if sf != nil {
		f := &Fault{Op: op, Status: resp.StatusCode, Code: trunc(sf.Code, 100), String: trunc(c.quote([]byte(sf.String)), maxQuote)}
		if v := sf.Detail.Validation; v != nil {
			for _, e := range v.Errors {
				f.Validation = append(f.Validation, ValidationError{Message: c.quote([]byte(e.Message)), Detail: c.quote([]byte(e.Detail)), Xpath: trunc(e.Xpath, 200)})
			}
		}
		if p := sf.Detail.Processing; p != nil {
			f.Processing = c.quote([]byte(p.Message))
		}
		err = f
	} else {
		err = &HTTPError{Op: op, Status: resp.StatusCode, Body: c.quote(raw)}
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		return &connectors.RateLimitError{RetryAfter: retryAfter(resp.Header.Get("Retry-After"), c.localNow()), Err: err}
	}
	return err
}

// maxRetryAfter bounds what a server may ask us to wait.
const maxRetryAfter = time.Hour

// retryAfter reads Retry-After: seconds or an HTTP date; 0 when absent.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return min(time.Duration(secs)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now).Round(time.Second), maxRetryAfter)
	}
	return 0
}

// isInvalidID says whether err is an "Invalid ID value" validation fault.
func isInvalidID(err error) bool {
	var f *Fault
	return errors.As(err, &f) && f.invalidID()
}
