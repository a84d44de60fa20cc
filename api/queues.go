package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/models"
)

// maxQueueTimeout is the longest a queue may hold an interaction before it
// overflows: one day.
const maxQueueTimeout = 86400

// QueueRequest is the body of POST /api/queues.
type QueueRequest struct {
	// Name is required and unique among live queues.
	Name string `json:"name"`
	// Strategy is round_robin, least_busy or ring_all.
	Strategy string `json:"strategy"`
	// TimeoutSeconds is how long an interaction waits for an agent before
	// it overflows, 0..86400; 0 (the default) waits forever.
	TimeoutSeconds *int `json:"timeoutSeconds"`
	// OverflowQueueID is the live queue that takes the interactions whose
	// wait timed out.
	OverflowQueueID *uint64 `json:"overflowQueueId"`
}

// QueueResponse is a queue with the accounts it serves and its agents.
type QueueResponse struct {
	ID              uint64  `json:"id"`
	Name            string  `json:"name"`
	Strategy        string  `json:"strategy"`
	TimeoutSeconds  int     `json:"timeoutSeconds"`
	OverflowQueueID *uint64 `json:"overflowQueueId"`
	// AccountIDs and AgentIDs are the linked accounts and member agents in
	// id order; never null.
	AccountIDs []uint64  `json:"accountIds"`
	AgentIDs   []uint64  `json:"agentIds"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// validate checks the request and trims the name.
func (r *QueueRequest) validate() error {
	name := trimmed(&r.Name)
	if err := checkRequired("name", name, maxNameLen); err != nil {
		return err
	}
	r.Name = *name
	if r.Strategy == "" {
		return fieldError("strategy", "required: one of round_robin, least_busy, ring_all")
	}
	if err := checkOneOf("strategy", r.Strategy, string(models.StrategyRoundRobin), string(models.StrategyLeastBusy), string(models.StrategyRingAll)); err != nil {
		return err
	}
	if t := r.TimeoutSeconds; t != nil && (*t < 0 || *t > maxQueueTimeout) {
		return fieldError("timeoutSeconds", "want 0 (wait forever) to %d, got %d", maxQueueTimeout, *t)
	}
	if r.OverflowQueueID != nil {
		return checkBodyID("overflowQueueId", *r.OverflowQueueID)
	}
	return nil
}

// createQueue handles POST /api/queues.
func (s *Server) createQueue(c echo.Context) error {
	var req QueueRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	q := models.Queue{Name: req.Name, Strategy: models.QueueStrategy(req.Strategy), OverflowQueueID: req.OverflowQueueID}
	if req.TimeoutSeconds != nil {
		q.TimeoutSeconds = *req.TimeoutSeconds
	}
	ctx := c.Request().Context()
	err := s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if q.OverflowQueueID != nil {
			var n int64
			if err := tx.Model(&models.Queue{}).Where("id = ?", *q.OverflowQueueID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return fieldError("overflowQueueId", "queue %d does not exist", *q.OverflowQueueID)
			}
		}
		if err := tx.Omit(clause.Associations).Create(&q).Error; err != nil {
			return err
		}
		return tx.Take(&q, q.ID).Error
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return conflict(fmt.Sprintf("name: a queue named %q already exists", req.Name), err)
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "queue created", "queue_id", q.ID, "request_id", requestID(c))
	return c.JSON(http.StatusCreated, toQueueResponse(q, nil, nil))
}

// listQueues handles GET /api/queues.
func (s *Server) listQueues(c echo.Context) error {
	db := s.deps.DB.WithContext(c.Request().Context())
	var qs []models.Queue
	if err := db.Order("id").Find(&qs).Error; err != nil {
		return err
	}
	ids := make([]uint64, len(qs))
	for i, q := range qs {
		ids[i] = q.ID
	}
	accounts, agents, err := queueLinks(db, ids)
	if err != nil {
		return err
	}
	out := make([]QueueResponse, 0, len(qs))
	for _, q := range qs {
		out = append(out, toQueueResponse(q, accounts[q.ID], agents[q.ID]))
	}
	return c.JSON(http.StatusOK, out)
}

// getQueue handles GET /api/queues/:id.
func (s *Server) getQueue(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	db := s.deps.DB.WithContext(c.Request().Context())
	var q models.Queue
	if err := db.Take(&q, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return notFound("queue", id)
		}
		return err
	}
	accounts, agents, err := queueLinks(db, []uint64{id})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toQueueResponse(q, accounts[id], agents[id]))
}

// deleteQueue handles DELETE /api/queues/:id: a soft delete that removes
// the queue's account and agent links and clears it as the overflow target
// of other queues, so nothing routes into a deleted queue.
func (s *Server) deleteQueue(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Delete(&models.Queue{}, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return notFound("queue", id)
		}
		if err := tx.Where("queue_id = ?", id).Delete(&models.QueueAccount{}).Error; err != nil {
			return err
		}
		if err := tx.Where("queue_id = ?", id).Delete(&models.QueueAgent{}).Error; err != nil {
			return err
		}
		return tx.Model(&models.Queue{}).Where("overflow_queue_id = ?", id).Update("overflow_queue_id", nil).Error
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "queue deleted", "queue_id", id, "request_id", requestID(c))
	return c.NoContent(http.StatusNoContent)
}

// linkQueueAccount handles PUT /api/queues/:id/accounts/:accountId.
func (s *Server) linkQueueAccount(c echo.Context) error {
	return s.setQueueLink(c, "accountId", "account", &models.Account{}, true,
		func(queueID, otherID uint64) any { return &models.QueueAccount{QueueID: queueID, AccountID: otherID} })
}

// unlinkQueueAccount handles DELETE /api/queues/:id/accounts/:accountId.
func (s *Server) unlinkQueueAccount(c echo.Context) error {
	return s.setQueueLink(c, "accountId", "account", &models.Account{}, false,
		func(queueID, otherID uint64) any { return &models.QueueAccount{QueueID: queueID, AccountID: otherID} })
}

// linkQueueAgent handles PUT /api/queues/:id/agents/:agentId.
func (s *Server) linkQueueAgent(c echo.Context) error {
	return s.setQueueLink(c, "agentId", "agent", &models.Agent{}, true,
		func(queueID, otherID uint64) any { return &models.QueueAgent{QueueID: queueID, AgentID: otherID} })
}

// unlinkQueueAgent handles DELETE /api/queues/:id/agents/:agentId.
func (s *Server) unlinkQueueAgent(c echo.Context) error {
	return s.setQueueLink(c, "agentId", "agent", &models.Agent{}, false,
		func(queueID, otherID uint64) any { return &models.QueueAgent{QueueID: queueID, AgentID: otherID} })
}

// setQueueLink adds (on) or removes a link between a queue and an account
// or agent. Both are idempotent; both answer 404 naming whichever of the
// two does not exist. Adding a link may make an agent eligible for waiting
// interactions, so it wakes them.
func (s *Server) setQueueLink(c echo.Context, param, kind string, otherModel any, on bool, link func(queueID, otherID uint64) any) error {
	queueID, err := parseID(c, "id")
	if err != nil {
		return err
	}
	otherID, err := parseID(c, param)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := rowExists(tx, &models.Queue{}, "queue", queueID); err != nil {
			return err
		}
		if err := rowExists(tx, otherModel, kind, otherID); err != nil {
			return err
		}
		row := link(queueID, otherID)
		if on {
			return tx.Omit(clause.Associations).Clauses(clause.OnConflict{DoNothing: true}).Create(row).Error
		}
		return tx.Delete(row).Error
	})
	if err != nil {
		return err
	}
	if on {
		s.routingChanged()
	}
	return c.NoContent(http.StatusNoContent)
}

// queueLinks returns the account and agent ids linked to each queue.
func queueLinks(db *gorm.DB, queueIDs []uint64) (accounts, agents map[uint64][]uint64, err error) {
	if accounts, err = linkIDs(db, "queue_accounts", "queue_id", "account_id", queueIDs); err != nil {
		return nil, nil, err
	}
	agents, err = linkIDs(db, "queue_agents", "queue_id", "agent_id", queueIDs)
	return accounts, agents, err
}

// linkIDs reads a link table: for each key in keys, the linked ids in
// ascending order.
func linkIDs(db *gorm.DB, table, keyCol, valCol string, keys []uint64) (map[uint64][]uint64, error) {
	out := map[uint64][]uint64{}
	if len(keys) == 0 {
		return out, nil
	}
	var rows []struct{ K, V uint64 }
	err := db.Table(table).Select(keyCol+" AS k, "+valCol+" AS v").Where(keyCol+" IN ?", keys).
		Order(keyCol + ", " + valCol).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.K] = append(out[r.K], r.V)
	}
	return out, nil
}

// toQueueResponse is the API view of a queue.
func toQueueResponse(q models.Queue, accountIDs, agentIDs []uint64) QueueResponse {
	if accountIDs == nil {
		accountIDs = []uint64{}
	}
	if agentIDs == nil {
		agentIDs = []uint64{}
	}
	return QueueResponse{
		ID: q.ID, Name: q.Name, Strategy: string(q.Strategy), TimeoutSeconds: q.TimeoutSeconds,
		OverflowQueueID: q.OverflowQueueID, AccountIDs: accountIDs, AgentIDs: agentIDs,
		CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt,
	}
}
