package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
)

// Thresholds of the checks.
const (
	// certRenewWithin: a certificate expiring sooner warns.
	certRenewWithin = 14 * 24 * time.Hour
	// sendFailureWindow is how far back send failures are grouped (Motion's
	// Sinch V2 guide: "check Sinch analytics failed messages").
	sendFailureWindow = 24 * time.Hour
	// maxFailureGroups bounds the (class, code) groups reported.
	maxFailureGroups = 20
)

// fixPublicURL is how to change the public URL.
const fixPublicURL = "set the account's publicUrl to the https origin of your proxy or Motion domain: PATCH /api/whatsapp/accounts/{id} {\"publicUrl\":\"https://motion.example.com\"}"

// accountChecks are the troubleshooting checks of Motion's Sinch V2 guide,
// in report order.
func (s *Server) accountChecks() []diagCheck {
	return []diagCheck{
		{CheckPublicURLTLS, checkPublicURLTLS, "check that the publicUrl host resolves and accepts https connections from the connector"},
		{CheckReceiveURL, checkReceiveURL, "check that the proxy forwards /api/whatsapp/accounts/{id}/notify of the publicUrl to the connector"},
		{CheckWebhookSecret, checkWebhookSecret, "retry; the database did not answer in time"},
		{CheckLastCallback, checkLastCallback, "retry; the database did not answer in time"},
		{CheckSignatureFailure, checkSignatureFailure, "retry; the database did not answer in time"},
		{CheckCredentials, checkCredentials, "check outbound https from the connector to the account's authUrl (firewall, proxy)"},
		{CheckBaseURLRegion, checkBaseURLRegion, "retry"},
		{CheckProcessingMode, checkProcessingMode, "retry"},
		{CheckDiskSpace, checkDiskSpace, "check MEDIA_DIR: its file system does not answer (a hung network mount?)"},
		{CheckMediaProxy, checkMediaProxy, "check that the proxy forwards /api/media/* of the publicUrl to the connector"},
		{CheckSendFailures, checkSendFailures, "retry; the database did not answer in time"},
		{CheckQualityRating, checkQualityRating, "retry"},
		{CheckPolicyStreak, checkPolicyStreak, "retry"},
		{CheckAccountStatus, checkAccountStatus, "retry; the database did not answer in time"},
	}
}

// checkPublicURLTLS makes a verified TLS handshake with the public URL's
// host, as Sinch does before each callback and media fetch.
func checkPublicURLTLS(ctx context.Context, d *diagRun) checkResult {
	u, err := url.Parse(d.acc.PublicURL)
	if err != nil || u.Hostname() == "" {
		return fail(fixPublicURL, "publicUrl %q is not an absolute URL", d.acc.PublicURL)
	}
	host := u.Hostname()
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if isLoopbackHost(host) {
			return skip("in production "+fixPublicURL, "publicUrl %s is http on a loopback host (dev): Sinch cannot reach it and there is no certificate to check", d.acc.PublicURL)
		}
		return fail(fixPublicURL, "publicUrl %s is http: Sinch delivers callbacks and fetches media over https only", d.acc.PublicURL)
	default:
		return fail(fixPublicURL, "publicUrl %s has scheme %q: want https", d.acc.PublicURL, u.Scheme)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if base := d.s.diag.TLSConfig; base != nil {
		cfg = base.Clone()
	}
	cfg.ServerName, cfg.InsecureSkipVerify = host, false
	dialer := tls.Dialer{Config: cfg}
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return tlsFailure(host, port, err)
	}
	defer conn.Close()
	state := conn.(*tls.Conn).ConnectionState()
	leaf := state.PeerCertificates[0]
	issuer := leaf.Issuer.CommonName
	if issuer == "" && len(leaf.Issuer.Organization) > 0 {
		issuer = leaf.Issuer.Organization[0]
	}
	left := leaf.NotAfter.Sub(d.now)
	if left < certRenewWithin {
		return warn(fmt.Sprintf("renew the certificate of %s on the proxy (e.g. certbot renew) before it expires; Sinch refuses expired certificates", host),
			"the certificate of %s is valid but expires on %s (in %s)", host, leaf.NotAfter.UTC().Format(time.RFC3339), left.Round(time.Hour))
	}
	return pass("verified certificate chain for %s (%s, issued by %s, expires %s)", host, tls.VersionName(state.Version), issuer, leaf.NotAfter.UTC().Format("2006-01-02"))
}

