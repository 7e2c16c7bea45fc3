package workosfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// SignatureHeader is the header of WorkOS's webhook signature.
const SignatureHeader = "WorkOS-Signature"

// Sign is the WorkOS-Signature value of body sent at t:
// "t=<unix ms>, v1=<hex HMAC-SHA256(secret, t + "." + body)>", with the
// space after the comma that WorkOS sends (workos-go
// webhook_verification.go).
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.UnixMilli(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return fmt.Sprintf("t=%s, v1=%s", ts, hex.EncodeToString(mac.Sum(nil)))
}

// DeliveryOptions make deliveries imperfect, as WorkOS promises neither
// order nor exactly-once delivery.
type DeliveryOptions struct {
	// Duplicate sends every event twice.
	Duplicate bool
	// Reorder shuffles the deliveries (with Seed).
	Reorder bool
	Seed    uint64
	// Delay waits before each delivery, after signing it: the signature
	// ages by Delay, as a delivery held up in WorkOS's queue does.
	Delay time.Duration
	// Skew is added to the signature's timestamp (a sender's clock ahead
	// or behind).
	Skew time.Duration
	// Client sends the requests; default http.DefaultClient.
	Client *http.Client
}

// Delivery is the outcome of one webhook POST.
type Delivery struct {
	EventID string
	Status  int // 0 when the request failed
	Err     error
}

// Deliver POSTs each event that was not yet delivered to url (in this
// fake's life, within retention) as its JSON, signed with secret, and
// returns each outcome. A failed delivery is not sent again: WorkOS
// retries, but a consumer that treats webhooks as a doorbell needs only
// one to ring.
func (s *Server) Deliver(ctx context.Context, url string, secret []byte, opts DeliveryOptions) []Delivery {
	s.mu.Lock()
	s.expire()
	var due []Event
	last, ok := s.deliveredTo[url]
	i := 0
	if ok {
		if j := slices.IndexFunc(s.events, func(e Event) bool { return e.ID == last }); j >= 0 {
			i = j + 1
		}
	}
	due = slices.Clone(s.events[i:])
	if len(due) > 0 {
		s.deliveredTo[url] = due[len(due)-1].ID
	}
	s.mu.Unlock()

	if opts.Duplicate {
		var twice []Event
		for _, e := range due {
			twice = append(twice, e, e)
		}
		due = twice
	}
	if opts.Reorder {
		rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
		rng.Shuffle(len(due), func(a, b int) { due[a], due[b] = due[b], due[a] })
	}
	client := opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	out := make([]Delivery, 0, len(due))
	for _, e := range due {
		out = append(out, s.deliverOne(ctx, client, url, secret, e, opts))
	}
	return out
}

func (s *Server) deliverOne(ctx context.Context, client *http.Client, url string, secret []byte, e Event, opts DeliveryOptions) Delivery {
	body := e.JSON()
	sig := Sign(secret, body, s.Now().Add(opts.Skew))
	if opts.Delay > 0 {
		select {
		case <-time.After(opts.Delay):
		case <-ctx.Done():
			return Delivery{EventID: e.ID, Err: ctx.Err()}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Delivery{EventID: e.ID, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, sig)
	req.Header.Set("User-Agent", "WorkOS Webhooks (workosfake)")
	resp, err := client.Do(req)
	if err != nil {
		return Delivery{EventID: e.ID, Err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return Delivery{EventID: e.ID, Status: resp.StatusCode}
}
