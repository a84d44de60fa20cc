package activities

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// QueueInfo is what the workflow needs of a queue to wait in it.
type QueueInfo struct {
	ID              uint64
	Name            string
	Strategy        string
	TimeoutSeconds  int
	OverflowQueueID uint64
}

// RouteInput asks to route an open interaction.
type RouteInput struct {
	InteractionID uint64
	AccountID     uint64
	// QueueID pins routing to one queue (after an overflow or a transfer);
	// 0 routes through the queues linked to the account.
	QueueID uint64
	// Strategy overrides the queues' own (the account's routing
	// parameters); "" keeps each queue's.
	Strategy string `json:",omitempty"`
}

// RouteResult is the outcome of one routing attempt.
type RouteResult struct {
	// Assigned is true when AgentID now holds the interaction.
	Assigned bool
	AgentID  uint64
	// Queue is the queue the interaction is in (zero when NoQueue).
	Queue QueueInfo
	// NoQueue: no live queue is linked to the account; the interaction stays
	// queued and visible as unassigned until one is.
	NoQueue bool
	// Offered lists the eligible agents of a ring_all queue: the interaction
	// is offered to all of them and the first to accept takes it.
	Offered []uint64
}

type candidate struct {
	ID       uint64
	Capacity int
	Active   int
}

// RouteInteraction tries to give an interaction to an agent. Eligible agents
// are members of the queue who enabled the account, are available and are
// under capacity. The queue's strategy picks one: round_robin continues after
// the last agent served, least_busy takes the fewest active interactions
// (ties round-robin), ring_all offers to every eligible agent. Assignment
// re-checks capacity under a lock on the agent, so concurrent conversations
// never push an agent over capacity. A retry after success returns the
// assignment already made.
func (a *Activities) RouteInteraction(ctx context.Context, in RouteInput) (RouteResult, error) {
	var res RouteResult
	var openedAt time.Time
	assignedNow := false
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		inter, err := loadOpenInteraction(tx, in.InteractionID)
		if err != nil {
			return err
		}
		openedAt = inter.OpenedAt
		if inter.Status == models.InteractionAssigned && inter.AgentID != nil {
			res.Assigned, res.AgentID = true, *inter.AgentID
			if inter.QueueID != nil {
				res.Queue, err = queueInfo(tx, *inter.QueueID)
			}
			return err
		}
		queues, err := routingQueues(tx, in)
		if err != nil {
			return err
		}
		if len(queues) == 0 {
			res.NoQueue = true
			return tx.Model(&models.Interaction{}).Where("id = ?", inter.ID).Update("queue_id", nil).Error
		}
		for _, q := range queues {
			if in.Strategy != "" {
				q.Strategy = models.QueueStrategy(in.Strategy)
			}
			cands, err := eligibleAgents(tx, q.ID, in.AccountID)
			if err != nil {
				return err
			}
			if len(cands) == 0 {
				continue
			}
			res.Queue = toQueueInfo(q)
			if q.Strategy == models.StrategyRingAll {
				for _, c := range cands {
					res.Offered = append(res.Offered, c.ID)
				}
				return setQueue(tx, inter.ID, q.ID)
			}
			for _, c := range order(q, cands) {
				ok, err := assign(tx, inter.ID, c.ID, q.ID, time.Time{})
				if err != nil {
					return err
				}
				if ok {
					res.Assigned, res.AgentID, assignedNow = true, c.ID, true
					return tx.Model(&models.Queue{}).Where("id = ?", q.ID).Update("last_agent_id", c.ID).Error
				}
			}
		}
		// Nobody is eligible: wait in the first queue.
		res.Queue = toQueueInfo(queues[0])
		return setQueue(tx, inter.ID, queues[0].ID)
	})
	if err != nil {
		return RouteResult{}, err
	}
	if assignedNow {
		a.Metrics.QueueWait(res.Queue.ID, time.Since(openedAt))
	}
	a.log(ctx, in.AccountID).Debug("routed", "interaction_id", in.InteractionID, "assigned", res.Assigned, "agent_id", res.AgentID,
		"queue_id", res.Queue.ID, "offered", len(res.Offered), "no_queue", res.NoQueue)
	return res, nil
}

// AssignToAgentInput gives an interaction to one named agent (transfer, or a
// ring_all acceptance).
type AssignToAgentInput struct {
	InteractionID uint64
	AccountID     uint64
	AgentID       uint64
	// QueueID is recorded on the interaction when non-zero.
	QueueID uint64
	// Transfer: an agent or admin transferred it to this agent (counted on
	// the interaction).
	Transfer bool `json:",omitempty"`
	// AcceptBy, for a transfer the target must accept, is when it goes
	// back to its queue unless accepted (shown in the agent's inbox).
	AcceptBy time.Time `json:",omitempty"`
}

