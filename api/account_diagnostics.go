package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/models"
)

// Statuses of one account diagnostics check; the account's status is the
// worst of them (skip counts as pass).
const (
	CheckPass = "pass"
	CheckWarn = "warn"
	CheckFail = "fail"
	CheckSkip = "skip"
)

// Names of the account diagnostics checks, in the order they are listed.
const (
	CheckPublicURLTLS     = "public_url_tls"
	CheckReceiveURL       = "receive_url"
	CheckWebhookSecret    = "webhook_secret"
	CheckLastCallback     = "last_callback"
	CheckSignatureFailure = "signature_failure"
	CheckCredentials      = "credentials"
	CheckBaseURLRegion    = "base_url_region"
	CheckProcessingMode   = "processing_mode"
	CheckDiskSpace        = "disk_space"
	CheckMediaProxy       = "media_proxy"
	CheckSendFailures     = "send_failures"
	CheckQualityRating    = "quality_rating"
	CheckPolicyStreak     = "policy_streak"
	CheckAccountStatus    = "account_status"
)

// ProbeHeader carries the signed token of the receive URL probe.
const ProbeHeader = "X-Connector-Probe"

// Reserved ids of the probe tokens, minted with the media signer. No
// attachment has them (ids are far below 2^63), so a probe token can never
// serve a file, and a media token can never pass as a receive probe.
const (
	mediaProbeID   uint64 = math.MaxUint64
	receiveProbeID uint64 = math.MaxUint64 - 1
	// probeTokenTTL is the life of a probe token: one diagnostics run.
	probeTokenTTL = 2 * time.Minute
	// webhookHealthEvery spaces the writes of an account's last callback
	// time: the webhook's hot path writes at most once per account per it.
	webhookHealthEvery = 5 * time.Second
	// probeBodyLimit bounds what a probe reads of an answer.
	probeBodyLimit = 64 << 10
)

// AccountDiagnosticsResponse is the answer of GET
// /api/whatsapp/accounts/{id}/diagnostics.
type AccountDiagnosticsResponse struct {
	AccountID uint64    `json:"accountId"`
	CheckedAt time.Time `json:"checkedAt"`
	// Status is the worst status of the checks: pass, warn or fail.
	Status string            `json:"status"`
	Checks []DiagnosticCheck `json:"checks"`
}

// DiagnosticCheck is the outcome of one troubleshooting check.
type DiagnosticCheck struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// Message says what was found; Fix, on every check but a pass, says
	// exactly what to change (setting, Sinch dashboard field, API call).
	Message    string  `json:"message"`
	Fix        string  `json:"fix"`
	DurationMs float64 `json:"durationMs"`
}

// ProbeResponse is what the connector answers to its own probes (GET on
// the receive URL with ProbeHeader, GET /api/media/{probe token}).
type ProbeResponse struct {
	// Probe is "receive" or "media".
	Probe     string `json:"probe"`
	AccountID uint64 `json:"accountId,omitempty"`
}

// DiagnosticsDeps are the outside parts of the account diagnostics,
// injectable so tests can use their own CA and the Sinch emulator.
type DiagnosticsDeps struct {
	// HTTPClient sends the probes through the public URL and the OAuth2
	// token request (nil: a client on TLSConfig). Redirects are never
	// followed: Sinch does not follow them either.
	HTTPClient *http.Client
	// TLSConfig is the base of the certificate check and of the default
	// client (nil: the system roots).
	TLSConfig *tls.Config
	// CheckTimeout bounds each check (DIAGNOSTICS_CHECK_TIMEOUT).
	CheckTimeout time.Duration
	// CallbackMaxAge is how long an account may go without a verified
	// callback before it warns (DIAGNOSTICS_CALLBACK_MAX_AGE).
	CallbackMaxAge time.Duration
	// Now reads the clock (nil: time.Now).
	Now func() time.Time
}

// diagnosticsRuntime is DiagnosticsDeps with defaults applied and the
// HTTP client built once (its connection pool is reused across runs).
type diagnosticsRuntime struct {
	DiagnosticsDeps
	client *http.Client
}

