package app

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/worker"
)

// RunAPI serves the HTTP API until ctx is done. Temporal is dialled lazily,
// so the API starts (and /readyz reports 503) while Temporal is still down.
func RunAPI(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	db, err := OpenDB(cfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = models.Close(db) }()
	m, err := metrics.New()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	topts, err := temporalOptions(cfg, log, m)
	if err != nil {
		return err
	}
	tc, err := client.NewLazyClient(topts)
	if err != nil {
		return &config.Error{Var: "TEMPORAL_ADDRESS", Msg: err.Error()}
	}
	defer tc.Close()
	store, err := openMedia(cfg)
	if err != nil {
		return err
	}
	events, stopEvents, err := startEventListener(cfg, log)
	if err != nil {
		return err
	}
	defer stopEvents()
	e, err := newAPI(cfg, db, tc, store, events, log, m)
	if err != nil {
		return err
	}
	if err := watchMediaDisk(m, store); err != nil {
		return err
	}
	if err := watchPolicyStreaks(m, db); err != nil {
		return err
	}
	srv, err := listenHTTP(cfg.HTTPAddr, e, log)
	if err != nil {
		return err
	}
	log.Info("api listening", "addr", srv.addr, "public_url", cfg.PublicURL, "temporal", cfg.TemporalAddress)
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	defer stopHeartbeat()
	go runHeartbeat(hbCtx, db, tc, cfg, log)
	select {
	case <-ctx.Done():
	case err := <-srv.done:
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("api shutting down")
	return srv.shutdown(cfg.ShutdownTimeout)
}

// RunWorker polls the task queue until ctx is done. It keeps trying to reach
// Temporal at start, so it may be started before the engine.
func RunWorker(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	db, err := OpenDB(cfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = models.Close(db) }()
	store, err := openMedia(cfg)
	if err != nil {
		return err
	}
	m, err := metrics.New()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	acts, err := newActivities(cfg, db, store, log, m)
	if err != nil {
		return err
	}
	if err := watchMediaDisk(m, store); err != nil {
		return err
	}
	// The worker has no HTTP API: its metrics get their own listener.
	if cfg.MetricsAddr != "off" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler(cfg.MetricsToken))
		srv, err := listenOn("METRICS_ADDR", cfg.MetricsAddr, mux, log)
		if err != nil {
			return err
		}
		log.Info("worker metrics listening", "addr", srv.addr, "path", "/metrics")
		defer func() { _ = srv.shutdown(cfg.ShutdownTimeout) }()
	}
	topts, err := temporalOptions(cfg, log, m)
	if err != nil {
		return err
	}
	tc, err := dialWithRetry(ctx, topts, log)
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := watchBacklog(m, tc, cfg); err != nil {
		return err
	}
	acts.Inbound = newInboundSink(cfg, db, tc, m)
	ensureRetention(tc, cfg, log)
	log.Info("worker starting", "task_queue", cfg.TemporalTaskQueue, "namespace", cfg.TemporalNamespace)
	return worker.Run(ctx, worker.New(tc, cfg.TemporalTaskQueue, acts, cfg.ShutdownTimeout), log)
}

// dialWithRetry dials Temporal, retrying with backoff (1s doubling to 30s)
// until it answers or ctx is done.
func dialWithRetry(ctx context.Context, opts client.Options, log *slog.Logger) (client.Client, error) {
	delay := time.Second
	for {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := client.DialContext(dctx, opts)
		cancel()
		if err == nil {
			return c, nil
		}
		// Refused credentials do not get better by waiting.
		if code := status.Code(err); code == codes.Unauthenticated || code == codes.PermissionDenied {
			return nil, fmt.Errorf("temporal at %s refused this client's credentials (TEMPORAL_API_KEY, TEMPORAL_TLS_CERT): %w", opts.HostPort, err)
		}
		log.Warn("temporal not reachable yet", "address", opts.HostPort, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("dial temporal at %s: %w", opts.HostPort, err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}
