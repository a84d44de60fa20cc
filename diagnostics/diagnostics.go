// Package diagnostics owns the account diagnostics: the troubleshooting
// checks of Motion's Sinch V2 guide for one WhatsApp account (TLS and HTTP
// probes of its public URL, webhook secret, last callback, signature
// failures, Sinch credentials, region, processing mode, disk space, send
// failures, quality rating, policy streak, account status), the Runner that
// runs them concurrently within a time limit each, and the webhook-health
// row the webhook's signature check feeds (WebhookHealth).
//
// It reads, probes and reports: it never changes an account, never sends
// anything to a customer, and its only write is the account_webhook_health
// row. It knows nothing of HTTP routing or of the API's errors: package api
// parses the request, loads the account, hands its warnings over and writes
// the answer; this package must not import api, app, worker, inbound or
// workflows.
package diagnostics

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinchsetup"
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
	CheckSinchApp         = "sinch_app"
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

// Options are the outside parts of the account diagnostics, injectable so
// tests can use their own CA and the Sinch emulator.
type Options struct {
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

// Deps are what the checks read besides the probes.
type Deps struct {
	// DB holds the account's webhook health, messages and events.
	DB *gorm.DB
	// Secrets opens the account's webhook and key secrets (nil: those
	// checks are skipped).
	Secrets *secretbox.Box
	// Media is the attachment store whose free space is checked (nil:
	// skipped); Signer mints the probe tokens (nil: probes skipped).
	Media  media.Store
	Signer *media.Signer
	// PolicyWarningStreak is POLICY_WARNING_STREAK, named in the policy
	// streak check's message.
	PolicyWarningStreak int
	// Log reports a check that panicked (nil: discarded).
	Log *slog.Logger
	// SinchApp reads the account's Sinch app and webhooks live (nil: the
	// sinch_app check is skipped).
	SinchApp func(ctx context.Context, accountID uint64) (sinchsetup.Report, error)
}

// Warnings are the account's warnings, as GET /api/whatsapp/accounts/{id}
// shows them, that the checks report; each string is the warning's text,
// "" when the account does not have it.
type Warnings struct {
	// WebhookRefused: no webhook secret and unsigned callbacks are not
	// allowed, so every callback is refused.
	WebhookRefused bool
	// Unsigned: no webhook secret, and unsigned callbacks are allowed.
	Unsigned bool
	// DispatchMode: the latest callback came in DISPATCH mode.
	DispatchMode string
	// MetaBlocked: a streak of Meta policy failures.
	MetaBlocked string
	// Status: the account is not active (migrated or disabled).
	Status string
}

// Runner runs the account checks. It is Options with defaults applied and
// the HTTP client built once (its connection pool is reused across runs);
// it is safe for concurrent runs.
type Runner struct {
	opts   Options
	client *http.Client
}

// NewRunner applies the defaults of o (config's DIAGNOSTICS_* defaults,
// time.Now) and builds the probes' HTTP client.
func NewRunner(o Options) *Runner {
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = config.DefaultDiagnosticsCheckTimeout
	}
	if o.CallbackMaxAge <= 0 {
		o.CallbackMaxAge = config.DefaultDiagnosticsCallbackMaxAge
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var c http.Client
	if o.HTTPClient != nil {
		c = *o.HTTPClient
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if o.TLSConfig != nil {
			tr.TLSClientConfig = o.TLSConfig.Clone()
		}
		c.Transport = tr
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Runner{opts: o, client: &c}
}

// Run runs every check on acc concurrently, each within CheckTimeout, and
// returns their outcomes in report order; the status is the worst of them.
func (r *Runner) Run(ctx context.Context, deps Deps, acc models.Account, warnings Warnings) AccountDiagnosticsResponse {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	d := &run{r: r, deps: deps, acc: acc, warnings: warnings, now: r.opts.Now().UTC()}
	checks := r.runChecks(ctx, d, accountChecks())
	status := CheckPass
	for _, ch := range checks {
		status = worse(status, ch.Status)
	}
	return AccountDiagnosticsResponse{AccountID: acc.ID, CheckedAt: d.now, Status: status, Checks: checks}
}

// check is one troubleshooting check: run returns its outcome; hint is the
// fix when it times out.
type check struct {
	name string
	run  func(ctx context.Context, d *run) checkResult
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

// run is what every check of one run reads: the runner, the deps, the
// account, its warnings and the time of the run.
type run struct {
	r        *Runner
	deps     Deps
	acc      models.Account
	warnings Warnings
	now      time.Time
}

// accountChecks are the troubleshooting checks of Motion's Sinch V2 guide,
// in report order.
func accountChecks() []check {
	return []check{
		{CheckPublicURLTLS, checkPublicURLTLS, "check that the publicUrl host resolves and accepts https connections from the connector"},
		{CheckReceiveURL, checkReceiveURL, "check that the proxy forwards /api/whatsapp/accounts/{id}/notify of the publicUrl to the connector"},
		{CheckWebhookSecret, checkWebhookSecret, "retry; the database did not answer in time"},
		{CheckLastCallback, checkLastCallback, "retry; the database did not answer in time"},
		{CheckSignatureFailure, checkSignatureFailure, "retry; the database did not answer in time"},
		{CheckCredentials, checkCredentials, "check outbound https from the connector to the account's authUrl (firewall, proxy)"},
		{CheckBaseURLRegion, checkBaseURLRegion, "retry"},
		{CheckProcessingMode, checkProcessingMode, "retry"},
		{CheckSinchApp, checkSinchApp, "check outbound https from the connector to the account's baseUrl (firewall, proxy); retry later if Sinch is unavailable"},
		{CheckDiskSpace, checkDiskSpace, "check MEDIA_DIR: its file system does not answer (a hung network mount?)"},
		{CheckMediaProxy, checkMediaProxy, "check that the proxy forwards /api/media/* of the publicUrl to the connector"},
		{CheckSendFailures, checkSendFailures, "retry; the database did not answer in time"},
		{CheckQualityRating, checkQualityRating, "retry"},
		{CheckPolicyStreak, checkPolicyStreak, "retry"},
		{CheckAccountStatus, checkAccountStatus, "retry; the database did not answer in time"},
	}
}

// runChecks runs the checks concurrently; a check still running after
// CheckTimeout fails with "timed out" (its context is cancelled), and a
// check that panics fails with the panic.
func (r *Runner) runChecks(ctx context.Context, d *run, checks []check) []DiagnosticCheck {
	timeout := r.opts.CheckTimeout
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
					if p := recover(); p != nil {
						d.deps.Log.Error("account diagnostics check panicked", "check", ch.name, "account_id", d.acc.ID, "panic", p)
						done <- fail("report this to XCALLY support with the connector's logs", "the check crashed: %v", p)
					}
				}()
				done <- ch.run(cctx, d)
			}()
			var res checkResult
			select {
			case res = <-done:
			case <-cctx.Done():
			}
			// A check that ended with its deadline reports the timeout,
			// not the error its cancelled call returned.
			if errors.Is(cctx.Err(), context.DeadlineExceeded) {
				res = fail(fmt.Sprintf("%s (the limit is DIAGNOSTICS_CHECK_TIMEOUT)", ch.hint), "timed out after %s", timeout)
			}
			out[i] = DiagnosticCheck{Name: ch.name, Status: res.status, Message: res.message, Fix: res.fix,
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
