package web

import (
	"html/template"

	"github.com/labstack/echo/v4"
)

// adminOpsFuncs are the operations pages' template functions.
var adminOpsFuncs = template.FuncMap{}

// registerAdminOps adds the operations pages under /console/admin.
func (s *Server) registerAdminOps(g *echo.Group) {
	_ = g
}