// AssignToAgent assigns the interaction to the agent if the agent exists,
// enabled the account and is under capacity; otherwise it fails with the
// non-retryable ErrTypeNotEligible, naming the reason.
func (a *Activities) AssignToAgent(ctx context.Context, in AssignToAgentInput) error {
	// A queued interaction taken by an agent (a ring_all acceptance, a
	// transfer out of a queue) has waited; a transfer between agents has not.
	var waited bool
	var queueOf uint64
	var openedAt time.Time
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		inter, err := loadOpenInteraction(tx, in.InteractionID)
		if err != nil {
			return err
		}
		openedAt = inter.OpenedAt
		if inter.AgentID != nil && *inter.AgentID == in.AgentID && inter.Status == models.InteractionAssigned {
			return nil // already done by a previous attempt
		}
		var agent models.Agent
		if err := tx.First(&agent, in.AgentID).Error; err != nil {
			if isNotFound(err) {
				return notEligible("agent %d does not exist", in.AgentID)
			}
			return err
		}
		var enabled int64
		if err := tx.Model(&models.AgentAccount{}).Where("agent_id = ? AND account_id IN (?)", in.AgentID,
			models.ReachableAccountIDs(tx, in.AgentID).Where("account_id = ?", in.AccountID)).Count(&enabled).Error; err != nil {
			return err
		}
		if enabled == 0 {
			return notEligible("agent %d is not permitted on account %d or has not enabled it", in.AgentID, in.AccountID)
		}
		queueID := in.QueueID
		if queueID == 0 && inter.QueueID != nil {
			queueID = *inter.QueueID
		}
		if inter.AgentID != nil && inter.Status == models.InteractionAssigned {
			// Transfer: free the previous agent first so the interaction is
			// queued while the new agent's capacity is checked.
			if err := tx.Model(&models.Interaction{}).Where("id = ?", inter.ID).
				Updates(map[string]any{"status": models.InteractionQueued, "agent_id": nil}).Error; err != nil {
				return err
			}
			if err := insertAgentEvent(tx, *inter.AgentID, "interaction.transferred", inter.ID,
				fmt.Sprintf("transferred:%d:%d:%d", inter.ID, *inter.AgentID, time.Now().UnixNano()),
				map[string]any{"interactionId": inter.ID, "toAgentId": in.AgentID}); err != nil {
				return err
			}
		}
		ok, err := assign(tx, inter.ID, in.AgentID, queueID, in.AcceptBy)
		if err != nil {
			return err
		}
		if !ok {
			return notEligible("agent %d is at capacity (%d)", in.AgentID, agent.Capacity)
		}
		if in.Transfer {
			if err := noteMove(tx, inter.ID, MoveTransfer); err != nil {
				return err
			}
		}
		if inter.Status == models.InteractionQueued {
			waited, queueOf = true, queueID
		}
		return nil
	})
	if err == nil && waited {
		a.Metrics.QueueWait(queueOf, time.Since(openedAt))
	}
	return err
}

// MoveToQueueInput puts an interaction in a queue, unassigned (overflow, a
// transfer to a queue, an action flow step, a transfer taken back).
type MoveToQueueInput struct {
	InteractionID uint64
	// QueueID 0 unassigns it without a queue: routing then goes through
	// the account's queues again.
	QueueID uint64
	// Reason is MoveOverflow, MoveTransfer, MoveFlow or MoveTakeBack;
	// transfers and overflows are counted on the interaction.
	Reason string `json:",omitempty"`
}

// MoveToQueue unassigns the interaction (telling the previous agent) and
// puts it in the queue, returning the queue's routing settings.
func (a *Activities) MoveToQueue(ctx context.Context, in MoveToQueueInput) (QueueInfo, error) {
	var info QueueInfo
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		inter, err := loadOpenInteraction(tx, in.InteractionID)
		if err != nil {
			return err
		}
		if in.QueueID != 0 {
			if info, err = queueInfo(tx, in.QueueID); err != nil {
				if isNotFound(err) {
					return notEligible("queue %d does not exist", in.QueueID)
				}
				return err
			}
		}
		if inter.AgentID != nil {
			if err := insertAgentEvent(tx, *inter.AgentID, "interaction.transferred", inter.ID,
				fmt.Sprintf("moved:%d:%d:%d", inter.ID, in.QueueID, time.Now().UnixNano()),
				map[string]any{"interactionId": inter.ID, "toQueueId": in.QueueID}); err != nil {
				return err
			}
		}
		var queueID any
		if in.QueueID != 0 {
			queueID = in.QueueID
		}
		// A retry of a move that committed finds the interaction where it
		// was moved: it is not counted again.
		already := inter.Status == models.InteractionQueued && inter.AgentID == nil &&
			((inter.QueueID == nil && in.QueueID == 0) || (inter.QueueID != nil && *inter.QueueID == in.QueueID))
		if err := tx.Model(&models.Interaction{}).Where("id = ?", inter.ID).Updates(map[string]any{
			"status": models.InteractionQueued, "agent_id": nil, "queue_id": queueID, "assigned_at": nil, "accept_by": nil,
		}).Error; err != nil {
			return err
		}
		if already {
			return nil
		}
		return noteMove(tx, inter.ID, in.Reason)
	})
	return info, err
}

