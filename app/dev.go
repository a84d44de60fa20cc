package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/agentevents"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/devserver"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch/emulator"
	"github.com/xcally-connector/connector/worker"
	"github.com/xcally-connector/connector/workflows"
)

// Dev is the all-in-one development stack running in this process.
type Dev struct {
	Temporal *devserver.Server
	Client   client.Client
	DB       *gorm.DB
	Worker   sdkworker.Worker
	// Media is the attachment store shared by the API and the worker.
	Media *media.FS
	// Metrics is the one registry of the process (API, worker and SDK
	// series), served on the API's /metrics.
	Metrics *metrics.Metrics
	// Emulator is the fake Sinch (nil when EMULATOR_ADDR is off).
	Emulator    *emulator.Server
	EmulatorURL string
	http        *httpServer
	// stopEvents ends the SSE wake-up listener (Postgres).
	stopEvents func()
	// stopHeartbeat ends the webhook heartbeat; heartbeatDone closes after.
	stopHeartbeat func()
	heartbeatDone chan struct{}
	cfg           *config.Config
	log           *slog.Logger
}

// APIURL is the base URL of the HTTP API.
func (d *Dev) APIURL() string { return d.http.URL() }

// StartDev starts the embedded Temporal engine (and its UI unless
// cfg.TemporalUIAddr is empty), opens and migrates the database, starts the
// worker and serves the API. On error everything started so far is stopped.
func StartDev(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Dev, err error) {
	d := &Dev{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			d.Stop()
		}
	}()
	// The engine logs warnings about its own internals (membership, shard
	// ownership) that are noise for a connector developer: only errors show
	// unless LOG_LEVEL=debug.
	engineLevel := slog.LevelError
	if cfg.LogLevel <= slog.LevelDebug {
		engineLevel = slog.LevelInfo
	}
	// The API's address is bound first: the embedded UI is told where the
	// codec endpoint is when it starts.
	apiListener, err := listenTCP("HTTP_ADDR", cfg.HTTPAddr)
	if err != nil {
		return nil, err
	}
	defer func() {
		if d.http == nil {
			_ = apiListener.Close()
		}
	}()
	uiAddr := cfg.TemporalUIAddr
	if uiAddr == "off" {
		uiAddr = ""
	}
	d.Temporal, err = devserver.Start(ctx, devserver.Options{
		CodecEndpoint:    localURL(apiListener.Addr().String()) + "/codec",
		FrontendAddr:     cfg.TemporalAddress,
		UIAddr:           uiAddr,
		DBPath:           cfg.TemporalDBPath,
		Namespace:        cfg.TemporalNamespace,
		SearchAttributes: workflows.SearchAttributes,
		Logger:           log,
		LogLevel:         engineLevel,
		// TEMPORAL_DATABASE_URL moves the engine from SQLite to Postgres.
		DatabaseURL:        cfg.Engine.DatabaseURL,
		VisibilityDatabase: cfg.Engine.VisibilityDatabase,
		HistoryShards:      cfg.Engine.HistoryShards,
		MaxConns:           cfg.Engine.MaxConns,
		ClusterAddr:        cfg.Engine.ClusterAddress,
		BroadcastAddr:      cfg.Engine.BroadcastAddress,
	})
	if err != nil {
		return nil, err
	}
	if d.DB, err = OpenDB(cfg, log); err != nil {
		return nil, err
	}
	if cfg.EmulatorAddr != "" && cfg.EmulatorAddr != "off" {
		if d.Emulator, d.EmulatorURL, err = startEmulator(cfg, log); err != nil {
			return nil, err
		}
		// Customers' files come from the emulator on loopback: exempt its
		// exact address (and only it) from the fetch address policy.
		allow, err := loopbackAddrs(d.EmulatorURL)
		if err != nil {
			return nil, err
		}
		cfg.MediaFetchAllowLoopback = append(cfg.MediaFetchAllowLoopback, allow...)
	}
	if d.Media, err = openMedia(cfg); err != nil {
		return nil, err
	}
	if d.Metrics, err = metrics.New(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	opts, err := temporalOptions(cfg, log, d.Metrics)
	if err != nil {
		return nil, err
	}
	// The embedded engine serves plaintext on its own address.
	opts.HostPort = d.Temporal.FrontendAddr()
	opts.ConnectionOptions, opts.Credentials = client.ConnectionOptions{}, nil
	if d.Client, err = client.DialContext(ctx, opts); err != nil {
		return nil, fmt.Errorf("dial embedded temporal: %w", err)
	}
	if err := watchMediaDisk(d.Metrics, d.Media); err != nil {
		return nil, err
	}
	if err := watchPolicyStreaks(d.Metrics, d.DB); err != nil {
		return nil, err
	}
	if err := watchBacklog(d.Metrics, d.Client, cfg); err != nil {
		return nil, err
	}
	if err := d.StartWorker(); err != nil {
		return nil, err
	}
	// The embedded UI's browser decodes payloads through the API's codec
	// endpoint with no token (docs/decisions.md §16).
	cfg.DevUIOrigins = d.Temporal.UIOrigins()
	if cfg.TemporalUIURL == "" {
		cfg.TemporalUIURL = d.Temporal.UIURL() // the console links workflows there
	}
	var events *agentevents.Listener
	if events, d.stopEvents, err = startEventListener(cfg, log); err != nil {
		return nil, err
	}
	e, err := newAPI(cfg, d.DB, d.Client, d.Media, events, log, d.Metrics)
	if err != nil {
		return nil, err
	}
	d.http = serveHTTP(apiListener, e, log)
	hbCtx, stop := context.WithCancel(context.Background())
	d.stopHeartbeat = stop
	d.heartbeatDone = make(chan struct{})
	go func() {
		defer close(d.heartbeatDone)
		runHeartbeat(hbCtx, d.DB, d.Client, cfg, log)
	}()
	return d, nil
}

