package peers

import (
	"context"
	"testing"
	"time"
)

// SCIMForTest starts a SCIM test server for t and stops it when the test
// ends. It fails the test if the server cannot start, saying what to
// install when node or the server's node packages are missing; it never
// skips. When the test fails, the server's stderr is logged.
func SCIMForTest(t testing.TB) *SCIM {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := StartSCIM(ctx, SCIMOptions{})
	if err != nil {
		t.Fatalf("start SCIM test server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop SCIM test server: %v", err)
		}
		if out := s.Output(); t.Failed() && out != "" {
			t.Logf("SCIM test server stderr:\n%s", out)
		}
	})
	return s
}
