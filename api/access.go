package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/workflows"
)

// Tenancy (docs/decisions.md §17): an admin permits an agent on an account,
// the agent enables it, and the agent reaches the account's interactions,
// messages, files, canned answers and events only while both hold. This
// file is the one place that rule is applied to agent-facing reads and
// actions; routing applies the same rule (models.ReachableAccountIDs).

// scopeToReachable limits q to rows whose column (an account id) is an
// account the caller may reach: every account for the admin, the permitted
// and enabled ones for an agent.
func scopeToReachable(c echo.Context, q *gorm.DB, column string) *gorm.DB {
	p := principalFrom(c)
	if p.Admin {
		return q
	}
	return q.Where(column+" IN (?)", models.ReachableAccountIDs(q.Session(&gorm.Session{NewDB: true}), p.AgentID))
}

// requireReachable is the 403 of an agent asking for an account it may not
// reach (not permitted, or not enabled); the admin reaches every live
// account (404 for one that does not exist).
func (s *Server) requireReachable(c echo.Context, accountID uint64) error {
	db := s.deps.DB.WithContext(c.Request().Context())
	p := principalFrom(c)
	if p.Admin {
		return rowExists(db, &models.Account{}, "account", accountID)
	}
	var link models.AgentAccount
	err := db.Omit("Agent", "Account").Where("agent_id = ? AND account_id = ?", p.AgentID, accountID).Limit(1).Find(&link).Error
	switch {
	case err != nil:
		return err
	case link.AgentID == 0:
		return &Error{Status: http.StatusForbidden, Code: "account_not_permitted",
			Message: fmt.Sprintf("agent %d is not permitted on account %d: an admin gives the permission (PUT /api/agents/%d/permissions/%d)", p.AgentID, accountID, p.AgentID, accountID)}
	case !link.Enabled:
		return &Error{Status: http.StatusForbidden, Code: "account_not_enabled",
			Message: fmt.Sprintf("agent %d has not enabled account %d: enable it (PUT /api/agents/%d/accounts/%d)", p.AgentID, accountID, p.AgentID, accountID)}
	}
	return nil
}

// agentEventsVisible limits an agent's event stream to events of
// interactions on accounts it reaches; the events that only say an
// interaction left the agent (withdrawn, transferred, closed: ids, no
// content) always pass, so a console learns that it lost one.
func agentEventsVisible(db *gorm.DB, agentID uint64) *gorm.DB {
	reach := db.Session(&gorm.Session{NewDB: true})
	visible := reach.Model(&models.Interaction{}).Select("id").
		Where("account_id IN (?)", models.ReachableAccountIDs(reach, agentID))
	return db.Where("(type IN ? OR interaction_id IN (?))", contentFreeEvents, visible)
}

// engineReleaseTimeout bounds one AgentReleaseWorkflow run.
const engineReleaseTimeout = time.Hour

// contentFreeEvents are the agent events that carry ids only.
var contentFreeEvents = []string{"interaction.withdrawn", "interaction.transferred", "interaction.closed"}

// releaseAgent starts AgentReleaseWorkflow: the agent's open interactions
// on the account (0: every account) are taken back. It is called after the
// access change is committed, so routing no longer picks the agent; an
// error leaves the change in place and the caller's retry (the routes are
// idempotent) starts the release again.
//
// The release's workflow id is returned in X-Workflow-Id.
func (s *Server) releaseAgent(c echo.Context, agentID, accountID uint64, reason string) error {
	id := workflows.AgentReleaseWorkflowID(agentID, accountID, requestID(c))
	ctx, cancel := context.WithTimeout(c.Request().Context(), engineTimeout)
	defer cancel()
	_, err := s.deps.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: s.deps.TaskQueue,
		// One release does a list and a few signals; an engine backlog is
		// the only reason to wait longer.
		WorkflowExecutionTimeout: engineReleaseTimeout,
	}, workflows.AgentReleaseWorkflowName, workflows.AgentReleaseInput{AgentID: agentID, AccountID: accountID, Reason: reason})
	if err != nil {
		return errUnavailable("engine_unavailable",
			"the change is saved, but taking back the agent's open interactions could not start: repeat the request", err)
	}
	c.Response().Header().Set("X-Workflow-Id", id)
	return nil
}
