package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
)

// MigrationTargetResult is the new account: what the admin needs to tell
// Sinch (app, project, number, webhook) and nothing secret.
type MigrationTargetResult struct {
	AccountID  uint64
	Name       string
	AppID      string
	ProjectID  string
	Phone      string
	ReceiveURL string
	// SourceName is the name of the account being migrated.
	SourceName string
	// Dispositions and CannedAnswers count the rows the new account has.
	Dispositions  int
	CannedAnswers int
}

// CreateMigrationTarget creates the migration's new account (step 1): the
// target's fields with every setting of the source account (list,
// notification template, transfer options, routing parameters, action
// flow, debug, send rate, dispositions, canned answers), and its secrets
// opened from the migration row and sealed again for the new row. The row
// and the migration's TargetAccountID are written in one transaction, so a
// repeat returns the account already created (and re-copies missing
// dispositions and canned answers). A taken key is a non-retryable
// ErrTypeMigrationConflict.
func (a *Activities) CreateMigrationTarget(ctx context.Context, in MigrationInput) (MigrationTargetResult, error) {
	var res MigrationTargetResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		mig, err := lockMigration(tx, in.MigrationID)
		if err != nil {
			return err
		}
		var src models.Account
		if err := tx.Take(&src, mig.SourceAccountID).Error; err != nil {
			if isNotFound(err) {
				return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the source account %d no longer exists", mig.SourceAccountID), ErrTypeMigrationConflict, err)
			}
			return err
		}
		var acc models.Account
		if mig.TargetAccountID != nil {
			if err := tx.Take(&acc, *mig.TargetAccountID).Error; err != nil {
				if isNotFound(err) {
					return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the new account %d was deleted", *mig.TargetAccountID), ErrTypeMigrationConflict, err)
				}
				return err
			}
		} else {
			if acc, err = a.createTarget(tx, mig, src); err != nil {
				return err
			}
		}
		if res.Dispositions, res.CannedAnswers, err = copyAccountRows(tx, src.ID, acc.ID); err != nil {
			return err
		}
		res.AccountID, res.Name, res.AppID, res.ProjectID, res.Phone = acc.ID, acc.Name, acc.AppID, acc.ProjectID, acc.Phone
		res.ReceiveURL, res.SourceName = ReceiveURL(acc.PublicURL, acc.ID), src.Name
		return nil
	})
	if err != nil {
		return MigrationTargetResult{}, migrationError("create the new account of migration", in.MigrationID, err)
	}
	a.log(ctx, res.AccountID).Info("migration target ready", "migration_id", in.MigrationID)
	return res, nil
}

// createTarget inserts the new account of mig with src's settings.
func (a *Activities) createTarget(tx *gorm.DB, mig models.Migration, src models.Account) (models.Account, error) {
	var t MigrationTarget
	if err := json.Unmarshal([]byte(mig.Target), &t); err != nil {
		return models.Account{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("migration %d: unreadable target: %v", mig.ID, err), ErrTypeBadInput, err)
	}
	if a.Secrets == nil {
		return models.Account{}, temporal.NewNonRetryableApplicationError("the worker has no secret box: cannot seal the new account's secrets", ErrTypeBadInput, nil)
	}
	acc := models.Account{
		Name: t.Name, Key: t.Key, PublicURL: t.PublicURL, Type: models.AccountType(t.Type), Region: models.Region(t.Region),
		BaseURL: t.BaseURL, AuthURL: t.AuthURL, ProjectID: t.ProjectID, AppID: t.AppID, KeyID: t.KeyID, Phone: t.Phone,
		List: src.List, Description: src.Description, NotificationTemplate: src.NotificationTemplate,
		Channels: src.Channels, Debug: src.Debug, SendRatePerSecond: src.SendRatePerSecond,
		TransferOptions: src.TransferOptions, ActionFlow: src.ActionFlow, RoutingStrategy: src.RoutingStrategy,
		AgentNotifyTimeoutSeconds: src.AgentNotifyTimeoutSeconds, InactivityTimeoutSeconds: src.InactivityTimeoutSeconds,
		Status: models.AccountActive, AllowUnsignedWebhooks: t.AllowUnsignedWebhooks,
	}
	if t.List != nil {
		acc.List = *t.List
	}
	if t.Description != nil {
		acc.Description = *t.Description
	}
	if t.NotificationTemplate != nil {
		acc.NotificationTemplate = *t.NotificationTemplate
	}
	if t.Channels != nil {
		acc.Channels = strings.Join(t.Channels, ",")
	}
	if t.Debug != nil {
		acc.Debug = *t.Debug
	}
	if t.SendRatePerSecond != nil {
		acc.SendRatePerSecond = *t.SendRatePerSecond
	}
	if err := tx.Create(&acc).Error; err != nil {
		if models.IsDuplicate(err) {
			return acc, temporal.NewNonRetryableApplicationError(fmt.Sprintf("target.key: an account with key %q already exists", t.Key), ErrTypeMigrationConflict, err)
		}
		return acc, err
	}
	cols := map[string]any{}
	for _, f := range []struct {
		col, field string
		sealed     []byte
	}{{"key_secret_enc", "key_secret", mig.TargetKeySecretEnc}, {"webhook_secret_enc", "webhook_secret", mig.TargetWebhookSecretEnc}} {
		plain, err := a.Secrets.Open(f.sealed, secretbox.MigrationAAD(mig.ID, f.field))
		if err != nil {
			return acc, temporal.NewNonRetryableApplicationError(fmt.Sprintf("migration %d: open the target's %s: %v", mig.ID, f.field, err), ErrTypeBadInput, err)
		}
		if cols[f.col], err = a.Secrets.Seal(plain, secretbox.AccountAAD(acc.ID, f.field)); err != nil {
			return acc, fmt.Errorf("seal %s of account %d: %w", f.field, acc.ID, err)
		}
	}
	if err := tx.Model(&models.Account{ID: acc.ID}).Updates(cols).Error; err != nil {
		return acc, err
	}
	if err := tx.Model(&models.Migration{}).Where("id = ?", mig.ID).Update("target_account_id", acc.ID).Error; err != nil {
		return acc, err
	}
	return acc, tx.Take(&acc, acc.ID).Error
}

// copyAccountRows copies the source's dispositions and canned answers to
// the target (insert or ignore) and counts the target's rows.
func copyAccountRows(tx *gorm.DB, sourceID, targetID uint64) (dispositions, answers int, err error) {
	var ds []models.Disposition
	if err := tx.Where("account_id = ?", sourceID).Order("id").Find(&ds).Error; err != nil {
		return 0, 0, err
	}
	for _, d := range ds {
		row := models.Disposition{AccountID: targetID, Name: d.Name}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
			return 0, 0, fmt.Errorf("copy disposition %q: %w", d.Name, err)
		}
	}
	var cs []models.CannedAnswer
	if err := tx.Where("account_id = ?", sourceID).Order("id").Find(&cs).Error; err != nil {
		return 0, 0, err
	}
	for _, c := range cs {
		row := models.CannedAnswer{AccountID: targetID, Key: c.Key, Title: c.Title, Text: c.Text, Position: c.Position}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
			return 0, 0, fmt.Errorf("copy canned answer %q: %w", c.Key, err)
		}
	}
	var nd, nc int64
	if err := tx.Model(&models.Disposition{}).Where("account_id = ?", targetID).Count(&nd).Error; err != nil {
		return 0, 0, err
	}
	if err := tx.Model(&models.CannedAnswer{}).Where("account_id = ?", targetID).Count(&nc).Error; err != nil {
		return 0, 0, err
	}
	return int(nd), int(nc), nil
}
