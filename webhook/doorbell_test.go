package webhook

import (
	"context"
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

const doorbellBody = `{"id":"event_01","event":"dsync.user.created"}`

func newDoorbellHandler() (*Handler, *recorder) {
	h, rec := newTestHandler()
	h.Registry = connectors.Registry{"vendor": vendorType}
	for _, n := range []string{"dir", "idle", "flakydir"} {
		rec.conns[n] = connectors.Connection{Name: n, Type: "vendor", WebhookSecret: "env:HR_HOOK"}
	}
	rec.rules["dir"] = []string{"dir-to-scim", "dir-to-ldap"}
	rec.rules["flakydir"] = []string{"ok", "bad"}
	return h, rec
}

// ringDoorbell posts a vendor webhook with the signature sig (empty: an
// Idsync-Signature instead).
func ringDoorbell(h *Handler, conn, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/v1/connections/"+conn+"/changes", strings.NewReader(doorbellBody))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("Vendor-Signature", sig)
	} else {
		req.Header.Set(SignatureHeader, Sign([]byte(doorbellBody), []byte(testKey), time.Unix(1_800_000_000, 0)))
	}
	w := httptest.NewRecorder()
	h.Routes().ServeHTTP(w, req)
	return w
}

func (r *recorder) pollCounts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := map[string]int{}
	maps.Copy(got, r.polls)
	return got
}

func TestDoorbell(t *testing.T) {
	good := "sig:" + testKey + ":" + doorbellBody
	tests := []struct {
		name, conn, sig string
		wantStatus      int
		wantPolls       map[string]int
	}{
		{name: "verified", conn: "dir", sig: good, wantStatus: 202, wantPolls: map[string]int{"dir-to-scim": 1, "dir-to-ldap": 1}},
		{name: "wrong signature", conn: "dir", sig: "sig:other:" + doorbellBody, wantStatus: 401},
		{name: "idsync signature is not the vendor's", conn: "dir", sig: "", wantStatus: 401},
		{name: "no rule reads it: acknowledged", conn: "idle", sig: good, wantStatus: 202},
		// The changes wait in the vendor's feed for the rule's next
		// regular poll: the vendor need not send the webhook again.
		{name: "a rule cannot be reached", conn: "flakydir", sig: good, wantStatus: 202, wantPolls: map[string]int{"ok": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := newDoorbellHandler()
			w := ringDoorbell(h, tt.conn, tt.sig)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", w.Code, w.Body, tt.wantStatus)
			}
			if err := h.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			if rec.signalled() != 0 {
				t.Errorf("a doorbell signalled %d change batches: the changes come from the vendor's feed", rec.signalled())
			}
			if tt.wantPolls == nil {
				tt.wantPolls = map[string]int{}
			}
			if got := rec.pollCounts(); !maps.Equal(got, tt.wantPolls) {
				t.Errorf("polls %v, want %v", got, tt.wantPolls)
			}
			if tt.wantStatus == 202 && !strings.Contains(w.Body.String(), `"pollRequested":true`) {
				t.Errorf("body %s: want pollRequested", w.Body)
			}
		})
	}
}

// TestDoorbellRetries: a rule that cannot be reached at once (a worker
// or server under load) is asked again, and polls once; the rules that
// were reached are not asked twice.
func TestDoorbellRetries(t *testing.T) {
	saved := ringBackoff
	ringBackoff = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	t.Cleanup(func() { ringBackoff = saved })
	for _, tt := range []struct {
		name  string
		fails int
		want  map[string]int
	}{
		{"reached at the third attempt", 2, map[string]int{"slow": 1, "fine": 1}},
		{"given up after the last attempt", 4, map[string]int{"fine": 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := newDoorbellHandler()
			rec.rules["dir"] = []string{"slow", "fine"}
			rec.failTimes = map[string]int{"slow": tt.fails}
			if w := ringDoorbell(h, "dir", "sig:"+testKey+":"+doorbellBody); w.Code != 202 {
				t.Fatalf("status %d (%s)", w.Code, w.Body)
			}
			// Drain ends the waits between attempts: let them run first.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				rec.mu.Lock()
				left := rec.failTimes["slow"]
				rec.mu.Unlock()
				if left == 0 && maps.Equal(rec.pollCounts(), tt.want) {
					break
				}
			}
			if err := h.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := rec.pollCounts(); !maps.Equal(got, tt.want) {
				t.Errorf("polls %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDoorbellBurst: webhooks that arrive while the rules are being asked
// to poll are answered at once and share one more round after it: a burst
// costs two rounds, and the last webhook is still followed by a poll
// requested after it arrived.
func TestDoorbellBurst(t *testing.T) {
	h, rec := newDoorbellHandler()
	rec.rules["dir"] = []string{"dir-to-scim"}
	rec.pollGate = make(chan struct{})
	good := "sig:" + testKey + ":" + doorbellBody
	for i := range 50 {
		if w := ringDoorbell(h, "dir", good); w.Code != 202 {
			t.Fatalf("webhook %d: status %d (%s)", i, w.Code, w.Body)
		}
	}
	rec.pollGate <- struct{}{} // the first round, under way during the burst
	rec.pollGate <- struct{}{} // the one round the burst asked for
	if err := h.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rec.pollCounts()["dir-to-scim"]; got != 2 {
		t.Errorf("%d poll requests for 50 webhooks during one round, want 2", got)
	}
	// After the drain, a webhook is refused (the vendor sends it again
	// to a worker that runs).
	if w := ringDoorbell(h, "dir", good); w.Code != 503 {
		t.Errorf("after drain: status %d, want 503", w.Code)
	}
}
