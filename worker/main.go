// Command worker runs idsync: the Temporal worker that executes rules,
// resyncs and connection workflows and their activities, and the HTTP
// listener for change webhooks.
//
// Usage:
//
//	worker [--temporal-address host:port] [--namespace ns] [--webhook-addr addr]
//	worker version
//
// Every flag can also be set by environment variable (see --help).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/connectors/all"
	"github.com/idsync/idsync/connectors/httpx"
	"github.com/idsync/idsync/internal/buildinfo"
	"github.com/idsync/idsync/realtime"
	"github.com/idsync/idsync/webhook"
	"github.com/idsync/idsync/workflows"
)

type options struct {
	version         bool
	temporalAddress string
	namespace       string
	webhookAddr     string
	maxBody         int64
	logLevel        string
	realtimeRefresh time.Duration
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.StringVar(&o.temporalAddress, "temporal-address", envOr("TEMPORAL_ADDRESS", client.DefaultHostPort), "Temporal frontend host:port (env TEMPORAL_ADDRESS)")
	fs.StringVar(&o.namespace, "namespace", envOr("TEMPORAL_NAMESPACE", client.DefaultNamespace), "Temporal namespace (env TEMPORAL_NAMESPACE)")
	fs.StringVar(&o.webhookAddr, "webhook-addr", envOr("IDSYNC_WEBHOOK_ADDR", "127.0.0.1:8088"), "address the change webhook listens on; empty disables it (env IDSYNC_WEBHOOK_ADDR)")
	fs.Int64Var(&o.maxBody, "webhook-max-body", webhook.DefaultMaxBody, "largest webhook body accepted, in bytes")
	fs.DurationVar(&o.realtimeRefresh, "realtime-refresh", 30*time.Second, "how often the worker looks for new real-time source connections")
	fs.StringVar(&o.logLevel, "log-level", envOr("IDSYNC_LOG_LEVEL", "info"), "debug, info, warn or error (env IDSYNC_LOG_LEVEL)")
	fs.BoolVar(&o.version, "version", false, "print the version (module version and commit) and exit; so does `worker version`")
	if len(args) > 0 && args[0] == "version" {
		o.version = true
		args = args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.realtimeRefresh < time.Second {
		return o, errors.New("--realtime-refresh must be at least 1s")
	}
	if o.maxBody <= 0 {
		return o, errors.New("--webhook-max-body must be positive")
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	if o.version {
		fmt.Println("worker", buildinfo.Version())
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// The webhook's address is taken first: a worker that cannot serve it
	// must not poll the task queue as if all were well, since callers'
	// changes would then be lost (only a full resync finds them again).
	ln, err := listenWebhook(o.webhookAddr)
	if err != nil {
		return err
	}
	if ln != nil {
		defer ln.Close() // closed already when the server ran; then a no-op
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	c, err := client.DialContext(ctx, client.Options{
		HostPort:  o.temporalAddress,
		Namespace: o.namespace,
		Logger:    tlog.NewStructuredLogger(logger),
	})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", o.temporalAddress, err)
	}
	defer c.Close()
	wc := workflows.Client{Temporal: c}

	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	workflows.Register(w)
	// Connectors stay open from one activity to the next (see activities.Pool).
	pool := &activities.Pool{}
	defer pool.Close()
	w.RegisterActivity(&activities.Activities{Connections: wc, Registry: all.Registry(), Logger: logger,
		Budgets: &httpx.Budgets{Leaser: workflows.BudgetLeaser{Temporal: c}}, Pool: pool, Records: wc})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	logger.Info("worker started", "temporal_address", o.temporalAddress, "namespace", o.namespace, "task_queue", workflows.TaskQueue)

	// Real-time sources: a persistent watch asks their rules to poll at once.
	rt := &realtime.Notifier{Backend: wc, Registry: all.Registry(), Logger: logger, Refresh: o.realtimeRefresh}
	rtDone := make(chan struct{})
	go func() { defer close(rtDone); rt.Run(ctx) }()
	defer func() { <-rtDone }()

	if ln != nil {
		h := &webhook.Handler{Backend: wc, Registry: all.Registry(), MaxBody: o.maxBody, Logger: logger}
		srv := &http.Server{Handler: h.Routes(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("webhook server stopped", "error", err)
				stop()
			}
		}()
		logger.Info("webhook listening", "addr", ln.Addr().String())
		defer func() {
			// Shutdown waits for the requests in progress, which wait for
			// their signals; Drain then sees the last signals out. At the
			// deadline the rest are cancelled and answered 503.
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				logger.Warn("webhook server shutdown", "error", err)
			}
			if err := h.Drain(sctx); err != nil {
				logger.Warn("webhook changes not all signalled at shutdown", "error", err)
			}
		}()
	}
	<-ctx.Done()
	logger.Info("shutting down")
	return nil
}

// listenWebhook listens on the webhook's address; nil when it is empty
// (the webhook is disabled).
func listenWebhook(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("webhook: cannot listen on %s (--webhook-addr or IDSYNC_WEBHOOK_ADDR: give a free address, or empty to disable the webhook): %w", addr, err)
	}
	return ln, nil
}
