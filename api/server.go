// Package api is the connector's HTTP surface: the Sinch webhook, the admin
// and agent API, and the health endpoints. New builds the echo server with
// its middleware, routes and the single error handler; handlers bind,
// validate, call and return an error.
//
// api only translates HTTP: configuration CRUD uses gorm directly, but
// every domain write goes through the package that owns it (inbound for
// callbacks, activities for attachment state, models for nonces) and
// every long-running change through a workflow. It never calls Sinch's
// REST API itself, and the diagnostics and the SSE listener it serves live
// in their own packages (diagnostics, agentevents).
package api

import (
	"crypto/subtle"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/agentevents"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/internal/logctx"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/internal/principal"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/workflows"
)

// Deps are the API's dependencies.
type Deps struct {
	DB       *gorm.DB
	Temporal client.Client
	Secrets  *secretbox.Box
	Logger   *slog.Logger
	// TaskQueue is where the API starts workflows.
	TaskQueue string
	// AdminToken authorises admin routes.
	AdminToken string
	// PublicURL is the externally reachable origin.
	PublicURL string
	// BodyLimit is the largest accepted request body in bytes.
	BodyLimit int64
	// ReadyTimeout bounds each dependency check of /readyz (default 2s).
	ReadyTimeout time.Duration
	// WebhookTolerance is the largest accepted age of a callback signature.
	WebhookTolerance time.Duration
	// SinchAllowCustomURLs lets accounts name baseUrl/authUrl hosts other
	// than Sinch's own (SINCH_ALLOW_CUSTOM_URLS; dev's emulator).
	SinchAllowCustomURLs bool
	// SinchSide reads and sets up accounts' Sinch apps and webhooks (GET
	// …/sinch, POST …/sinch/setup, the diagnostics' sinch_app check); nil
	// answers those 503.
	SinchSide SinchSide
	// Conversations are the settings new conversations start with
	// (inactivity, routing recheck, REPLY_*, MEDIA_FETCH_*); media fetch
	// retries started by the API use its MediaFetch* too.
	Conversations workflows.ConversationSettings
	// Migrations are the waits account migrations start with
	// (MIGRATION_*).
	Migrations workflows.MigrationSettings
	// PolicyWarningStreak is how many consecutive Meta policy failures
	// make an account warn that it may be blocked (default 3).
	PolicyWarningStreak int
	// Media stores attachments; MediaSigner verifies the signed URLs Sinch
	// fetches agents' files from; MediaMaxBytes is the connector's own
	// file size limit (MEDIA_MAX_BYTES).
	Media         media.Store
	MediaSigner   *media.Signer
	MediaMaxBytes int64
	// Diagnostics are the outside parts (HTTP client, TLS roots, clock,
	// limits) of GET /api/whatsapp/accounts/{id}/diagnostics.
	Diagnostics DiagnosticsDeps
	// Events wakes the agents' SSE streams on Postgres (LISTEN/NOTIFY; the
	// caller runs it); nil: streams poll agent_events every 250 ms.
	Events *agentevents.Listener
	// Metrics records HTTP and business metrics and is served on GET
	// /metrics (nil: nothing recorded, no route); MetricsToken, when set,
	// is the bearer token /metrics requires.
	Metrics      *metrics.Metrics
	MetricsToken string
	// Codec is the payload codec served at /codec/encode and /codec/decode
	// to CodecToken bearers and CodecCORSOrigins browsers; CodecDevOrigins
	// (dev's embedded UI only) may call it from loopback without a token.
	Codec            converter.PayloadCodec
	CodecToken       string
	CodecCORSOrigins []string
	CodecDevOrigins  []string

	// HTTPReadTimeout and HTTPWriteTimeout bound reading one request and
	// writing one response (HTTP_READ_TIMEOUT, HTTP_WRITE_TIMEOUT; default
	// 60s and 2m). New sets them on the returned echo's Server, the
	// http.Server that serves the API; agents' event streams and file
	// replies move their own deadlines.
	HTTPReadTimeout  time.Duration
	HTTPWriteTimeout time.Duration
	// SSEMaxStreamsPerAgent caps an agent's open event streams; one more
	// closes the oldest (SSE_MAX_STREAMS_PER_AGENT, default 5).
	SSEMaxStreamsPerAgent int
	// AuthFailureBurst authentication failures per client IP are allowed
	// at once, refilled at AuthFailureBurst per AuthFailureEvery
	// (AUTH_FAILURE_LIMIT); past them the client's authenticated requests
	// answer 429. 0 turns the limit off.
	AuthFailureBurst int
	AuthFailureEvery time.Duration
	// TrustedProxies are the networks whose X-Forwarded-For and X-Real-IP
	// are believed (TRUSTED_PROXIES); without any, a client's IP is its TCP
	// peer.
	TrustedProxies []netip.Prefix
	// Now is the clock of the auth-failure limit (nil: time.Now).
	Now func() time.Time
}

