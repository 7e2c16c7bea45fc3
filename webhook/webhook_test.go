package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

// recorder is the Temporal side of the handler, recording what would be
// signalled; the end-to-end test drives the real one.
type recorder struct {
	conns    map[string]connectors.Connection
	rules    map[string][]string
	failRule string
	// failTimes: PollNow of the rule fails this many times, then works.
	failTimes map[string]int
	// gate, when set, holds every signal until it receives or is closed;
	// started hears of each signal as it starts.
	gate    chan struct{}
	started chan string

	mu      sync.Mutex
	signals map[string][]workflows.ChangeBatch
	polls   map[string]int
	// pollGate, when set, holds every PollNow until it receives.
	pollGate chan struct{}
	fail     error // every signal fails with it while set
}

func (r *recorder) PollNow(ctx context.Context, rule string) error {
	if r.pollGate != nil {
		select {
		case <-r.pollGate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rule == r.failRule {
		return errors.New("boom")
	}
	if r.failTimes[rule] > 0 {
		r.failTimes[rule]--
		return errors.New("deadline exceeded")
	}
	if r.polls == nil {
		r.polls = map[string]int{}
	}
	r.polls[rule]++
	return nil
}

func (r *recorder) Connection(_ context.Context, name string) (connectors.Connection, error) {
	c, ok := r.conns[name]
	if !ok {
		return c, workflows.ErrNotFound
	}
	return c, nil
}

func (r *recorder) Rules(_ context.Context, conn, _ string) ([]string, error) {
	return r.rules[conn], nil
}

func (r *recorder) SignalChanges(ctx context.Context, rule string, b workflows.ChangeBatch) error {
	if r.started != nil {
		r.started <- rule
	}
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rule == r.failRule {
		return errors.New("boom")
	}
	if r.fail != nil {
		return r.fail
	}
	r.signals[rule] = append(r.signals[rule], b)
	return nil
}

// batches returns what rule was signalled.
func (r *recorder) batches(rule string) []workflows.ChangeBatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.signals[rule])
}

func (r *recorder) signalled() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.signals {
		n += len(b)
	}
	return n
}

const testKey = "s3cret-key"

func newTestHandler() (*Handler, *recorder) {
	rec := &recorder{
		conns: map[string]connectors.Connection{
			"hr":     {Name: "hr", Type: "ldap", WebhookSecret: "env:HR_HOOK"},
			"nohook": {Name: "nohook", Type: "ldap"},
			"orphan": {Name: "orphan", Type: "ldap", WebhookSecret: "env:HR_HOOK"},
			"flaky":  {Name: "flaky", Type: "ldap", WebhookSecret: "env:HR_HOOK"},
			"crm":    {Name: "crm", Type: "ldap", WebhookSecret: "env:HR_HOOK"},
		},
		rules:    map[string][]string{"hr": {"hr-to-scim", "hr-to-ldap"}, "flaky": {"ok", "bad"}, "crm": {"crm-to-scim"}},
		signals:  map[string][]workflows.ChangeBatch{},
		failRule: "bad",
	}
	h := &Handler{
		Backend: rec, MaxBody: 4096, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Unix(1_800_000_000, 0) },
		ResolveSecret: func(ref string) (string, error) {
			if ref == "env:HR_HOOK" {
				return testKey, nil
			}
			return "", errors.New("unset")
		},
	}
	return h, rec
}