// tlsFailure explains a failed handshake.
func tlsFailure(host, port string, err error) checkResult {
	fixChain := fmt.Sprintf("install on the proxy of %s a certificate from a public CA (e.g. Let's Encrypt) for that name, with its intermediate certificates (the full chain); Sinch refuses self-signed and incomplete chains", host)
	var unknown x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknown):
		return fail(fixChain, "the certificate of %s is signed by an unknown authority (self-signed, or the intermediate certificates are missing): %v", host, err)
	case errors.As(err, &hostErr):
		return fail(fixChain, "the certificate of %s is not valid for that name: %v", host, err)
	case errors.As(err, &invalid):
		return fail(fixChain, "the certificate of %s is not valid: %v", host, err)
	case errors.As(err, &verify):
		return fail(fixChain, "the certificate of %s does not verify: %v", host, err)
	}
	return fail(fmt.Sprintf("check that %s resolves to the proxy and that port %s accepts TLS from the internet (firewall, DNS); %s", host, port, fixPublicURL),
		"no TLS handshake with %s:%s: %v", host, port, err)
}

// checkReceiveURL sends the receive probe (GET with a token signed by this
// connector's key) to the account's receive URL through the public URL.
// Only this deployment can verify the token, and the answer names the
// account, so a 200 proves the path Sinch uses reaches this connector and
// this account. A real unsigned POST would have done it too, but it would
// be recorded as a signature failure and, without a webhook secret, be
// handled as a callback.
func checkReceiveURL(ctx context.Context, d *diagRun) checkResult {
	recv := activities.ReceiveURL(strings.TrimRight(d.acc.PublicURL, "/"), d.acc.ID)
	signer := d.s.deps.MediaSigner
	if signer == nil {
		return skip("configure SECRET_KEYS on the api process", "this API has no token signer, so it cannot probe %s", recv)
	}
	tok := signer.Mint(receiveProbeID, d.now.Add(probeTokenTTL))
	webhookFix := fmt.Sprintf("in the Sinch dashboard (Conversation API → Apps → %s → Webhooks) the target URL must be exactly %s", d.acc.AppID, recv)
	code, body, err := d.probe(ctx, recv, map[string]string{ProbeHeader: tok})
	if err != nil {
		return fail("make sure the proxy forwards "+recv+" to the connector's HTTP_ADDR; "+webhookFix, "cannot reach the receive URL %s: %v", recv, err)
	}
	var pr ProbeResponse
	switch {
	case code == http.StatusOK && json.Unmarshal(body, &pr) == nil && pr.Probe == "receive" && pr.AccountID == d.acc.ID:
		return pass("%s reaches this connector and account %d; it is the webhook target URL to set in the Sinch app %s", recv, d.acc.ID, d.acc.AppID)
	case code >= 300 && code < 400:
		return fail("set the account's publicUrl to the final origin (no redirect): PATCH /api/whatsapp/accounts/{id} {\"publicUrl\":…}; "+webhookFix,
			"%s answers a redirect (HTTP %d): Sinch does not follow redirects", recv, code)
	}
	switch errorCode(body) {
	case "probe_token_invalid":
		return fail("the public URL must lead to this deployment: point the proxy at these api processes, and give every api process the same SECRET_KEYS",
			"%s reaches a connector that cannot verify this connector's probe token (another deployment, or other SECRET_KEYS)", recv)
	case "account_not_found":
		return fail("the public URL must lead to the connector that holds this account (same DATABASE_URL); "+webhookFix,
			"%s reaches a connector that has no account %d (another database)", recv, d.acc.ID)
	}
	return fail("make sure the proxy forwards /api/whatsapp/accounts/* of the public URL to the connector; "+webhookFix,
		"%s does not reach this connector: HTTP %d %s", recv, code, snippet(body))
}

