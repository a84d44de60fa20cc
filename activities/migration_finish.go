package activities

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// MarkMigratedResult is when the source was marked migrated.
type MarkMigratedResult struct {
	MigratedAt time.Time
}

// MarkSourceMigrated marks the source account migrated to the target
// (step 7): it opens no new interaction from then on, its open ones finish
// where they are, and reports keep both accounts. A repeat keeps the
// first MigratedAt.
func (a *Activities) MarkSourceMigrated(ctx context.Context, in MigrationPairInput) (MarkMigratedResult, error) {
	var res MarkMigratedResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var dst models.Account
		if err := tx.Unscoped().Take(&dst, in.TargetAccountID).Error; err != nil {
			return err
		}
		reason := fmt.Sprintf("migrated to account %d (%s) by migration %d", dst.ID, dst.Name, in.MigrationID)
		if err := tx.Unscoped().Model(&models.Account{}).Where("id = ? AND (status <> ? OR migrated_at IS NULL)", in.SourceAccountID, models.AccountMigrated).
			Updates(map[string]any{
				"status": models.AccountMigrated, "status_reason": reason,
				"migrated_to_account_id": in.TargetAccountID, "migrated_at": time.Now().UTC(),
			}).Error; err != nil {
			return err
		}
		var src models.Account
		if err := tx.Unscoped().Select("id", "migrated_at").Take(&src, in.SourceAccountID).Error; err != nil {
			return err
		}
		if src.MigratedAt != nil {
			res.MigratedAt = *src.MigratedAt
		}
		return nil
	})
	if err != nil {
		return MarkMigratedResult{}, migrationError("mark the source account of migration", in.MigrationID, err)
	}
	a.log(ctx, 0).Info("account migrated", "migration_id", in.MigrationID, "source_account_id", in.SourceAccountID, "target_account_id", in.TargetAccountID)
	return res, nil
}

// CompensateMigrationInput undoes what a migration did; Reason becomes the
// disabled target's StatusReason.
type CompensateMigrationInput struct {
	MigrationID uint64
	Reason      string
}

// CompensateMigrationResult says what was undone.
type CompensateMigrationResult struct {
	// TargetAccountID is the disabled account, 0 when none was created.
	TargetAccountID uint64
	// BridgeQueueID is the deleted bridge queue, 0 when the migration
	// created none.
	BridgeQueueID uint64
}

// CompensateMigration undoes a cancelled, expired or failed migration: the
// new account is disabled with Reason and loses its agent and queue links,
// and a bridge queue the migration created is soft-deleted with its links.
// The source account is not touched. Everything is read from the migration
// row (what the steps recorded), so it works whatever step was
// interrupted, and a repeat changes nothing more.
func (a *Activities) CompensateMigration(ctx context.Context, in CompensateMigrationInput) (CompensateMigrationResult, error) {
	var res CompensateMigrationResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		mig, err := lockMigration(tx, in.MigrationID)
		if err != nil {
			return err
		}
		if mig.TargetAccountID != nil {
			id := *mig.TargetAccountID
			res.TargetAccountID = id
			if err := tx.Unscoped().Model(&models.Account{}).Where("id = ?", id).
				Updates(map[string]any{"status": models.AccountDisabled, "status_reason": in.Reason}).Error; err != nil {
				return err
			}
			if err := tx.Where("account_id = ?", id).Delete(&models.AgentAccount{}).Error; err != nil {
				return err
			}
			if err := tx.Where("account_id = ?", id).Delete(&models.QueueAccount{}).Error; err != nil {
				return err
			}
		}
		if mig.BridgeCreated && mig.BridgeQueueID != nil {
			q := *mig.BridgeQueueID
			res.BridgeQueueID = q
			if err := tx.Delete(&models.Queue{}, q).Error; err != nil {
				return err
			}
			if err := tx.Where("queue_id = ?", q).Delete(&models.QueueAccount{}).Error; err != nil {
				return err
			}
			if err := tx.Where("queue_id = ?", q).Delete(&models.QueueAgent{}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return CompensateMigrationResult{}, migrationError("compensate migration", in.MigrationID, err)
	}
	a.log(ctx, 0).Info("migration compensated", "migration_id", in.MigrationID, "target_account_id", res.TargetAccountID, "bridge_queue_id", res.BridgeQueueID)
	return res, nil
}
