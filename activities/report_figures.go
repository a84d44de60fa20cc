package activities

import (
	"time"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// The reporting figures of an interaction and its replies are written when
// the event happens, in the transaction of the change, so that reports
// read indexed columns instead of reconstructing histories (decisions §20).

// Reasons a MoveToQueue moves an interaction; transfers and overflows are
// counted on the interaction.
const (
	MoveOverflow = "overflow"
	MoveTransfer = "transfer"
	MoveFlow     = "flow"
	MoveTakeBack = "take_back"
)

// agentReplies selects an interaction's agent replies: outbound messages
// an agent wrote (not a flow reply, not a part of a split message).
const agentReplies = "direction = 'outbound' AND agent_id IS NOT NULL AND parent_id IS NULL"

// countMessages adds n stored messages to an interaction's counter
// (messages_in or messages_out): on the webhook's path a message store
// costs one increment, not a count of the interaction's rows.
func countMessages(tx *gorm.DB, interactionID uint64, column string, n int) error {
	if n == 0 {
		return nil
	}
	return tx.Model(&models.Interaction{}).Where("id = ?", interactionID).Update(column, gorm.Expr(column+" + ?", n)).Error
}

// recountMessages sets the interactions' message counters from their
// rows, after a message moved between interactions (reclaimed), so it is
// counted where it is.
func recountMessages(tx *gorm.DB, interactionIDs ...uint64) error {
	for _, id := range interactionIDs {
		err := tx.Exec(`UPDATE interactions SET
  messages_in = (SELECT count(*) FROM messages WHERE interaction_id = ? AND direction = 'inbound'),
  messages_out = (SELECT count(*) FROM messages WHERE interaction_id = ? AND `+agentReplies+`)
WHERE id = ?`, id, id, id).Error
		if err != nil {
			return err
		}
	}
	return nil
}

// noteAssigned records the interaction's first assignment.
func noteAssigned(tx *gorm.DB, interactionID uint64, at time.Time) error {
	var inter models.Interaction
	if err := tx.Select("id", "opened_at", "first_assigned_at").Take(&inter, interactionID).Error; err != nil {
		return err
	}
	if inter.FirstAssignedAt != nil {
		return nil
	}
	ms := max(at.Sub(inter.OpenedAt).Milliseconds(), 0)
	return tx.Model(&models.Interaction{}).Where("id = ? AND first_assigned_at IS NULL", interactionID).
		Updates(map[string]any{"first_assigned_at": at, "time_to_assign_ms": ms}).Error
}

// noteMove counts a transfer or an overflow.
func noteMove(tx *gorm.DB, interactionID uint64, reason string) error {
	col := ""
	switch reason {
	case MoveTransfer:
		col = "transfers"
	case MoveOverflow:
		col = "overflows"
	default:
		return nil
	}
	return tx.Model(&models.Interaction{}).Where("id = ?", interactionID).Update(col, gorm.Expr(col+" + 1")).Error
}

// noteAgentReply records, for a new agent reply, the time it took: from
// the oldest customer message it answers (the first since the previous
// agent reply; none: it answers nothing new and has no reply time), and
// for the interaction's first reply, the first response time from its
// first customer message.
func noteAgentReply(tx *gorm.DB, m models.Message) error {
	if m.Direction != models.DirectionOutbound || m.AgentID == nil || m.ParentID != nil {
		return nil
	}
	at := m.CreatedAt.UTC()
	// The previous agent reply (a row, not max(): SQLite returns times
	// of aggregates as text).
	var prev models.Message
	err := tx.Select("id", "created_at").Where("interaction_id = ? AND id <> ? AND "+agentReplies, m.InteractionID, m.ID).
		Order("created_at DESC, id DESC").Limit(1).Take(&prev).Error
	if err != nil && !isNotFound(err) {
		return err
	}
	q := tx.Model(&models.Message{}).Where("interaction_id = ? AND direction = 'inbound'", m.InteractionID)
	if prev.ID != 0 {
		q = q.Where("created_at > ?", prev.CreatedAt)
	}
	var oldest models.Message
	err = q.Order("created_at, id").Limit(1).Take(&oldest).Error
	switch {
	case err == nil:
		ms := max(at.Sub(customerTime(oldest)).Milliseconds(), 0)
		if err := tx.Model(&models.Message{}).Where("id = ?", m.ID).Update("reply_ms", ms).Error; err != nil {
			return err
		}
	case !isNotFound(err):
		return err
	}
	var inter models.Interaction
	if err := tx.Select("id", "opened_at", "first_response_at").Take(&inter, m.InteractionID).Error; err != nil {
		return err
	}
	if inter.FirstResponseAt != nil {
		return nil
	}
	var first models.Message
	start := inter.OpenedAt
	if err := tx.Where("interaction_id = ? AND direction = 'inbound'", m.InteractionID).Order("created_at, id").Limit(1).Take(&first).Error; err == nil {
		start = customerTime(first)
	} else if !isNotFound(err) {
		return err
	}
	ms := max(at.Sub(start).Milliseconds(), 0)
	return tx.Model(&models.Interaction{}).Where("id = ? AND first_response_at IS NULL", m.InteractionID).
		Updates(map[string]any{"first_response_at": at, "first_response_ms": ms}).Error
}

// customerTime is when the customer sent a message: Sinch's accept time,
// else when it was stored.
func customerTime(m models.Message) time.Time {
	if m.ProviderTime != nil {
		return m.ProviderTime.UTC()
	}
	return m.CreatedAt.UTC()
}

// handleMs is the close minus the current assignment (nil: unassigned).
func handleMs(inter models.Interaction, closedAt time.Time) *int64 {
	if inter.AssignedAt == nil {
		return nil
	}
	ms := max(closedAt.Sub(*inter.AssignedAt).Milliseconds(), 0)
	return &ms
}
