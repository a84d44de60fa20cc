package diagnostics

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
)

const (
	// webhookHealthEvery spaces the writes of an account's last callback
	// time: the webhook's hot path writes at most once per account per it.
	webhookHealthEvery = 5 * time.Second
	// webhookHealthTimeout bounds one webhook health write.
	webhookHealthTimeout = 2 * time.Second
)

// WebhookHealth keeps what the webhook's signature check decided about
// callbacks in the account_webhook_health row the diagnostics read: the
// only write of this package. It throttles the last-callback writes per
// account (the Unix nanoseconds of the latest write, per process); the
// zero value is ready and it is safe for concurrent use.
type WebhookHealth struct {
	lastWrite sync.Map // uint64 → *atomic.Int64
}

// due reports whether a success write is due for the account now, and
// claims it.
func (h *WebhookHealth) due(accountID uint64, now time.Time) bool {
	v, _ := h.lastWrite.LoadOrStore(accountID, new(atomic.Int64))
	last := v.(*atomic.Int64)
	prev := last.Load()
	if prev != 0 && now.UnixNano()-prev < int64(webhookHealthEvery) {
		return false
	}
	return last.CompareAndSwap(prev, now.UnixNano())
}

// RecordVerified updates the account's last callback time after a
// verified callback, at most every 5 seconds per account (the webhook's
// hot path); a write not due returns nil at once.
func (h *WebhookHealth) RecordVerified(db *gorm.DB, accountID uint64) error {
	now := time.Now().UTC()
	if !h.due(accountID, now) {
		return nil
	}
	row := models.WebhookHealth{AccountID: accountID, UpdatedAt: now, LastCallbackAt: &now}
	return upsertWebhookHealth(db, row, clause.AssignmentColumns([]string{"last_callback_at", "updated_at"}))
}

// RecordRefused records a callback the signature check refused (the
// caller decides which refusals count: a bad signature, an unreadable
// secret, another app), with the refusal's code and reason, every time.
// The account's next verified callback is then written at once, so the
// diagnostics see whether callbacks pass again after a failure.
func (h *WebhookHealth) RecordRefused(db *gorm.DB, accountID uint64, code, reason string) error {
	now := time.Now().UTC()
	h.lastWrite.Delete(accountID)
	row := models.WebhookHealth{AccountID: accountID, UpdatedAt: now,
		LastSignatureFailureAt: &now, LastSignatureFailureCode: code, LastSignatureFailureReason: reason, SignatureFailures: 1}
	set := append(clause.AssignmentColumns([]string{"last_signature_failure_at", "last_signature_failure_code", "last_signature_failure_reason", "updated_at"}),
		clause.Assignment{Column: clause.Column{Name: "signature_failures"}, Value: gorm.Expr("account_webhook_health.signature_failures + 1")})
	return upsertWebhookHealth(db, row, set)
}

// upsertWebhookHealth inserts the row or updates set on the existing one.
func upsertWebhookHealth(db *gorm.DB, row models.WebhookHealth, set clause.Set) error {
	ctx, cancel := context.WithTimeout(context.Background(), webhookHealthTimeout)
	defer cancel()
	return db.WithContext(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "account_id"}}, DoUpdates: set}).Create(&row).Error
}

// fixWebhookSecret is how to set the webhook secret on both sides.
const fixWebhookSecret = "set the same secret on both sides: the Secret field of the app's webhook in the Sinch dashboard (Conversation API → Apps → your app → Webhooks) and PATCH /api/whatsapp/accounts/{id} {\"webhookSecret\":\"…\"}"

// checkWebhookSecret reports the account warning of a missing secret and
// checks that a set one decrypts.
func checkWebhookSecret(_ context.Context, d *run) checkResult {
	if d.warnings.WebhookRefused {
		return fail(fixWebhookSecret+" (or PATCH {\"generateWebhookSecret\":true} and paste the secret it returns into Sinch)",
			"not set, and unsigned callbacks are not allowed: every callback is refused (401 webhook_secret_missing)")
	}
	if d.warnings.Unsigned {
		return fail(fixWebhookSecret+" (or PATCH {\"generateWebhookSecret\":true} and paste the secret it returns into Sinch)",
			"not set (allowUnsignedWebhooks): the receive URL accepts unsigned callbacks, so anyone who knows it can inject messages")
	}
	if d.deps.Secrets == nil {
		return skip("configure SECRET_KEYS on the api process", "this API has no secret box: the webhook secret cannot be read")
	}
	if _, err := d.deps.Secrets.Open(d.acc.WebhookSecretEnc, secretbox.AccountAAD(d.acc.ID, "webhook_secret")); err != nil {
		return fail("SECRET_KEYS must hold the key the secret was stored with; otherwise set the secret again: "+fixWebhookSecret,
			"set but cannot be decrypted with these SECRET_KEYS: every callback is refused")
	}
	return pass("set: callbacks must carry a valid x-sinch-webhook-signature")
}

// webhookHealth loads the account's webhook health row (zero when none).
func (d *run) webhookHealth(ctx context.Context) (models.WebhookHealth, error) {
	var rows []models.WebhookHealth
	err := d.deps.DB.WithContext(ctx).Where("account_id = ?", d.acc.ID).Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return models.WebhookHealth{}, err
	}
	return rows[0], nil
}

// checkLastCallback warns when no verified callback arrived for
// CallbackMaxAge, or never.
func checkLastCallback(ctx context.Context, d *run) checkResult {
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
	maxAge := d.r.opts.CallbackMaxAge
	age := d.now.Sub(*h.LastCallbackAt)
	if age > maxAge {
		return warn(fix, "the last verified callback was received at %s, %s ago (more than DIAGNOSTICS_CALLBACK_MAX_AGE, %s)",
			h.LastCallbackAt.UTC().Format(time.RFC3339), roundAge(age), maxAge)
	}
	return pass("the last verified callback was received at %s (%s ago)", h.LastCallbackAt.UTC().Format(time.RFC3339), roundAge(age))
}

// checkSignatureFailure fails while callbacks are refused (a recent
// failure and none verified since) and warns for a recent one.
func checkSignatureFailure(ctx context.Context, d *run) checkResult {
	h, err := d.webhookHealth(ctx)
	if err != nil {
		return fail("check the database (DATABASE_URL) and retry", "cannot read the webhook health: %v", err)
	}
	if h.LastSignatureFailureAt == nil {
		return pass("no callback was refused by the signature check")
	}
	maxAge := d.r.opts.CallbackMaxAge
	at := *h.LastSignatureFailureAt
	what := fmt.Sprintf("the last callback refused by the signature check was at %s: %s: %s (%d refused in all)",
		at.UTC().Format(time.RFC3339), h.LastSignatureFailureCode, h.LastSignatureFailureReason, h.SignatureFailures)
	recent := d.now.Sub(at) <= maxAge
	acceptedSince := h.LastCallbackAt != nil && h.LastCallbackAt.After(at)
	fix := signatureFix(h.LastSignatureFailureCode)
	switch {
	case recent && !acceptedSince:
		return fail(fix, "%s; no callback was verified since", what)
	case recent:
		return warn(fix, "%s; callbacks were verified since (last at %s)", what, h.LastCallbackAt.UTC().Format(time.RFC3339))
	}
	return pass("%s, more than DIAGNOSTICS_CALLBACK_MAX_AGE (%s) ago", what, maxAge)
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

// roundAge rounds a duration for a message.
func roundAge(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}
