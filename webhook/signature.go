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
// request cannot be replayed later; within that window the handler refuses
// a replay by remembering the signatures it has seen.
func Verify(header string, body, key []byte, now time.Time) error {
	_, err := verify(header, body, key, now)
	return err
}

// signature is a verified signature: the MAC's bytes, which identify the
// request whatever the header's spelling (hex case, spaces, field order),
// and the signed time.
type signature struct {
	mac []byte
	t   time.Time
}

func verify(header string, body, key []byte, now time.Time) (signature, error) {
	if header == "" {
		return signature{}, fmt.Errorf("missing %s header", SignatureHeader)
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
		return signature{}, errors.New("want t=<unix seconds>,v1=<hex hmac>")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return signature{}, errors.New("timestamp is not a number")
	}
	t := time.Unix(sec, 0)
	if d := now.Sub(t); d > MaxClockSkew || d < -MaxClockSkew {
		return signature{}, fmt.Errorf("timestamp is more than %s away from the server's clock", MaxClockSkew)
	}
	want, _ := hex.DecodeString(mac(ts, body, key))
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return signature{}, errors.New("does not match the body")
	}
	return signature{mac: got, t: t}, nil
}
