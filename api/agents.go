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
	// EnabledAccountIDs are the accounts whose interactions the agent
	// receives (seeds: agents must enable an account); never null.
	EnabledAccountIDs []uint64 `json:"enabledAccountIds"`
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
	return c.JSON(http.StatusCreated, AgentCreatedResponse{AgentResponse: toAgentResponse(agent, nil, nil), Token: tok})
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
	accounts, queues, err := agentLinks(db, ids)
	if err != nil {
		return err
	}
	out := make([]AgentResponse, 0, len(agents))
	for _, a := range agents {
		out = append(out, toAgentResponse(a, accounts[a.ID], queues[a.ID]))
	}
	return c.JSON(http.StatusOK, out)
}

// getAgent handles GET /api/agents/:id (the admin, or the agent itself).
func (s *Server) getAgent(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	if err := authorizeAgent(c, id); err != nil {
		return err
	}
	resp, err := loadAgentResponse(s.deps.DB.WithContext(c.Request().Context()), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

// enableAccount handles PUT /api/agents/:id/accounts/:accountId: the agent
// receives the account's interactions from now on. Idempotent.
func (s *Server) enableAccount(c echo.Context) error {
	return s.setAgentAccount(c, true)
}

// disableAccount handles DELETE /api/agents/:id/accounts/:accountId.
// Idempotent.
func (s *Server) disableAccount(c echo.Context) error {
	return s.setAgentAccount(c, false)
}

// setAgentAccount enables (on) or disables an account for an agent. The
// caller must be the admin or that agent; the agent and the account must be
// live (404 naming which is not). Enabling wakes waiting interactions.
func (s *Server) setAgentAccount(c echo.Context, on bool) error {
	agentID, err := parseID(c, "id")
	if err != nil {
		return err
	}
	accountID, err := parseID(c, "accountId")
	if err != nil {
		return err
	}
	if err := authorizeAgent(c, agentID); err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := rowExists(tx, &models.Agent{}, "agent", agentID); err != nil {
			return err
		}
		if err := rowExists(tx, &models.Account{}, "account", accountID); err != nil {
			return err
		}
		link := models.AgentAccount{AgentID: agentID, AccountID: accountID}
		if on {
			return tx.Omit(clause.Associations).Clauses(clause.OnConflict{DoNothing: true}).Create(&link).Error
		}
		return tx.Delete(&link).Error
	})
	if err != nil {
		return err
	}
	if on {
		s.routingChanged()
	}
	return c.NoContent(http.StatusNoContent)
}

// setPresence handles PUT /api/agents/:id/presence (the admin, or the
// agent itself). PresenceAt moves only when the presence changes; becoming
// available wakes waiting interactions.
func (s *Server) setPresence(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	if err := authorizeAgent(c, id); err != nil {
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
	accounts, queues, err := agentLinks(db, []uint64{id})
	if err != nil {
		return AgentResponse{}, err
	}
	return toAgentResponse(agent, accounts[id], queues[id]), nil
}

// agentLinks returns the enabled account ids and the queue ids of agents.
func agentLinks(db *gorm.DB, agentIDs []uint64) (accounts, queues map[uint64][]uint64, err error) {
	if accounts, err = linkIDs(db, "agent_accounts", "agent_id", "account_id", agentIDs); err != nil {
		return nil, nil, err
	}
	queues, err = linkIDs(db, "queue_agents", "agent_id", "queue_id", agentIDs)
	return accounts, queues, err
}

// toAgentResponse is the API view of an agent.
func toAgentResponse(a models.Agent, accountIDs, queueIDs []uint64) AgentResponse {
	if accountIDs == nil {
		accountIDs = []uint64{}
	}
	if queueIDs == nil {
		queueIDs = []uint64{}
	}
	return AgentResponse{
		ID: a.ID, Name: a.Name, Capacity: a.Capacity, Presence: string(a.Presence), PresenceAt: a.PresenceAt,
		EnabledAccountIDs: accountIDs, QueueIDs: queueIDs, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}
