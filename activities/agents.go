package activities

import (
	"context"
	"fmt"

	"github.com/xcally-connector/connector/models"
)

// HeldInteractionsInput names an agent whose interactions must be taken
// back, on one account or (AccountID 0) on all of them.
type HeldInteractionsInput struct {
	AgentID   uint64
	AccountID uint64
}

// HeldInteraction is one open interaction and its conversation workflow.
type HeldInteraction struct {
	InteractionID uint64
	WorkflowID    string
}

// HeldInteractionsResult lists them, oldest first.
type HeldInteractionsResult struct {
	Items []HeldInteraction
}

// maxHeldInteractions bounds one listing: an agent holds at most its
// capacity (100) and is offered at most the waiting ring_all interactions.
const maxHeldInteractions = 10000

// HeldInteractions lists the open interactions assigned to the agent, and
// the queued ones it was offered (ring_all), on the account or on every
// account: what must be taken back when the agent loses access.
func (a *Activities) HeldInteractions(ctx context.Context, in HeldInteractionsInput) (HeldInteractionsResult, error) {
	db := a.DB.WithContext(ctx)
	offered := db.Model(&models.AgentEvent{}).Select("interaction_id").
		Where("agent_id = ? AND type = ?", in.AgentID, "interaction.offered")
	q := db.Model(&models.Interaction{}).Select("id", "workflow_id").
		Where("status <> ?", models.InteractionClosed).
		Where("(agent_id = ? AND status = ?) OR (status = ? AND id IN (?))",
			in.AgentID, models.InteractionAssigned, models.InteractionQueued, offered)
	if in.AccountID != 0 {
		q = q.Where("account_id = ?", in.AccountID)
	}
	var rows []models.Interaction
	if err := q.Order("id").Limit(maxHeldInteractions).Find(&rows).Error; err != nil {
		return HeldInteractionsResult{}, fmt.Errorf("list interactions of agent %d: %w", in.AgentID, err)
	}
	res := HeldInteractionsResult{Items: make([]HeldInteraction, 0, len(rows))}
	for _, r := range rows {
		res.Items = append(res.Items, HeldInteraction{InteractionID: r.ID, WorkflowID: r.WorkflowID})
	}
	return res, nil
}
