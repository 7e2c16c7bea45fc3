package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func sample(envFile string) instructions {
	return instructions{LDAPURL: "ldap://127.0.0.1:3389", BaseDN: "dc=example,dc=org", AdminDN: "cn=admin,dc=example,dc=org",
		SCIMURL: "http://127.0.0.1:8999/scim/v2", LDAPPassword: "pw'1$x", SCIMToken: "tok", HookKey: "hk",
		Dir: ".state/peers", EnvFile: envFile}
}

// TestEnvFile: the secrets are in a file that every shell of the
// quickstart can source, readable by its owner only.
func TestEnvFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "peers.env")
	if err := writeEnvFile(p, sample(p)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("no env file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600: it holds secrets", fi.Mode().Perm())
	}
	// A child of the shell that sourced it sees the values, as the worker
	// and ldapmodify must.
	out, err := exec.Command("bash", "-c", `source "$1" && bash -c 'printf "%s|%s|%s" "$LDAP_PASSWORD" "$SCIM_TOKEN" "$HOOK_KEY"'`, "_", p).CombinedOutput()
	if err != nil {
		t.Fatalf("source: %v\n%s", err, out)
	}
	if got, want := string(out), "pw'1$x|tok|hk"; got != want {
		t.Errorf("sourced: %q, want %q", got, want)
	}
}

// TestInstructions: make peers tells the user to load the secrets in every
// shell, not only the one that runs make run.
func TestInstructions(t *testing.T) {
	var b bytes.Buffer
	printInstructions(&b, sample(".state/peers.env"))
	out := b.String()
	for _, want := range []string{"source .state/peers.env", "every shell", "ldap://127.0.0.1:3389", "env:HOOK_KEY"} {
		if !strings.Contains(out, want) {
			t.Errorf("does not say %q:\n%s", want, out)
		}
	}
	// The secrets are in the file, not on the screen.
	for _, secret := range []string{"pw'1$x", "tok\n", "HOOK_KEY=change-me"} {
		if strings.Contains(out, secret) {
			t.Errorf("prints %q:\n%s", secret, out)
		}
	}
}
