package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// QueueUpdateRequest is the body of PATCH /api/queues/{id}: the fields
// present change. overflowQueueId null (or 0) removes the overflow.
type QueueUpdateRequest struct {
	Name            *string         `json:"name"`
	Strategy        *string         `json:"strategy"`
	TimeoutSeconds  *int            `json:"timeoutSeconds"`
	OverflowQueueID json.RawMessage `json:"overflowQueueId"`
}

// columns validates the request and returns the columns it changes.
func (r *QueueUpdateRequest) columns(id uint64) (map[string]any, error) {
	cols := map[string]any{}
	if r.Name != nil {
		name := trimmed(r.Name)
		if err := checkRequired("name", name, maxNameLen); err != nil {
			return nil, err
		}
		cols["name"] = *name
	}
	if r.Strategy != nil {
		if err := checkOneOf("strategy", *r.Strategy, string(models.StrategyRoundRobin), string(models.StrategyLeastBusy), string(models.StrategyRingAll)); err != nil {
			return nil, err
		}
		cols["strategy"] = *r.Strategy
	}
	if t := r.TimeoutSeconds; t != nil {
		if *t < 0 || *t > maxQueueTimeout {
			return nil, fieldError("timeoutSeconds", "want 0 (wait forever) to %d, got %d", maxQueueTimeout, *t)
		}
		cols["timeout_seconds"] = *t
	}
	if raw := bytes.TrimSpace(r.OverflowQueueID); len(raw) > 0 {
		var next *uint64
		if err := json.Unmarshal(raw, &next); err != nil {
			return nil, fieldError("overflowQueueId", "want a queue id, or null to remove the overflow, got %s", raw)
		}
		switch {
		case next == nil || *next == 0:
			cols["overflow_queue_id"] = nil
		case *next == id:
			return nil, fieldError("overflowQueueId", "a queue cannot overflow into itself")
		default:
			cols["overflow_queue_id"] = *next
		}
	}
	if len(cols) == 0 {
		return nil, errBadRequest("invalid_request", "give at least one of name, strategy, timeoutSeconds, overflowQueueId")
	}
	return cols, nil
}

// updateQueue handles PATCH /api/queues/:id (admin). A change applies to
// the queue's next routing decision: interactions waiting in it are routed
// by the new strategy at their next attempt, and a new timeout counts from
// when they next enter the queue.
func (s *Server) updateQueue(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	var req QueueUpdateRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cols, err := req.columns(id)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var q models.Queue
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := rowExists(tx, &models.Queue{}, "queue", id); err != nil {
			return err
		}
		if next, ok := cols["overflow_queue_id"].(uint64); ok {
			var n int64
			if err := tx.Model(&models.Queue{}).Where("id = ?", next).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return fieldError("overflowQueueId", "queue %d does not exist", next)
			}
		}
		if err := tx.Model(&models.Queue{}).Where("id = ?", id).Updates(cols).Error; err != nil {
			return err
		}
		return tx.Take(&q, id).Error
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return conflict(fmt.Sprintf("name: a queue named %q already exists", cols["name"]), err)
	}
	if err != nil {
		return err
	}
	accounts, agents, err := queueLinks(s.deps.DB.WithContext(ctx), []uint64{id})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "queue updated", "queue_id", id, "request_id", requestID(c))
	s.routingChanged()
	return c.JSON(http.StatusOK, toQueueResponse(q, accounts[id], agents[id]))
}