func newDiagnosticsRuntime(d DiagnosticsDeps) *diagnosticsRuntime {
	if d.CheckTimeout <= 0 {
		d.CheckTimeout = config.DefaultDiagnosticsCheckTimeout
	}
	if d.CallbackMaxAge <= 0 {
		d.CallbackMaxAge = config.DefaultDiagnosticsCallbackMaxAge
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	var c http.Client
	if d.HTTPClient != nil {
		c = *d.HTTPClient
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if d.TLSConfig != nil {
			tr.TLSClientConfig = d.TLSConfig.Clone()
		}
		c.Transport = tr
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &diagnosticsRuntime{DiagnosticsDeps: d, client: &c}
}

// registerAccountDiagnosticsRoutes adds the account diagnostics (admin)
// and the receive URL probe (authenticated by its signed token only).
func (s *Server) registerAccountDiagnosticsRoutes(e *echo.Echo) {
	e.GET("/api/whatsapp/accounts/:id/diagnostics", s.accountDiagnostics, s.requireAdmin)
	// Sinch POSTs callbacks here; GET is only the diagnostics' probe.
	e.GET("/api/whatsapp/accounts/:id/notify", s.receiveProbe)
}

// diagCheck is one troubleshooting check: run returns its outcome; hint is
// the fix when it times out.
type diagCheck struct {
	name string
	run  func(ctx context.Context, d *diagRun) checkResult
	hint string
}

// checkResult is a check's status, message and fix.
type checkResult struct{ status, message, fix string }

func pass(format string, args ...any) checkResult {
	return checkResult{status: CheckPass, message: fmt.Sprintf(format, args...)}
}

func warn(fix, format string, args ...any) checkResult {
	return checkResult{status: CheckWarn, message: fmt.Sprintf(format, args...), fix: fix}
}

func fail(fix, format string, args ...any) checkResult {
	return checkResult{status: CheckFail, message: fmt.Sprintf(format, args...), fix: fix}
}

func skip(fix, format string, args ...any) checkResult {
	return checkResult{status: CheckSkip, message: fmt.Sprintf(format, args...), fix: fix}
}

// diagRun is what every check of one run reads: the account, its warnings
// as GET /api/whatsapp/accounts/{id} shows them, and the time of the run.
type diagRun struct {
	s        *Server
	acc      models.Account
	warnings []string
	now      time.Time
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
	d := &diagRun{s: s, acc: acc, now: s.diag.Now().UTC(),
		warnings: toAccountResponse(acc, s.deps.PolicyWarningStreak).Warnings}
	checks := s.runChecks(ctx, d, s.accountChecks())
	status := CheckPass
	for _, ch := range checks {
		status = worse(status, ch.Status)
	}
	s.log.InfoContext(ctx, "account diagnostics", "account_id", acc.ID, "status", status, "request_id", requestID(c))
	return c.JSON(http.StatusOK, AccountDiagnosticsResponse{AccountID: acc.ID, CheckedAt: d.now, Status: status, Checks: checks})
}

// runChecks runs the checks concurrently; a check still running after
// CheckTimeout fails with "timed out" (its context is cancelled).
func (s *Server) runChecks(ctx context.Context, d *diagRun, checks []diagCheck) []DiagnosticCheck {
	timeout := s.diag.CheckTimeout
	out := make([]DiagnosticCheck, len(checks))
	var wg sync.WaitGroup
	for i, ch := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			done := make(chan checkResult, 1)
			go func() {
				defer func() {
					if r := recover(); r != nil {
						s.log.Error("account diagnostics check panicked", "check", ch.name, "account_id", d.acc.ID, "panic", r)
						done <- fail("report this to XCALLY support with the connector's logs", "the check crashed: %v", r)
					}
				}()
				done <- ch.run(cctx, d)
			}()
			var r checkResult
			select {
			case r = <-done:
			case <-cctx.Done():
			}
			// A check that ended with its deadline reports the timeout,
			// not the error its cancelled call returned.
			if errors.Is(cctx.Err(), context.DeadlineExceeded) {
				r = fail(fmt.Sprintf("%s (the limit is DIAGNOSTICS_CHECK_TIMEOUT)", ch.hint), "timed out after %s", timeout)
			}
			out[i] = DiagnosticCheck{Name: ch.name, Status: r.status, Message: r.message, Fix: r.fix,
				DurationMs: float64(time.Since(start).Microseconds()) / 1000}
		})
	}
	wg.Wait()
	return out
}

// worse is the worse of two statuses: fail > warn > pass; skip is a pass.
func worse(a, b string) string {
	rank := map[string]int{CheckPass: 0, CheckSkip: 0, CheckWarn: 1, CheckFail: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
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
	if pid, err := s.deps.MediaSigner.Verify(tok, time.Now()); err != nil || pid != receiveProbeID {
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

// webhookHealthState throttles the last-callback writes: per account, the
// Unix nanoseconds of the latest write.
type webhookHealthState struct {
	lastWrite sync.Map // uint64 → *atomic.Int64
}

// due reports whether a success write is due for the account now, and
// claims it.
func (h *webhookHealthState) due(accountID uint64, now time.Time) bool {
	v, _ := h.lastWrite.LoadOrStore(accountID, new(atomic.Int64))
	last := v.(*atomic.Int64)
	prev := last.Load()
	if prev != 0 && now.UnixNano()-prev < int64(webhookHealthEvery) {
		return false
	}
	return last.CompareAndSwap(prev, now.UnixNano())
}

// recordWebhookHealth keeps what the signature check decided about a
// callback for the account's diagnostics: a verified one updates the last
// callback time (at most every webhookHealthEvery), a refused one (401, or
// a secret that cannot be decrypted) is written every time. It never fails
// the callback.
func (s *Server) recordWebhookHealth(accountID uint64, verifyErr error) {
	now := time.Now().UTC()
	row := models.WebhookHealth{AccountID: accountID, UpdatedAt: now}
	var set clause.Set
	if verifyErr == nil {
		if !s.webhookHealth.due(accountID, now) {
			return
		}
		row.LastCallbackAt = &now
		set = clause.AssignmentColumns([]string{"last_callback_at", "updated_at"})
	} else {
		var e *Error
		if !errors.As(verifyErr, &e) || (e.Status != http.StatusUnauthorized && e.Code != "secret_unreadable" && e.Code != "app_id_mismatch") {
			return // the database or the engine failed, not the signature
		}
		// The next verified callback is written at once, so the
		// diagnostics see whether callbacks pass again after a failure.
		s.webhookHealth.lastWrite.Delete(accountID)
		row.LastSignatureFailureAt, row.LastSignatureFailureCode, row.LastSignatureFailureReason = &now, e.Code, e.Message
		row.SignatureFailures = 1
		set = append(clause.AssignmentColumns([]string{"last_signature_failure_at", "last_signature_failure_code", "last_signature_failure_reason", "updated_at"}),
			clause.Assignment{Column: clause.Column{Name: "signature_failures"}, Value: gorm.Expr("account_webhook_health.signature_failures + 1")})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.deps.DB.WithContext(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "account_id"}}, DoUpdates: set}).Create(&row).Error
	if err != nil {
		s.log.Warn("record webhook health", "account_id", accountID, "err", err)
	}
}
