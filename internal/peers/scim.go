package peers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// scimServerDir is the SCIM test server, relative to the module root.
const scimServerDir = "testdata/scim-server"

// scimDepsHint says how to install the server's node packages.
const scimDepsHint = "run `make deps` or `npm ci --prefix " + scimServerDir + "` in the repository root"

// SCIMOptions configures StartSCIM. The zero value is usable.
type SCIMOptions struct {
	// Dir is the SCIM server's directory (the one holding server.js and
	// node_modules); default testdata/scim-server under the module root,
	// found by walking up from the working directory to go.mod.
	Dir string
	// Token is the bearer token the server requires; default a random one.
	Token string
	// Port is the loopback port to listen on; 0 lets the server pick one.
	Port int
	// MaxPageSize caps the resources in one list page, whatever the
	// client's count; 0 means the server's default, 20 (SCIMMY's page).
	MaxPageSize int
	// Knobs make the server slow and imperfect from the start (latency,
	// refused filters, throttling, errors); SetKnobs changes them later.
	// The zero value turns them all off.
	Knobs SCIMKnobs
	// Node is the node binary; default "node" on PATH.
	Node string
	// Log receives the server's stderr; nil discards it (its tail is kept
	// for error messages either way).
	Log io.Writer
}

// SCIM is a running SCIM 2.0 test server (SCIMMY over an in-memory store).
type SCIM struct {
	URL   string // http://127.0.0.1:PORT/scim/v2, the base URL for a connector
	Token string // the bearer token it requires

	cmd      *exec.Cmd
	stdin    io.WriteCloser // closing it makes the server exit
	exited   chan struct{}  // closed when the process has exited
	waitErr  error          // set before exited is closed
	output   *tailBuffer
	stopOnce sync.Once
	stopErr  error
}

// StartSCIM runs `node server.js` in the SCIM server's directory, waits for
// the line announcing its URL and returns. ctx bounds the start only; Stop
// ends the server. The server also exits when this process dies, since it
// watches its stdin, which only this process holds.
func StartSCIM(ctx context.Context, opts SCIMOptions) (*SCIM, error) {
	dir, err := scimDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	node := opts.Node
	if node == "" {
		node = "node"
	}
	if node, err = exec.LookPath(node); err != nil {
		return nil, fmt.Errorf("scim server: node (20 or later) is needed: %w; install it with `apt-get install nodejs npm`", err)
	}
	token := opts.Token
	if token == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		token = hex.EncodeToString(b)
	}
	s := &SCIM{Token: token, output: &tailBuffer{max: 16 << 10}, exited: make(chan struct{})}
	if err := s.start(ctx, node, dir, opts); err != nil {
		return nil, err
	}
	return s, nil
}

// scimDir returns the server's directory and checks its node packages are
// installed.
func scimDir(dir string) (string, error) {
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", fmt.Errorf("scim server: %w (or set SCIMOptions.Dir)", err)
		}
		dir = filepath.Join(root, filepath.FromSlash(scimServerDir))
	}
	if _, err := os.Stat(filepath.Join(dir, "server.js")); err != nil {
		return "", fmt.Errorf("scim server: %w", err)
	}
	for _, pkg := range []string{"scimmy", "scimmy-routers", "express"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			return "", fmt.Errorf("scim server: node package %s is not installed in %s: %s", pkg, dir, scimDepsHint)
		}
	}
	return dir, nil
}

// moduleRoot walks up from the working directory to the one with go.mod.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", wd)
		}
		dir = parent
	}
}

func (s *SCIM) start(ctx context.Context, node, dir string, opts SCIMOptions) error {
	args := []string{"server.js", "--port", strconv.Itoa(opts.Port), "--exit-on-stdin-close"}
	if opts.MaxPageSize > 0 {
		args = append(args, "--max-page-size", strconv.Itoa(opts.MaxPageSize))
	}
	args = append(args, opts.Knobs.flags()...)
	cmd := exec.Command(node, args...)
	cmd.Dir = dir
	// The token goes through the environment, not argv, which ps shows.
	cmd.Env = append(os.Environ(), "SCIM_TOKEN="+s.Token)
	var stderr io.Writer = s.output
	if opts.Log != nil {
		stderr = io.MultiWriter(s.output, opts.Log)
	}
	cmd.Stderr = stderr
	ready := make(chan string, 1)
	cmd.Stdout = &firstLine{ch: ready}
	var err error
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		return fmt.Errorf("scim server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("scim server: start %s: %w", node, err)
	}
	s.cmd = cmd
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, ready); err != nil {
		s.kill()
		return err
	}
	return nil
}