// checkMediaProxy fetches a media probe token (signed like the links of
// agents' files, for a reserved id no attachment has) through the public
// URL, and the same token altered. The media route answers the genuine one
// 200 and the altered one 404, which only this deployment can do: no real
// attachment is needed, and a proxy answering everything fails.
func checkMediaProxy(ctx context.Context, d *diagRun) checkResult {
	signer := d.s.deps.MediaSigner
	if signer == nil {
		return skip("configure SECRET_KEYS on the api process", "this API has no media signer, so agents' files cannot be sent")
	}
	base := strings.TrimRight(d.acc.PublicURL, "/") + activities.MediaPath
	tok := signer.Mint(mediaProbeID, d.now.Add(probeTokenTTL))
	routeFix := fmt.Sprintf("make sure the proxy forwards %s* to the connector (the account's proxy url) and every api process has the same SECRET_KEYS (the proxy token's key)", base)
	code, body, err := d.probe(ctx, base+tok, nil)
	if err != nil {
		return fail(routeFix, "cannot fetch %s<token>: %v", base, err)
	}
	var pr ProbeResponse
	if code != http.StatusOK || json.Unmarshal(body, &pr) != nil || pr.Probe != "media" {
		what := "does not serve this connector's media links"
		if code == http.StatusNotFound && errorCode(body) == "not_found" {
			what = "reaches a connector that refuses this connector's token (another deployment, or other SECRET_KEYS)"
		}
		return fail(routeFix, "%s<token> %s: HTTP %d %s; Sinch would report MEDIA_NOT_REACHABLE for agents' files", base, what, code, snippet(body))
	}
	code, body, err = d.probe(ctx, base+tamper(tok), nil)
	if err != nil {
		return fail(routeFix, "cannot fetch %s<token>: %v", base, err)
	}
	if code != http.StatusNotFound || errorCode(body) != "not_found" {
		return fail(routeFix, "%s<token> answers HTTP %d to an altered token: it is not this connector's media route", base, code)
	}
	return pass("%s<token> serves this connector's signed links (a genuine token answered, an altered one was refused)", base)
}

// tamper flips the last character of a token.
func tamper(tok string) string {
	last := tok[len(tok)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return tok[:len(tok)-1] + string(repl)
}

// probe GETs target with headers (no redirects followed) and returns the
// status and the start of the body.
func (d *diagRun) probe(ctx context.Context, target string, headers map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := d.s.diag.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, probeBodyLimit))
	return resp.StatusCode, body, nil
}

// errorCode is the code of a connector error body, "" for anything else.
func errorCode(body []byte) string {
	var eb ErrorBody
	if json.Unmarshal(body, &eb) != nil {
		return ""
	}
	return eb.Error.Code
}

// snippet is the start of a body for a message.
func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "(empty body)"
	}
	return truncate(s, 200)
}

// fixWebhookSecret is how to set the webhook secret on both sides.
const fixWebhookSecret = "set the same secret on both sides: the Secret field of the app's webhook in the Sinch dashboard (Conversation API → Apps → your app → Webhooks) and PATCH /api/whatsapp/accounts/{id} {\"webhookSecret\":\"…\"}"

// checkWebhookSecret reports the account warning of a missing secret and
// checks that a set one decrypts.
func checkWebhookSecret(_ context.Context, d *diagRun) checkResult {
	if hasWarning(d.warnings, WarningWebhookRefused) {
		return fail(fixWebhookSecret+" (or PATCH {\"generateWebhookSecret\":true} and paste the secret it returns into Sinch)",
			"not set, and unsigned callbacks are not allowed: every callback is refused (401 webhook_secret_missing)")
	}
	if hasWarning(d.warnings, WarningNoWebhookSecret) {
		return fail(fixWebhookSecret+" (or PATCH {\"generateWebhookSecret\":true} and paste the secret it returns into Sinch)",
			"not set (allowUnsignedWebhooks): the receive URL accepts unsigned callbacks, so anyone who knows it can inject messages")
	}
	if d.s.deps.Secrets == nil {
		return skip("configure SECRET_KEYS on the api process", "this API has no secret box: the webhook secret cannot be read")
	}
	if _, err := d.s.deps.Secrets.Open(d.acc.WebhookSecretEnc, secretbox.AccountAAD(d.acc.ID, "webhook_secret")); err != nil {
		return fail("SECRET_KEYS must hold the key the secret was stored with; otherwise set the secret again: "+fixWebhookSecret,
			"set but cannot be decrypted with these SECRET_KEYS: every callback is refused")
	}
	return pass("set: callbacks must carry a valid x-sinch-webhook-signature")
}

