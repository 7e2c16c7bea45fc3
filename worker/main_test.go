package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// buildWorker compiles the worker as make build does, once for the
// tests.
func buildWorker(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "worker-test")
		if buildErr != nil {
			return
		}
		if out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", filepath.Join(binDir, "worker"), ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "worker")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// TestVersion: `worker version` and `worker --version` print the same
// line, with the commit the binary was built from, and exit 0 without
// dialling anything.
func TestVersion(t *testing.T) {
	bin := buildWorker(t)
	var outs []string
	for _, arg := range []string{"version", "--version"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, bin, arg, "--temporal-address", closedAddr(t)).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("worker %s: %v\n%s", arg, err, out)
		}
		if !strings.HasPrefix(string(out), "worker ") || strings.Count(string(out), "\n") != 1 {
			t.Errorf("worker %s: %q, want one line starting \"worker \"", arg, out)
		}
		outs = append(outs, string(out))
	}
	if outs[0] != outs[1] {
		t.Errorf("version %q, --version %q", outs[0], outs[1])
	}
	// Built in a git checkout, the binary knows its commit.
	if _, err := os.Stat("../.git"); err == nil && !strings.Contains(outs[0], "commit ") {
		t.Errorf("no commit in %q", outs[0])
	}
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
