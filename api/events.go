package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xcally-connector/connector/agentevents"
	"github.com/xcally-connector/connector/models"
)

// SSE timing: events are read from the agent_events table (written by the
// worker, possibly in another process) every ssePoll, or, with an
// agentevents.Listener (Postgres), when a NOTIFY says the agent has new events and
// every SafetyPoll; a comment line on each sseKeepAlive tick that sent
// nothing keeps proxies from closing an idle stream.
const (
	ssePoll      = 250 * time.Millisecond
	sseKeepAlive = 15 * time.Second
	sseBatch     = 100
	// sseTokenRecheck is how often an agent's stream checks that its token
	// is still valid (not rotated, agent not deleted).
	sseTokenRecheck = time.Second
)

// agentEvents streams an agent's events as Server-Sent Events:
// interaction.assigned (with the rendered notification text),
// interaction.offered, interaction.withdrawn, interaction.transferred,
// interaction.closed, message.inbound, message.status and contact.event.
// Each event's id is its
// row id: a client reconnecting with Last-Event-ID (or ?lastEventId=) gets
// what it missed; a new client starts with events after it connected.
func (s *Server) agentEvents(c echo.Context) error {
	agentID, err := parseID(c, "id")
	if err != nil {
		return err
	}
	if !principalFrom(c).CanActAs(agentID) {
		return errForbidden(fmt.Sprintf("cannot read the events of agent %d", agentID))
	}
	ctx := c.Request().Context()
	db := s.deps.DB.WithContext(ctx)
	if err := db.First(&models.Agent{}, agentID).Error; err != nil {
		return err
	}
	last, err := s.resumePoint(c, agentID)
	if err != nil {
		return err
	}
	superseded, release, err := s.openStream(c, agentID)
	if err != nil {
		return err
	}
	defer release()
	// Subscribed before the first read: an event committed after it wakes
	// the loop, one committed before is read by it.
	var wake <-chan struct{}
	every := ssePoll
	if l := s.deps.Events; l != nil {
		ch, unsubscribe := l.Subscribe(agentID)
		defer unsubscribe()
		wake, every = ch, l.PollEvery()
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, ": stream of agent %d\nretry: 2000\n\n", agentID); err != nil {
		return nil
	}
	w.Flush()
	poll := time.NewTicker(every)
	defer poll.Stop()
	keepAlive := time.NewTicker(sseKeepAlive)
	defer keepAlive.Stop()
	wrote := false
	var tokenChecked time.Time
	p := principalFrom(c)
	for {
		var evs []models.AgentEvent
		if !p.Admin && time.Since(tokenChecked) >= sseTokenRecheck {
			// A rotated token or a deleted agent ends the stream.
			var n int64
			if err := db.Model(&models.Agent{}).Where("id = ? AND token_hash = ?", agentID, p.TokenHash).Count(&n).Error; err == nil && n == 0 {
				_, _ = fmt.Fprint(w, "event: stream.revoked\ndata: {}\n\n")
				w.Flush()
				return nil
			}
			tokenChecked = time.Now()
		}
		q := db.Where("agent_id = ? AND id > ?", agentID, last)
		if !p.Admin {
			q = agentEventsVisible(q, agentID)
		}
		if err := q.Order("id").Limit(sseBatch).Find(&evs).Error; err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("read agent events", "agent_id", agentID, "err", err)
		}
		for _, ev := range evs {
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, ev.Data); err != nil {
				return nil
			}
			last = ev.ID
		}
		if len(evs) > 0 {
			w.Flush()
			wrote = true
			if len(evs) == sseBatch {
				continue
			}
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-superseded:
				s.endSuperseded(w)
				return nil
			case <-poll.C:
				break wait
			case <-wake:
				break wait
			case <-keepAlive.C:
				if wrote {
					wrote = false
					continue
				}
				if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
					return nil
				}
				w.Flush()
			}
		}
	}
}

// resumePoint is the id after which to stream: Last-Event-ID when given,
// else the newest event now.
func (s *Server) resumePoint(c echo.Context, agentID uint64) (uint64, error) {
	v := c.Request().Header.Get("Last-Event-ID")
	if v == "" {
		v = c.QueryParam("lastEventId")
	}
	if v != "" {
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, errBadRequest("invalid_last_event_id", fmt.Sprintf("Last-Event-ID: want an event id, got %q", v))
		}
		return id, nil
	}
	return agentevents.Newest(c.Request().Context(), s.deps.DB, agentID)
}