// webhookHealth loads the account's webhook health row (zero when none).
func (d *diagRun) webhookHealth(ctx context.Context) (models.WebhookHealth, error) {
	var rows []models.WebhookHealth
	err := d.s.deps.DB.WithContext(ctx).Where("account_id = ?", d.acc.ID).Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return models.WebhookHealth{}, err
	}
	return rows[0], nil
}

// checkLastCallback warns when no verified callback arrived for
// CallbackMaxAge, or never.
func checkLastCallback(ctx context.Context, d *diagRun) checkResult {
	h, err := d.webhookHealth(ctx)
	if err != nil {
		return fail("check the database (DATABASE_URL) and retry", "cannot read the webhook health: %v", err)
	}
	recv := activities.ReceiveURL(strings.TrimRight(d.acc.PublicURL, "/"), d.acc.ID)
	fix := fmt.Sprintf("in the Sinch dashboard (Conversation API → Apps → %s → Webhooks) set the target URL to %s with the triggers MESSAGE_INBOUND, MESSAGE_DELIVERY, EVENT_INBOUND, CHANNEL_EVENT, CONTACT_CREATE and CONTACT_UPDATE, then send a WhatsApp message to %s; if callbacks are refused see %s",
		d.acc.AppID, recv, d.acc.Phone, CheckSignatureFailure)
	if h.LastCallbackAt == nil {
		return warn(fix, "no verified callback was ever received for this account")
	}
	age := d.now.Sub(*h.LastCallbackAt)
	if age > d.s.diag.CallbackMaxAge {
		return warn(fix, "the last verified callback was received at %s, %s ago (more than DIAGNOSTICS_CALLBACK_MAX_AGE, %s)",
			h.LastCallbackAt.UTC().Format(time.RFC3339), roundAge(age), d.s.diag.CallbackMaxAge)
	}
	return pass("the last verified callback was received at %s (%s ago)", h.LastCallbackAt.UTC().Format(time.RFC3339), roundAge(age))
}

// checkSignatureFailure fails while callbacks are refused (a recent
// failure and none verified since) and warns for a recent one.
func checkSignatureFailure(ctx context.Context, d *diagRun) checkResult {
	h, err := d.webhookHealth(ctx)
	if err != nil {
		return fail("check the database (DATABASE_URL) and retry", "cannot read the webhook health: %v", err)
	}
	if h.LastSignatureFailureAt == nil {
		return pass("no callback was refused by the signature check")
	}
	at := *h.LastSignatureFailureAt
	what := fmt.Sprintf("the last callback refused by the signature check was at %s: %s: %s (%d refused in all)",
		at.UTC().Format(time.RFC3339), h.LastSignatureFailureCode, h.LastSignatureFailureReason, h.SignatureFailures)
	recent := d.now.Sub(at) <= d.s.diag.CallbackMaxAge
	acceptedSince := h.LastCallbackAt != nil && h.LastCallbackAt.After(at)
	fix := signatureFix(h.LastSignatureFailureCode)
	switch {
	case recent && !acceptedSince:
		return fail(fix, "%s; no callback was verified since", what)
	case recent:
		return warn(fix, "%s; callbacks were verified since (last at %s)", what, h.LastCallbackAt.UTC().Format(time.RFC3339))
	}
	return pass("%s, more than DIAGNOSTICS_CALLBACK_MAX_AGE (%s) ago", what, d.s.diag.CallbackMaxAge)
}