// StartWorker starts a worker (with fresh activities) in this process; the
// dev stack starts one, and tests use it after StopWorker to play a
// restarted worker process.
func (d *Dev) StartWorker() error {
	acts, err := newActivities(d.cfg, d.DB, d.Media, d.log, d.Metrics)
	if err != nil {
		return err
	}
	acts.Inbound = newInboundSink(d.cfg, d.DB, d.Client, d.Metrics)
	w := worker.New(d.Client, d.cfg.TemporalTaskQueue, acts, d.cfg.ShutdownTimeout)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	d.Worker = w
	ensureRetention(d.Client, d.cfg, d.log)
	return nil
}

// StopWorker stops the worker: running activities get SHUTDOWN_TIMEOUT,
// then their contexts are cancelled and their results are lost to Temporal,
// which retries them on the next worker.
func (d *Dev) StopWorker() {
	if d.Worker != nil {
		d.Worker.Stop()
		d.Worker = nil
	}
}

// Stop shuts everything down in reverse order of start.
func (d *Dev) Stop() {
	if d.stopHeartbeat != nil {
		d.stopHeartbeat()
		<-d.heartbeatDone
		d.stopHeartbeat = nil
	}
	if d.http != nil {
		if err := d.http.shutdown(d.cfg.ShutdownTimeout); err != nil {
			d.log.Warn("http shutdown", "err", err)
		}
	}
	if d.stopEvents != nil {
		d.stopEvents()
		d.stopEvents = nil
	}
	if d.Worker != nil {
		d.Worker.Stop()
	}
	if d.Client != nil {
		d.Client.Close()
	}
	if d.Metrics != nil {
		_ = d.Metrics.Shutdown(context.Background())
	}
	if d.Emulator != nil {
		_ = d.Emulator.Close()
	}
	if d.Temporal != nil {
		d.Temporal.Stop()
	}
	if d.DB != nil {
		_ = models.Close(d.DB)
	}
}

// DevOptions are the flags of `connector dev`.
type DevOptions struct {
	// Demo configures a demo account, queue and agent on the emulator and
	// prints a curl that makes a customer write.
	Demo bool
}

// RunDev starts the dev stack, prints where everything is, and runs until ctx
// is done (Ctrl-C).
func RunDev(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer, opts DevOptions) error {
	start := time.Now()
	d, err := StartDev(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Stop()
	d.printBanner(out, time.Since(start))
	if opts.Demo {
		demo, err := d.SetupDemo(ctx)
		if err != nil {
			return fmt.Errorf("demo setup: %w", err)
		}
		d.printDemo(out, demo)
	}
	select {
	case <-ctx.Done():
	case err := <-d.http.done:
		if err != nil {
			return fmt.Errorf("http server: %w", err)
		}
		return errors.New("http server stopped")
	}
	log.Info("shutting down")
	return nil
}

func (d *Dev) printBanner(out io.Writer, took time.Duration) {
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(out, format, args...) }
	p("\nWhatsApp connector dev stack ready in %s\n\n", took.Round(time.Millisecond))
	p("  %-16s %s/console/ (sign in with the admin token below)\n", "Console:", d.APIURL())
	p("  %-16s %s\n", "API:", d.APIURL())
	p("  %-16s %s/readyz\n", "Ready check:", d.APIURL())
	p("  %-16s %s/metrics\n", "Metrics:", d.APIURL())
	p("  %-16s %s/codec (the embedded UI decodes payloads there; others send CODEC_TOKEN)\n", "Codec server:", d.APIURL())
	if u := d.Temporal.UIURL(); u != "" {
		p("  %-16s %s/namespaces/%s/workflows\n", "Temporal UI:", u, d.cfg.TemporalNamespace)
	}
	p("  %-16s %s (namespace %s, task queue %s)\n", "Temporal gRPC:", d.Temporal.FrontendAddr(), d.cfg.TemporalNamespace, d.cfg.TemporalTaskQueue)
	if d.EmulatorURL != "" {
		p("  %-16s %s (fake Sinch: OAuth2, messages:send, /emulator/...)\n", "Sinch emulator:", d.EmulatorURL)
	}
	p("  %-16s %s\n", "Database:", d.cfg.RedactedDatabaseURL())
	p("  %-16s %s\n", "Temporal data:", d.cfg.TemporalDBPath)
	p("  %-16s %s\n", "Admin token:", d.cfg.AdminToken)
	gen := make([]string, 0, len(d.cfg.Generated))
	for name, path := range d.cfg.Generated {
		gen = append(gen, name+" in "+path)
	}
	slices.Sort(gen)
	for _, g := range gen {
		p("  %-16s %s\n", "Generated:", g)
	}
	p("\nTry:  curl -H 'Authorization: Bearer %s' %s/api/diagnostics\n", d.cfg.AdminToken, d.APIURL())
	p("Stop with Ctrl-C.\n\n")
}

// loopbackAddrs are the loopback ip:port addresses of a local URL (both
// families for localhost).
func loopbackAddrs(rawURL string) ([]netip.AddrPort, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("emulator URL %q: %w", rawURL, err)
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		return nil, fmt.Errorf("emulator URL %q has no port", rawURL)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		ips = append(ips, ip)
	} else {
		ips = append(ips, netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback())
	}
	var out []netip.AddrPort
	for _, ip := range ips {
		if ip.IsUnspecified() {
			ip = netip.MustParseAddr("127.0.0.1")
		}
		if !ip.IsLoopback() {
			continue
		}
		out = append(out, netip.AddrPortFrom(ip, uint16(port)))
	}
	return out, nil
}
