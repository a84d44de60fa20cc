// Package app wires the connector's processes from a config.Config: the
// production api and worker, schema migration, and the all-in-one dev stack
// (embedded Temporal with its UI, SQLite, API and worker in one process).
// cmd/connector only parses flags and calls into here, so tests start exactly
// what users run.
//
// app owns no behaviour of its own: it builds the pieces (database, engine
// client, codec, metrics, API, worker) and starts and stops them. Nothing
// below it imports it; the harnesses (bench, faults) sit above it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/agentevents"
	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/inbound"
	"github.com/xcally-connector/connector/internal/logctx"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/web"
	"github.com/xcally-connector/connector/workflows"
)

// OpenDB opens DATABASE_URL and applies pending migrations.
func OpenDB(cfg *config.Config, log *slog.Logger) (*gorm.DB, error) {
	target, err := config.ParseDatabaseURL(cfg.DatabaseURL)
	if err != nil {
		return nil, &config.Error{Var: "DATABASE_URL", Msg: err.Error()}
	}
	db, err := models.Open(models.OpenOptions{Engine: models.Engine(target.Engine), DSN: target.DSN, Logger: log, MaxOpenConns: cfg.DatabaseMaxConns})
	if err != nil {
		return nil, err
	}
	if err := models.Migrate(db); err != nil {
		_ = models.Close(db)
		return nil, fmt.Errorf("database %s: %w", cfg.RedactedDatabaseURL(), err)
	}
	return db, nil
}

// Migrate applies the schema and exits.
func Migrate(cfg *config.Config, log *slog.Logger) error {
	db, err := OpenDB(cfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = models.Close(db) }()
	v, err := models.SchemaVersion(db)
	if err != nil {
		return err
	}
	log.Info("schema up to date", "version", v, "database", cfg.RedactedDatabaseURL())
	return nil
}

// temporalOptions are the client options shared by every process: the
// SDK's metrics go to the process's registry, and a request's log fields
// learn the workflow id it starts or signals.
func temporalOptions(cfg *config.Config, log *slog.Logger, m *metrics.Metrics) (client.Options, error) {
	dc, fc := piiConverters(cfg)
	opts := client.Options{
		HostPort:       cfg.TemporalAddress,
		Namespace:      cfg.TemporalNamespace,
		Logger:         sdklog.NewStructuredLogger(log.With("component", "temporal-sdk")),
		Identity:       identity(),
		MetricsHandler: m.TemporalHandler(),
		Interceptors:   []interceptor.ClientInterceptor{logctx.ClientInterceptor()},
		// Payloads and failure texts are encrypted before they reach Temporal.
		DataConverter: dc, FailureConverter: fc,
	}
	return opts, secureTemporal(&opts, cfg.TemporalTLS)
}

func identity() string {
	host, _ := os.Hostname()
	return host + "@" + strconv.Itoa(os.Getpid())
}

// secretBox is the AES-GCM box of SECRET_KEYS (or SECRET_KEY): the first
// key seals, every one opens.
func secretBox(cfg *config.Config) (*secretbox.Box, error) {
	ring := cfg.SecretKeyRing()
	keys := make([]secretbox.Key, len(ring))
	for i, k := range ring {
		keys[i] = secretbox.Key{ID: k.ID, Key: k.Key}
	}
	box, err := secretbox.NewKeys(keys)
	if err != nil {
		return nil, &config.Error{Var: "SECRET_KEYS", Msg: err.Error()}
	}
	return box, nil
}

// mediaSigner signs media URLs with the first key of SECRET_KEYS and
// accepts those of every key, so a rotation keeps the links already handed
// to Sinch valid until they expire. Config.Validate has checked there is a
// key.
func mediaSigner(cfg *config.Config) *media.Signer {
	ring := cfg.SecretKeyRing()
	previous := make([][]byte, 0, len(ring))
	for _, k := range ring[1:] {
		previous = append(previous, k.Key)
	}
	return media.NewSigner(ring[0].Key, previous...)
}

// openMedia opens the media store of MEDIA_DIR with its disk-space guard.
func openMedia(cfg *config.Config) (*media.FS, error) {
	fs, err := media.NewFS(cfg.MediaDir, uint64(cfg.MediaMinFreeBytes))
	if err != nil {
		return nil, &config.Error{Var: "MEDIA_DIR", Msg: err.Error()}
	}
	return fs, nil
}