// signatureFix is what to do about a signature failure code.
func signatureFix(code string) string {
	switch code {
	case "signature_invalid":
		return "the webhook secret differs between Sinch and the connector: " + fixWebhookSecret
	case "signature_missing":
		return "the Sinch webhook sends no signature while the account has a secret: " + fixWebhookSecret
	case "signature_algorithm":
		return "the Sinch webhook signs with another algorithm: recreate the webhook in the Sinch dashboard (HmacSHA256 is the default)"
	case "timestamp_invalid", "timestamp_out_of_window":
		return "check the clock of the connector host (NTP); WEBHOOK_TIMESTAMP_TOLERANCE bounds the accepted age of a signature"
	case "nonce_replayed":
		return "a signed callback was posted twice with the same nonce: make sure the proxy does not retry POSTs itself; if it repeats, someone may be replaying captured callbacks"
	case "app_id_mismatch":
		return "a callback came from another Sinch app than the account's appId: point each app's webhook at its own account's receive URL, or correct the account's appId"
	case "webhook_secret_missing":
		return fixWebhookSecret
	case "secret_unreadable":
		return "the webhook secret cannot be decrypted: SECRET_KEYS must hold the key it was stored with, or set the secret again: " + fixWebhookSecret
	}
	return fixWebhookSecret
}

// checkCredentials fetches a fresh OAuth2 token with the account's access
// key (no cache, so a revoked key shows at once).
func checkCredentials(ctx context.Context, d *diagRun) checkResult {
	const keyFix = "check the access key: in the Sinch dashboard (Settings → Access Keys) the key id must exist in project %s; its secret is shown only once, so create a new key if it is lost, then PATCH /api/whatsapp/accounts/{id} {\"keyId\":\"…\",\"keySecret\":\"…\"}"
	fix := fmt.Sprintf(keyFix, d.acc.ProjectID)
	if d.acc.KeyID == "" || len(d.acc.KeySecretEnc) == 0 {
		return fail(fix, "the account has no keyId or keySecret")
	}
	if d.s.deps.Secrets == nil {
		return skip("configure SECRET_KEYS on the api process", "this API has no secret box: the key secret cannot be read")
	}
	secret, err := d.s.deps.Secrets.Open(d.acc.KeySecretEnc, secretbox.AccountAAD(d.acc.ID, "key_secret"))
	if err != nil {
		return fail("SECRET_KEYS must hold the key the secret was stored with; otherwise "+fix, "the key secret cannot be decrypted with these SECRET_KEYS")
	}
	authURL := sinch.AuthURLOf(d.acc.AuthURL)
	_, err = sinch.NewTokenCache(d.s.diag.client, nil).Token(ctx, authURL, d.acc.KeyID, secret)
	if err == nil {
		return pass("Sinch issued an OAuth2 token for key %s at %s", d.acc.KeyID, authURL)
	}
	if ctx.Err() != nil {
		return fail(fmt.Sprintf("check outbound https from the connector to %s (firewall, proxy)", authURL), "no answer from %s in time", authURL)
	}
	if apiErr, ok := sinch.AsAPIError(err); ok && apiErr.HTTPStatus != 0 && !apiErr.Retryable() {
		return fail(fix, "Sinch refused key %s at %s: %v", d.acc.KeyID, authURL, apiErr)
	}
	return fail(fmt.Sprintf("check outbound https from the connector to %s (firewall, proxy) and the account's authUrl; retry later if Sinch is unavailable", authURL),
		"cannot get a token from %s: %v", authURL, err)
}

// sinchRegionHost matches the Conversation API hosts: {us|eu|br}.conversation.api.sinch.com.
var sinchRegionHost = regexp.MustCompile(`^(us|eu|br)\.conversation\.api\.sinch\.com$`)

