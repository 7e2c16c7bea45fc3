package graphfake

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
)

// maxBatch is the most requests a $batch carries
// (https://learn.microsoft.com/en-us/graph/json-batching, "Batch size
// limitations").
const maxBatch = 20

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// batch answers POST /$batch as the JSON batching page's examples do:
// {"requests":[{id,method,url,headers,body,dependsOn}]} → 200
// {"responses":[{id,status,headers,body}]}.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		graphError(w, http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	if len(in.Requests) == 0 || len(in.Requests) > maxBatch {
		graphError(w, http.StatusBadRequest, "BadRequest", "Invalid batch payload: the number of requests must be between 1 and 20.")
		return
	}
	s.mu.Lock()
	s.stats.Batches++
	s.mu.Unlock()
	status := map[string]int{}
	var out []batchResponse
	for _, br := range in.Requests {
		resp := batchResponse{ID: br.ID}
		failed := slices.ContainsFunc(br.DependsOn, func(d string) bool { st, ok := status[d]; return !ok || st/100 != 2 })
		if failed {
			resp.Status = http.StatusFailedDependency
			resp.Body, _ = json.Marshal(map[string]any{"error": map[string]any{"code": "BadRequest", "message": "Failed dependency."}})
		} else {
			resp = s.inner(br)
		}
		status[br.ID] = resp.Status
		out = append(out, resp)
	}
	slices.Reverse(out)
	writeJSON(w, http.StatusOK, map[string]any{"responses": out})
}

// inner runs one request of a batch through the throttle and the routes.
func (s *Server) inner(br batchRequest) batchResponse {
	rec := httptest.NewRecorder()
	var body []byte
	if len(br.Body) > 0 && string(br.Body) != "null" {
		body = br.Body
	}
	req := httptest.NewRequest(br.Method, "/v1.0/"+strings.TrimPrefix(br.URL, "/"), bytes.NewReader(body))
	for k, v := range br.Headers {
		req.Header.Set(k, v)
	}
	if !s.injected(rec, false) {
		s.route(rec, req, strings.Split(strings.TrimPrefix(req.URL.Path, "/v1.0/"), "/"))
	}
	resp := batchResponse{ID: br.ID, Status: rec.Code, Headers: map[string]string{}}
	for _, h := range []string{"Content-Type", "Retry-After", "Location"} {
		if v := rec.Header().Get(h); v != "" {
			resp.Headers[h] = v
		}
	}
	if b := bytes.TrimSpace(rec.Body.Bytes()); len(b) > 0 {
		resp.Body = b
	}
	return resp
}
