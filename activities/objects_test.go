package activities

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/idsync/idsync/reconcile"
)

// TestLogObject: the worker's log names every object a run writes, a
// failure at WARN with its error, a dry run's as such.
func TestLogObject(t *testing.T) {
	for _, tt := range []struct {
		name   string
		dryRun bool
		o      reconcile.Object
		want   string
	}{
		{"created", false, reconcile.Object{Action: reconcile.ActionCreated, Kind: "user", Name: "ada", ID: "u-1"},
			`level=INFO msg="user created" name=ada external_id=u-1`},
		{"dry run", true, reconcile.Object{Action: reconcile.ActionDeprovisioned, Kind: "group", Name: "eng", ID: "g-1"},
			`level=INFO msg="dry run: group deprovisioned" name=eng external_id=g-1`},
		{"failed", false, reconcile.Object{Action: reconcile.ActionFailed, Kind: "user", Name: "update user bob (source id u-2)", Error: "400 invalid email"},
			`level=WARN msg="user failed" what="update user bob (source id u-2)" error="400 invalid email"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				}}))
			logObject(logger, tt.dryRun)(tt.o)
			if got := strings.TrimSpace(b.String()); got != tt.want {
				t.Errorf("log line\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
