package bench

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// --- scenario: real-time changes through the signed webhook. Each change
// is a new title set in the source directory and then announced by a
// webhook that names the user (its entryUUID) without attributes, as the
// README's quickstart does: the worker reads the user from the source and
// writes the target. Latency is from the webhook's 202 to the moment the
// target holds the new title.

const (
	webhookChanges = 1000 // one at a time
	bursts         = 10
	burstSize      = 100 // sent all at once
	bigBurst       = 200 // one burst, sent all at once: issue 9's figure
)

// changeBody is a webhook batch of one user upsert.
func changeBody(externalID string) []byte {
	return fmt.Appendf(nil, `{"changes":[{"kind":"user","op":"upsert","id":%q}]}`, externalID)
}

func realtimeWebhooks(b *testing.B, rs *results, h *harness, dir Directory) {
	n := len(dir.Users)
	if n < bigBurst {
		b.Fatalf("webhook bursts change %d distinct users at once: BENCH_USERS=%d is too few", bigBurst, n)
	}
	// Polling is an hour away (see incrementalPoll): only the webhooks can
	// bring these changes.
	st0 := h.quiet()
	if st0.PollInterval < time.Hour {
		b.Fatalf("the rule polls every %s: a poll could bring the changes instead of the webhooks", st0.PollInterval)
	}
	ids := h.externalIDs(dir)
	w := h.sourceWriter()
	sent := 0
	// next sets a new title on the next user (round the directory) and
	// expects it in the target.
	next := func() (externalID string, seen <-chan time.Time) {
		i := sent % n
		title := fmt.Sprintf("Webhook %d", sent)
		sent++
		seen = h.target.expect(ids[i], title)
		if err := w.setTitle(dir.Users[i], title); err != nil {
			b.Fatal(err)
		}
		return ids[i], seen
	}

	// One at a time: send, wait until visible, next.
	c0 := h.counters()
	var lat, calls []time.Duration
	var starts []time.Time
	early := 0
	for range webhookChanges {
		id, seen := next()
		t := time.Now()
		starts = append(starts, t)
		accepted, err := h.postChanges(changeBody(id))
		if err != nil {
			b.Fatal(err)
		}
		calls = append(calls, accepted.Sub(t))
		// Longer than the rule's 30 s backoff after a failed apply: a late
		// change is an outlier in the figures, one that never comes fails.
		at := h.waitVisible("webhook change", []<-chan time.Time{seen}, 2*time.Minute)[0]
		lat = append(lat, latency(at, accepted, &early))
	}
	d := h.since(c0)
	sc := fmt.Sprintf("webhook→SCIM, one at a time (%d)", webhookChanges)
	addLatencies(rs, sc, lat)
	rs.add(sc, "webhook call p50 (POST → 202)", percentile(calls, 50), "ms", "")
	rs.add(sc, "source LDAP requests per change", float64(d.ldapRequests)/webhookChanges, "req", "")
	rs.add(sc, "target requests per change", float64(d.targetRequests)/webhookChanges, "req", "")
	rs.add(sc, "history events per change", float64(d.history)/webhookChanges, "events", "")
	b.Logf("webhooks one at a time: LDAP operations %v; target requests %v; %s", d.ops, d.targetMix, d.run)
	logSlow(b, h, "one at a time", lat, starts)

	// Bursts: every change of a burst posted at once; the next burst once
	// all are visible.
	lat, starts = lat[:0], starts[:0]
	var drains, burstCalls []time.Duration
	for range bursts {
		bl := sendBurst(b, h, next, burstSize)
		lat = append(lat, bl.latencies(&early)...)
		burstCalls = append(burstCalls, bl.calls()...)
		for range burstSize {
			starts = append(starts, bl.start)
		}
		drains = append(drains, latest(bl.visible).Sub(bl.start))
	}
	sc = fmt.Sprintf("webhook→SCIM, %d bursts of %d", bursts, burstSize)
	addLatencies(rs, sc, lat)
	rs.add(sc, "webhook call p50 (POST → 202, all at once)", percentile(burstCalls, 50), "ms", "")
	rs.add(sc, "burst drain p50 (first POST → all in target)", percentile(drains, 50), "ms", "")
	rs.add(sc, "burst drain max", percentile(drains, 100), "ms", "")
	logSlow(b, h, "bursts", lat, starts)

	// One burst of 200 at once, as issue 9 measured it: how long each call
	// waits for its 202 when the others are in flight too.
	h.quiet()
	c0 = h.counters()
	bl := sendBurst(b, h, next, bigBurst)
	d = h.since(c0)
	sc = fmt.Sprintf("webhook→SCIM, one burst of %d", bigBurst)
	calls = bl.calls()
	rs.add(sc, "webhook call p50 (POST → 202, all at once)", percentile(calls, 50), "ms", "")
	rs.add(sc, "webhook call p95", percentile(calls, 95), "ms", "")
	rs.add(sc, "webhook call p99", percentile(calls, 99), "ms", "")
	rs.add(sc, "webhook call max", percentile(calls, 100), "ms", "")
	addLatencies(rs, sc, bl.latencies(&early))
	rs.add(sc, "burst drain (first POST → all in target)", float64(latest(bl.visible).Sub(bl.start))/float64(time.Millisecond), "ms", "")
	rs.add(sc, "history events per change", float64(d.history)/bigBurst, "events", "")
	b.Logf("burst of %d: target requests %v; %s", bigBurst, d.targetMix, d.run)
	if early > 0 {
		b.Logf("%d changes were in the target before their webhook's 202 arrived (latency 0)", early)
	}

	st := h.quiet()
	if got, want := st.Totals.Users.Updated-st0.Totals.Users.Updated, sent; got != want {
		b.Errorf("webhooks: %d users updated, want %d", got, want)
	}
	if f := st.Totals.Users.Failed + st.Totals.Groups.Failed - st0.Totals.Users.Failed - st0.Totals.Groups.Failed; f > 0 {
		b.Errorf("webhooks: %d failed: %s", f, st.LastError)
	}
	if !st.LastPoll.Equal(st0.LastPoll) {
		b.Errorf("the rule polled during the webhook scenario (%s): the latencies may be a poll's", st.LastPollResult)
	}
}

