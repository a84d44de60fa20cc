package web

import (
	"html/template"

	"github.com/labstack/echo/v4"
)

// agentFuncs are the agent pages' template functions.
var agentFuncs = template.FuncMap{}

// registerAgent adds the agent's pages.
func (s *Server) registerAgent(g *echo.Group) {
	g.GET("/events", s.events)
}
