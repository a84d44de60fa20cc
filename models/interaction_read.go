package models

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// InteractionRead is how far an agent has read an interaction: the newest
// message it has seen. An interaction's unread messages, for that agent,
// are its customer messages after that one.
type InteractionRead struct {
	AgentID           uint64    `gorm:"primaryKey;autoIncrement:false"`
	InteractionID     uint64    `gorm:"primaryKey;autoIncrement:false;index"`
	LastReadMessageID uint64    `gorm:"not null"`
	ReadAt            time.Time `gorm:"not null"`
}

// MarkInteractionRead moves the agent's read mark of the interaction to
// messageID, never back (a slower request for an older message changes
// nothing).
func MarkInteractionRead(ctx context.Context, db *gorm.DB, agentID, interactionID, messageID uint64, at time.Time) error {
	return db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "agent_id"}, {Name: "interaction_id"}},
		DoUpdates: clause.Assignments(map[string]any{
			"last_read_message_id": gorm.Expr("CASE WHEN excluded.last_read_message_id > interaction_reads.last_read_message_id " +
				"THEN excluded.last_read_message_id ELSE interaction_reads.last_read_message_id END"),
			"read_at": gorm.Expr("CASE WHEN excluded.last_read_message_id > interaction_reads.last_read_message_id " +
				"THEN excluded.read_at ELSE interaction_reads.read_at END"),
		}),
	}).Create(&InteractionRead{AgentID: agentID, InteractionID: interactionID, LastReadMessageID: messageID, ReadAt: at.UTC()}).Error
}