// checkBaseURLRegion checks the base URL against the region: Sinch
// answers 404 for an app of another region.
func checkBaseURLRegion(_ context.Context, d *diagRun) checkResult {
	region := string(d.acc.Region)
	want, err := sinch.RegionBaseURL(region)
	if err != nil {
		return fail("set the region of the Sinch app: PATCH /api/whatsapp/accounts/{id} {\"region\":\"eu\"} (eu, us or br, as shown for the app in the Sinch dashboard)", "%v", err)
	}
	fix := fmt.Sprintf("set the base URL of the app's region, or clear it to use the region's: PATCH /api/whatsapp/accounts/{id} {\"baseUrl\":\"\"} (region %s uses %s); if the app is in another region, set that region instead", region, want)
	if d.acc.BaseURL == "" {
		return pass("region %s: the Conversation API base URL is %s", region, want)
	}
	u, err := url.Parse(d.acc.BaseURL)
	if err != nil || u.Hostname() == "" {
		return fail(fix, "baseUrl %q is not an absolute URL", d.acc.BaseURL)
	}
	host := strings.ToLower(u.Hostname())
	if m := sinchRegionHost.FindStringSubmatch(host); m != nil {
		if m[1] != region {
			return fail(fix, "baseUrl %s is the %s Conversation API but the account's region is %s: Sinch answers 404 for every send", d.acc.BaseURL, m[1], region)
		}
		return pass("baseUrl %s matches region %s", d.acc.BaseURL, region)
	}
	if isLoopbackHost(host) {
		// The emulator serves every region under /{region}/v1/...
		if first, _, _ := strings.Cut(strings.Trim(u.Path, "/"), "/"); first != "" {
			if _, err := sinch.RegionBaseURL(first); err == nil && first != region {
				return fail(fix, "baseUrl %s is the emulator's %s region but the account's region is %s", d.acc.BaseURL, first, region)
			}
		}
		return pass("baseUrl %s is a loopback address (the Sinch emulator in dev); in production clear it to use %s", d.acc.BaseURL, want)
	}
	return warn(fix, "baseUrl %s is not a Sinch Conversation API host (want %s for region %s)", d.acc.BaseURL, want, region)
}

// checkProcessingMode reports the account's processing-mode warning.
func checkProcessingMode(_ context.Context, d *diagRun) checkResult {
	if hasWarning(d.warnings, WarningDispatchMode) {
		return warn(fmt.Sprintf("in the Sinch dashboard (Conversation API → Apps → %s → Settings) set the processing mode to CONVERSATION; apps created since 16 April 2025 default to DISPATCH", d.acc.AppID),
			"%s", WarningDispatchMode)
	}
	if d.acc.LastProcessingMode == "" {
		return skip("send a WhatsApp message to "+d.acc.Phone+": the mode is read from each message and delivery callback", "no message or delivery callback seen yet")
	}
	return pass("the latest callback came in %s mode", d.acc.LastProcessingMode)
}

// checkDiskSpace compares the free space of MEDIA_DIR with the guard.
func checkDiskSpace(_ context.Context, d *diagRun) checkResult {
	store := d.s.deps.Media
	if store == nil {
		return skip("configure MEDIA_DIR on the api process", "this API has no media store")
	}
	free, minFree, err := store.Free()
	if err != nil {
		return warn("check that MEDIA_DIR exists and is readable by the connector", "cannot read the free space of MEDIA_DIR: %v", err)
	}
	freeS, minS := formatBytes(free), formatBytes(minFree)
	fix := fmt.Sprintf("free disk space on the file system of MEDIA_DIR (delete old attachments with DELETE /api/attachments/{id}, grow the volume) to well above MEDIA_MIN_FREE_BYTES (%s)", minS)
	switch {
	case minFree == 0:
		return pass("%s free in MEDIA_DIR; the guard is off (MEDIA_MIN_FREE_BYTES=0)", freeS)
	case free < minFree:
		return fail(fix, "%s free in MEDIA_DIR, below MEDIA_MIN_FREE_BYTES (%s): no attachment is saved", freeS, minS)
	case free < 2*minFree:
		return warn(fix, "%s free in MEDIA_DIR, less than twice MEDIA_MIN_FREE_BYTES (%s)", freeS, minS)
	}
	return pass("%s free in MEDIA_DIR (MEDIA_MIN_FREE_BYTES is %s)", freeS, minS)
}

// formatBytes is media.FormatSize of an unsigned count.
func formatBytes(n uint64) string {
	return media.FormatSize(int64(min(n, 1<<62))) //nolint:gosec // bounded above
}

// failureGroup is the failed outbound messages of one class and code.
type failureGroup struct {
	ErrorClass models.ErrorClass
	ReasonCode string
	N          int64
}

