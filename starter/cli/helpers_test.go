package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/idsync/idsync/connectors/all"
)

// newTestFactory is a Factory with the real connector registry and output
// buffers. No client: a verb under test that dials fails the test's
// expectations, since nothing listens at the default address.
func newTestFactory() (*Factory, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &Factory{Out: &out, ErrOut: &errOut, Registry: all.Registry()}, &out, &errOut
}

// execVerb runs verb, built by a NewCmd function with a runF hook, in the
// place of the verb of the same name under noun ("" for a top-level verb)
// in the real command tree, so that global flags and the usage-error
// plumbing are those of Main. It returns Main's exit code for the result.
func execVerb(t *testing.T, f *Factory, noun string, verb *cobra.Command, argv []string) (int, error) {
	t.Helper()
	root := NewRootCmd(f)
	parent := root
	path := []string{verb.Name()}
	if noun != "" {
		p, _, err := root.Find([]string{noun})
		if err != nil || p == root {
			t.Fatalf("no noun %q in the command tree: %v", noun, err)
		}
		parent = p
		path = []string{noun, verb.Name()}
	}
	for _, c := range parent.Commands() {
		if c.Name() == verb.Name() {
			parent.RemoveCommand(c)
		}
	}
	parent.AddCommand(verb)
	root.SetArgs(append(path, argv...))
	root.SetOut(f.Out)
	root.SetErr(f.ErrOut)
	err := root.Execute()
	return exitCode(err), err
}

// checkErr checks a verb's outcome against a table row: no error when
// wantErr is empty, else an error of exit code wantCode (2 when zero) whose
// message holds wantErr.
func checkErr(t *testing.T, code int, err error, wantErr string, wantCode int) {
	t.Helper()
	if wantErr == "" {
		if err != nil {
			t.Fatalf("unexpected error (exit %d): %v", code, err)
		}
		return
	}
	if wantCode == 0 {
		wantCode = 2
	}
	if err == nil {
		t.Fatalf("no error, want one holding %q", wantErr)
	}
	if !strings.Contains(err.Error(), wantErr) {
		t.Errorf("error %q does not hold %q", err, wantErr)
	}
	if code != wantCode {
		t.Errorf("exit code %d for %q, want %d", code, err, wantCode)
	}
}
