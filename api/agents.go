package api

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/workflows"
)

// agentTokenPrefix marks agent tokens, so a leaked one is recognisable.
const agentTokenPrefix = "agt_"

// maxAgentCapacity bounds how many interactions one agent handles at once.
const maxAgentCapacity = 100

// AgentRequest is the body of POST /api/agents.
type AgentRequest struct {
	// Name is required.
	Name string `json:"name"`
	// Capacity is the most interactions the agent handles at once, 1..100
	// (default 1).
	Capacity *int `json:"capacity"`
}

// PresenceRequest is the body of PUT /api/agents/{id}/presence.
type PresenceRequest struct {
	// Status is "available" or "away".
	Status string `json:"status"`
}

// AgentResponse is an agent as the API returns it; never its token.
type AgentResponse struct {
	ID       uint64 `json:"id"`
	Name     string `json:"name"`
	Capacity int    `json:"capacity"`
	// Presence is "available" or "away"; PresenceAt is when it last changed.
	Presence   string     `json:"presence"`
	PresenceAt *time.Time `json:"presenceAt"`
	// PermittedAccountIDs are the accounts an admin permitted the agent
	// on; EnabledAccountIDs those of them the agent enabled: it receives
	// their interactions and reaches their data (agents must enable an
	// account to receive its interactions). Never null.
	PermittedAccountIDs []uint64 `json:"permittedAccountIds"`
	EnabledAccountIDs   []uint64 `json:"enabledAccountIds"`
	// PermittedAccounts names the permitted accounts, on the answers about
	// one agent (GET /api/agents/{id}, its changes): what an agent sees of
	// the accounts it may enable.
	PermittedAccounts []NamedTarget `json:"permittedAccounts,omitempty"`
	// QueueIDs are the queues the agent is a member of; never null.
	QueueIDs  []uint64  `json:"queueIds"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// AgentCreatedResponse is the answer to POST /api/agents: the agent and its
// API token, shown this once (only its SHA-256 is stored).
type AgentCreatedResponse struct {
	AgentResponse
	Token string `json:"token"`
}

// validate checks the request, trims the name and applies the default
// capacity.
func (r *AgentRequest) validate() error {
	name := trimmed(&r.Name)
	if err := checkRequired("name", name, maxNameLen); err != nil {
		return err
	}
	r.Name = *name
	if r.Capacity == nil {
		one := 1
		r.Capacity = &one
	}
	if *r.Capacity < 1 || *r.Capacity > maxAgentCapacity {
		return fieldError("capacity", "want 1 to %d, got %d", maxAgentCapacity, *r.Capacity)
	}
	return nil
}

// createAgent handles POST /api/agents.
func (s *Server) createAgent(c echo.Context) error {
	var req AgentRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	tok, err := newAgentToken()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	agent := models.Agent{Name: req.Name, Capacity: *req.Capacity, TokenHash: hashToken(tok), Presence: models.PresenceAway}
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&agent).Error; err != nil {
			return err
		}
		return tx.Take(&agent, agent.ID).Error
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "agent created", "agent_id", agent.ID, "request_id", requestID(c))
	return c.JSON(http.StatusCreated, AgentCreatedResponse{AgentResponse: toAgentResponse(agent, agentLinkIDs{}), Token: tok})
}

// listAgents handles GET /api/agents.
func (s *Server) listAgents(c echo.Context) error {
	db := s.deps.DB.WithContext(c.Request().Context())
	var agents []models.Agent
	if err := db.Order("id").Find(&agents).Error; err != nil {
		return err
	}
	ids := make([]uint64, len(agents))
	for i, a := range agents {
		ids[i] = a.ID
	}
	links, err := agentLinks(db, ids)
	if err != nil {
		return err
	}
	out := make([]AgentResponse, 0, len(agents))
	for _, a := range agents {
		out = append(out, toAgentResponse(a, links.of(a.ID)))
	}
	return c.JSON(http.StatusOK, out)
}

// getAgent handles GET /api/agents/:id (the admin, or the agent itself).
func (s *Server) getAgent(c echo.Context) error {
	id, err := agentOfPath(c)
	if err != nil {
		return err
	}
	resp, err := loadAgentResponse(s.deps.DB.WithContext(c.Request().Context()), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

// enableAccount handles PUT /api/agents/:id/accounts/:accountId: the agent
// receives the account's interactions and reaches its data from now on.
// An agent may enable only an account an admin permitted (403
// account_not_permitted); the admin token permits and enables in one call.
// Idempotent; enabling wakes waiting interactions.
func (s *Server) enableAccount(c echo.Context) error {
	agentID, accountID, err := s.agentAccountParams(c, true)
	if err != nil {
		return err
	}
	admin := principalFrom(c).Admin
	now := time.Now().UTC()
	err = s.deps.DB.WithContext(c.Request().Context()).Transaction(func(tx *gorm.DB) error {
		if err := liveAgentAndAccount(tx, agentID, accountID); err != nil {
			return err
		}
		if admin {
			return tx.Omit(clause.Associations).Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "agent_id"}, {Name: "account_id"}},
				DoUpdates: clause.Assignments(map[string]any{"enabled": true, "enabled_at": now}),
			}).Create(&models.AgentAccount{AgentID: agentID, AccountID: accountID, Enabled: true, EnabledAt: &now}).Error
		}
		res := tx.Model(&models.AgentAccount{}).Where("agent_id = ? AND account_id = ?", agentID, accountID).
			Updates(map[string]any{"enabled": true, "enabled_at": gorm.Expr("CASE WHEN enabled THEN enabled_at ELSE ? END", now)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return &Error{Status: http.StatusForbidden, Code: "account_not_permitted",
				Message: fmt.Sprintf("agent %d is not permitted on account %d: ask an admin to permit it (PUT /api/agents/%d/permissions/%d)", agentID, accountID, agentID, accountID)}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(c.Request().Context(), "account enabled for agent", "agent_id", agentID, "account_id", accountID, "by", by(c), "request_id", requestID(c))
	s.routingChanged()
	return c.NoContent(http.StatusNoContent)
}

// disableAccount handles DELETE /api/agents/:id/accounts/:accountId: the
// agent stops receiving the account's interactions and reaching its data;
// the ones it holds or was offered go back to their queue. The permission
// stays. Idempotent.
func (s *Server) disableAccount(c echo.Context) error {
	agentID, accountID, err := s.agentAccountParams(c, true)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := liveAgentAndAccount(tx, agentID, accountID); err != nil {
			return err
		}
		return tx.Model(&models.AgentAccount{}).Where("agent_id = ? AND account_id = ?", agentID, accountID).
			Update("enabled", false).Error
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "account disabled for agent", "agent_id", agentID, "account_id", accountID, "by", by(c), "request_id", requestID(c))
	if err := s.releaseAgent(c, agentID, accountID, workflows.ReleaseAccountDisabled); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// permitAccount handles PUT /api/agents/:id/permissions/:accountId (admin):
// the agent may enable the account. Idempotent; an existing permission
// keeps the agent's choice.
func (s *Server) permitAccount(c echo.Context) error {
	agentID, accountID, err := s.agentAccountParams(c, false)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := liveAgentAndAccount(tx, agentID, accountID); err != nil {
			return err
		}
		return tx.Omit(clause.Associations).Clauses(clause.OnConflict{DoNothing: true}).
			Create(&models.AgentAccount{AgentID: agentID, AccountID: accountID}).Error
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "agent permitted on account", "agent_id", agentID, "account_id", accountID, "request_id", requestID(c))
	return c.NoContent(http.StatusNoContent)
}

// revokeAccount handles DELETE /api/agents/:id/permissions/:accountId
// (admin): the agent may no longer enable or reach the account; it is
// disabled for the agent at once and the interactions the agent holds or
// was offered on it go back to their queue (AgentReleaseWorkflow).
// Idempotent: a repeat starts the release again, which finds nothing.
func (s *Server) revokeAccount(c echo.Context) error {
	agentID, accountID, err := s.agentAccountParams(c, false)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := liveAgentAndAccount(tx, agentID, accountID); err != nil {
			return err
		}
		return tx.Where("agent_id = ? AND account_id = ?", agentID, accountID).Delete(&models.AgentAccount{}).Error
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "agent permission revoked", "agent_id", agentID, "account_id", accountID, "request_id", requestID(c))
	if err := s.releaseAgent(c, agentID, accountID, workflows.ReleasePermissionRevoked); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// agentAccountParams reads :id and :accountId; with self, an agent may act
// on itself (else the route is the admin's).
func (s *Server) agentAccountParams(c echo.Context, self bool) (agentID, accountID uint64, err error) {
	if agentID, err = parseID(c, "id"); err != nil {
		return 0, 0, err
	}
	if accountID, err = parseID(c, "accountId"); err != nil {
		return 0, 0, err
	}
	if self {
		err = authorizeAgent(c, agentID)
	}
	return agentID, accountID, err
}

// liveAgentAndAccount is the 404 naming whichever of the two does not exist.
func liveAgentAndAccount(tx *gorm.DB, agentID, accountID uint64) error {
	if err := rowExists(tx, &models.Agent{}, "agent", agentID); err != nil {
		return err
	}
	return rowExists(tx, &models.Account{}, "account", accountID)
}

// AgentUpdateRequest is the body of PATCH /api/agents/{id}: the fields
// present change.
type AgentUpdateRequest struct {
	Name     *string `json:"name"`
	Capacity *int    `json:"capacity"`
}

// updateAgent handles PATCH /api/agents/:id (admin). A lower capacity
// keeps the interactions the agent holds and gives it no new one until it
// is under the new capacity; a higher one wakes waiting interactions.
func (s *Server) updateAgent(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	var req AgentUpdateRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cols := map[string]any{}
	if req.Name != nil {
		name := trimmed(req.Name)
		if err := checkRequired("name", name, maxNameLen); err != nil {
			return err
		}
		cols["name"] = *name
	}
	if req.Capacity != nil {
		if *req.Capacity < 1 || *req.Capacity > maxAgentCapacity {
			return fieldError("capacity", "want 1 to %d, got %d", maxAgentCapacity, *req.Capacity)
		}
		cols["capacity"] = *req.Capacity
	}
	if len(cols) == 0 {
		return errBadRequest("invalid_request", "give at least one of name, capacity")
	}
	ctx := c.Request().Context()
	var resp AgentResponse
	var before models.Agent
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Take(&before, id).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return notFound("agent", id)
			}
			return err
		}
		if err := tx.Model(&models.Agent{}).Where("id = ?", id).Updates(cols).Error; err != nil {
			return err
		}
		resp, err = loadAgentResponse(tx, id)
		return err
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "agent updated", "agent_id", id, "request_id", requestID(c))
	if resp.Capacity > before.Capacity {
		s.routingChanged()
	}
	return c.JSON(http.StatusOK, resp)
}

// rotateAgentToken handles POST /api/agents/:id/token (the agent or the
// admin): a new token, shown this once; the old one stops at once (its
// hash is replaced, and open event streams end within a second).
func (s *Server) rotateAgentToken(c echo.Context) error {
	id, err := agentOfPath(c)
	if err != nil {
		return err
	}
	tok, err := newAgentToken()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var resp AgentResponse
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&models.Agent{}).Where("id = ?", id).Update("token_hash", hashToken(tok))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return notFound("agent", id)
		}
		resp, err = loadAgentResponse(tx, id)
		return err
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "agent token rotated", "agent_id", id, "by", by(c), "request_id", requestID(c))
	return c.JSON(http.StatusOK, AgentCreatedResponse{AgentResponse: resp, Token: tok})
}

// deleteAgent handles DELETE /api/agents/:id (admin): the agent's token
// stops at once, it leaves its queues and accounts, and the interactions
// it holds or was offered go back to their queues. Its history stays:
// interactions and messages keep its id. Idempotent: deleting a deleted
// agent answers 204 again and starts the take back again (so a 503 of the
// engine is answered by repeating the request); an id that never existed
// is a 404.
func (s *Server) deleteAgent(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	// The stored hash is replaced by one of a token nobody has, so not
	// even a query that ignores deleted_at matches the old token.
	void, err := newAgentToken()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&models.Agent{}).Where("id = ?", id).
			Updates(map[string]any{"token_hash": hashToken(void), "presence": models.PresenceAway, "presence_at": time.Now().UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var n int64
			if err := tx.Unscoped().Model(&models.Agent{}).Where("id = ? AND deleted_at IS NOT NULL", id).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return notFound("agent", id)
			}
			return nil // deleted already: only the take back is repeated
		}
		if err := tx.Delete(&models.Agent{}, id).Error; err != nil {
			return err
		}
		if err := tx.Where("agent_id = ?", id).Delete(&models.QueueAgent{}).Error; err != nil {
			return err
		}
		return tx.Where("agent_id = ?", id).Delete(&models.AgentAccount{}).Error
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "agent deleted", "agent_id", id, "request_id", requestID(c))
	if err := s.releaseAgent(c, id, 0, workflows.ReleaseAgentDeleted); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// setPresence handles PUT /api/agents/:id/presence (the admin, or the
// agent itself). PresenceAt moves only when the presence changes; becoming
// available wakes waiting interactions.
func (s *Server) setPresence(c echo.Context) error {
	id, err := agentOfPath(c)
	if err != nil {
		return err
	}
	var req PresenceRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := checkOneOf("status", req.Status, string(models.PresenceAvailable), string(models.PresenceAway)); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var changed bool
	var resp AgentResponse
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := rowExists(tx, &models.Agent{}, "agent", id); err != nil {
			return err
		}
		// The condition makes the change atomic: of two concurrent requests
		// only one sees the transition.
		res := tx.Model(&models.Agent{}).Where("id = ? AND presence <> ?", id, req.Status).
			Updates(map[string]any{"presence": req.Status, "presence_at": time.Now().UTC()})
		if res.Error != nil {
			return res.Error
		}
		changed = res.RowsAffected > 0
		var err error
		resp, err = loadAgentResponse(tx, id)
		return err
	})
	if err != nil {
		return err
	}
	if changed && req.Status == string(models.PresenceAvailable) {
		s.routingChanged()
	}
	return c.JSON(http.StatusOK, resp)
}

// newAgentToken returns a fresh random agent token.
func newAgentToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("agent token: %w", err)
	}
	return agentTokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// loadAgentResponse reads a live agent with its links, or the 404.
func loadAgentResponse(db *gorm.DB, id uint64) (AgentResponse, error) {
	var agent models.Agent
	if err := db.Take(&agent, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return AgentResponse{}, notFound("agent", id)
		}
		return AgentResponse{}, err
	}
	links, err := agentLinks(db, []uint64{id})
	if err != nil {
		return AgentResponse{}, err
	}
	resp := toAgentResponse(agent, links.of(id))
	if len(resp.PermittedAccountIDs) > 0 {
		var accs []models.Account
		if err := db.Select("id", "name").Where("id IN ?", resp.PermittedAccountIDs).Order("id").Find(&accs).Error; err != nil {
			return AgentResponse{}, err
		}
		for _, a := range accs {
			resp.PermittedAccounts = append(resp.PermittedAccounts, NamedTarget{ID: a.ID, Name: a.Name})
		}
	}
	return resp, nil
}

// agentLinkSet holds the permitted and enabled account ids and the queue
// ids of agents.
type agentLinkSet struct {
	permitted, enabled, queues map[uint64][]uint64
}

// agentLinkIDs are one agent's links.
type agentLinkIDs struct{ permitted, enabled, queues []uint64 }

func (l agentLinkSet) of(agentID uint64) agentLinkIDs {
	return agentLinkIDs{permitted: l.permitted[agentID], enabled: l.enabled[agentID], queues: l.queues[agentID]}
}

// agentLinks returns the permitted and enabled accounts and the queues of
// agents.
func agentLinks(db *gorm.DB, agentIDs []uint64) (agentLinkSet, error) {
	var out agentLinkSet
	var err error
	if out.permitted, err = linkIDs(db, "agent_accounts", "agent_id", "account_id", agentIDs); err != nil {
		return out, err
	}
	out.enabled = map[uint64][]uint64{}
	if len(agentIDs) > 0 {
		var rows []models.AgentAccount
		if err := db.Omit(clause.Associations).Where("agent_id IN ? AND enabled = ?", agentIDs, true).
			Order("agent_id, account_id").Find(&rows).Error; err != nil {
			return out, err
		}
		for _, r := range rows {
			out.enabled[r.AgentID] = append(out.enabled[r.AgentID], r.AccountID)
		}
	}
	out.queues, err = linkIDs(db, "queue_agents", "agent_id", "queue_id", agentIDs)
	return out, err
}

// toAgentResponse is the API view of an agent.
func toAgentResponse(a models.Agent, l agentLinkIDs) AgentResponse {
	nonNil := func(ids []uint64) []uint64 {
		if ids == nil {
			return []uint64{}
		}
		return ids
	}
	return AgentResponse{
		ID: a.ID, Name: a.Name, Capacity: a.Capacity, Presence: string(a.Presence), PresenceAt: a.PresenceAt,
		PermittedAccountIDs: nonNil(l.permitted), EnabledAccountIDs: nonNil(l.enabled), QueueIDs: nonNil(l.queues),
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}
