package peers

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSCIM starts the SCIM server, checks that it wants its token and
// counts requests, and stops it.
func TestSCIM(t *testing.T) {
	s := SCIMForTest(t)
	ctx := t.Context()
	for _, tt := range []struct {
		token string
		want  int
	}{{s.Token, http.StatusOK}, {"wrong", http.StatusUnauthorized}, {"", http.StatusUnauthorized}} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/Users", nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("token %q: status %d, want %d", tt.token, resp.StatusCode, tt.want)
		}
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 3 || st.ByRoute["GET /Users"] != 3 || st.ByStatus["401"] != 2 {
		t.Errorf("stats = %+v, want 3 GET /Users, two of them 401", st)
	}
	if err := s.ResetStats(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stats(ctx); err != nil || st.Total != 0 {
		t.Errorf("stats after reset = %+v, %v", st, err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(s.URL + "/Users"); err == nil {
		t.Error("server still answers after Stop")
	}
}

// TestSCIMMissingDeps: without node_modules, the error says what to run.
func TestSCIMMissingDeps(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "server.js"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := StartSCIM(t.Context(), SCIMOptions{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "npm ci --prefix testdata/scim-server") {
		t.Errorf("err = %v, want it to say how to install the node packages", err)
	}
}
