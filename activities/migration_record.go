package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/xcally-connector/connector/models"
)

// MigrationRecord is the workflow's view of a migration, written to its
// row for the API.
type MigrationRecord struct {
	MigrationID     uint64
	State           models.MigrationState
	Steps           []MigrationStep
	NextAction      string
	Error           string
	TargetAccountID uint64
	Reminders       int
	ConfirmedAt     *time.Time
	FinishedAt      *time.Time
}

// RecordMigration writes the workflow's view of a migration to its row;
// a final state also clears ActiveSourceID, so the source account may be
// migrated again. Repeating it writes the same values.
func (a *Activities) RecordMigration(ctx context.Context, in MigrationRecord) error {
	steps, err := json.Marshal(in.Steps)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("encode the steps of migration %d: %v", in.MigrationID, err), ErrTypeBadInput, err)
	}
	cols := map[string]any{
		"state": in.State, "steps": string(steps), "next_action": in.NextAction, "error": in.Error,
		"reminders": in.Reminders, "confirmed_at": in.ConfirmedAt, "finished_at": in.FinishedAt,
	}
	if in.TargetAccountID != 0 {
		cols["target_account_id"] = in.TargetAccountID
	}
	if in.State.Final() {
		cols["active_source_id"] = nil
	}
	// The state before, so that a repeated record (a reminder, a retry)
	// counts no transition.
	var before []models.MigrationState
	if err := a.DB.WithContext(ctx).Model(&models.Migration{}).Where("id = ?", in.MigrationID).Pluck("state", &before).Error; err != nil {
		return fmt.Errorf("read migration %d: %w", in.MigrationID, err)
	}
	r := a.DB.WithContext(ctx).Model(&models.Migration{}).Where("id = ?", in.MigrationID).Updates(cols)
	if r.Error != nil {
		return fmt.Errorf("record migration %d: %w", in.MigrationID, r.Error)
	}
	if r.RowsAffected == 0 {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("no migration %d", in.MigrationID), ErrTypeBadInput, nil)
	}
	if len(before) == 1 && before[0] != in.State {
		a.Metrics.Migration(string(in.State))
		a.log(ctx, 0).Info("migration state", "migration_id", in.MigrationID, "from", before[0], "to", in.State)
	}
	return nil
}