func newActivities(cfg *config.Config, db *gorm.DB, store media.Store, log *slog.Logger, m *metrics.Metrics) (*activities.Activities, error) {
	box, err := secretBox(cfg)
	if err != nil {
		return nil, err
	}
	fetcher, err := media.NewFetcher(media.FetcherOptions{
		Timeout: cfg.MediaFetchTimeout, AllowLoopback: cfg.MediaFetchAllowLoopback, UserAgent: "xcally-whatsapp-connector",
	})
	if err != nil {
		return nil, &config.Error{Var: "MEDIA_FETCH_ALLOW_LOOPBACK", Msg: err.Error()}
	}
	return &activities.Activities{
		DB: db, Secrets: box, Logger: log, Identity: identity(),
		Tokens: sinch.NewTokenCache(nil, nil), DefaultSendRate: cfg.SinchSendRate,
		Media: store, Fetcher: fetcher, MediaSigner: mediaSigner(cfg),
		MediaURLTTL: cfg.MediaURLTTL, MediaMaxBytes: cfg.MediaMaxBytes,
		Metrics: m, AllowCustomURLs: cfg.SinchAllowCustomURLs,
	}, nil
}

func newAPI(cfg *config.Config, db *gorm.DB, tc client.Client, store media.Store, events *agentevents.Listener, log *slog.Logger, m *metrics.Metrics) (*echo.Echo, error) {
	box, err := secretBox(cfg)
	if err != nil {
		return nil, err
	}
	codec, err := piiCodec(cfg)
	if err != nil {
		return nil, err
	}
	e := api.New(api.Deps{
		Codec: codec, CodecToken: cfg.CodecToken, CodecCORSOrigins: cfg.CodecCORSOrigins, CodecDevOrigins: cfg.DevUIOrigins,

		Media:         store,
		MediaSigner:   mediaSigner(cfg),
		MediaMaxBytes: cfg.MediaMaxBytes,

		DB:         db,
		Temporal:   tc,
		Secrets:    box,
		Logger:     log,
		TaskQueue:  cfg.TemporalTaskQueue,
		AdminToken: cfg.AdminToken,
		PublicURL:  cfg.PublicURL,
		BodyLimit:  cfg.HTTPBodyLimit,

		WebhookTolerance:     cfg.WebhookTolerance,
		SinchAllowCustomURLs: cfg.SinchAllowCustomURLs,
		// The API reads and sets up accounts' Sinch apps itself, with the
		// same code the worker's migration step runs.
		SinchSide: &activities.Activities{
			DB: db, Secrets: box, Logger: log, Tokens: sinch.NewTokenCache(nil, nil),
			AllowCustomURLs: cfg.SinchAllowCustomURLs,
		},
		Conversations: conversationSettings(cfg),
		Migrations: workflows.MigrationSettings{
			ConfirmTimeout: cfg.MigrationConfirmTimeout, ReminderEvery: cfg.MigrationReminderEvery,
			FirstMessageTimeout: cfg.MigrationFirstMessageTimeout,
		},

		PolicyWarningStreak: cfg.PolicyWarningStreak,
		Diagnostics: api.DiagnosticsDeps{
			CheckTimeout: cfg.DiagnosticsCheckTimeout, CallbackMaxAge: cfg.DiagnosticsCallbackMaxAge,
		},
		Events: events,

		Metrics:      m,
		MetricsToken: cfg.MetricsToken,

		HTTPReadTimeout: cfg.HTTPReadTimeout, HTTPWriteTimeout: cfg.HTTPWriteTimeout,
		SSEMaxStreamsPerAgent: cfg.SSEMaxStreamsPerAgent,
		AuthFailureBurst:      cfg.AuthFailureBurst, AuthFailureEvery: cfg.AuthFailureEvery,
		TrustedProxies: cfg.TrustedProxies,
	})
	// The console, on the same server: it calls the API's handlers
	// in-process as the signed-in admin or agent.
	web.Register(e, web.Deps{
		DB: db, API: e, Logger: log,
		TemporalUIURL: cfg.TemporalUIURL, TemporalNamespace: cfg.TemporalNamespace,
		SessionIdle: cfg.ConsoleSessionIdle, SessionMax: cfg.ConsoleSessionMax,
	})
	return e, nil
}

