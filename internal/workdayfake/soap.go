package workdayfake

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"regexp"
	"strings"
)

// Namespaces of the SOAP 1.1 envelope, WS-Security and Workday's services.
const (
	nsSOAP = "http://schemas.xmlsoap.org/soap/envelope/"
	nsWSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsWD   = "urn:com.workday/bsvc"
)

// maxRequest bounds a request body.
const maxRequest = 1 << 20

// servicePath is /ccx/service/{tenant}/Human_Resources/v{NN.N}.
var servicePath = regexp.MustCompile(`^/ccx/service/([^/]+)/(Human_Resources|Staffing)/v(\d+\.\d+)$`)

// envelope is a SOAP 1.1 request. Elements match by local name, so any
// prefix (wd, bsvc, soapenv) does.
type envelope struct {
	XMLName xml.Name
	Header  struct {
		Security struct {
			UsernameToken struct {
				Username string `xml:"Username"`
				Password string `xml:"Password"`
			} `xml:"UsernameToken"`
		} `xml:"Security"`
	} `xml:"Header"`
	Body *struct {
		GetWorkers *getWorkersRequest           `xml:"Get_Workers_Request"`
		Contact    *maintainContactRequest      `xml:"Maintain_Contact_Information_for_Person_Event_Request"`
		Account    *accountUpdateRequest        `xml:"Workday_Account_for_Worker_Update"`
		Other      []struct{ XMLName xml.Name } `xml:",any"`
	} `xml:"Body"`
}

// idEl is a reference's <wd:ID wd:type="…">value</wd:ID>.
type idEl struct {
	Type     string `xml:"type,attr"`
	SystemID string `xml:"System_ID,attr"`
	Value    string `xml:",chardata"`
}

type reference struct {
	IDs []idEl `xml:"ID"`
}

func (s *Server) serveSOAP(w http.ResponseWriter, r *http.Request) {
	m := servicePath.FindStringSubmatch(r.URL.Path)
	if m == nil || m[1] != s.opts.Tenant {
		s.count("SOAP")
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		s.count("SOAP")
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil || len(body) > maxRequest {
		s.count("SOAP")
		writeFault(w, clientFault("Client.validationError", "request body too large or unreadable"))
		return
	}
	var env envelope
	if err := xml.Unmarshal(body, &env); err != nil || env.XMLName.Local != "Envelope" || env.XMLName.Space != nsSOAP || env.Body == nil {
		s.count("SOAP")
		msg := "Invalid request: not a SOAP 1.1 envelope"
		if err != nil {
			msg += ": " + err.Error()
		}
		writeFault(w, clientFault("SOAP-ENV:Client", msg))
		return
	}
	b := env.Body
	op := "unknown"
	switch {
	case b.GetWorkers != nil:
		op = "Get_Workers"
	case b.Contact != nil:
		op = "Maintain_Contact_Information"
	case b.Account != nil:
		op = "Update_Workday_Account"
	}
	s.count(op)
	tok := env.Header.Security.UsernameToken
	if tok.Username != s.opts.Username+"@"+s.opts.Tenant || tok.Password != s.opts.Password {
		// [U] Workday answers a bad UsernameToken with a 500 fault whose
		// faultstring says so; the exact faultcode is not published.
		writeFault(w, clientFault("SOAP-ENV:Client.authenticationError", "invalid username or password"))
		return
	}
	var resp string
	var f *fault
	switch op {
	case "Get_Workers":
		resp, f = s.getWorkers(b.GetWorkers)
	case "Maintain_Contact_Information":
		resp, f = s.maintainContact(b.Contact)
	case "Update_Workday_Account":
		resp, f = s.updateAccount(b.Account)
	default:
		name := "(empty body)"
		if len(b.Other) > 0 {
			name = b.Other[0].XMLName.Local
		}
		f = clientFault("SOAP-ENV:Client", "Invalid request service or element: "+name)
	}
	if f != nil {
		writeFault(w, f)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="`+nsSOAP+`" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><env:Body>`)
	_, _ = io.WriteString(w, resp)
	_, _ = io.WriteString(w, `</env:Body></env:Envelope>`)
}

// fault is a SOAP 1.1 Fault with Workday's detail.
type fault struct {
	code, message string
	validation    []validationError // a Validation_Fault
	processing    string            // a Processing_Fault's Detail_Message
}

type validationError struct{ message, detail, xpath string }

func clientFault(code, msg string) *fault { return &fault{code: code, message: msg} }

func processingFault(msg string) *fault {
	return &fault{code: "SOAP-ENV:Client.processingFault", message: msg, processing: msg}
}

// validation is a Validation_Fault with one error at xpath.
func validation(msg, xpath string) *fault {
	return &fault{code: "SOAP-ENV:Client.validationError", message: "Validation error occurred. " + msg,
		validation: []validationError{{message: msg, xpath: xpath}}}
}

// [U] The faultcode strings are not published; clients should dispatch
// on the detail element, as the connector does.
func writeFault(w http.ResponseWriter, f *fault) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="` + nsSOAP + `"><SOAP-ENV:Body><SOAP-ENV:Fault>`)
	b.WriteString("<faultcode>" + esc(f.code) + "</faultcode><faultstring>" + esc(f.message) + "</faultstring>")
	switch {
	case len(f.validation) > 0:
		b.WriteString(`<detail><wd:Validation_Fault xmlns:wd="` + nsWD + `">`)
		for _, v := range f.validation {
			b.WriteString("<wd:Validation_Error><wd:Message>" + esc(v.message) + "</wd:Message>")
			b.WriteString("<wd:Detail_Message>" + esc(cmp(v.detail, v.message)) + "</wd:Detail_Message>")
			b.WriteString("<wd:Xpath>" + esc(v.xpath) + "</wd:Xpath></wd:Validation_Error>")
		}
		b.WriteString(`</wd:Validation_Fault></detail>`)
	case f.processing != "":
		b.WriteString(`<detail><wd:Processing_Fault xmlns:wd="` + nsWD + `"><wd:Detail_Message>` + esc(f.processing) + `</wd:Detail_Message></wd:Processing_Fault></detail>`)
	}
	b.WriteString(`</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(b.Bytes())
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// esc escapes s for XML text and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
