package peers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SCIMKnobs make the SCIM test server slow and imperfect on purpose, as
// production targets are: they take seconds per page, refuse some filter
// forms, throttle and fail now and then. The zero value turns every knob
// off. Durations are sent in whole milliseconds (Retry-After in whole
// seconds).
type SCIMKnobs struct {
	// Latency delays every request; with LatencyMax larger, by a random
	// time in [Latency, LatencyMax].
	Latency, LatencyMax time.Duration
	// ListLatency adds to Latency for lists and searches (GET on /Users
	// or /Groups), the same way: "3–25 s per 100-user page" is
	// ListLatency 3s, ListLatencyMax 25s.
	ListLatency, ListLatencyMax time.Duration
	// RefuseFilters are attribute paths ("emails.value", "emails",
	// "userName"): a filter naming one of them gets a 400. A value path
	// names its attribute and its sub-attributes: emails[value eq "x"]
	// names "emails" and "emails.value".
	RefuseFilters []string
	// RefuseAs is how a filter is refused: "invalidFilter" (the default,
	// also for ""), "invalidValue" (SCIM errors with that scimType) or
	// "plain" (a 400 whose body is not a SCIM error).
	RefuseAs string
	// ThrottleRate is the share of requests (0 to 1) answered 429 with
	// Retry-After: RetryAfter (default 1 s).
	ThrottleRate float64
	RetryAfter   time.Duration
	// ErrorRate is the share of requests (0 to 1) answered 500 or 503.
	ErrorRate float64
	// KeepMembersOfDeleted leaves a deleted user's id in the groups it
	// was in, as some services do: a dangling member.
	KeepMembersOfDeleted bool
}

// scimKnobsWire is SCIMKnobs as the server reads and writes them.
type scimKnobsWire struct {
	LatencyMs            int64    `json:"latencyMs"`
	LatencyMaxMs         int64    `json:"latencyMaxMs"`
	ListLatencyMs        int64    `json:"listLatencyMs"`
	ListLatencyMaxMs     int64    `json:"listLatencyMaxMs"`
	RefuseFilters        []string `json:"refuseFilters"`
	RefuseAs             string   `json:"refuseAs"`
	ThrottleRate         float64  `json:"throttleRate"`
	RetryAfterSeconds    int64    `json:"retryAfterSeconds"`
	ErrorRate            float64  `json:"errorRate"`
	KeepMembersOfDeleted bool     `json:"keepMembersOfDeleted"`
}

func (k SCIMKnobs) wire() scimKnobsWire {
	w := scimKnobsWire{
		LatencyMs: k.Latency.Milliseconds(), LatencyMaxMs: k.LatencyMax.Milliseconds(),
		ListLatencyMs: k.ListLatency.Milliseconds(), ListLatencyMaxMs: k.ListLatencyMax.Milliseconds(),
		RefuseFilters: k.RefuseFilters, RefuseAs: k.RefuseAs,
		ThrottleRate: k.ThrottleRate, RetryAfterSeconds: int64(k.RetryAfter / time.Second), ErrorRate: k.ErrorRate,
		KeepMembersOfDeleted: k.KeepMembersOfDeleted,
	}
	if w.RefuseFilters == nil {
		w.RefuseFilters = []string{}
	}
	if w.RefuseAs == "" {
		w.RefuseAs = "invalidFilter"
	}
	if k.RetryAfter == 0 {
		w.RetryAfterSeconds = 1
	}
	return w
}

func (w scimKnobsWire) knobs() SCIMKnobs {
	return SCIMKnobs{
		Latency: time.Duration(w.LatencyMs) * time.Millisecond, LatencyMax: time.Duration(w.LatencyMaxMs) * time.Millisecond,
		ListLatency: time.Duration(w.ListLatencyMs) * time.Millisecond, ListLatencyMax: time.Duration(w.ListLatencyMaxMs) * time.Millisecond,
		RefuseFilters: w.RefuseFilters, RefuseAs: w.RefuseAs,
		ThrottleRate: w.ThrottleRate, RetryAfter: time.Duration(w.RetryAfterSeconds) * time.Second, ErrorRate: w.ErrorRate,
		KeepMembersOfDeleted: w.KeepMembersOfDeleted,
	}
}

// flags returns the server's command-line flags for the knobs that are
// set; none for the zero value, so that the server starts as it always
// did.
func (k SCIMKnobs) flags() []string {
	w := k.wire()
	var args []string
	msRange := func(flag string, lo, hi int64) {
		if lo == 0 && hi == 0 {
			return
		}
		v := strconv.FormatInt(lo, 10)
		if hi > lo {
			v += ".." + strconv.FormatInt(hi, 10)
		}
		args = append(args, flag, v)
	}
	msRange("--latency", w.LatencyMs, w.LatencyMaxMs)
	msRange("--list-latency", w.ListLatencyMs, w.ListLatencyMaxMs)
	if len(k.RefuseFilters) > 0 {
		args = append(args, "--refuse-filter", strings.Join(k.RefuseFilters, ","))
	}
	if k.RefuseAs != "" {
		args = append(args, "--refuse-as", k.RefuseAs)
	}
	rate := func(flag string, r float64) {
		if r != 0 {
			args = append(args, flag, strconv.FormatFloat(r, 'g', -1, 64))
		}
	}
	rate("--throttle-rate", k.ThrottleRate)
	rate("--error-rate", k.ErrorRate)
	if k.RetryAfter != 0 {
		args = append(args, "--retry-after", strconv.FormatInt(w.RetryAfterSeconds, 10))
	}
	return args
}

// SetKnobs replaces all the server's knobs while it runs; SetKnobs(ctx,
// SCIMKnobs{}) turns them all off. Requests already waiting out a latency
// keep the knobs they arrived under.
func (s *SCIM) SetKnobs(ctx context.Context, k SCIMKnobs) error {
	body, err := json.Marshal(k.wire())
	if err != nil {
		return fmt.Errorf("scim server: set knobs: %w", err)
	}
	var got scimKnobsWire
	if err := s.adminJSON(ctx, http.MethodPut, "/_knobs", body, &got); err != nil {
		return fmt.Errorf("scim server: set knobs: %w", err)
	}
	return nil
}

// Knobs returns the server's knobs.
func (s *SCIM) Knobs(ctx context.Context) (SCIMKnobs, error) {
	var got scimKnobsWire
	if err := s.adminJSON(ctx, http.MethodGet, "/_knobs", nil, &got); err != nil {
		return SCIMKnobs{}, fmt.Errorf("scim server: knobs: %w", err)
	}
	return got.knobs(), nil
}

// adminJSON sends a request to one of the server's admin endpoints
// (/_stats, /_knobs) beside the SCIM base path and decodes the answer
// into out, when out is not nil. A non-2xx answer is an error quoting
// the start of its body, which holds no secret.
func (s *SCIM) adminJSON(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := strings.TrimSuffix(s.URL, "/scim/v2") + path
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %.200s", method, path, resp.Status, b)
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, path, err)
	}
	return nil
}
