package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// RemindMigrationInput is reminder number Reminder of a migration waiting
// for confirmation.
type RemindMigrationInput struct {
	MigrationID     uint64
	SourceAccountID uint64
	Reminder        int
	NextAction      string
	// Deadline is when the wait expires.
	Deadline time.Time
}

// RemindMigration records a reminder (step 5): the migration row's
// Reminders count and next action, and a MIGRATION_REMINDER event on the
// source account. It is written once per reminder number, so a repeat adds
// no second event.
func (a *Activities) RemindMigration(ctx context.Context, in RemindMigrationInput) error {
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		r := tx.Model(&models.Migration{}).Where("id = ? AND reminders < ?", in.MigrationID, in.Reminder).
			Updates(map[string]any{"reminders": in.Reminder, "next_action": in.NextAction})
		if r.Error != nil || r.RowsAffected == 0 {
			return r.Error
		}
		payload, _ := json.Marshal(map[string]any{
			"migrationId": in.MigrationID, "reminder": in.Reminder, "nextAction": in.NextAction, "deadline": in.Deadline.UTC(),
		})
		return tx.Create(&models.AccountEvent{
			AccountID: in.SourceAccountID, Kind: MigrationReminderKind, Type: string(models.MigrationAwaitingConfirmation),
			Payload: string(payload), OccurredAt: time.Now().UTC(),
		}).Error
	})
	if err != nil {
		return migrationError("record a reminder of migration", in.MigrationID, err)
	}
	return nil
}

// FirstInboundResult is the first customer message on the new account.
type FirstInboundResult struct {
	MessageID  uint64
	ReceivedAt time.Time
}

// AwaitFirstInbound looks for an inbound message on the new account
// created since the migration started (step 6). None yet is the retryable
// ErrTypeMigrationNoMessageYet: the workflow polls through the activity's
// retry policy (retries write no history) until its ScheduleToClose.
func (a *Activities) AwaitFirstInbound(ctx context.Context, in MigrationAccountInput) (FirstInboundResult, error) {
	db := a.DB.WithContext(ctx)
	var mig models.Migration
	if err := db.Select("id", "started_at").Take(&mig, in.MigrationID).Error; err != nil {
		if isNotFound(err) {
			return FirstInboundResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no migration %d", in.MigrationID), ErrTypeBadInput, err)
		}
		return FirstInboundResult{}, err
	}
	var msgs []models.Message
	if err := db.Select("id", "created_at").
		Where("account_id = ? AND direction = ? AND created_at >= ?", in.AccountID, models.DirectionInbound, mig.StartedAt).
		Order("id").Limit(1).Find(&msgs).Error; err != nil {
		return FirstInboundResult{}, err
	}
	if len(msgs) == 0 {
		return FirstInboundResult{}, temporal.NewApplicationError(
			fmt.Sprintf("no customer message on account %d since %s yet", in.AccountID, mig.StartedAt.UTC().Format(time.RFC3339)), ErrTypeMigrationNoMessageYet)
	}
	return FirstInboundResult{MessageID: msgs[0].ID, ReceivedAt: msgs[0].CreatedAt}, nil
}
