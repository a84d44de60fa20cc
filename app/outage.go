package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/workflows"
)

// Heartbeat settings of the webhook role.
const (
	webhookHeartbeat  = "webhook"
	heartbeatInterval = 30 * time.Second
	// outageSlack widens the reconciled range before the last heartbeat:
	// callbacks refused just before the process went away.
	outageSlack = 5 * time.Minute
)

// RecoverOutage reads the webhook role's last heartbeat. If it is older
// than RECONCILE_AFTER_OUTAGE, Sinch may have given callbacks up while no
// API was serving them: it starts a ReconcileWorkflow per live account over
// the gap. The workflow ids name the gap, so API replicas starting together
// start one reconciliation each. It returns the gap's start (zero when
// there was no outage) and the number of reconciliations started.
func RecoverOutage(ctx context.Context, db *gorm.DB, tc client.Client, cfg *config.Config, log *slog.Logger) (time.Time, int, error) {
	if cfg.ReconcileAfterOutage <= 0 {
		return time.Time{}, 0, nil
	}
	var hb []models.Heartbeat
	if err := db.WithContext(ctx).Where("name = ?", webhookHeartbeat).Limit(1).Find(&hb).Error; err != nil {
		return time.Time{}, 0, fmt.Errorf("read heartbeat: %w", err)
	}
	now := time.Now().UTC()
	if len(hb) == 0 || now.Sub(hb[0].SeenAt) <= cfg.ReconcileAfterOutage {
		return time.Time{}, 0, nil // a new installation, or no outage
	}
	last := hb[0].SeenAt.UTC()
	var accounts []models.Account
	if err := db.WithContext(ctx).Order("id").Find(&accounts).Error; err != nil {
		return last, 0, fmt.Errorf("list accounts: %w", err)
	}
	started := 0
	from := last.Add(-outageSlack)
	for _, acc := range accounts {
		wfID := workflows.ReconcileWorkflowID(acc.ID, strconv.FormatInt(last.UnixNano(), 10))
		_, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wfID, TaskQueue: cfg.TemporalTaskQueue, Memo: workflows.AccountMemo(acc.Name),
			// Once per gap, even after the first one completed.
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, WorkflowExecutionErrorWhenAlreadyStarted: true},
			workflows.ReconcileWorkflowName, workflows.ReconcileInput{AccountID: acc.ID, From: from, To: now})
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) {
			continue
		}
		if err != nil {
			return last, started, fmt.Errorf("start reconciliation of account %d: %w", acc.ID, err)
		}
		started++
	}
	log.Warn("the API was down: reconciling every account with Sinch over the gap",
		"down_since", last, "down_for", now.Sub(last).Round(time.Second), "reconciliations", started)
	return last, started, nil
}

// beat records that the webhook role is alive now.
func beat(ctx context.Context, db *gorm.DB) error {
	return db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "name"}}, DoUpdates: clause.AssignmentColumns([]string{"seen_at"}),
	}).Create(&models.Heartbeat{Name: webhookHeartbeat, SeenAt: time.Now().UTC()}).Error
}

// runHeartbeat first recovers a past outage (retrying every interval while
// Temporal is unreachable, without beating, so a crash meanwhile does not
// forget the gap), then records the heartbeat every interval until ctx is
// done.
func runHeartbeat(ctx context.Context, db *gorm.DB, tc client.Client, cfg *config.Config, log *slog.Logger) {
	recovered := false
	t := time.NewTicker(heartbeatInterval)
	defer t.Stop()
	for {
		if !recovered {
			if _, _, err := RecoverOutage(ctx, db, tc, cfg, log); err != nil {
				log.Warn("outage recovery not started yet; retrying", "err", err)
			} else {
				recovered = true
			}
		}
		if recovered {
			if err := beat(ctx, db); err != nil && ctx.Err() == nil {
				log.Warn("write heartbeat", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
