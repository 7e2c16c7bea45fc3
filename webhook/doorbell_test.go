package webhook

import (
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
)

// vendorType is a connection type with a webhook scheme of its own: a
// Vendor-Signature header that must be "sig:" + the secret + ":" + body.
var vendorType = connectors.Type{VerifyPush: func(h http.Header, body, secret []byte, _ time.Time) error {
	if h.Get("Vendor-Signature") != "sig:"+string(secret)+":"+string(body) {
		return errors.New("Vendor-Signature does not match")
	}
	return nil
}}

func TestDoorbell(t *testing.T) {
	const body = `{"id":"event_01","event":"dsync.user.created"}`
	good := "sig:" + testKey + ":" + body
	tests := []struct {
		name, conn, sig string
		wantStatus      int
		wantPolls       map[string]int
	}{
		{name: "verified", conn: "dir", sig: good, wantStatus: 202, wantPolls: map[string]int{"dir-to-scim": 1, "dir-to-ldap": 1}},
		{name: "wrong signature", conn: "dir", sig: "sig:other:" + body, wantStatus: 401},
		{name: "idsync signature is not the vendor's", conn: "dir", sig: "", wantStatus: 401},
		{name: "no rule reads it: acknowledged", conn: "idle", sig: good, wantStatus: 202, wantPolls: map[string]int{}},
		{name: "a rule cannot be reached: retry", conn: "flakydir", sig: good, wantStatus: 503, wantPolls: map[string]int{"ok": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := newTestHandler()
			h.Registry = connectors.Registry{"vendor": vendorType}
			for _, n := range []string{"dir", "idle", "flakydir"} {
				rec.conns[n] = connectors.Connection{Name: n, Type: "vendor", WebhookSecret: "env:HR_HOOK"}
			}
			rec.rules["dir"] = []string{"dir-to-scim", "dir-to-ldap"}
			rec.rules["flakydir"] = []string{"ok", "bad"}

			req := httptest.NewRequest("POST", "/v1/connections/"+tt.conn+"/changes", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if tt.sig != "" {
				req.Header.Set("Vendor-Signature", tt.sig)
			} else {
				req.Header.Set(SignatureHeader, Sign([]byte(body), []byte(testKey), time.Unix(1_800_000_000, 0)))
			}
			w := httptest.NewRecorder()
			h.Routes().ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", w.Code, w.Body, tt.wantStatus)
			}
			if rec.signalled() != 0 {
				t.Errorf("a doorbell signalled %d change batches: the changes come from the vendor's feed", rec.signalled())
			}
			if tt.wantPolls == nil {
				tt.wantPolls = map[string]int{}
			}
			got := map[string]int{}
			rec.mu.Lock()
			maps.Copy(got, rec.polls)
			rec.mu.Unlock()
			if !maps.Equal(got, tt.wantPolls) {
				t.Errorf("polls %v, want %v", got, tt.wantPolls)
			}
			if tt.wantStatus == 202 && !strings.Contains(w.Body.String(), `"pollRequested":true`) {
				t.Errorf("body %s: want pollRequested", w.Body)
			}
		})
	}
}

// TestDoorbellTwice: a vendor delivers a webhook again (it retries, and
// duplicates happen): each delivery asks for a poll, which is harmless,
// since the poll reads the feed from the rule's cursor.
func TestDoorbellTwice(t *testing.T) {
	const body = `{"id":"event_01"}`
	h, rec := newTestHandler()
	h.Registry = connectors.Registry{"vendor": vendorType}
	rec.conns["dir"] = connectors.Connection{Name: "dir", Type: "vendor", WebhookSecret: "env:HR_HOOK"}
	rec.rules["dir"] = []string{"dir-to-scim"}
	for range 2 {
		req := httptest.NewRequest("POST", "/v1/connections/dir/changes", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Vendor-Signature", "sig:"+testKey+":"+body)
		w := httptest.NewRecorder()
		h.Routes().ServeHTTP(w, req)
		if w.Code != 202 {
			t.Fatalf("status %d (%s), want 202", w.Code, w.Body)
		}
	}
	if rec.polls["dir-to-scim"] != 2 {
		t.Errorf("polls %v, want 2", rec.polls)
	}
}
