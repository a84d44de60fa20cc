package app

import (
	"context"
	"log/slog"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/devserver"
	"github.com/xcally-connector/connector/workflows"
)

// RunEngine runs Temporal's own server (`connector engine`) on
// TEMPORAL_DATABASE_URL until ctx ends: the services of ENGINE_SERVICES
// (all by default), the frontend on TEMPORAL_ADDRESS, the namespace and
// the connector's search attributes registered, the Web UI when
// TEMPORAL_UI_ADDR is set. Processes on one database form one cluster.
// It is meant for tests, small installs and one machine; production runs
// Temporal's official deployment or Temporal Cloud (docs/scaling.md).
func RunEngine(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	e := cfg.Engine
	opts := devserver.Options{
		FrontendAddr:       cfg.TemporalAddress,
		UIAddr:             e.UIAddr,
		Namespace:          cfg.TemporalNamespace,
		SearchAttributes:   workflows.SearchAttributes,
		Logger:             log,
		LogLevel:           slog.LevelWarn,
		DatabaseURL:        e.DatabaseURL,
		VisibilityDatabase: e.VisibilityDatabase,
		MaxConns:           e.MaxConns,
		HistoryShards:      e.HistoryShards,
		Services:           e.Services,
		ClusterAddr:        e.ClusterAddress,
		BroadcastAddr:      e.BroadcastAddress,
	}
	if cfg.LogLevel <= slog.LevelDebug {
		opts.LogLevel = slog.LevelInfo
	}
	if e.TLSCert != "" {
		opts.TLS = &devserver.TLS{CertFile: e.TLSCert, KeyFile: e.TLSKey, CAFile: e.TLSCA, ServerName: e.TLSServerName, ClientCAFile: e.TLSClientCA}
	}
	srv, err := devserver.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer srv.Stop()
	services := e.Services
	if len(services) == 0 {
		services = config.EngineServices
	}
	log.Info("engine running", "services", services, "frontend", srv.FrontendAddr(), "ui", srv.UIURL(), "tls", opts.TLS != nil)
	<-ctx.Done()
	log.Info("engine stopping")
	return nil
}