func TestChanges(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := `{"changes":[
		{"kind":"user","op":"upsert","id":"u1","attributes":{"userName":"ada","email":"ada@example.org"}},
		{"kind":"group","op":"upsert","id":"g1","attributes":{"displayName":"eng","members":["u1"]}},
		{"kind":"membership","op":"delete","groupId":"g1","userId":"u2"},
		{"kind":"user","op":"delete","id":"u3"}]}`
	tests := []struct {
		name       string
		conn       string
		body       string
		sign       func(body string) string
		header     map[string]string // besides Content-Type application/json and the signature
		wantStatus int
		wantErr    string
		wantRules  []string
	}{
		{name: "accepted", conn: "hr", body: good, wantStatus: 202, wantRules: []string{"hr-to-scim", "hr-to-ldap"}},
		{name: "unsigned", conn: "hr", body: good, sign: func(string) string { return "" }, wantStatus: 401, wantErr: "missing"},
		{name: "wrong key", conn: "hr", body: good, sign: func(b string) string { return Sign([]byte(b), []byte("other"), now) }, wantStatus: 401, wantErr: "does not match"},
		{name: "tampered body", conn: "hr", body: good, sign: func(b string) string { return Sign([]byte(b+" "), []byte(testKey), now) }, wantStatus: 401},
		{name: "stale timestamp", conn: "hr", body: good, sign: func(b string) string { return Sign([]byte(b), []byte(testKey), now.Add(-time.Hour)) }, wantStatus: 401, wantErr: "timestamp"},
		{name: "webhooks disabled", conn: "nohook", body: good, wantStatus: 401, wantErr: "no webhook secret"},
		{name: "unknown connection", conn: "nope", body: good, wantStatus: 404, wantErr: "unknown connection"},
		{name: "malformed json", conn: "hr", body: `{"changes":[`, wantStatus: 400, wantErr: "malformed JSON"},
		{name: "unknown field", conn: "hr", body: `{"changes":[{"kind":"user","op":"delete","id":"u1","colour":"red"}]}`, wantStatus: 400, wantErr: "colour"},
		{name: "unknown attribute", conn: "hr", body: `{"changes":[{"kind":"user","op":"upsert","id":"u1","attributes":{"userName":"a","shoe":"9"}}]}`, wantStatus: 400, wantErr: "changes[0]: user attributes"},
		{name: "bad kind", conn: "hr", body: `{"changes":[{"kind":"robot","op":"upsert","id":"x"}]}`, wantStatus: 400, wantErr: `kind "robot"`},
		{name: "bad op", conn: "hr", body: `{"changes":[{"kind":"user","op":"merge","id":"x"}]}`, wantStatus: 400, wantErr: `op "merge"`},
		{name: "missing id", conn: "hr", body: `{"changes":[{"kind":"user","op":"delete"}]}`, wantStatus: 400, wantErr: "without id"},
		{name: "membership without user", conn: "hr", body: `{"changes":[{"kind":"membership","op":"upsert","groupId":"g"}]}`, wantStatus: 400, wantErr: "groupId and userId"},
		{name: "empty batch", conn: "hr", body: `{"changes":[]}`, wantStatus: 400, wantErr: "empty"},
		{name: "too large", conn: "hr", body: `{"changes":[` + strings.Repeat(`{"kind":"user","op":"delete","id":"u"},`, 200) + `]}`, wantStatus: 413},
		{name: "no rule", conn: "orphan", body: good, wantStatus: 409, wantErr: "no running rule"},
		{name: "signal fails", conn: "flaky", body: good, wantStatus: 502, wantErr: "retry"},
		{name: "json with charset", conn: "hr", body: good, header: map[string]string{"Content-Type": "application/json; charset=UTF-8"}, wantStatus: 202, wantRules: []string{"hr-to-scim", "hr-to-ldap"}},
		{name: "text/plain", conn: "hr", body: good, header: map[string]string{"Content-Type": "text/plain"}, wantStatus: 415, wantErr: "want application/json"},
		{name: "no content type", conn: "hr", body: good, header: map[string]string{"Content-Type": ""}, wantStatus: 415, wantErr: "no Content-Type"},
		{name: "json prefix", conn: "hr", body: good, header: map[string]string{"Content-Type": "application/jsonl"}, wantStatus: 415},
		{name: "other charset", conn: "hr", body: good, header: map[string]string{"Content-Type": "application/json; charset=latin1"}, wantStatus: 415, wantErr: "UTF-8"},
		// The media type is checked first: an unsigned caller learns nothing more.
		{name: "unsigned text/plain", conn: "nope", body: good, sign: func(string) string { return "" }, header: map[string]string{"Content-Type": "text/plain"}, wantStatus: 415},
		{name: "idempotency key too long", conn: "hr", body: good, header: map[string]string{IdempotencyKey: strings.Repeat("k", 256)}, wantStatus: 400, wantErr: IdempotencyKey},
		{name: "idempotency key not printable", conn: "hr", body: good, header: map[string]string{IdempotencyKey: "a\tb"}, wantStatus: 400, wantErr: IdempotencyKey},
		{name: "idempotency key", conn: "hr", body: good, header: map[string]string{IdempotencyKey: "batch-42"}, wantStatus: 202, wantRules: []string{"hr-to-scim", "hr-to-ldap"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := newTestHandler()
			sig := Sign([]byte(tt.body), []byte(testKey), now)
			if tt.sign != nil {
				sig = tt.sign(tt.body)
			}
			req := httptest.NewRequest("POST", "/v1/connections/"+tt.conn+"/changes", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			if sig != "" {
				req.Header.Set(SignatureHeader, sig)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.Routes().ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus != 202 {
				var eb errorBody
				if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error == "" {
					t.Fatalf("error body %q is not a JSON error", w.Body)
				}
				if !strings.Contains(eb.Error, tt.wantErr) {
					t.Errorf("error %q does not mention %q", eb.Error, tt.wantErr)
				}
				// "flaky" signals its first rule before the second fails;
				// every other refusal signals nothing.
				if n := rec.signalled(); tt.conn != "flaky" && n != 0 {
					t.Errorf("refused request signalled %d batches", n)
				}
				return
			}
			var resp Response
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			if resp.Accepted != 4 || len(resp.Rules) != len(tt.wantRules) {
				t.Fatalf("response %+v", resp)
			}
			for _, rule := range tt.wantRules {
				b := rec.batches(rule)
				if len(b) != 1 || len(b[0].Events) != 4 {
					t.Fatalf("rule %s got %+v", rule, b)
				}
				ev := b[0].Events
				if ev[0].User == nil || ev[0].User.UserName != "ada" || !ev[0].User.Active || ev[0].User.ExternalID != "u1" {
					t.Errorf("user event %+v", ev[0].User)
				}
				if ev[1].Group == nil || !ev[1].SetMembers || len(ev[1].Group.Members) != 1 {
					t.Errorf("group event %+v", ev[1])
				}
				if ev[2].Kind != reconcile.KindMembership || ev[2].Op != reconcile.OpDelete || ev[3].ID != "u3" {
					t.Errorf("events out of order or changed: %+v", ev)
				}
			}
		})
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"changes":[]}`)
	key := []byte("k")
	if err := Verify(Sign(body, key, now), body, key, now.Add(4*time.Minute)); err != nil {
		t.Errorf("valid signature within skew refused: %v", err)
	}
	for _, h := range []string{"v1=abc", "t=1", "t=x,v1=00", "t=1800000000,v1=zz", "garbage"} {
		if err := Verify(h, body, key, now); err == nil {
			t.Errorf("header %q accepted", h)
		}
	}
}

func TestHealthz(t *testing.T) {
	h, _ := newTestHandler()
	w := httptest.NewRecorder()
	h.Routes().ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte("ok")) {
		t.Fatalf("healthz: %d %s", w.Code, w.Body)
	}
}

// TestManyRules checks that a 202 means every rule of the connection got
// the change, however many there are: none may be left out silently.
func TestManyRules(t *testing.T) {
	for _, n := range []int{100, 101, 130, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			h, rec := newTestHandler()
			rules := make([]string, n)
			for i := range rules {
				rules[i] = fmt.Sprintf("hr-rule-%04d", i)
			}
			rec.rules["hr"] = rules
			w := post(h, "hr", requestBody(0, 1), h.Now(), nil)
			if w.Code != 202 {
				t.Fatalf("status = %d, want 202; body %s", w.Code, w.Body)
			}
			var resp Response
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(resp.Rules, rules) {
				t.Errorf("answer names %d rules, want all %d", len(resp.Rules), n)
			}
			var missed []string
			for _, rule := range rules {
				if b := rec.batches(rule); len(b) != 1 || len(b[0].Events) != 1 {
					missed = append(missed, rule)
				}
			}
			if len(missed) > 0 {
				t.Errorf("%d of %d rules not signalled once, first %s", len(missed), n, missed[0])
			}
		})
	}
}
