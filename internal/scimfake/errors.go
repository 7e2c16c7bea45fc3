package scimfake

import (
	"net/http"
	"strconv"
)

// apiError is an answer other than success, written as a SCIM error
// (RFC 7644 §3.12) or in the flavor's own shape.
type apiError struct {
	status   int
	scimType string // RFC 7644 Table 9, for 400 and 409
	detail   string
}

func (e *apiError) Error() string {
	return strconv.Itoa(e.status) + " " + e.scimType + ": " + e.detail
}

func newError(status int, scimType, detail string) *apiError {
	return &apiError{status: status, scimType: scimType, detail: detail}
}

func errInvalidValue(detail string) *apiError {
	return newError(http.StatusBadRequest, "invalidValue", detail)
}

func errInvalidSyntax(detail string) *apiError {
	return newError(http.StatusBadRequest, "invalidSyntax", detail)
}

func errInvalidFilter(detail string) *apiError {
	return newError(http.StatusBadRequest, "invalidFilter", detail)
}

func errInvalidPath(detail string) *apiError {
	return newError(http.StatusBadRequest, "invalidPath", detail)
}

func errNoTarget(detail string) *apiError {
	return newError(http.StatusBadRequest, "noTarget", detail)
}

func errMutability(detail string) *apiError {
	return newError(http.StatusBadRequest, "mutability", detail)
}

func errUniqueness(detail string) *apiError {
	return newError(http.StatusConflict, "uniqueness", detail)
}

func errNotFound(detail string) *apiError {
	return newError(http.StatusNotFound, "", detail)
}

// errorBody is the RFC 7644 §3.12 shape: status is a JSON string.
type errorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	SCIMType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// gitHubErrorBody is the "scim-error" schema of GitHub's REST API
// description: the SCIM fields with status as a number, plus GitHub's
// message and documentation_url.
type gitHubErrorBody struct {
	Message          string   `json:"message"`
	DocumentationURL string   `json:"documentation_url"`
	Detail           string   `json:"detail,omitempty"`
	Status           int      `json:"status"`
	SCIMType         string   `json:"scimType,omitempty"`
	Schemas          []string `json:"schemas"`
}

const gitHubSCIMDocs = "https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/scim"

// writeError writes e in the flavor's error shape.
func (s *Server) writeError(w http.ResponseWriter, e *apiError) {
	if s.opts.Flavor == GitHubEMU {
		writeJSON(w, e.status, gitHubErrorBody{
			Message:          e.detail,
			DocumentationURL: gitHubSCIMDocs,
			Detail:           e.detail,
			Status:           e.status,
			SCIMType:         e.scimType,
			Schemas:          []string{schemaError},
		})
		return
	}
	writeJSON(w, e.status, errorBody{
		Schemas:  []string{schemaError},
		Status:   strconv.Itoa(e.status),
		SCIMType: e.scimType,
		Detail:   e.detail,
	})
}
