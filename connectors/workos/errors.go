package workos

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/connectors"
)

// Error is a non-2xx answer of the WorkOS API, with what its body says:
// {"code","message","errors":[{"field","code"}]} or
// {"error","error_description"} (OAuth-style), or the start of any other
// body. It never holds the API key. It unwraps to connectors.ErrNotFound
// (404), ErrUnauthorized (401, 403) or ErrRejected (other 4xx); a 429
// comes inside a *connectors.RateLimitError, and 5xx unwrap to nothing,
// so that both are retried.
type Error struct {
	Method string
	Path   string // the request path, without the query
	Status int
	Code   string
	// Message is the body's message, or error_description.
	Message string
	// Fields are the fields errors[] names, as field:code.
	Fields []string
	// Body is the start of a body that is none of the above.
	Body string
}

// maxErrorQuote bounds how much of an unexpected body an error quotes.
const maxErrorQuote = 200

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	} else if e.Body != "" {
		fmt.Fprintf(&b, ": %q", e.Body)
	}
	if len(e.Fields) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(e.Fields, ", "))
	}
	return b.String()
}

// Unwrap returns the connectors sentinel that classifies the error.
func (e *Error) Unwrap() error {
	switch {
	case e.Status == http.StatusTooManyRequests:
		return nil
	case e.Status == http.StatusNotFound:
		return connectors.ErrNotFound
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
		return connectors.ErrUnauthorized
	case e.Status >= 400 && e.Status < 500:
		return connectors.ErrRejected
	}
	return nil
}

// newError reads an error body.
func newError(method, path string, status int, body []byte) *Error {
	e := &Error{Method: method, Path: path, Status: status}
	var obj struct {
		Code             string `json:"code"`
		Message          string `json:"message"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		Errors           []struct {
			Field string `json:"field"`
			Code  string `json:"code"`
		} `json:"errors"`
	}
	var str string
	switch {
	case json.Unmarshal(body, &obj) == nil && (obj.Message != "" || obj.Code != "" || obj.Error != ""):
		e.Code, e.Message = obj.Code, obj.Message
		if e.Code == "" {
			e.Code = obj.Error
		}
		if e.Message == "" {
			e.Message = obj.ErrorDescription
		}
		for _, f := range obj.Errors {
			e.Fields = append(e.Fields, f.Field+":"+f.Code)
		}
	case json.Unmarshal(body, &str) == nil:
		e.Message = str // the spec's 429 body is the JSON string "Ratelimited"
	default:
		e.Body = strings.ToValidUTF8(string(body[:min(len(body), maxErrorQuote)]), "?")
	}
	return e
}

// retryAfter reads Retry-After (seconds or an HTTP date); default 1s.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return time.Second
}

// isStatus reports whether err is an *Error with that status.
func isStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}
