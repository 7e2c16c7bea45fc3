package connectortest

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/idsync/idsync/connectors"
)

// Open opens a connection of type typ with settings through a registry,
// as the worker does (settings parsed strictly, Validate, Open), logging
// warnings to the test's output; it is closed when the test ends.
func Open(t testing.TB, typ connectors.Type, settings map[string]any) connectors.Connector {
	t.Helper()
	raw, err := json.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	conn, err := connectors.Registry{"test": typ}.Open(t.Context(), "test", "test", raw, logger)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