// burstResult is what one burst measured, per change.
type burstResult struct {
	start    time.Time
	accepted []time.Time // the 202 arrived
	visible  []time.Time // the target held the change
}

// sendBurst sets a new title on the next size users, posts their webhooks
// all at once and waits until the target holds every change.
func sendBurst(b *testing.B, h *harness, next func() (string, <-chan time.Time), size int) burstResult {
	users := make([]string, size)
	seen := make([]<-chan time.Time, size)
	for k := range size {
		users[k], seen[k] = next()
	}
	r := burstResult{accepted: make([]time.Time, size)}
	errs := make([]error, size)
	var wg sync.WaitGroup
	r.start = time.Now()
	for k := range size {
		wg.Go(func() { r.accepted[k], errs[k] = h.postChanges(changeBody(users[k])) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	r.visible = h.waitVisible("webhook burst", seen, 2*time.Minute)
	return r
}

// calls are the times from the burst's start to each 202.
func (r burstResult) calls() []time.Duration {
	out := make([]time.Duration, len(r.accepted))
	for k, at := range r.accepted {
		out[k] = at.Sub(r.start)
	}
	return out
}

// latencies are the times from each 202 to the target holding the change.
func (r burstResult) latencies(early *int) []time.Duration {
	out := make([]time.Duration, len(r.accepted))
	for k := range r.accepted {
		out[k] = latency(r.visible[k], r.accepted[k], early)
	}
	return out
}

// latency is from the 202 to the target holding the change; a change the
// target held before its 202 arrived counts as 0 and in early.
func latency(visible, accepted time.Time, early *int) time.Duration {
	d := visible.Sub(accepted)
	if d < 0 {
		*early++
		return 0
	}
	return d
}

// logSlow logs the changes slower than the 500 ms target, with when they
// were sent and whether the rule continued as new while they were on
// their way, so that an outlier can be explained.
func logSlow(b *testing.B, h *harness, mode string, lat []time.Duration, sent []time.Time) {
	if len(sent) == 0 {
		return
	}
	runs := h.runsStarted(sent[0])
	var slow []string
	for i, d := range lat {
		if d <= 500*time.Millisecond {
			continue
		}
		note := ""
		for _, r := range runs {
			if !r.Before(sent[i]) && !r.After(sent[i].Add(d+time.Second)) {
				note = " (new run meanwhile)"
			}
		}
		slow = append(slow, fmt.Sprintf("#%d sent %s: %s%s", i, sent[i].Format("15:04:05.000"), d.Round(time.Millisecond), note))
	}
	if len(slow) > 0 {
		b.Logf("webhooks %s: %d of %d over 500 ms; the rule continued as new %d times: %s", mode, len(slow), len(lat), len(runs),
			strings.Join(slow[:min(len(slow), 10)], ", "))
	}
}

func addLatencies(rs *results, sc string, lat []time.Duration) {
	rs.add(sc, "latency p50 (202 → in target)", percentile(lat, 50), "ms", "")
	rs.add(sc, "latency p95", percentile(lat, 95), "ms", "")
	rs.add(sc, "latency p99", percentile(lat, 99), "ms", "≤ 500")
	rs.add(sc, "latency max", percentile(lat, 100), "ms", "")
}