// checkSendFailures groups the account's failed outbound messages of the
// last sendFailureWindow by class and code, with the latest example of
// each (Motion's Sinch V2 guide: "check Sinch analytics failed messages").
func checkSendFailures(ctx context.Context, d *diagRun) checkResult {
	db := d.s.deps.DB.WithContext(ctx)
	since := d.now.Add(-sendFailureWindow)
	failed := func() *gorm.DB {
		return db.Model(&models.Message{}).Where("account_id = ? AND direction = ? AND status = ? AND failed_at >= ?",
			d.acc.ID, models.DirectionOutbound, models.StatusFailed, since)
	}
	var groups []failureGroup
	if err := failed().Select("error_class, reason_code, COUNT(*) AS n").Group("error_class, reason_code").
		Order("n DESC, error_class, reason_code").Limit(maxFailureGroups).Scan(&groups).Error; err != nil {
		return fail("check the database (DATABASE_URL) and retry", "cannot read the failed messages: %v", err)
	}
	if len(groups) == 0 {
		return pass("no outbound message failed in the last %.0f h", sendFailureWindow.Hours())
	}
	var total int64
	parts := make([]string, 0, len(groups))
	classes := map[models.ErrorClass]bool{}
	var fixes []string
	for _, g := range groups {
		total += g.N
		var latest models.Message
		if err := failed().Where("error_class = ? AND reason_code = ?", g.ErrorClass, g.ReasonCode).
			Order("failed_at DESC, id DESC").Take(&latest).Error; err != nil {
			return fail("check the database (DATABASE_URL) and retry", "cannot read the failed messages: %v", err)
		}
		class, code := string(g.ErrorClass), g.ReasonCode
		if class == "" {
			class = "unclassified"
		}
		if code == "" {
			code = "no code"
		}
		at := ""
		if latest.FailedAt != nil {
			at = latest.FailedAt.UTC().Format(time.RFC3339)
		}
		parts = append(parts, fmt.Sprintf("%s/%s ×%d (latest %s, message %d: %s)", class, code, g.N, at, latest.ID, truncate(latest.ErrorMessage, 200)))
		if !classes[g.ErrorClass] {
			classes[g.ErrorClass] = true
			fixes = append(fixes, class+": "+failureClassFix(g.ErrorClass))
		}
	}
	msg := fmt.Sprintf("%d outbound messages failed in the last %.0f h: %s", total, sendFailureWindow.Hours(), strings.Join(parts, "; "))
	fix := strings.Join(fixes, " | ") + " | compare with Sinch Analytics → Conversation API → failed messages"
	if classes[models.ErrorClassConfig] {
		return fail(fix, "%s", msg)
	}
	return warn(fix, "%s", msg)
}

// failureClassFix is the admin's action for a failure class.
func failureClassFix(c models.ErrorClass) string {
	switch c {
	case models.ErrorClassNetwork:
		return "transient (RATE_LIMITED, DELIVERY_TIMED_OUT, …), resent automatically up to REPLY_MAX_RESENDS; if it persists check Sinch's status page and the app's rate limits"
	case models.ErrorClassPolicy:
		return "Meta refused the messages: reply within 24 h of the customer's last message or use an approved template; see " + CheckPolicyStreak
	case models.ErrorClassConfig:
		return "the Sinch app or the account is misconfigured (RECIPIENT_NOT_REACHABLE, CHANNEL_BAD_CONFIGURATION, …): check in the Sinch dashboard that the app has the WhatsApp channel with this sender number, and the account's appId, projectId and region (PATCH /api/whatsapp/accounts/{id})"
	case models.ErrorClassMedia:
		return "WhatsApp refused the attachments (type or size): send supported types (JPG, PNG, MP3, MP4, PDF as a link) within the limits, or another channel"
	}
	return "contact XCALLY support with the message ids above (CHANNEL_FAILURE, BAD_REQUEST, unknown codes)"
}

// Quality ratings Meta reports through CHANNEL_EVENT.
var (
	ratingWarn = map[string]bool{"YELLOW": true, "MEDIUM": true}
	ratingFail = map[string]bool{"RED": true, "LOW": true, "FLAGGED": true}
	ratingOK   = map[string]bool{"GREEN": true, "HIGH": true}
)

