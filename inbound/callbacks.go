package inbound

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
)

// AccountEventForeignID is the account event of a callback that named a
// workflow of another account: the callback is ignored, and recorded.
const AccountEventForeignID = "CALLBACK_FOREIGN_ID"

// qualityRatingChanged is the WhatsApp channel event that carries the
// number's new quality rating (GREEN, YELLOW, RED) in additional_data.
const qualityRatingChanged = "WHATS_APP_QUALITY_RATING_CHANGED"

// RecordAccountEvent stores an account-level notification (channel events
// such as quality rating changes, opt-in/out, capability, unsupported,
// duplicated identities) and, for a quality rating change, the account's
// new rating, in one transaction. It returns the new rating ("" when the
// callback carries none).
func RecordAccountEvent(ctx context.Context, db *gorm.DB, accountID uint64, cb *sinch.Callback) (rating string, err error) {
	ev := models.AccountEvent{AccountID: accountID, Kind: string(cb.Trigger), Payload: string(cb.Payload), OccurredAt: cb.EventTime}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = cb.AcceptedTime
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = time.Now().UTC()
	}
	if n := cb.ChannelEventNotification; n != nil {
		ev.Type = n.ChannelEvent.EventType
		if n.ChannelEvent.EventType == qualityRatingChanged {
			var data struct {
				QualityRating string `json:"quality_rating"`
			}
			if json.Unmarshal(n.ChannelEvent.AdditionalData, &data) == nil {
				rating = data.QualityRating
			}
		}
	}
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&ev).Error; err != nil {
			return err
		}
		if rating == "" {
			return nil
		}
		return tx.Model(&models.Account{}).Where("id = ?", accountID).
			Updates(map[string]any{"quality_rating": rating, "quality_rating_at": ev.OccurredAt}).Error
	})
	if err != nil {
		return "", err
	}
	return rating, nil
}

// RecordForeignID records, as an account event for the admin, a callback
// that named a workflow of another account in field: a misrouted webhook
// or a forged callback. The callback itself is not handed on.
func RecordForeignID(ctx context.Context, db *gorm.DB, accountID uint64, cb *sinch.Callback, field, id string) error {
	payload, err := json.Marshal(map[string]string{"field": field, "id": id, "trigger": string(cb.Trigger), "appId": cb.AppID})
	if err != nil {
		return err
	}
	ev := models.AccountEvent{AccountID: accountID, Kind: AccountEventForeignID, Type: field, Payload: string(payload), OccurredAt: time.Now().UTC()}
	return db.WithContext(ctx).Create(&ev).Error
}

// RenameContact keeps the display name Sinch knows for a contact
// (CONVERSATION mode's contact callbacks), so notifications can show
// {{contact.name}}. A contact the connector has not met is left alone.
func RenameContact(ctx context.Context, db *gorm.DB, accountID uint64, sinchContactID, displayName string) error {
	return db.WithContext(ctx).Model(&models.Contact{}).
		Where("account_id = ? AND sinch_contact_id = ? AND display_name <> ?", accountID, sinchContactID, displayName).
		Update("display_name", displayName).Error
}

// RecordProcessingMode keeps the latest Sinch processing mode an account's
// callbacks carry; DISPATCH makes the account show a warning, since agents
// cannot reply to a contact of an app in DISPATCH mode. It reports whether
// the mode changed ("" and the known mode change nothing).
func RecordProcessingMode(ctx context.Context, db *gorm.DB, acc models.Account, mode string) (changed bool, err error) {
	if mode == "" || models.ProcessingMode(mode) == acc.LastProcessingMode {
		return false, nil
	}
	if err := db.WithContext(ctx).Model(&models.Account{}).Where("id = ?", acc.ID).Update("last_processing_mode", mode).Error; err != nil {
		return false, err
	}
	return true, nil
}
