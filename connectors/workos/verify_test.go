package workos

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/workosfake"
)

// sign is the WorkOS-Signature of body at t, computed here apart from
// the fake's Sign, with the given separator after the comma.
func sign(secret, body string, t time.Time, sep string) string {
	ts := fmt.Sprint(t.UnixMilli())
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + body))
	return "t=" + ts + "," + sep + "v1=" + hex.EncodeToString(mac.Sum(nil))
}

func TestVerifyPush(t *testing.T) {
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	const secret = "whsec_0123456789"
	body := `{"object":"event","id":"event_01HZ","event":"dsync.user.updated","data":{"id":"directory_user_01"},"created_at":"2026-01-15T12:00:00.000Z"}`
	tests := []struct {
		name   string
		header string // "-" for none
		body   string
		secret string
		want   string // "" for accepted, else a piece of the error
	}{
		{"good", sign(secret, body, now, " "), body, secret, ""},
		{"good without the space", sign(secret, body, now, ""), body, secret, ""},
		{"good, signed by the fake", workosfake.Sign([]byte(secret), []byte(body), now), body, secret, ""},
		{"good, 170 s old", sign(secret, body, now.Add(-170*time.Second), " "), body, secret, ""},
		{"good, a second v1 for a rotated secret", sign(secret, body, now, " ") + ", v1=00ff", body, secret, ""},
		{"wrong secret", sign("whsec_other", body, now, " "), body, secret, "does not match"},
		{"stale", sign(secret, body, now.Add(-181*time.Second), " "), body, secret, "tolerance"},
		{"future", sign(secret, body, now.Add(181*time.Second), " "), body, secret, "tolerance"},
		{"seconds, not milliseconds", strings.Replace(sign(secret, body, now, " "), fmt.Sprint(now.UnixMilli()), fmt.Sprint(now.Unix()), 1), body, secret, "tolerance"},
		{"malformed", "v1only", body, secret, "not key=value"},
		{"no v1", fmt.Sprintf("t=%d", now.UnixMilli()), body, secret, "want t="},
		{"t not a number", "t=abc, v1=00", body, secret, "unix milliseconds"},
		{"missing header", "-", body, secret, "no WorkOS-Signature"},
		{"body tampered", sign(secret, body, now, " "), strings.Replace(body, "updated", "deleted", 1), secret, "does not match"},
		{"no secret", sign(secret, body, now, " "), body, "", "no webhook secret"},
		{"not JSON", sign(secret, "hello", now, " "), "hello", secret, "not a JSON event"},
		{"not a dsync event", sign(secret, `{"id":"event_1","event":"user.created"}`, now, " "), `{"id":"event_1","event":"user.created"}`, secret, "not a Directory Sync event"},
		{"too large", sign(secret, strings.Repeat(" ", MaxPushBody+1), now, " "), strings.Repeat(" ", MaxPushBody+1), secret, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "-" {
				h.Set("WorkOS-Signature", tt.header)
			}
			err := VerifyPush(h, []byte(tt.body), []byte(tt.secret), now)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want one that says %q", err, tt.want)
			case err != nil && tt.secret != "" && strings.Contains(err.Error(), tt.secret):
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
	if Type.VerifyPush == nil {
		t.Error("Type.VerifyPush is not set")
	}
}
