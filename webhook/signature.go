package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sign returns the Idsync-Signature header value for body at time t.
func Sign(body, key []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(ts, body, key)
}

func mac(ts string, body, key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against body and key. The timestamp is
// signed too and must be within MaxClockSkew of now, so that a captured
// request cannot be replayed later.
func Verify(header string, body, key []byte, now time.Time) error {
	if header == "" {
		return fmt.Errorf("missing %s header", SignatureHeader)
	}
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	if ts == "" || sig == "" {
		return errors.New("want t=<unix seconds>,v1=<hex hmac>")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("timestamp is not a number")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxClockSkew || d < -MaxClockSkew {
		return fmt.Errorf("timestamp is more than %s away from the server's clock", MaxClockSkew)
	}
	want, _ := hex.DecodeString(mac(ts, body, key))
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return errors.New("does not match the body")
	}
	return nil
}
