// Package web is the console: the pages agents and admins use in a
// browser, served at /console/ by the same process as the API.
//
// Pages are rendered on the server with html/template (every value
// escaped) and made live with htmx and its SSE extension, vendored with
// their licences under static/vendor and embedded: there is no build
// step. The console owns its sessions (a cookie naming a server-side
// session, a CSRF token on every form) and nothing else: every read and
// change goes through the API's own handlers, called in-process as the
// signed-in admin or agent (internal/principal), so the console obeys
// exactly the API's rules and shows the API's messages. It must not
// query or change the domain's tables itself.
package web

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
)

//go:embed static
var staticFS embed.FS

//go:embed templates
var templateFS embed.FS

// Deps is what the console needs.
type Deps struct {
	// DB holds the console's sessions.
	DB *gorm.DB
	// API is the connector's HTTP API (the echo server of package api).
	API http.Handler
	// TemporalUIURL is where interactions and migrations link to their
	// workflow (empty: no links); TemporalNamespace names the namespace
	// in those links.
	TemporalUIURL     string
	TemporalNamespace string
	// SessionIdle and SessionMax end sessions (CONSOLE_SESSION_IDLE,
	// CONSOLE_SESSION_MAX).
	SessionIdle, SessionMax time.Duration
	Logger                  *slog.Logger
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// Server serves the console.
type Server struct {
	deps  Deps
	pages *pages
}

// Prefix is where the console is served.
const Prefix = "/console"

// Register adds the console's routes to e (the API's echo server, whose
// middleware, request log and error handling they share).
func Register(e *echo.Echo, deps Deps) *Server {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.SessionIdle <= 0 {
		deps.SessionIdle = 2 * time.Hour
	}
	if deps.SessionMax < deps.SessionIdle {
		deps.SessionMax = max(12*time.Hour, deps.SessionIdle)
	}
	s := &Server{deps: deps, pages: mustParsePages()}

	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix(Prefix+"/static/", http.FileServer(http.FS(static)))
	e.GET(Prefix+"/static/*", func(c echo.Context) error {
		// The assets change only with the binary; an hour of caching
		// keeps pages fast without serving a stale script for long.
		c.Response().Header().Set("Cache-Control", "public, max-age=3600")
		securityHeaders(c.Response().Header())
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	})
	e.GET(Prefix, func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, Prefix+"/") })

	open := e.Group(Prefix, s.headers)
	open.GET("/signin", s.signinPage)
	open.POST("/signin", s.signin)

	g := e.Group(Prefix, s.headers, s.requireSession, s.checkCSRF)
	g.GET("/", s.home)
	g.POST("/signout", s.signout)
	s.registerAgent(g)
	s.registerAdmin(g)
	return s
}

// home sends the admin to the accounts and an agent to its inbox.
func (s *Server) home(c echo.Context) error {
	if sessionOf(c).Admin {
		return c.Redirect(http.StatusSeeOther, Prefix+"/admin/accounts")
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/agent/inbox")
}
