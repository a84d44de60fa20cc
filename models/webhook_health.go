package models

import "time"

// WebhookHealth is what the webhook last saw of one account, for the
// account's diagnostics: when a callback last passed verification and when
// (and why) one was last refused. One row per account, upserted by the API.
type WebhookHealth struct {
	AccountID uint64 `gorm:"primaryKey;autoIncrement:false"`
	// LastCallbackAt is the latest verified (or, without a webhook secret,
	// accepted unsigned) callback; the API writes it at most every few
	// seconds per account, so it may lag by that much.
	LastCallbackAt *time.Time
	// LastSignatureFailureAt, Code and Reason describe the latest callback
	// refused by the signature check (signature_invalid, nonce_replayed, …).
	LastSignatureFailureAt     *time.Time
	LastSignatureFailureCode   string `gorm:"size:64"`
	LastSignatureFailureReason string `gorm:"type:text"`
	// SignatureFailures counts refused callbacks since the row was created.
	SignatureFailures int64 `gorm:"not null;default:0"`
	UpdatedAt         time.Time
}

// TableName is account_webhook_health.
func (WebhookHealth) TableName() string { return "account_webhook_health" }
