package activities

import (
	"context"
	"fmt"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/models"
)

// CopyAccessResult lists the queues and agents the target now shares with
// the source, and how many links this run added.
type CopyAccessResult struct {
	QueueIDs    []uint64
	AgentIDs    []uint64
	QueuesAdded int
	AgentsAdded int
}

// CopyMigrationAccess links the target to every live queue of the source
// (QueueAccount) and copies every live agent's permission on the source to
// the target, enabled where the agent enabled the source (AgentAccount),
// step 3. Insert or ignore: a repeat adds nothing.
func (a *Activities) CopyMigrationAccess(ctx context.Context, in MigrationPairInput) (CopyAccessResult, error) {
	var res CopyAccessResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if res.QueueIDs, err = sourceQueues(tx, in.SourceAccountID); err != nil {
			return err
		}
		links, err := sourceAgentLinks(tx, in.SourceAccountID)
		if err != nil {
			return err
		}
		for _, l := range links {
			res.AgentIDs = append(res.AgentIDs, l.AgentID)
		}
		for _, q := range res.QueueIDs {
			r := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.QueueAccount{QueueID: q, AccountID: in.TargetAccountID})
			if r.Error != nil {
				return fmt.Errorf("link queue %d: %w", q, r.Error)
			}
			res.QueuesAdded += int(r.RowsAffected)
		}
		for _, link := range links {
			ag := link.AgentID
			r := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.AgentAccount{
				AgentID: ag, AccountID: in.TargetAccountID, Enabled: link.Enabled, EnabledAt: link.EnabledAt,
			})
			if r.Error != nil {
				return fmt.Errorf("enable account for agent %d: %w", ag, r.Error)
			}
			res.AgentsAdded += int(r.RowsAffected)
		}
		return nil
	})
	if err != nil {
		return CopyAccessResult{}, migrationError("copy queues and agents of migration", in.MigrationID, err)
	}
	return res, nil
}

// sourceQueues are the ids of the live queues an account is linked to.
func sourceQueues(tx *gorm.DB, accountID uint64) ([]uint64, error) {
	var ids []uint64
	err := tx.Table("queue_accounts").Select("queue_accounts.queue_id").
		Joins("JOIN queues ON queues.id = queue_accounts.queue_id AND queues.deleted_at IS NULL").
		Where("queue_accounts.account_id = ?", accountID).Order("queue_accounts.queue_id").Pluck("queue_accounts.queue_id", &ids).Error
	return ids, err
}

// sourceAgentLinks are the permissions of the live agents on an account.
func sourceAgentLinks(tx *gorm.DB, accountID uint64) ([]models.AgentAccount, error) {
	var links []models.AgentAccount
	err := tx.Model(&models.AgentAccount{}).Omit(clause.Associations).
		Joins("JOIN agents ON agents.id = agent_accounts.agent_id AND agents.deleted_at IS NULL").
		Where("agent_accounts.account_id = ?", accountID).Order("agent_accounts.agent_id").
		Select("agent_accounts.agent_id", "agent_accounts.account_id", "agent_accounts.enabled", "agent_accounts.enabled_at").
		Find(&links).Error
	return links, err
}

// sourceAgents are the ids of the live agents who enabled an account.
func sourceAgents(tx *gorm.DB, accountID uint64) ([]uint64, error) {
	var ids []uint64
	err := tx.Table("agent_accounts").Select("agent_accounts.agent_id").
		Joins("JOIN agents ON agents.id = agent_accounts.agent_id AND agents.deleted_at IS NULL").
		Where("agent_accounts.account_id = ? AND agent_accounts.enabled = ?", accountID, true).Order("agent_accounts.agent_id").Pluck("agent_accounts.agent_id", &ids).Error
	return ids, err
}

// BridgeResult is the queue linked to both accounts.
type BridgeResult struct {
	QueueID uint64
	Name    string
	// Created is set when the migration created the queue (a cancel
	// deletes it); a reused queue is left alone.
	Created bool
}

