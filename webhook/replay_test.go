package webhook

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestReplay sends a sequence of requests to one handler and checks each
// answer: a signed request is accepted once in its window, whatever the
// spelling of its header; one that was not accepted may be sent again.
func TestReplay(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := `{"changes":[{"kind":"user","op":"delete","id":"u1"}]}`
	sig := Sign([]byte(body), []byte(testKey), now)
	type step struct {
		conn     string
		header   map[string]string
		at       time.Duration // the server's clock, after now
		fail     bool          // signals fail during this step
		want     int
		wantCode string
	}
	tests := []struct {
		name        string
		steps       []step
		wantSignals int // to hr-to-scim
	}{
		{name: "replay refused", wantSignals: 1, steps: []step{
			{conn: "hr", want: 202},
			{conn: "hr", want: 409, wantCode: "replay"},
			{conn: "hr", at: 4 * time.Minute, want: 409, wantCode: "replay"},
		}},
		{name: "other spelling of the same signature", wantSignals: 1, steps: []step{
			{conn: "hr", want: 202},
			{conn: "hr", header: map[string]string{SignatureHeader: respell(sig)}, want: 409, wantCode: "replay"},
		}},
		{name: "after the window the timestamp refuses it", wantSignals: 1, steps: []step{
			{conn: "hr", want: 202},
			{conn: "hr", at: MaxClockSkew + time.Second, want: 401},
		}},
		{name: "same body signed anew", wantSignals: 2, steps: []step{
			{conn: "hr", want: 202},
			{conn: "hr", header: map[string]string{SignatureHeader: Sign([]byte(body), []byte(testKey), now.Add(time.Second))}, want: 202},
		}},
		{name: "failed signal may be retried", wantSignals: 1, steps: []step{
			{conn: "hr", fail: true, want: 502},
			{conn: "hr", want: 202},
			{conn: "hr", want: 409, wantCode: "replay"},
		}},
		{name: "no rule may be retried", wantSignals: 0, steps: []step{
			{conn: "orphan", want: 409},
			{conn: "orphan", want: 409, wantCode: ""},
		}},
		{name: "same signature on another connection", wantSignals: 1, steps: []step{
			{conn: "hr", want: 202},
			{conn: "crm", want: 202},
		}},
		{name: "duplicate idempotency key", wantSignals: 1, steps: []step{
			{conn: "hr", header: map[string]string{IdempotencyKey: "k1"}, want: 202},
			{conn: "hr", header: map[string]string{IdempotencyKey: "k1",
				SignatureHeader: Sign([]byte(body), []byte(testKey), now.Add(time.Second))}, want: 409, wantCode: "duplicate"},
			{conn: "crm", header: map[string]string{IdempotencyKey: "k1"}, want: 202},
		}},
		{name: "idempotency key of a failed request may be retried", wantSignals: 1, steps: []step{
			{conn: "hr", header: map[string]string{IdempotencyKey: "k1"}, fail: true, want: 502},
			{conn: "hr", header: map[string]string{IdempotencyKey: "k1",
				SignatureHeader: Sign([]byte(body), []byte(testKey), now.Add(time.Second))}, want: 202},
		}},
		{name: "idempotency key expires", wantSignals: 2, steps: []step{
			{conn: "hr", header: map[string]string{IdempotencyKey: "k1"}, want: 202},
			{conn: "hr", at: MaxClockSkew + 2*time.Second, header: map[string]string{IdempotencyKey: "k1",
				SignatureHeader: Sign([]byte(body), []byte(testKey), now.Add(MaxClockSkew))}, want: 202},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := newTestHandler()
			var clock time.Time
			h.Now = func() time.Time { return clock }
			for i, s := range tt.steps {
				clock = now.Add(s.at)
				rec.mu.Lock()
				rec.fail = nil
				if s.fail {
					rec.fail = errors.New("frontend down")
				}
				rec.mu.Unlock()
				w := post(h, s.conn, body, now, s.header)
				if w.Code != s.want {
					t.Fatalf("step %d: status %d, want %d; body %s", i, w.Code, s.want, w.Body)
				}
				if w.Code == 202 {
					continue
				}
				if eb := jsonError(t, w); eb.Code != s.wantCode {
					t.Errorf("step %d: code %q, want %q (%s)", i, eb.Code, s.wantCode, eb.Error)
				}
			}
			if got := len(rec.batches("hr-to-scim")); got != tt.wantSignals {
				t.Errorf("hr-to-scim got %d signals, want %d", got, tt.wantSignals)
			}
		})
	}
}

