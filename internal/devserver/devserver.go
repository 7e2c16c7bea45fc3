// Package devserver starts the pinned Temporal CLI's dev server for
// integration tests, with idsync's search attributes registered.
package devserver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/idsync/idsync/workflows"
)

// CLIPath finds the Temporal CLI that `make temporal` builds: the
// IDSYNC_TEMPORAL_CLI environment variable, else .cache/bin/temporal at the
// module root.
func CLIPath() (string, error) {
	if p := os.Getenv("IDSYNC_TEMPORAL_CLI"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".cache", "bin", "temporal")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("the Temporal CLI is not built at %s: run `make temporal` (or `make test`)", p)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Args returns the dev server flags that register idsync's search
// attributes.
func Args() []string {
	var args []string
	for _, sa := range workflows.SearchAttributes() {
		args = append(args, "--search-attribute", sa.Name+"="+sa.Type.String())
	}
	return args
}

// Start starts a dev server on a free port for the test and stops it at
// cleanup. Its client is ready to use.
func Start(t testing.TB) *testsuite.DevServer {
	t.Helper()
	path, err := CLIPath()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  path,
		ClientOptions: &client.Options{Namespace: "default", Logger: quiet{}},
		LogLevel:      "error",
		ExtraArgs:     Args(),
		Stdout:        os.Stderr, // the test's output, shown on failure
		Stderr:        os.Stderr,
	})
	if err != nil {
		t.Fatalf("start the Temporal dev server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Logf("stop dev server: %v", err)
		}
	})
	return srv
}

type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
