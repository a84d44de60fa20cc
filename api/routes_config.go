package api

import "github.com/labstack/echo/v4"

// registerConfigRoutes adds the configuration API: accounts, their
// settings and queues (admin only), an account's canned answers (the admin
// or an agent who enabled it) and agents (admin, or the agent itself where
// noted). Routes carry their own middleware.
//
// Auth statuses: no bearer token is a 401 everywhere. On admin-only routes
// any token but ADMIN_TOKEN (an agent token included) is a 403, as on
// /api/diagnostics. On agent routes an unknown token is a 401 and an agent
// acting on another agent a 403.
func (s *Server) registerConfigRoutes(e *echo.Echo) {
	admin, agent := s.requireAdmin, s.requireAgentOrAdmin

	e.POST("/api/whatsapp/accounts", s.createAccount, admin)
	e.GET("/api/whatsapp/accounts", s.listAccounts, admin)
	e.GET("/api/whatsapp/accounts/:id", s.getAccount, admin)
	e.PATCH("/api/whatsapp/accounts/:id", s.updateAccount, admin)
	e.DELETE("/api/whatsapp/accounts/:id", s.deleteAccount, admin)
	e.GET("/api/whatsapp/accounts/:id/settings", s.getSettings, admin)
	e.PUT("/api/whatsapp/accounts/:id/settings", s.putSettings, admin)
	e.GET("/api/whatsapp/accounts/:id/canned-answers", s.listCannedAnswers, agent)
	s.registerAccountDiagnosticsRoutes(e)

	e.POST("/api/queues", s.createQueue, admin)
	e.GET("/api/queues", s.listQueues, admin)
	e.GET("/api/queues/:id", s.getQueue, admin)
	e.PATCH("/api/queues/:id", s.updateQueue, admin)
	e.DELETE("/api/queues/:id", s.deleteQueue, admin)
	e.PUT("/api/queues/:id/accounts/:accountId", s.linkQueueAccount, admin)
	e.DELETE("/api/queues/:id/accounts/:accountId", s.unlinkQueueAccount, admin)
	e.PUT("/api/queues/:id/agents/:agentId", s.linkQueueAgent, admin)
	e.DELETE("/api/queues/:id/agents/:agentId", s.unlinkQueueAgent, admin)

	e.POST("/api/agents", s.createAgent, admin)
	e.GET("/api/agents", s.listAgents, admin)
	e.GET("/api/agents/:id", s.getAgent, agent)
	e.PATCH("/api/agents/:id", s.updateAgent, admin)
	e.DELETE("/api/agents/:id", s.deleteAgent, admin)
	e.POST("/api/agents/:id/token", s.rotateAgentToken, agent)
	e.PUT("/api/agents/:id/permissions/:accountId", s.permitAccount, admin)
	e.DELETE("/api/agents/:id/permissions/:accountId", s.revokeAccount, admin)
	e.PUT("/api/agents/:id/accounts/:accountId", s.enableAccount, agent)
	e.DELETE("/api/agents/:id/accounts/:accountId", s.disableAccount, agent)
	e.PUT("/api/agents/:id/presence", s.setPresence, agent)
}
