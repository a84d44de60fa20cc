package web

import (
	"errors"
	"fmt"
	"github.com/xcally-connector/connector/api"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/xcally-connector/connector/internal/media"
)

// agentFuncs are the agent pages' template functions.
var agentFuncs = template.FuncMap{
	// agentTick is the accessible name of an agent message's status tick.
	"agentTick": agentTickName,
	// agentSize writes a file's size for people.
	"agentSize": agentFormatBytes,
	"agentContact": func(c api.ContactView) string {
		if c.Name != "" {
			return c.Name
		}
		return c.Identity
	},
	"agentMatrix": func() string { return agentMatrixJSON },
	"agentMax":    func() int { return agentMaxReplyChars },
	// agentAccepted names the types WhatsApp takes (internal/media).
	"agentAccepted": func() string { return strings.Join(media.WhatsAppSupportedLabels(), ", ") },
}

// registerAgent adds the agent's pages: the inbox, a conversation, the
// presence and accounts settings, files and the event stream. The admin's
// session gets 403 on each (the admin has no inbox).
func (s *Server) registerAgent(g *echo.Group) {
	g.GET("/events", s.events)
	a := g.Group("/agent", s.requireAgent)
	a.GET("/inbox", s.agentInbox)
	a.GET("/inbox/list", s.agentInboxList)
	a.GET("/settings", s.agentSettings)
	a.POST("/settings/presence", s.agentPresence)
	a.POST("/settings/accounts/:accountId", s.agentAccount)
	a.GET("/conversations/:id", s.agentConversation)
	a.GET("/conversations/:id/thread", s.agentThread)
	a.POST("/conversations/:id/messages", s.agentReply)
	a.POST("/conversations/:id/close", s.agentClose)
	a.POST("/conversations/:id/transfer", s.agentTransfer)
	a.POST("/conversations/:id/accept", s.agentAccept)
	a.GET("/attachments/:id", s.agentAttachment)
}

// requireAgent refuses the admin's session.
func (s *Server) requireAgent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if sessionOf(c).Admin {
			return s.problem(c, http.StatusForbidden, "agent_only", "This page is an agent's: sign in with an agent token.")
		}
		return next(c)
	}
}

// agentTickName is the accessible name of an agent message's status: sending
// (not yet taken by Sinch), sent, delivered, read or failed.
func agentTickName(status string) string {
	switch status {
	case "pending":
		return "sending"
	case "accepted", "queued", "switching":
		return "sent"
	case "delivered", "read", "failed":
		return status
	}
	return status
}

func agentFormatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func (s *Server) agentMe(c echo.Context) (api.AgentResponse, error) {
	var a api.AgentResponse
	err := s.call(c, http.MethodGet, fmt.Sprintf("/api/agents/%d", sessionOf(c).AgentID), nil, &a)
	return a, err
}

// agentSettingsView is the settings page's data.
type agentSettingsView struct {
	Agent    api.AgentResponse
	Accounts []agentAccountSwitch
	Error    string
	Saved    string
}

type agentAccountSwitch struct {
	ID      uint64
	Name    string
	Enabled bool
}

// agentAccountNamesOf are the names of the accounts the agent is
// permitted on (GET /api/agents/{id}).
func (s *Server) agentAccountNamesOf(c echo.Context) map[uint64]string {
	me, err := s.agentMe(c)
	if err != nil {
		return map[uint64]string{}
	}
	return agentAccountNamesFrom(me)
}

// agentAccountNamesFrom are the names of the accounts agent a is
// permitted on.
func agentAccountNamesFrom(a api.AgentResponse) map[uint64]string {
	names := make(map[uint64]string, len(a.PermittedAccounts))
	for _, acc := range a.PermittedAccounts {
		names[acc.ID] = acc.Name
	}
	return names
}

// agentAccountName is an account's name, or "Account N".
func agentAccountName(names map[uint64]string, id uint64) string {
	if n := names[id]; n != "" {
		return n
	}
	return fmt.Sprintf("Account %d", id)
}

func (s *Server) agentSettingsData(c echo.Context) (agentSettingsView, error) {
	a, err := s.agentMe(c)
	if err != nil {
		return agentSettingsView{}, err
	}
	v := agentSettingsView{Agent: a}
	enabled := map[uint64]bool{}
	for _, id := range a.EnabledAccountIDs {
		enabled[id] = true
	}
	names := agentAccountNamesFrom(a)
	for _, id := range a.PermittedAccountIDs {
		v.Accounts = append(v.Accounts, agentAccountSwitch{ID: id, Name: agentAccountName(names, id), Enabled: enabled[id]})
	}
	return v, nil
}

func (s *Server) agentSettings(c echo.Context) error {
	v, err := s.agentSettingsData(c)
	if err != nil {
		return s.apiProblem(c, err)
	}
	return s.render(c, http.StatusOK, "agent/settings", v)
}

// agentSettingsAnswer re-renders the settings form (htmx) or goes back to the
// page, with the API's refusal when there was one.
func (s *Server) agentSettingsAnswer(c echo.Context, callErr error, saved string) error {
	status := http.StatusOK
	var ae *apiError
	if callErr != nil && !errors.As(callErr, &ae) {
		return callErr
	}
	if c.Request().Header.Get("HX-Request") == "" {
		if ae != nil {
			return s.apiProblem(c, ae)
		}
		return c.Redirect(http.StatusSeeOther, Prefix+"/agent/settings")
	}
	v, err := s.agentSettingsData(c)
	if err != nil {
		return s.apiProblem(c, err)
	}
	if ae != nil {
		v.Error, status = ae.Message, ae.Status
		if status >= 500 {
			status = http.StatusOK
		}
		// htmx swaps 4xx answers too (the layout's responseHandling).
	} else {
		v.Saved = saved
	}
	return s.fragment(c, status, "agent/settings", "settings-form", v)
}

func (s *Server) agentPresence(c echo.Context) error {
	p := c.FormValue("presence")
	if p != "available" && p != "away" {
		return s.problem(c, http.StatusBadRequest, "invalid_presence", "Choose available or away.")
	}
	err := s.call(c, http.MethodPut, fmt.Sprintf("/api/agents/%d/presence", sessionOf(c).AgentID), map[string]string{"status": p}, nil)
	return s.agentSettingsAnswer(c, err, "You are "+p+".")
}

func (s *Server) agentAccount(c echo.Context) error {
	id, err := strconv.ParseUint(c.Param("accountId"), 10, 64)
	if err != nil || id == 0 {
		return s.problem(c, http.StatusNotFound, "not_found", "No such account.")
	}
	name := agentAccountName(s.agentAccountNamesOf(c), id)
	method, saved := http.MethodDelete, name+" disabled: its conversations go back to the queue."
	if c.FormValue("enabled") == "true" {
		method, saved = http.MethodPut, name+" enabled."
	}
	err = s.call(c, method, fmt.Sprintf("/api/agents/%d/accounts/%d", sessionOf(c).AgentID, id), nil, nil)
	return s.agentSettingsAnswer(c, err, saved)
}

// agentInteractionID is the :id of a conversation route.
func agentInteractionID(c echo.Context) (uint64, bool) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	return id, err == nil && id > 0
}

// agentAttachment streams GET /api/attachments/{id} (the API checks the
// agent reaches the file's account and sets its type and disposition).
func (s *Server) agentAttachment(c echo.Context) error {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		return s.problem(c, http.StatusNotFound, "not_found", "No such file.")
	}
	return s.stream(c, http.MethodGet, fmt.Sprintf("/api/attachments/%d", id), "Range", "If-None-Match", "If-Modified-Since")
}
