package web

import (
	"html/template"

	"github.com/labstack/echo/v4"
)

// adminFuncs are the admin pages' template functions.
var adminFuncs = template.FuncMap{}

// registerAdmin adds the admin's pages.
func (s *Server) registerAdmin(g *echo.Group) {
	_ = g
}