// startEventListener starts, on Postgres, the listener that wakes the
// agents' SSE streams on NOTIFY (nil on SQLite, whose streams poll); stop
// ends it and waits for it.
func startEventListener(cfg *config.Config, log *slog.Logger) (_ *agentevents.Listener, stop func(), _ error) {
	target, err := config.ParseDatabaseURL(cfg.DatabaseURL)
	if err != nil || target.Engine != config.Postgres {
		return nil, func() {}, nil
	}
	l, err := agentevents.NewListener(target.DSN, log.With("component", "sse-listener"))
	if err != nil {
		return nil, nil, &config.Error{Var: "DATABASE_URL", Msg: err.Error()}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = l.Run(ctx) }()
	return l, func() { cancel(); <-l.Done() }, nil
}

// httpServer serves handler on a listener and shuts it down gracefully.
type httpServer struct {
	srv  *http.Server
	addr string
	done chan error
}

func listenHTTP(addr string, handler http.Handler, log *slog.Logger) (*httpServer, error) {
	return listenOn("HTTP_ADDR", addr, handler, log)
}

// listenOn is listenHTTP for the address of the variable name.
func listenOn(name, addr string, handler http.Handler, log *slog.Logger) (*httpServer, error) {
	l, err := listenTCP(name, addr)
	if err != nil {
		return nil, err
	}
	return serveHTTP(l, handler, log), nil
}

// listenTCP binds addr, the value of variable name; dev binds HTTP_ADDR
// before the API exists, so the embedded UI can be told the codec
// endpoint's URL.
func listenTCP(name, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &config.Error{Var: name, Msg: fmt.Sprintf("cannot listen on %s: %v", addr, err)}
	}
	return l, nil
}

// serveHTTP serves handler on l. The API (an echo) is served by its own
// Server, whose timeouts api.New set from HTTP_READ_TIMEOUT and
// HTTP_WRITE_TIMEOUT next to the handlers that lift them; any other
// handler (the worker's /metrics) gets the default ones.
func serveHTTP(l net.Listener, handler http.Handler, log *slog.Logger) *httpServer {
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       config.DefaultHTTPReadTimeout,
		WriteTimeout:      config.DefaultHTTPWriteTimeout,
		IdleTimeout:       120 * time.Second,
	}
	if e, ok := handler.(*echo.Echo); ok {
		srv = e.Server
	}
	srv.Handler, srv.ErrorLog = handler, slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	h := &httpServer{
		srv:  srv,
		addr: l.Addr().String(),
		done: make(chan error, 1),
	}
	go func() {
		err := h.srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		h.done <- err
	}()
	return h
}

// URL is the base URL of the listener as reachable from this machine.
func (h *httpServer) URL() string { return localURL(h.addr) }

// localURL is the http URL of a listen address as reachable from this
// machine.
func localURL(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func (h *httpServer) shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		return err
	}
	return <-h.done
}

// inboundSink hands reconciled messages to their conversations exactly as
// the webhook does, with the same settings, and counts them as received
// like the webhook's.
type inboundSink struct {
	inbox   inbound.Inbox
	metrics *metrics.Metrics
}

func newInboundSink(cfg *config.Config, db *gorm.DB, c client.Client, m *metrics.Metrics) *inboundSink {
	return &inboundSink{inbox: inbound.Inbox{DB: db, Temporal: c, TaskQueue: cfg.TemporalTaskQueue, Settings: conversationSettings(cfg)}, metrics: m}
}

// DeliverInbound hands the message to its conversation.
func (s *inboundSink) DeliverInbound(ctx context.Context, accountID uint64, accountName string, m sinch.InboundMessage, raw string) error {
	if err := s.inbox.Deliver(ctx, accountID, accountName, m, workflows.InboundSignalOf(m, raw, time.Now().UTC())); err != nil {
		return err
	}
	s.metrics.MessageIn(accountID, m.ChannelIdentity.Channel)
	return nil
}

// conversationSettings are the settings new conversations start with.
func conversationSettings(cfg *config.Config) workflows.ConversationSettings {
	return workflows.ConversationSettings{
		InactivityTimeout: cfg.InactivityTimeout, RoutingRecheck: cfg.RoutingRecheck,
		MaxResends: cfg.ReplyMaxResends, ResendBackoff: cfg.ReplyResendBackoff, SendTimeout: cfg.ReplySendTimeout,
		MediaFetchRetry: cfg.MediaFetchRetryFor, MediaFetchAttempt: cfg.MediaFetchTimeout,
		Identities: identities(cfg),
	}
}