// Server settings besides HTTP_READ_TIMEOUT and HTTP_WRITE_TIMEOUT.
const (
	// readHeaderTimeout bounds reading a request's headers (a slow-loris
	// client sending them a byte at a time), never longer than the read
	// timeout.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes a keep-alive connection with no request.
	idleTimeout = 120 * time.Second
	// webhookRoute is Sinch's callback route.
	webhookRoute = "/api/whatsapp/accounts/:id/notify"
	// replyRoute takes agents' replies, files included.
	replyRoute = "/api/interactions/:id/messages"
	// minUploadRate is the slowest file upload (bytes per second) given
	// the time it needs: 128 KiB/s (1 Mbit/s, a poor mobile uplink) sends
	// the 100 MB MEDIA_MAX_BYTES in about 13 minutes.
	minUploadRate = 128 << 10
)

// Server holds the handlers' dependencies.
type Server struct {
	deps  Deps
	log   *slog.Logger
	nudge nudgeState
	// webhookHealth throttles the webhook's last-callback writes; diag
	// runs the account diagnostics.
	webhookHealth webhookHealthState
	diag          *diagnosticsRuntime
	// routes are the registered route templates: the HTTP metrics label
	// anything else metrics.Unmatched. publicRoutes ("METHOD /path") need
	// no authentication, so the auth-failure limit never refuses them.
	routes       map[string]bool
	publicRoutes map[string]bool
	// authFailures counts authentication failures per client (nil: no
	// limit); streams are the agents' open event streams.
	authFailures *authFailures
	streams      *streamRegistry
}

// New builds the echo instance with middleware and every route.
func New(deps Deps) *echo.Echo {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.ReadyTimeout == 0 {
		deps.ReadyTimeout = 2 * time.Second
	}
	if deps.BodyLimit == 0 {
		deps.BodyLimit = 1 << 20
	}
	if deps.WebhookTolerance == 0 {
		deps.WebhookTolerance = config.DefaultWebhookTolerance
	}
	if deps.PolicyWarningStreak <= 0 {
		deps.PolicyWarningStreak = config.DefaultPolicyStreak
	}
	if deps.HTTPReadTimeout <= 0 {
		deps.HTTPReadTimeout = config.DefaultHTTPReadTimeout
	}
	if deps.HTTPWriteTimeout <= 0 {
		deps.HTTPWriteTimeout = config.DefaultHTTPWriteTimeout
	}
	if deps.SSEMaxStreamsPerAgent <= 0 {
		deps.SSEMaxStreamsPerAgent = config.DefaultSSEMaxStreamsPerAgent
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Server{deps: deps, log: logctx.Wrap(deps.Logger), diag: newDiagnosticsRuntime(deps.Diagnostics),
		authFailures: newAuthFailures(deps.AuthFailureBurst, deps.AuthFailureEvery, deps.Now),
		streams:      newStreamRegistry(deps.SSEMaxStreamsPerAgent)}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = clientIP(deps.TrustedProxies)
	e.Server.ReadHeaderTimeout = min(readHeaderTimeout, deps.HTTPReadTimeout)
	e.Server.ReadTimeout = deps.HTTPReadTimeout
	e.Server.WriteTimeout = deps.HTTPWriteTimeout
	e.Server.IdleTimeout = idleTimeout
	e.Use(middleware.RequestID())
	e.Use(s.observe())
	e.Use(s.requestLogger())
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableErrorHandler: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic in handler", "err", err, "request_id", requestID(c), "stack", string(stack))
			return err
		},
	}))
	e.Use(s.limitAuthFailures())
	e.Use(s.bodyLimit())

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/openapi.json", serveOpenAPI)
	// Sinch authenticates with the webhook secret, not the admin token.
	e.POST(webhookRoute, s.notify, s.webhookMetrics)
	s.registerInteractionRoutes(e)
	s.registerReconcileRoutes(e)
	s.registerMediaRoutes(e)
	s.registerMigrationRoutes(e)
	s.registerAccountSinchRoutes(e)
	s.registerReportRoutes(e)
	s.registerAgentInboxRoutes(e)
	s.registerCodecRoutes(e)

	// Route-level auth (no /api group middleware): an unknown path under
	// /api answers 404, not an auth error.
	e.GET("/api/diagnostics", s.diagnostics, s.requireAdmin)
	e.GET("/api/whoami", s.whoami, s.requireAgentOrAdmin)
	s.registerConfigRoutes(e)
	if deps.Metrics != nil {
		// Prometheus scrapes with METRICS_TOKEN (or openly), not the admin token.
		e.GET("/metrics", s.serveMetrics())
	}
	s.routes = map[string]bool{}
	for _, r := range e.Routes() {
		s.routes[r.Path] = true
	}
	s.publicRoutes = map[string]bool{
		"GET /healthz": true, "GET /readyz": true, "GET /openapi.json": true,
		// Signed links Sinch fetches agents' files from; the webhook
		// target check of the account diagnostics.
		"GET /api/media/:token": true, "GET " + webhookRoute: true,
		"GET /metrics": deps.MetricsToken == "",
	}
	return e
}

