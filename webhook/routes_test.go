package webhook

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// post sends a signed body to a connection's webhook, with extra headers.
func post(h *Handler, conn, body string, at time.Time, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/v1/connections/"+conn+"/changes", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign([]byte(body), []byte(testKey), at))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.Routes().ServeHTTP(w, req)
	return w
}

// jsonError returns the error body of an answer, failing when it is not
// a JSON error.
func jsonError(t *testing.T, w *httptest.ResponseRecorder) errorBody {
	t.Helper()
	var eb errorBody
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error == "" {
		t.Fatalf("status %d: body %q is not a JSON error", w.Code, w.Body)
	}
	return eb
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		method, path string
		wantStatus   int
		wantAllow    string
		wantErr      string
	}{
		{method: "GET", path: "/v1/connections/hr/changes", wantStatus: 405, wantAllow: "POST", wantErr: "GET"},
		{method: "PUT", path: "/v1/connections/hr/changes", wantStatus: 405, wantAllow: "POST"},
		{method: "DELETE", path: "/healthz", wantStatus: 405, wantAllow: "GET, HEAD"},
		{method: "GET", path: "/", wantStatus: 404, wantErr: "no such endpoint"},
		{method: "POST", path: "/v1/connections/hr", wantStatus: 404},
		{method: "POST", path: "/v1/connections/hr/changes/", wantStatus: 404},
		{method: "POST", path: "/v1/connections//changes", wantStatus: 404},
		{method: "POST", path: "/v1/connections/hr/../hr/changes", wantStatus: 404},
		{method: "GET", path: "//healthz", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			h, rec := newTestHandler()
			req := httptest.NewRequest(tt.method, "http://x"+tt.path, strings.NewReader(`{"changes":[]}`))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.Routes().ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if got := w.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow %q, want %q", got, tt.wantAllow)
			}
			if eb := jsonError(t, w); !strings.Contains(eb.Error, tt.wantErr) {
				t.Errorf("error %q does not mention %q", eb.Error, tt.wantErr)
			}
			if n := rec.signalled(); n != 0 {
				t.Errorf("signalled %d batches", n)
			}
		})
	}
}
