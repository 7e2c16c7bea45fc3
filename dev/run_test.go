// Package dev_test runs dev/run.sh (make run) against a fake Temporal CLI
// and a fake worker: what it refuses, and what it says.
package dev_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeTemporal stands for the Temporal CLI: `server start-dev` prints the
// dev server's banner and runs, or with FAKE_SERVER=fail exits as a dev
// server whose port was taken; `operator cluster health` always answers,
// as a server already on the port would.
const fakeTemporal = `#!/usr/bin/env bash
case $1 in
server)
  if [[ ${FAKE_SERVER:-} == fail ]]; then
    sleep 1
    echo "Error: listen tcp 127.0.0.1:7233: bind: address already in use"
    exit 1
  fi
  printf 'CLI fake\n\nServer:  fake\nUI:      fake\nMetrics: http://127.0.0.1:1/metrics\n'
  exec sleep 600 ;;
operator) exit 0 ;;
esac
exit 2
`

// engine is a copy of the repository's layout for run.sh: bin/worker (a
// fake that runs until stopped) and the state directory.
type engine struct {
	dir, state, temporal string
}

func newEngine(t *testing.T) engine {
	t.Helper()
	dir := t.TempDir()
	e := engine{dir: dir, state: filepath.Join(dir, ".state"), temporal: filepath.Join(dir, "temporal")}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "worker"), []byte("#!/bin/sh\nexec sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.temporal, []byte(fakeTemporal), 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// command is run.sh on free ports of its own, with env added.
func (e engine) command(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	script, err := filepath.Abs("run.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(),
		"TEMPORAL="+e.temporal, "STATE="+e.state, "SEARCH_ATTRIBUTES=IdsyncKind=Keyword",
		"TEMPORAL_ADDRESS=127.0.0.1:"+strconv.Itoa(freePort(t)),
		"TEMPORAL_UI_PORT="+strconv.Itoa(freePort(t)),
		"IDSYNC_WEBHOOK_ADDR=127.0.0.1:"+strconv.Itoa(freePort(t)),
		"TEMPORAL_DB=", "TEMPORAL_NAMESPACE=")
	cmd.Env = append(cmd.Env, env...)
	// Its own process group, so that the test can stop what it started,
	// the fake server and worker too, whatever happened to the script.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// start runs an engine in the background until it has started its worker.
func (e engine) start(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := e.command(t)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	started := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "starting the worker") {
				started <- true
			}
		}
		started <- false
	}()
	select {
	case ok := <-started:
		if !ok {
			t.Fatalf("the first engine did not start:\n%s", stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the first engine did not start within 30 s:\n%s", stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return cmd
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runToEnd runs cmd to its end and returns its exit code and output.
func runToEnd(t *testing.T, cmd *exec.Cmd) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("run.sh: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Logf("run.sh killed: %v", <-done)
		t.Fatalf("run.sh kept running; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func TestSecondEngineOnTheSameState(t *testing.T) {
	for _, tc := range []struct {
		name string
		// killFirst kills the first make run's script, not its dev server
		// and worker, which keep the state in use.
		killFirst bool
	}{
		{"first running", false},
		{"first script killed, its dev server running", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			first := e.start(t)
			log := filepath.Join(e.state, "temporal.log")
			before, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			holder := first.Process.Pid
			if tc.killFirst {
				// The dev server is the script's child that runs sleep.
				out, err := exec.Command("pgrep", "-P", strconv.Itoa(first.Process.Pid), "-x", "sleep").Output()
				if err != nil {
					t.Fatalf("no fake dev server under the first engine: %v", err)
				}
				fields := strings.Fields(string(out))
				if holder, err = strconv.Atoi(fields[0]); err != nil {
					t.Fatal(err)
				}
				_ = first.Process.Kill()
				_, _ = first.Process.Wait()
			}

			code, stdout, stderr := runToEnd(t, e.command(t))
			if code == 0 {
				t.Errorf("a second engine on the same state exited 0")
			}
			for _, want := range []string{"TEMPORAL_DB", "pid " + strconv.Itoa(holder)} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(stdout, "Web UI") {
				t.Errorf("the refused engine printed where its Web UI is:\n%s", stdout)
			}
			after, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("the running engine's log was overwritten: %q, was %q", after, before)
			}
		})
	}
}

// A dev server that fails to start (its port taken meanwhile) while
// another server answers on the address: no Web UI line, no worker, a
// non-zero exit.
func TestDevServerFailsWhileAnotherAnswers(t *testing.T) {
	e := newEngine(t)
	code, stdout, stderr := runToEnd(t, e.command(t, "FAKE_SERVER=fail"))
	if code == 0 {
		t.Errorf("exit 0 when the dev server failed")
	}
	if strings.Contains(stdout, "Web UI") || strings.Contains(stdout, "starting the worker") {
		t.Errorf("stdout says the engine started:\n%s", stdout)
	}
	if !strings.Contains(stderr, "address already in use") {
		t.Errorf("stderr does not show the dev server's error:\n%s", stderr)
	}
}