// checkQualityRating reports the latest WhatsApp quality rating stored
// from CHANNEL_EVENT WHATS_APP_QUALITY_RATING_CHANGED.
func checkQualityRating(_ context.Context, d *diagRun) checkResult {
	rating := strings.ToUpper(strings.TrimSpace(d.acc.QualityRating))
	if rating == "" {
		return skip(fmt.Sprintf("include the CHANNEL_EVENT trigger in the webhook of the Sinch app %s so rating changes reach the connector", d.acc.AppID),
			"Sinch has reported no quality rating yet (CHANNEL_EVENT WHATS_APP_QUALITY_RATING_CHANGED)")
	}
	at := ""
	if d.acc.QualityRatingAt != nil {
		at = " since " + d.acc.QualityRatingAt.UTC().Format(time.RFC3339)
	}
	const fix = "open WhatsApp Manager → Phone numbers → Quality rating for the reasons (blocks, reports); send fewer unsolicited messages, review the templates against Meta's Business Policy and contact your Meta account manager"
	switch {
	case ratingFail[rating]:
		return fail(fix, "the WhatsApp quality rating is %s%s: Meta may limit or block the number", rating, at)
	case ratingWarn[rating]:
		return warn(fix, "the WhatsApp quality rating is %s%s: customers block or report the number", rating, at)
	case ratingOK[rating]:
		return pass("the WhatsApp quality rating is %s%s", rating, at)
	}
	return warn(fix, "the WhatsApp quality rating is %q%s, a value the connector does not know", rating, at)
}

// checkPolicyStreak reports the account warning "account may be blocked
// by Meta" (POLICY_WARNING_STREAK policy failures in a row).
func checkPolicyStreak(_ context.Context, d *diagRun) checkResult {
	if w, ok := warningWith(d.warnings, WarningMetaBlocked); ok {
		return fail("review Meta's Business Policy (unauthorised templates, many users blocking the number), check the recent failures in "+CheckSendFailures+", then contact your Meta account manager; the streak resets when a reply is delivered", "%s", w)
	}
	return pass("%d consecutive Meta policy failures (the warning starts at POLICY_WARNING_STREAK, %d)", d.acc.PolicyFailureStreak, d.s.deps.PolicyWarningStreak)
}

// checkAccountStatus reports a migrated or disabled account and the
// contact messages held because the account opened no interaction.
func checkAccountStatus(ctx context.Context, d *diagRun) checkResult {
	db := d.s.deps.DB.WithContext(ctx)
	held := db.Model(&models.AccountEvent{}).Where("account_id = ? AND kind = ?", d.acc.ID, activities.HeldMessageKind)
	var n int64
	if err := held.Count(&n).Error; err != nil {
		return fail("check the database (DATABASE_URL) and retry", "cannot count the held messages: %v", err)
	}
	heldMsg := ""
	if n > 0 {
		var latest models.AccountEvent
		if err := db.Where("account_id = ? AND kind = ?", d.acc.ID, activities.HeldMessageKind).Order("occurred_at DESC, id DESC").Take(&latest).Error; err != nil {
			return fail("check the database (DATABASE_URL) and retry", "cannot read the held messages: %v", err)
		}
		heldMsg = fmt.Sprintf("%d contact messages were held as %s account events (latest at %s): they opened no interaction",
			n, activities.HeldMessageKind, latest.OccurredAt.UTC().Format(time.RFC3339))
	}
	if w, ok := warningWith(d.warnings, WarningStatus+":"); ok {
		fix := "expected after a migration: point the Sinch app's webhook at the new account's receive URL, and tell customers the number changed"
		if d.acc.Status == models.AccountDisabled {
			fix = "the account is the target of a cancelled migration: start the migration again (POST /api/migrations) or delete the account (DELETE /api/whatsapp/accounts/{id})"
		}
		if heldMsg != "" {
			return warn(fix, "%s; %s", w, heldMsg)
		}
		return warn(fix, "%s", w)
	}
	if heldMsg != "" {
		return warn("the messages arrived while the account opened no interaction (migrated or disabled); contact those customers from the active account", "%s", heldMsg)
	}
	return pass("active; no contact message was held")
}

// hasWarning reports whether the account warnings include w.
func hasWarning(warnings []string, w string) bool {
	_, ok := warningWith(warnings, w)
	return ok
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

// roundAge rounds a duration for a message.
func roundAge(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}