// respell writes a signature header as a sender might: other order, upper
// case hex, spaces.
func respell(header string) string {
	ts, sig, _ := strings.Cut(header, ",v1=")
	return " v1=" + strings.ToUpper(sig) + " , " + ts
}

func TestSeenCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	key := func(s string) seenKey { return keyOf("sig", "hr", s) }
	t.Run("full: the oldest is forgotten", func(t *testing.T) {
		c := newSeenCache(3)
		for _, k := range []string{"a", "b", "c"} {
			if e, _, evicted := c.reserve(key(k), now.Add(time.Minute), now); e == nil || evicted {
				t.Fatalf("reserve %s: %v %v", k, e, evicted)
			}
		}
		if e, _, evicted := c.reserve(key("d"), now.Add(time.Minute), now); e == nil || !evicted {
			t.Fatalf("reserve d in a full cache: %v, evicted %v", e, evicted)
		}
		if c.len() != 3 {
			t.Errorf("len %d, want 3", c.len())
		}
		if e, _, _ := c.reserve(key("b"), now.Add(time.Minute), now); e != nil {
			t.Error("b was forgotten instead of a")
		}
		if e, _, _ := c.reserve(key("a"), now.Add(time.Minute), now); e == nil {
			t.Error("a, the oldest, is still remembered")
		}
	})
	t.Run("expired entries make room without eviction", func(t *testing.T) {
		c := newSeenCache(2)
		c.reserve(key("a"), now.Add(time.Second), now)
		c.reserve(key("b"), now.Add(time.Second), now)
		later := now.Add(2 * time.Second)
		if e, _, evicted := c.reserve(key("c"), later.Add(time.Minute), later); e == nil || evicted {
			t.Fatalf("reserve after expiry: %v, evicted %v", e, evicted)
		}
		if e, _, _ := c.reserve(key("a"), later.Add(time.Minute), later); e == nil {
			t.Error("an expired entry still refuses its key")
		}
	})
	t.Run("release forgets only its own reservation", func(t *testing.T) {
		c := newSeenCache(10)
		old, _, _ := c.reserve(key("a"), now.Add(time.Second), now)
		later := now.Add(2 * time.Second)
		renewed, _, _ := c.reserve(key("a"), later.Add(time.Minute), later)
		c.release(old)
		if e, _, _ := c.reserve(key("a"), later.Add(time.Minute), later); e != nil {
			t.Error("releasing an expired reservation forgot the newer one")
		}
		c.release(renewed)
		if e, _, _ := c.reserve(key("a"), later.Add(time.Minute), later); e == nil {
			t.Error("a released key is still refused")
		}
	})
}

// TestResendInProgress: a resend while the first is being signalled is
// told to retry (the first may fail); once the first is settled, the
// resend is a replay if it was accepted and accepted if it failed.
func TestResendInProgress(t *testing.T) {
	for _, firstFails := range []bool{false, true} {
		t.Run(map[bool]string{false: "first accepted", true: "first failed"}[firstFails], func(t *testing.T) {
			h, rec := gated()
			if firstFails {
				rec.fail = errors.New("frontend down")
			}
			body := requestBody(0, 1)
			first := make(chan int, 1)
			go func() { first <- post(h, "hr", body, h.Now(), nil).Code }()
			<-rec.started
			<-rec.started
			w := post(h, "hr", body, h.Now(), nil)
			if eb := jsonError(t, w); w.Code != 409 || eb.Code != "in_progress" || w.Header().Get("Retry-After") == "" {
				t.Errorf("resend in progress: %d %s", w.Code, w.Body)
			}
			close(rec.gate)
			if c, want := <-first, map[bool]int{false: 202, true: 502}[firstFails]; c != want {
				t.Fatalf("first: status %d, want %d", c, want)
			}
			rec.mu.Lock()
			rec.fail = nil
			rec.mu.Unlock()
			w = post(h, "hr", body, h.Now(), nil)
			switch {
			case firstFails && w.Code != 202:
				t.Errorf("resend after a failure: %d %s", w.Code, w.Body)
			case !firstFails && (w.Code != 409 || jsonError(t, w).Code != "replay"):
				t.Errorf("resend after acceptance: %d %s", w.Code, w.Body)
			}
		})
	}
}
