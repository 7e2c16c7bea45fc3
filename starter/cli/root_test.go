package cli

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"
)

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestMainUnreachable: with no Temporal at --address, every verb that
// needs it fails fast with one line that says so, and exit code 1.
func TestMainUnreachable(t *testing.T) {
	addr := closedAddr(t)
	for _, argv := range [][]string{
		{"status"},
		{"status", "corp-to-app", "-o", "json"},
		{"connection", "list"},
		{"connection", "create", "corp-ldap", "--type", "scim", "--set", "baseUrl=https://a.example/scim/v2", "--set", "token=env:T"},
		{"rule", "create", "r", "--source", "a", "--target", "b"},
		{"rule", "pause", "r"},
		{"rule", "update", "r", "--poll-interval", "1m"},
		{"sync", "r", "--wait"},
	} {
		t.Run(strings.Join(argv, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			start := time.Now()
			code := Main(append(argv, "--address", addr, "--timeout", "3s"), &out, &errOut)
			elapsed := time.Since(start)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if out.Len() != 0 {
				t.Errorf("stdout: %q, want nothing", out.String())
			}
			stderr := errOut.String()
			if !strings.HasPrefix(stderr, "starter: cannot reach Temporal at "+addr) || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
				t.Errorf("stderr: %q, want one line starting %q", stderr, "starter: cannot reach Temporal at "+addr)
			}
			if elapsed > 5*time.Second {
				t.Errorf("took %s, want well under the 3s --timeout plus slack", elapsed)
			}
		})
	}
}

// TestMainUsageErrors: usage mistakes exit 2, before anything is dialed
// (--address points where nothing listens, so a dial would exit 1).
func TestMainUsageErrors(t *testing.T) {
	addr := closedAddr(t)
	for _, tt := range []struct {
		argv    []string
		wantErr string
	}{
		{[]string{"connection", "create", "Corp", "--type", "ldap"}, `name "Corp"`},
		{[]string{"connection", "create", "corp", "--type", "nope"}, `unknown connection type "nope"`},
		{[]string{"connection", "show"}, "want NAME, got 0 arguments"},
		{[]string{"connection", "list", "-o", "yaml"}, `--output "yaml"`},
		{[]string{"rule", "create", "r", "--source", "a", "--target", "a"}, "source and target must be different"},
		{[]string{"rule", "update", "r", "--timeout", "3s"}, "nothing to change"},
		{[]string{"rule", "list", "extra"}, "want no arguments, got 1 argument"},
		{[]string{"sync", "r", "-o", "json"}, "-o json needs --wait"},
		{[]string{"status", "r", "--connection", "c"}, "not both"},
		{[]string{"status", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"--timeout", "soon", "status"}, `invalid argument "soon" for "--timeout"`},
	} {
		t.Run(strings.Join(tt.argv, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(append(tt.argv, "--address", addr), &out, &errOut)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr: %s", code, errOut.String())
			}
			if stderr := errOut.String(); !strings.HasPrefix(stderr, "starter: ") || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr %q, want a line starting \"starter: \" holding %q", stderr, tt.wantErr)
			}
		})
	}
}

func TestMainHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"connection", "create", "--help"}, &out, &errOut); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr: %s", code, errOut.String())
	}
	for _, want := range []string{"env:NAME or file:PATH", "--webhook-secret", "--set stringArray"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help does not mention %q:\n%s", want, out.String())
		}
	}
}

func TestGroupCommandsNeedAVerb(t *testing.T) {
	for _, args := range [][]string{{"connection"}, {"connection", "bogus"}, {"rule", "frobnicate"}, {"bogus"}} {
		var out, errOut bytes.Buffer
		if code := Main(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errOut.String())
		}
		if !strings.HasPrefix(errOut.String(), "starter: ") {
			t.Errorf("%v: stderr %q", args, errOut.String())
		}
	}
}
