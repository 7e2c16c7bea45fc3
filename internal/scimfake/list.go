package scimfake

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// listQuery is what a list or .search asks for (RFC 7644 §3.4.2, §3.4.3).
type listQuery struct {
	filter     expr
	startIndex int // 1-based
	count      int
	attributes []string // lower case
	excluded   []string // lower case
}

type searchRequest struct {
	Schemas            []string `json:"schemas"`
	Filter             string   `json:"filter"`
	StartIndex         *int     `json:"startIndex"`
	Count              *int     `json:"count"`
	Attributes         []string `json:"attributes"`
	ExcludedAttributes []string `json:"excludedAttributes"`
}

// parseListQuery reads the query of GET /Users or /Groups.
func (s *Server) parseListQuery(q url.Values, kind string) (listQuery, *apiError) {
	var sr searchRequest
	sr.Filter = q.Get("filter")
	for _, p := range []struct {
		name string
		dst  **int
	}{{"startIndex", &sr.StartIndex}, {"count", &sr.Count}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return listQuery{}, errInvalidValue(p.name + " must be an integer")
			}
			*p.dst = &n
		}
	}
	sr.Attributes = splitList(q.Get("attributes"))
	sr.ExcludedAttributes = splitList(q.Get("excludedAttributes"))
	return s.listQuery(sr, kind)
}

func splitList(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// parseSearch reads the body of POST /Users/.search or /Groups/.search.
func (s *Server) parseSearch(body []byte, kind string) (listQuery, *apiError) {
	var sr searchRequest
	if err := json.Unmarshal(body, &sr); err != nil {
		return listQuery{}, errInvalidSyntax("body is not a SearchRequest: " + err.Error())
	}
	if !hasSchema(sr.Schemas, schemaSearchRequest) {
		return listQuery{}, errInvalidSyntax("schemas must be [" + schemaSearchRequest + "]")
	}
	return s.listQuery(sr, kind)
}

// listQuery checks a request: a startIndex below 1 is 1, a negative count
// is 0, a count above MaxPageSize is MaxPageSize (RFC 7644 §3.4.2.4;
// Slack serves count > 1000 as 1000), no count is the flavor's default.
func (s *Server) listQuery(sr searchRequest, kind string) (listQuery, *apiError) {
	q := listQuery{startIndex: 1, count: s.defaultPage}
	if sr.StartIndex != nil {
		q.startIndex = max(1, *sr.StartIndex)
	}
	if sr.Count != nil {
		q.count = min(max(0, *sr.Count), s.opts.MaxPageSize)
	}
	var err error
	if q.filter, err = parseFilter(sr.Filter); err != nil {
		return q, errInvalidFilter(err.Error())
	}
	if s.opts.Flavor == GitHubEMU {
		if e := gitHubFilter(q.filter, kind); e != nil {
			return q, e
		}
	}
	for _, a := range sr.Attributes {
		q.attributes = append(q.attributes, strings.ToLower(strings.TrimSpace(a)))
	}
	for _, a := range sr.ExcludedAttributes {
		q.excluded = append(q.excluded, strings.ToLower(strings.TrimSpace(a)))
	}
	return q, nil
}

// gitHubFilter allows what GitHub's enterprise SCIM API documents: one
// "eq" on id, externalId, userName or displayName (users), or on id,
// externalId or displayName (groups); "multiple filters are not
// supported".
func gitHubFilter(e expr, kind string) *apiError {
	if e == nil {
		return nil
	}
	c, ok := e.(*cmpExpr)
	if !ok || hasLogic(e) {
		return errInvalidFilter("multiple filters are not supported")
	}
	allowed := map[string]bool{"id": true, "externalid": true, "displayname": true}
	if kind == "Users" {
		allowed["username"] = true
	}
	if c.op != "eq" || !allowed[c.attr] {
		return errInvalidFilter("unsupported filter " + c.String())
	}
	return nil
}

type listResponse struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	ItemsPerPage int      `json:"itemsPerPage"`
	StartIndex   int      `json:"startIndex"`
	Resources    any      `json:"Resources"`
}

