package connectors

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxSecretFileSize bounds what a file: reference may read.
const maxSecretFileSize = 64 << 10

// ResolveSecret turns a secret reference into its value. References are
// "env:NAME" (an environment variable of the worker) and "file:PATH" (a file
// the worker can read; one trailing newline is dropped). The value itself is
// never stored in Temporal: only the reference is, and only workers resolve
// it, inside activities. Errors name the reference, never the value.
func ResolveSecret(ref string) (string, error) {
	kind, arg, ok := strings.Cut(ref, ":")
	if !ok || arg == "" {
		// Do not quote ref: a malformed reference may be a pasted secret.
		return "", errors.New("secret reference: want env:NAME or file:PATH")
	}
	switch kind {
	case "env":
		v, ok := os.LookupEnv(arg)
		if !ok {
			return "", fmt.Errorf("secret reference %q: environment variable %s is not set on the worker", ref, arg)
		}
		return v, nil
	case "file":
		f, err := os.Open(arg)
		if err != nil {
			return "", fmt.Errorf("secret reference %q: %w", ref, err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxSecretFileSize+1))
		if err != nil {
			return "", fmt.Errorf("secret reference %q: read: %w", ref, err)
		}
		if len(b) > maxSecretFileSize {
			return "", fmt.Errorf("secret reference %q: file is larger than %d bytes", ref, maxSecretFileSize)
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	default:
		// Do not quote the kind either: "p@ss:word" is a secret, not a kind.
		return "", errors.New("secret reference: unknown kind, want env:NAME or file:PATH")
	}
}

// ValidateSecretRef checks the form of a reference without resolving it, so
// that the CLI can refuse a literal secret before it reaches Temporal.
func ValidateSecretRef(ref string) error {
	kind, arg, ok := strings.Cut(ref, ":")
	if !ok || arg == "" || (kind != "env" && kind != "file") {
		return errors.New("must be a secret reference env:NAME or file:PATH, not a literal value")
	}
	return nil
}