// clientIP is the echo IPExtractor (c.RealIP: the request log's remote_ip,
// the auth-failure limit): the TCP peer, or, when the peer is one of the
// trusted proxies, the nearest address in X-Forwarded-For (else
// X-Real-IP) that is not. echo's extractors trust loopback, link-local
// and private networks by default: here only TRUSTED_PROXIES are.
func clientIP(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	xff, realIP := echo.ExtractIPFromXFFHeader(opts...), echo.ExtractIPFromRealIPHeader(opts...)
	return func(r *http.Request) string {
		if len(r.Header.Values(echo.HeaderXForwardedFor)) > 0 {
			return xff(r)
		}
		return realIP(r)
	}
}

// requestLogger logs one line per request with its id, status and latency.
func (s *Server) requestLogger() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURIPath: true, LogMethod: true, LogLatency: true,
		LogRequestID: true, LogError: true, LogRemoteIP: true,
		HandleError: true,
		Skipper: func(c echo.Context) bool {
			p := c.Path()
			return p == "/healthz" || p == "/readyz" || p == "/metrics"
		},
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			// Only the path is logged: query strings may carry tokens, and
			// the token of a media link (a credential) is cut off.
			path := v.URIPath
			if strings.HasPrefix(path, "/api/media/") {
				path = "/api/media/<token>"
			}
			s.log.LogAttrs(c.Request().Context(), level, "http request",
				slog.String("method", v.Method), slog.String("path", path),
				slog.Int("status", v.Status), slog.Duration("latency", v.Latency),
				slog.String("request_id", v.RequestID), slog.String("remote_ip", v.RemoteIP))
			return nil
		},
	})
}

// bodyLimit rejects bodies larger than BodyLimit with 413, both when the
// Content-Length says so and when a chunked body grows past it. A file
// reply (multipart) may be as large as the connector's media limit.
func (s *Server) bodyLimit() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			limit := s.deps.BodyLimit
			upload := c.Path() == replyRoute && isMultipart(c)
			if upload {
				limit = max(limit, s.mediaMax()+multipartOverhead)
			}
			req := c.Request()
			if req.ContentLength > limit {
				return errTooLarge(limit)
			}
			if req.Body != nil {
				req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
				if upload {
					req.Body = s.slowUpload(c, req.Body, limit)
				}
			}
			return next(c)
		}
	}
}

// slowUpload gives a file reply the time its size needs at minUploadRate
// on top of HTTP_READ_TIMEOUT (ReadTimeout alone would cut a 100 MB file
// sent at less than 1.7 MB/s), and HTTP_WRITE_TIMEOUT after that for the
// answer (its deadline runs from the end of the headers). The deadlines
// move when the handler starts reading the body, so only after the caller
// is authenticated and the interaction checked: an unauthenticated client
// keeps the short ones. The size is the Content-Length, else the limit.
func (s *Server) slowUpload(c echo.Context, body io.ReadCloser, limit int64) io.ReadCloser {
	size := limit
	if n := c.Request().ContentLength; n > 0 && n < limit {
		size = n
	}
	rc := http.NewResponseController(c.Response().Writer)
	u := &uploadBody{ReadCloser: body}
	u.extend = sync.OnceFunc(func() {
		read := time.Now().Add(s.deps.HTTPReadTimeout + time.Duration(size)*time.Second/minUploadRate)
		// A writer without deadlines (a test's recorder) has none to move.
		if rc.SetReadDeadline(read) == nil {
			_ = rc.SetWriteDeadline(read.Add(s.deps.HTTPWriteTimeout))
		}
	})
	return u
}

// uploadBody moves the connection's deadlines on its first read.
type uploadBody struct {
	io.ReadCloser
	extend func()
}

func (u *uploadBody) Read(p []byte) (int, error) {
	u.extend()
	return u.ReadCloser.Read(p)
}

// requireAdmin accepts `Authorization: Bearer <ADMIN_TOKEN>`, or the
// admin Principal an in-process caller (the console) put in the request's
// context, and records the admin as the Principal. No bearer token is a
// 401; any other token or Principal (an agent's included) is a 403.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	want := []byte(s.deps.AdminToken)
	return func(c echo.Context) error {
		if p, ok := principal.From(c.Request().Context()); ok {
			if !p.Admin {
				return errForbidden("this route is the admin's")
			}
			c.Set(principalKey, p)
			return next(c)
		}
		tok, ok := bearerToken(c.Request())
		if !ok {
			return errUnauthorized("missing bearer token: send Authorization: Bearer <token>")
		}
		if subtle.ConstantTimeCompare([]byte(tok), want) != 1 {
			err := errForbidden("the bearer token is not an admin token")
			err.Err = errWrongToken // an auth failure, see limitAuthFailures
			return err
		}
		c.Set(principalKey, Principal{Admin: true})
		return next(c)
	}
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get(echo.HeaderAuthorization)
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}
