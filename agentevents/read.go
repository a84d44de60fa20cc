package agentevents

import (
	"context"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// Newest is the id of an agent's newest event (0 when it has none): a
// stream opened without Last-Event-ID starts after it.
func Newest(ctx context.Context, db *gorm.DB, agentID uint64) (uint64, error) {
	var last uint64
	err := db.WithContext(ctx).Model(&models.AgentEvent{}).
		Where("agent_id = ?", agentID).Select("COALESCE(MAX(id), 0)").Scan(&last).Error
	return last, err
}
