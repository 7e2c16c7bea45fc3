package workos

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries WorkOS's webhook signature.
const SignatureHeader = "WorkOS-Signature"

// SignatureTolerance is how far a signature's time may be from now, either
// way (workos-go's default; workos-node checks only the past).
const SignatureTolerance = 180 * time.Second

// MaxPushBody bounds a webhook body: a Directory Sync event is a few KiB
// (a user with its custom attributes, or a user and a group).
const MaxPushBody = 256 << 10

// VerifyPush is the workos type's connectors.Type.VerifyPush. It checks
// the WorkOS-Signature header, "t=<unix ms>, v1=<hex HMAC-SHA256(secret,
// t + "." + body)>", with the connection's webhook secret: the time within
// SignatureTolerance of now, the MAC compared in constant time; then that
// the body is a Directory Sync event. It applies nothing: the engine polls
// the Events API, where the event arrives in order (see the package doc).
// Its errors say what is wrong, never the secret or the expected MAC.
func VerifyPush(header http.Header, body, secret []byte, now time.Time) error {
	if len(secret) == 0 {
		return errors.New("workos webhook: the connection has no webhook secret")
	}
	if len(body) > MaxPushBody {
		return fmt.Errorf("workos webhook: body of %d bytes is larger than %d", len(body), MaxPushBody)
	}
	h := header.Get(SignatureHeader)
	if h == "" {
		return fmt.Errorf("workos webhook: no %s header", SignatureHeader)
	}
	ts, macs, err := parseSignature(h)
	if err != nil {
		return fmt.Errorf("workos webhook: %s: %w", SignatureHeader, err)
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("workos webhook: %s: t=%q is not unix milliseconds", SignatureHeader, ts)
	}
	if skew := now.Sub(time.UnixMilli(ms)); skew > SignatureTolerance || skew < -SignatureTolerance {
		return fmt.Errorf("workos webhook: the signature's time is %s from now, beyond the tolerance of %s",
			skew.Round(time.Second), SignatureTolerance)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	ok := false
	for _, m := range macs {
		got, err := hex.DecodeString(m)
		if err == nil && hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return errors.New("workos webhook: the signature does not match the body and the connection's secret")
	}
	var e struct {
		ID    string `json:"id"`
		Event string `json:"event"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return fmt.Errorf("workos webhook: the body is not a JSON event: %w", err)
	}
	if !strings.HasPrefix(e.ID, "event_") || !strings.HasPrefix(e.Event, "dsync.") {
		return fmt.Errorf("workos webhook: not a Directory Sync event (id %q, event %q)", e.ID, e.Event)
	}
	return nil
}

// parseSignature reads "t=…, v1=…": parts split by commas, with or
// without spaces after them; several v1 (a secret being rotated) may
// come.
func parseSignature(h string) (ts string, macs []string, err error) {
	for part := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return "", nil, fmt.Errorf("%q is not key=value", strings.TrimSpace(part))
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			macs = append(macs, v)
		}
	}
	if ts == "" || len(macs) == 0 {
		return "", nil, errors.New("want t=<unix ms>, v1=<hex>")
	}
	return ts, macs, nil
}
