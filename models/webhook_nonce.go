package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// WebhookNonce records a signature nonce of an accepted Sinch callback, so a
// replayed request is refused. Rows older than the timestamp tolerance are
// useless (the timestamp check refuses those requests) and are pruned.
type WebhookNonce struct {
	AccountID uint64    `gorm:"primaryKey;autoIncrement:false"`
	Nonce     string    `gorm:"primaryKey;size:128"`
	SeenAt    time.Time `gorm:"not null;index"`
}

// ClaimWebhookNonce records the signature nonce of a callback being
// accepted; replayed is true when the account already accepted it (the
// request is a replay and must be refused).
func ClaimWebhookNonce(ctx context.Context, db *gorm.DB, accountID uint64, nonce string, at time.Time) (replayed bool, err error) {
	err = db.WithContext(ctx).Create(&WebhookNonce{AccountID: accountID, Nonce: nonce, SeenAt: at.UTC()}).Error
	if IsDuplicate(err) {
		return true, nil
	}
	return false, err
}

// ReleaseWebhookNonce forgets a claimed nonce whose callback was not
// acknowledged after all, so Sinch's retry, which may carry the same
// nonce, is accepted.
func ReleaseWebhookNonce(ctx context.Context, db *gorm.DB, accountID uint64, nonce string) error {
	return db.WithContext(ctx).Where("account_id = ? AND nonce = ?", accountID, nonce).Delete(&WebhookNonce{}).Error
}
