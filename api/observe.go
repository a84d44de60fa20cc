package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xcally-connector/connector/internal/logctx"
	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/models"
)

// accountRoutes are the routes whose :id is an account id; their requests
// log account_id.
const accountRoutes = "/api/whatsapp/accounts/:id"

// Context keys the webhook leaves for webhookMetrics.
const (
	webhookTriggerKey = "webhook.trigger"
	webhookStatusKey  = "webhook.status"
)

// rawCallbackLogLimit bounds the redacted callback body of a debug log.
const rawCallbackLogLimit = 16 << 10

// observe puts the request's log fields (request_id; account_id on account
// routes; workflow_id once the handler starts or signals a workflow, see
// logctx.ClientInterceptor) in its context, and records its HTTP metrics by
// route template, never by raw path.
func (s *Server) observe() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			req := c.Request()
			attrs := []slog.Attr{slog.String("request_id", requestID(c))}
			if p := c.Path(); p == accountRoutes || strings.HasPrefix(p, accountRoutes+"/") {
				if id, err := strconv.ParseUint(c.Param("id"), 10, 64); err == nil {
					attrs = append(attrs, slog.Uint64("account_id", id))
				}
			}
			c.SetRequest(req.WithContext(logctx.With(req.Context(), attrs...)))
			err := next(c)
			route := c.Path()
			if !s.routes[route] {
				route = metrics.Unmatched
			}
			status := c.Response().Status
			if !c.Response().Committed && err != nil {
				status = s.classify(err).Status
			}
			s.deps.Metrics.HTTPRequest(req.Method, route, status, time.Since(start))
			return err
		}
	}
}

// serveMetrics is GET /metrics (Prometheus text format), behind
// METRICS_TOKEN when it is set.
func (s *Server) serveMetrics() echo.HandlerFunc {
	h := s.deps.Metrics.Handler(s.deps.MetricsToken)
	return echo.WrapHandler(h)
}

// webhookMetrics counts Sinch callbacks by trigger and outcome.
func (s *Server) webhookMetrics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		trigger, _ := c.Get(webhookTriggerKey).(string)
		s.deps.Metrics.Webhook(trigger, webhookOutcome(c, err))
		return err
	}
}

// webhookOutcome names what became of a callback, from the error the
// webhook returned (or the status it answered).
func webhookOutcome(c echo.Context, err error) string {
	if err == nil {
		if st, _ := c.Get(webhookStatusKey).(string); st == "ignored" {
			return metrics.WebhookIgnored
		}
		return metrics.WebhookAccepted
	}
	var e *Error
	if !errors.As(err, &e) {
		return metrics.WebhookError
	}
	switch {
	case e.Code == "account_not_found":
		return metrics.WebhookUnknownAccount
	case e.Code == "nonce_replayed":
		return metrics.WebhookDuplicate
	case strings.HasPrefix(e.Code, "signature_"), strings.HasPrefix(e.Code, "timestamp_"):
		return metrics.WebhookBadSignature
	case e.Code == "malformed_callback":
		return metrics.WebhookDecodeError
	case e.Code == "app_id_mismatch":
		return metrics.WebhookAppMismatch
	case e.Status == http.StatusServiceUnavailable:
		return metrics.WebhookUnavailable
	}
	return metrics.WebhookError
}

// traceCallback is the "set the account to debug and check the logs" of
// Motion's Sinch V2 guide: for an account whose debug flag is on, the rest of the request
// logs at debug level whatever LOG_LEVEL says, starting with the raw
// callback, its credentials (signature, tokens, secrets, keys,
// authorization, media URL queries) redacted. Other accounts log no body.
func (s *Server) traceCallback(c echo.Context, acc models.Account, body []byte) {
	if !acc.Debug {
		return
	}
	req := c.Request()
	ctx := logctx.ForceDebug(req.Context())
	c.SetRequest(req.WithContext(ctx))
	s.log.DebugContext(ctx, "sinch callback (account debug on)", "account_id", acc.ID,
		"headers", logctx.RedactHeaders(req.Header), "body", truncate(logctx.RedactJSON(body), rawCallbackLogLimit))
}