// waitReady waits for the "listening URL" line.
func (s *SCIM) waitReady(ctx context.Context, ready <-chan string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case line := <-ready:
		url, ok := strings.CutPrefix(line, "listening ")
		if !ok || !strings.HasPrefix(url, "http://") {
			return fmt.Errorf("scim server: unexpected first line %q; its output:\n%s", line, s.output.String())
		}
		s.URL = url
		return nil
	case <-s.exited:
		return fmt.Errorf("scim server: exited before it was ready (%v); its output:\n%s", s.waitErr, s.output.String())
	case <-ctx.Done():
		return fmt.Errorf("scim server: not ready: %w; its output:\n%s", ctx.Err(), s.output.String())
	}
}

// Stop ends the server (SIGTERM, then a kill after 5 s). Calling it again
// returns the first result.
func (s *SCIM) Stop() error {
	s.stopOnce.Do(func() {
		_ = s.stdin.Close()
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			s.kill()
			s.stopErr = errors.New("scim server: did not stop within 5s of SIGTERM; killed")
		}
	})
	return s.stopErr
}

func (s *SCIM) kill() {
	_ = s.stdin.Close()
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Output returns the tail of the server's stderr, for diagnosing a failed
// test.
func (s *SCIM) Output() string { return s.output.String() }

// SCIMStats counts the SCIM requests the server has served.
type SCIMStats struct {
	Total    int            `json:"total"`
	ByMethod map[string]int `json:"byMethod"`
	// ByRoute is keyed by "METHOD /ResourceType", e.g. "PATCH /Groups".
	ByRoute map[string]int `json:"byRoute"`
	// ByStatus is keyed by the HTTP status code, e.g. "429".
	ByStatus map[string]int `json:"byStatus"`
	// RefusedFilters counts the filters refused by the RefuseFilters
	// knob, by the refused path as the knob names it.
	RefusedFilters map[string]int `json:"refusedFilters"`
	// Throttled and Failed count the answers the ThrottleRate (429) and
	// ErrorRate (500, 503) knobs made.
	Throttled int `json:"throttled"`
	Failed    int `json:"failed"`
	// Abandoned counts the requests whose client went away while they
	// waited out a latency knob; nothing was written to them.
	Abandoned int `json:"abandoned"`
}

// Stats returns the request counts since the start or the last ResetStats.
func (s *SCIM) Stats(ctx context.Context) (SCIMStats, error) {
	var st SCIMStats
	if err := s.adminJSON(ctx, http.MethodGet, "/_stats", nil, &st); err != nil {
		return st, fmt.Errorf("scim server: stats: %w", err)
	}
	return st, nil
}

// ResetStats sets the request counts to zero.
func (s *SCIM) ResetStats(ctx context.Context) error {
	if err := s.adminJSON(ctx, http.MethodDelete, "/_stats", nil, nil); err != nil {
		return fmt.Errorf("scim server: reset stats: %w", err)
	}
	return nil
}

// firstLine sends the first line written to it on ch and discards the
// rest, so that the server never blocks on its stdout.
type firstLine struct {
	ch   chan<- string
	buf  []byte
	sent bool
}

func (f *firstLine) Write(p []byte) (int, error) {
	if f.sent {
		return len(p), nil
	}
	f.buf = append(f.buf, p...)
	if i := bytes.IndexByte(f.buf, '\n'); i >= 0 {
		f.ch <- strings.TrimSpace(string(f.buf[:i]))
		f.sent, f.buf = true, nil
	} else if len(f.buf) > 4<<10 {
		f.ch <- strings.TrimSpace(string(f.buf))
		f.sent, f.buf = true, nil
	}
	return len(p), nil
}
