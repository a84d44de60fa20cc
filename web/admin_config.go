package web

import (
	"html/template"

	"github.com/labstack/echo/v4"
)

// adminConfigFuncs are the configuration pages' template functions.
var adminConfigFuncs = template.FuncMap{}

// registerAdminConfig adds the configuration pages under /console/admin.
func (s *Server) registerAdminConfig(g *echo.Group) {
	_ = g
}
