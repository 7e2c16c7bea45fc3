package connectors

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("IDSYNC_TEST_SECRET", "from-env")
	tests := []struct {
		ref     string
		want    string
		wantErr string
	}{
		{ref: "env:IDSYNC_TEST_SECRET", want: "from-env"},
		{ref: "env:IDSYNC_TEST_UNSET", wantErr: "not set on the worker"},
		{ref: "file:" + write("plain", "s3cret\n"), want: "s3cret"},
		{ref: "file:" + write("crlf", "s3cret\r\n"), want: "s3cret"},
		{ref: "file:" + write("inner", "a\nb\n"), want: "a\nb"},
		{ref: "file:" + write("big", strings.Repeat("x", maxSecretFileSize+1)), wantErr: "larger than"},
		{ref: "file:" + filepath.Join(dir, "missing"), wantErr: "no such file"},
		{ref: "hunter2", wantErr: "want env:NAME or file:PATH"},
		{ref: "vault:kv/x", wantErr: "unknown kind"},
		{ref: "env:", wantErr: "want env:NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.ref[:min(len(tt.ref), 24)], func(t *testing.T) {
			got, err := ResolveSecret(tt.ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// A malformed reference may be a pasted secret: it must not be echoed.
func TestResolveSecretDoesNotEchoLiterals(t *testing.T) {
	for _, literal := range []string{"correct-horse-battery", "p@ss:word"} {
		_, err := ResolveSecret(literal)
		if err == nil {
			t.Fatalf("%q accepted as a reference", literal)
		}
		if strings.Contains(err.Error(), literal) || strings.Contains(err.Error(), "word") || strings.Contains(err.Error(), "p@ss") {
			t.Errorf("error echoes the value: %v", err)
		}
		if err := ValidateSecretRef(literal); err == nil || strings.Contains(err.Error(), literal) {
			t.Errorf("ValidateSecretRef(%q) = %v", literal, err)
		}
	}
	for _, ref := range []string{"env:X", "file:/run/secrets/x"} {
		if err := ValidateSecretRef(ref); err != nil {
			t.Errorf("ValidateSecretRef(%q) = %v", ref, err)
		}
	}
}
