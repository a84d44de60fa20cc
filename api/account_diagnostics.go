package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/diagnostics"
	"github.com/xcally-connector/connector/models"
)

// The account diagnostics live in package diagnostics; api registers their
// routes, translates HTTP and keeps these names of the wire format.

// Statuses of one account diagnostics check (diagnostics.CheckPass, …).
const (
	CheckPass = diagnostics.CheckPass
	CheckWarn = diagnostics.CheckWarn
	CheckFail = diagnostics.CheckFail
	CheckSkip = diagnostics.CheckSkip
)

// Names of the account diagnostics checks (diagnostics.CheckPublicURLTLS, …).
const (
	CheckPublicURLTLS     = diagnostics.CheckPublicURLTLS
	CheckReceiveURL       = diagnostics.CheckReceiveURL
	CheckWebhookSecret    = diagnostics.CheckWebhookSecret
	CheckLastCallback     = diagnostics.CheckLastCallback
	CheckSignatureFailure = diagnostics.CheckSignatureFailure
	CheckCredentials      = diagnostics.CheckCredentials
	CheckBaseURLRegion    = diagnostics.CheckBaseURLRegion
	CheckProcessingMode   = diagnostics.CheckProcessingMode
	CheckDiskSpace        = diagnostics.CheckDiskSpace
	CheckMediaProxy       = diagnostics.CheckMediaProxy
	CheckSendFailures     = diagnostics.CheckSendFailures
	CheckQualityRating    = diagnostics.CheckQualityRating
	CheckPolicyStreak     = diagnostics.CheckPolicyStreak
	CheckAccountStatus    = diagnostics.CheckAccountStatus
	CheckSinchApp         = diagnostics.CheckSinchApp
)

// ProbeHeader carries the signed token of the receive URL probe.
const ProbeHeader = diagnostics.ProbeHeader

// mediaProbeID is the reserved id of the media proxy probe's token.
const mediaProbeID = diagnostics.MediaProbeID

type (
	// AccountDiagnosticsResponse is the answer of GET
	// /api/whatsapp/accounts/{id}/diagnostics.
	AccountDiagnosticsResponse = diagnostics.AccountDiagnosticsResponse
	// DiagnosticCheck is the outcome of one troubleshooting check.
	DiagnosticCheck = diagnostics.DiagnosticCheck
	// ProbeResponse is what the connector answers to its own probes.
	ProbeResponse = diagnostics.ProbeResponse
	// DiagnosticsDeps are the outside parts of the account diagnostics
	// (HTTP client, TLS roots, limits, clock).
	DiagnosticsDeps = diagnostics.Options
)

// diagnosticsRuntime runs the account diagnostics; webhookHealthState
// records the webhook's verdicts for them.
type (
	diagnosticsRuntime = diagnostics.Runner
	webhookHealthState = diagnostics.WebhookHealth
)

func newDiagnosticsRuntime(d DiagnosticsDeps) *diagnosticsRuntime {
	return diagnostics.NewRunner(d)
}

// registerAccountDiagnosticsRoutes adds the account diagnostics (admin)
// and the receive URL probe (authenticated by its signed token only).
func (s *Server) registerAccountDiagnosticsRoutes(e *echo.Echo) {
	e.GET("/api/whatsapp/accounts/:id/diagnostics", s.accountDiagnostics, s.requireAdmin)
	// Sinch POSTs callbacks here; GET is only the diagnostics' probe.
	e.GET("/api/whatsapp/accounts/:id/notify", s.receiveProbe)
}

