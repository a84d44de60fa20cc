package web

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// events is the signed-in agent's event stream: the API's
// GET /api/agents/{id}/events served as it is (Server-Sent Events, each
// event's id its row id), so a browser resuming with Last-Event-ID, or
// ?lastEventId= when the SSE extension reconnects with a new EventSource,
// gets what it missed. Pages listen to the event names
// (hx-trigger="sse:message.inbound" …) and fetch what changed.
func (s *Server) events(c echo.Context) error {
	sess := sessionOf(c)
	if sess.Admin {
		return s.problem(c, http.StatusForbidden, "agent_only", "The event stream is an agent's: sign in with an agent token.")
	}
	path := fmt.Sprintf("/api/agents/%d/events", sess.AgentID)
	if id := c.QueryParam("lastEventId"); id != "" {
		path += "?lastEventId=" + url.QueryEscape(id)
	}
	return s.stream(c, http.MethodGet, path, "Last-Event-ID")
}
