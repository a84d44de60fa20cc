package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// registerAdmin adds the admin's pages: the configuration (accounts,
// queues, agents, account settings: admin_config*.go) and the operations
// (migrations, reports, interactions: admin_ops*.go). An agent's session
// gets 403 on every one.
func (s *Server) registerAdmin(g *echo.Group) {
	a := g.Group("/admin", s.requireAdmin)
	s.registerAdminConfig(a)
	s.registerAdminOps(a)
}

// requireAdmin refuses an agent's session.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !sessionOf(c).Admin {
			return s.problem(c, http.StatusForbidden, "admin_only", "This page is the admin's: sign in with the admin token.")
		}
		return next(c)
	}
}