// accountDiagnostics handles GET /api/whatsapp/accounts/:id/diagnostics: it
// runs every check concurrently, each within CheckTimeout, and answers 200
// with their outcomes (404 for an unknown account).
func (s *Server) accountDiagnostics(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	acc, err := loadAccount(s.deps.DB.WithContext(ctx), id)
	if err != nil {
		return err
	}
	deps := diagnostics.Deps{DB: s.deps.DB, Secrets: s.deps.Secrets, Media: s.deps.Media, Signer: s.deps.MediaSigner,
		PolicyWarningStreak: s.deps.PolicyWarningStreak, Log: s.log}
	if s.deps.SinchSide != nil {
		deps.SinchApp = s.deps.SinchSide.InspectSinchApp
	}
	res := s.diag.Run(ctx, deps, acc, diagnosticsWarnings(toAccountResponse(acc, s.deps.PolicyWarningStreak).Warnings))
	s.log.InfoContext(ctx, "account diagnostics", "account_id", acc.ID, "status", res.Status, "request_id", requestID(c))
	return c.JSON(http.StatusOK, res)
}

// diagnosticsWarnings sorts the account's warnings, as GET
// /api/whatsapp/accounts/{id} shows them, for the checks.
func diagnosticsWarnings(warnings []string) diagnostics.Warnings {
	var w diagnostics.Warnings
	_, w.WebhookRefused = warningWith(warnings, WarningWebhookRefused)
	_, w.Unsigned = warningWith(warnings, WarningNoWebhookSecret)
	w.DispatchMode, _ = warningWith(warnings, WarningDispatchMode)
	w.MetaBlocked, _ = warningWith(warnings, WarningMetaBlocked)
	w.Status, _ = warningWith(warnings, WarningStatus+":")
	return w
}

// warningWith is the first account warning starting with prefix.
func warningWith(warnings []string, prefix string) (string, bool) {
	for _, w := range warnings {
		if strings.HasPrefix(w, prefix) {
			return w, true
		}
	}
	return "", false
}

// receiveProbe answers GET on the receive URL for a request carrying a
// receive probe token minted with this connector's SECRET_KEYS: the answer
// names the account, which proves the public URL reaches this deployment
// and this account. Anything else is a 401; Sinch only ever POSTs here.
func (s *Server) receiveProbe(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	tok := c.Request().Header.Get(ProbeHeader)
	if s.deps.MediaSigner == nil || tok == "" {
		return probeRefused()
	}
	if pid, err := s.deps.MediaSigner.Verify(tok, time.Now()); err != nil || pid != diagnostics.ReceiveProbeID {
		return probeRefused()
	}
	if err := s.deps.DB.WithContext(c.Request().Context()).First(&models.Account{}, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return &Error{Status: http.StatusNotFound, Code: "account_not_found", Message: fmt.Sprintf("no WhatsApp account %d: check the webhook target URL", id)}
		}
		return errUnavailable("database_unavailable", "cannot read the account", err)
	}
	return c.JSON(http.StatusOK, ProbeResponse{Probe: "receive", AccountID: id})
}

func probeRefused() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "probe_token_invalid",
		Message: "GET on a receive URL is the connector's diagnostics probe and needs a valid " + ProbeHeader + " token; Sinch POSTs callbacks here"}
}

// mediaProbe is serveMedia's answer to a valid media probe token.
func (s *Server) mediaProbe(c echo.Context) error {
	return c.JSON(http.StatusOK, ProbeResponse{Probe: "media"})
}

// recordWebhookHealth keeps what the signature check decided about a
// callback for the account's diagnostics: a verified one updates the last
// callback time (throttled by diagnostics.WebhookHealth), a refused one
// (401, a secret that cannot be decrypted, another app) is written every
// time; a failure of the database or the engine is not the signature's
// and is not recorded. It never fails the callback.
func (s *Server) recordWebhookHealth(accountID uint64, verifyErr error) {
	var err error
	if verifyErr == nil {
		err = s.webhookHealth.RecordVerified(s.deps.DB, accountID)
	} else {
		var e *Error
		if !errors.As(verifyErr, &e) || (e.Status != http.StatusUnauthorized && e.Code != "secret_unreadable" && e.Code != "app_id_mismatch") {
			return // the database or the engine failed, not the signature
		}
		err = s.webhookHealth.RecordRefused(s.deps.DB, accountID, e.Code, e.Message)
	}
	if err != nil {
		s.log.Warn("record webhook health", "account_id", accountID, "err", err)
	}
}
