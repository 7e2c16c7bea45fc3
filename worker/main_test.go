package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildWorker compiles the worker as a user would run it.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// closedAddr is a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// A worker that cannot serve its webhook must say so and exit at once,
// before it dials Temporal and polls the task queue: otherwise it runs
// without the listener and callers' changes are lost.
func TestWebhookPortTaken(t *testing.T) {
	bin := buildWorker(t)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	addr := held.Addr().String()

	for _, tc := range []struct {
		name, addr, want string
	}{
		{"port in use", addr, "address already in use"},
		{"not an address of this machine", "192.0.2.1:8088", "192.0.2.1:8088"},
		{"no port", "127.0.0.1", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "--webhook-addr", tc.addr, "--temporal-address", closedAddr(t))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("the worker kept running with its webhook address %s unusable; stderr:\n%s", tc.addr, stderr.String())
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("exit: %v, want a non-zero exit code; stderr:\n%s", err, stderr.String())
			}
			msg := stderr.String()
			for _, want := range []string{"webhook", tc.addr, tc.want, "IDSYNC_WEBHOOK_ADDR"} {
				if !strings.Contains(msg, want) {
					t.Errorf("stderr does not name %q:\n%s", want, msg)
				}
			}
			if strings.Contains(msg, "Temporal") {
				t.Errorf("the worker dialled Temporal before it checked its webhook address:\n%s", msg)
			}
		})
	}
}
