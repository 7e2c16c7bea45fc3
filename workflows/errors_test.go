package workflows

import (
	"errors"
	"testing"

	"go.temporal.io/sdk/temporal"
)

// TestErrorMessage: a rule's last error names the innermost cause with
// words, never nothing.
func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"innermost application error",
			temporal.NewApplicationErrorWithCause("resync users", "T", temporal.NewApplicationError(`ldap: base "ou=peple": no such object`, "T")),
			`ldap: base "ou=peple": no such object`},
		{"an empty innermost gives way to the one around it",
			temporal.NewApplicationErrorWithCause("resync users: ", "T", temporal.NewApplicationError("", "T")),
			"resync users"},
		{"a plain error", errors.New("connection refused"), "connection refused"},
		{"nothing anywhere", temporal.NewApplicationError("", "T"), "an error without a message (see the worker's log)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorMessage(tt.err); got != tt.want {
				t.Errorf("errorMessage = %q, want %q", got, tt.want)
			}
		})
	}
}