// page returns the part of items a query asks for.
func page[T any](items []T, q listQuery) []T {
	start := q.startIndex - 1
	if start >= len(items) {
		return nil
	}
	return items[start:min(len(items), start+q.count)]
}

// wants reports whether a query returns attribute attr (lower case).
func (q listQuery) wants(attr string) bool {
	if len(q.attributes) > 0 {
		for _, a := range q.attributes {
			if a == attr || strings.HasPrefix(a, attr+".") {
				return true
			}
		}
		return false
	}
	for _, a := range q.excluded {
		if a == attr {
			return false
		}
	}
	return true
}

// project applies attributes / excludedAttributes (RFC 7644 §3.9) to the
// top-level attributes of resources; id and schemas are always returned.
func (q listQuery) project(resources any) (any, error) {
	if len(q.attributes) == 0 && len(q.excluded) == 0 {
		return resources, nil
	}
	b, err := json.Marshal(resources)
	if err != nil {
		return nil, err
	}
	var items []map[string]any
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, err
	}
	for _, m := range items {
		for k := range m {
			l := strings.ToLower(k)
			if l == "id" || l == "schemas" {
				continue
			}
			if !q.wants(l) && !q.wantsExtension(l) {
				delete(m, k)
			}
		}
	}
	return items, nil
}

// wantsExtension keeps the enterprise extension object when one of its
// attributes is asked for by URN.
func (q listQuery) wantsExtension(key string) bool {
	if key != strings.ToLower(SchemaEnterpriseUser) {
		return false
	}
	if len(q.attributes) == 0 {
		return q.wants(key)
	}
	for _, a := range q.attributes {
		if strings.HasPrefix(a, key) {
			return true
		}
	}
	return false
}

func (s *Server) writeList(w http.ResponseWriter, q listQuery, total int, resources any, n int) {
	out, err := q.project(resources)
	if err != nil {
		s.writeError(w, newError(http.StatusInternalServerError, "", err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, listResponse{
		Schemas:      []string{schemaListResponse},
		TotalResults: total,
		ItemsPerPage: n,
		StartIndex:   q.startIndex,
		Resources:    out,
	})
}

// readBody reads a request body of at most 1 MiB (413 beyond) in
// application/scim+json or application/json (415 otherwise).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if r.ContentLength > maxBody {
		return nil, newError(http.StatusRequestEntityTooLarge, "", "request body larger than 1 MiB")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/scim+json" && mt != "application/json") {
			return nil, newError(http.StatusUnsupportedMediaType, "", "Content-Type must be application/scim+json")
		}
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, newError(http.StatusRequestEntityTooLarge, "", "request body larger than 1 MiB")
	case err != nil:
		return nil, errInvalidSyntax("read body: " + err.Error())
	}
	return b, nil
}

// etagMatches reports whether an If-Match or If-None-Match header holds
// the current version ("*" matches any). SCIM versions are weak ETags,
// compared without their W/ (RFC 7644 §3.14).
func etagMatches(header, current string) bool {
	cur := strings.TrimPrefix(current, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == cur {
			return true
		}
	}
	return false
}

// preconditionFailed answers 412 when If-Match does not hold version.
func (s *Server) preconditionFailed(r *http.Request, version string) *apiError {
	if h := r.Header.Get("If-Match"); h != "" && !etagMatches(h, version) {
		return newError(http.StatusPreconditionFailed, "", "resource version is "+version+", not "+h)
	}
	return nil
}

func (s *Server) writeResource(w http.ResponseWriter, status int, version, location string, v any) {
	w.Header().Set("ETag", version)
	if status == http.StatusCreated {
		w.Header().Set("Location", location)
	}
	writeJSON(w, status, v)
}