// maxQueueNameLen is the size of queues.name.
const maxQueueNameLen = 255

// EnsureMigrationBridge gives the migration a queue linked to both
// accounts (step 4): the one it recorded, else the lowest-id live queue
// already linked to both, else a new round_robin queue "Migration bridge:
// <source> → <target>" linked to both whose members are the agents who
// enabled the source. The queue is recorded on the migration row in the
// same transaction, so a repeat returns it.
func (a *Activities) EnsureMigrationBridge(ctx context.Context, in MigrationPairInput) (BridgeResult, error) {
	var res BridgeResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		mig, err := lockMigration(tx, in.MigrationID)
		if err != nil {
			return err
		}
		if mig.BridgeQueueID != nil {
			var q models.Queue
			if err := tx.Take(&q, *mig.BridgeQueueID).Error; err == nil {
				res = BridgeResult{QueueID: q.ID, Name: q.Name, Created: mig.BridgeCreated}
				return nil
			} else if !isNotFound(err) {
				return err
			}
			// The recorded queue was deleted meanwhile: choose again.
		}
		var shared []models.Queue
		if err := tx.Model(&models.Queue{}).
			Joins("JOIN queue_accounts s ON s.queue_id = queues.id AND s.account_id = ?", in.SourceAccountID).
			Joins("JOIN queue_accounts t ON t.queue_id = queues.id AND t.account_id = ?", in.TargetAccountID).
			Order("queues.id").Limit(1).Find(&shared).Error; err != nil {
			return err
		}
		if len(shared) == 1 {
			res = BridgeResult{QueueID: shared[0].ID, Name: shared[0].Name}
		} else if res, err = createBridge(tx, mig.ID, in); err != nil {
			return err
		}
		return tx.Model(&models.Migration{}).Where("id = ?", mig.ID).
			Updates(map[string]any{"bridge_queue_id": res.QueueID, "bridge_created": res.Created}).Error
	})
	if err != nil {
		return BridgeResult{}, migrationError("set up the bridge queue of migration", in.MigrationID, err)
	}
	return res, nil
}

// createBridge creates the bridge queue of a source without queues.
func createBridge(tx *gorm.DB, migrationID uint64, in MigrationPairInput) (BridgeResult, error) {
	var src, dst models.Account
	if err := tx.Unscoped().Take(&src, in.SourceAccountID).Error; err != nil {
		return BridgeResult{}, err
	}
	if err := tx.Unscoped().Take(&dst, in.TargetAccountID).Error; err != nil {
		return BridgeResult{}, err
	}
	name := truncateUTF8(fmt.Sprintf("Migration bridge: %s → %s", src.Name, dst.Name), maxQueueNameLen)
	var taken int64
	if err := tx.Model(&models.Queue{}).Where("name = ?", name).Count(&taken).Error; err != nil {
		return BridgeResult{}, err
	}
	if taken > 0 {
		suffix := fmt.Sprintf(" (migration %d)", migrationID)
		name = truncateUTF8(name, maxQueueNameLen-utf8.RuneCountInString(suffix)) + suffix
	}
	q := models.Queue{Name: name, Strategy: models.StrategyRoundRobin}
	if err := tx.Create(&q).Error; err != nil {
		return BridgeResult{}, fmt.Errorf("create bridge queue %q: %w", name, err)
	}
	for _, acc := range []uint64{in.SourceAccountID, in.TargetAccountID} {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.QueueAccount{QueueID: q.ID, AccountID: acc}).Error; err != nil {
			return BridgeResult{}, err
		}
	}
	agents, err := sourceAgents(tx, in.SourceAccountID)
	if err != nil {
		return BridgeResult{}, err
	}
	for _, ag := range agents {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.QueueAgent{QueueID: q.ID, AgentID: ag}).Error; err != nil {
			return BridgeResult{}, err
		}
	}
	return BridgeResult{QueueID: q.ID, Name: q.Name, Created: true}, nil
}
