// Package api is the connector's HTTP surface: the Sinch webhook, the admin
// and agent API, and the health endpoints. New builds the echo server with
// its middleware, routes and the single error handler; handlers bind,
// validate, call and return an error.
package api

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/internal/logctx"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/internal/metrics"
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
	Events *EventListener
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
}

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
	// anything else metrics.Unmatched.
	routes map[string]bool
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
	s := &Server{deps: deps, log: logctx.Wrap(deps.Logger), diag: newDiagnosticsRuntime(deps.Diagnostics)}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
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
	e.Use(s.bodyLimit())

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/openapi.json", serveOpenAPI)
	// Sinch authenticates with the webhook secret, not the admin token.
	e.POST("/api/whatsapp/accounts/:id/notify", s.notify, s.webhookMetrics)
	s.registerInteractionRoutes(e)
	s.registerReconcileRoutes(e)
	s.registerMediaRoutes(e)
	s.registerMigrationRoutes(e)
	s.registerCodecRoutes(e)

	// Route-level auth (no /api group middleware): an unknown path under
	// /api answers 404, not an auth error.
	e.GET("/api/diagnostics", s.diagnostics, s.requireAdmin)
	s.registerConfigRoutes(e)
	if deps.Metrics != nil {
		// Prometheus scrapes with METRICS_TOKEN (or openly), not the admin token.
		e.GET("/metrics", s.serveMetrics())
	}
	s.routes = map[string]bool{}
	for _, r := range e.Routes() {
		s.routes[r.Path] = true
	}
	return e
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
			if c.Path() == "/api/interactions/:id/messages" && isMultipart(c) {
				limit = max(limit, s.mediaMax()+multipartOverhead)
			}
			req := c.Request()
			if req.ContentLength > limit {
				return errTooLarge(limit)
			}
			if req.Body != nil {
				req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
			}
			return next(c)
		}
	}
}

// requireAdmin accepts `Authorization: Bearer <ADMIN_TOKEN>` and records the
// admin as the Principal. No bearer token is a 401; any other token (an
// agent token included) is a 403.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	want := []byte(s.deps.AdminToken)
	return func(c echo.Context) error {
		tok, ok := bearerToken(c.Request())
		if !ok {
			return errUnauthorized("missing bearer token: send Authorization: Bearer <token>")
		}
		if subtle.ConstantTimeCompare([]byte(tok), want) != 1 {
			return errForbidden("the bearer token is not an admin token")
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