func loadOpenInteraction(tx *gorm.DB, id uint64) (models.Interaction, error) {
	var inter models.Interaction
	if err := tx.First(&inter, id).Error; err != nil {
		if isNotFound(err) {
			return inter, temporal.NewNonRetryableApplicationError(fmt.Sprintf("interaction %d does not exist", id), ErrTypeNotOpen, err)
		}
		return inter, err
	}
	if inter.Status == models.InteractionClosed {
		return inter, temporal.NewNonRetryableApplicationError(fmt.Sprintf("interaction %d is closed", id), ErrTypeNotOpen, nil)
	}
	return inter, nil
}

func notEligible(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrTypeNotEligible, nil)
}

func routingQueues(tx *gorm.DB, in RouteInput) ([]models.Queue, error) {
	var queues []models.Queue
	q := tx.Model(&models.Queue{})
	if in.QueueID != 0 {
		q = q.Where("id = ?", in.QueueID)
	} else {
		q = q.Joins("JOIN queue_accounts qa ON qa.queue_id = queues.id AND qa.account_id = ?", in.AccountID)
	}
	return queues, q.Order("queues.id").Find(&queues).Error
}

// eligibleAgents lists the queue's available members who are permitted on
// the account and enabled it (models.ReachableAccountIDs) and are under
// capacity, ordered by id.
func eligibleAgents(tx *gorm.DB, queueID, accountID uint64) ([]candidate, error) {
	var rows []candidate
	err := tx.Raw(`
SELECT a.id AS id, a.capacity AS capacity,
       (SELECT COUNT(*) FROM interactions i WHERE i.agent_id = a.id AND i.status = ?) AS active
FROM agents a
JOIN queue_agents qa ON qa.agent_id = a.id AND qa.queue_id = ?
JOIN agent_accounts aa ON aa.agent_id = a.id AND aa.account_id = ? AND aa.enabled = ?
WHERE a.deleted_at IS NULL AND a.presence = ?
ORDER BY a.id`, models.InteractionAssigned, queueID, accountID, true, models.PresenceAvailable).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("eligible agents of queue %d: %w", queueID, err)
	}
	out := rows[:0]
	for _, r := range rows {
		if r.Active < r.Capacity {
			out = append(out, r)
		}
	}
	return out, nil
}

// order arranges candidates (sorted by id) by the queue's strategy.
func order(q models.Queue, cands []candidate) []candidate {
	var last uint64
	if q.LastAgentID != nil {
		last = *q.LastAgentID
	}
	// Rotate so the first agent after the round-robin cursor comes first.
	start := max(slices.IndexFunc(cands, func(c candidate) bool { return c.ID > last }), 0)
	rotated := slices.Concat(cands[start:], cands[:start])
	if q.Strategy == models.StrategyLeastBusy {
		// A stable sort by load keeps the round-robin order among equals.
		slices.SortStableFunc(rotated, func(a, b candidate) int { return a.Active - b.Active })
	}
	return rotated
}

// assign gives the interaction to the agent if the agent is still under
// capacity, checked under a row lock on the agent (Postgres) or the
// database write lock (SQLite's immediate transactions). acceptBy (zero:
// none) is a transfer's acceptance deadline.
func assign(tx *gorm.DB, interactionID, agentID, queueID uint64, acceptBy time.Time) (bool, error) {
	var agent models.Agent
	if err := forUpdate(tx).Model(&models.Agent{}).Where("id = ?", agentID).Take(&agent).Error; err != nil {
		return false, err
	}
	var active int64
	if err := tx.Model(&models.Interaction{}).Where("agent_id = ? AND status = ?", agentID, models.InteractionAssigned).Count(&active).Error; err != nil {
		return false, err
	}
	if int(active) >= agent.Capacity {
		return false, nil
	}
	now := time.Now().UTC()
	updates := map[string]any{"status": models.InteractionAssigned, "agent_id": agentID, "assigned_at": now, "accept_by": nil}
	if !acceptBy.IsZero() {
		updates["accept_by"] = acceptBy.UTC()
	}
	if queueID != 0 {
		updates["queue_id"] = queueID
	}
	r := tx.Model(&models.Interaction{}).Where("id = ? AND status = ?", interactionID, models.InteractionQueued).Updates(updates)
	if r.Error != nil {
		return false, r.Error
	}
	if r.RowsAffected != 1 {
		return false, fmt.Errorf("interaction %d changed while being assigned", interactionID)
	}
	return true, noteAssigned(tx, interactionID, now)
}

func setQueue(tx *gorm.DB, interactionID, queueID uint64) error {
	return tx.Model(&models.Interaction{}).Where("id = ?", interactionID).Update("queue_id", queueID).Error
}

func queueInfo(tx *gorm.DB, id uint64) (QueueInfo, error) {
	var q models.Queue
	if err := tx.First(&q, id).Error; err != nil {
		return QueueInfo{}, err
	}
	return toQueueInfo(q), nil
}

func toQueueInfo(q models.Queue) QueueInfo {
	info := QueueInfo{ID: q.ID, Name: q.Name, Strategy: string(q.Strategy), TimeoutSeconds: q.TimeoutSeconds}
	if q.OverflowQueueID != nil {
		info.OverflowQueueID = *q.OverflowQueueID
	}
	return info
}
