package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// agentReplyWindow is WhatsApp's customer service window: an agent may reply
// until 24 hours after the customer's last message (the conversation
// workflow's DefaultReplyWindow, which refuses a later reply with
// outside_customer_service_window).
const agentReplyWindow = 24 * time.Hour

// agentMaxReplyChars is WhatsApp's limit on a text reply, in characters
// (workflows.MaxReplyLength; the API answers 422 message_too_long above it).
const agentMaxReplyChars = 4096

// agentRow is one conversation of the inbox.
type agentRow struct {
	agInteraction
	// Offered: a ring_all offer to this agent (Accept takes it); Transfer:
	// a transfer waiting for this agent to accept.
	Offered, Transfer bool
	// Unread counts the customer's messages since the agent's last reply.
	Unread int
	// Activity is the newest message's time (the opening without one).
	Activity time.Time
	// WindowEnd is when the 24-hour window closes (zero without a
	// customer message).
	WindowEnd time.Time
	Preview   string
}

// agentFilters are the inbox's filters, from its query.
type agentFilters struct {
	Unread    bool
	AccountID uint64
	Channel   string
}

func (f agentFilters) query() string {
	q := url.Values{}
	if f.Unread {
		q.Set("unread", "1")
	}
	if f.AccountID != 0 {
		q.Set("accountId", strconv.FormatUint(f.AccountID, 10))
	}
	if f.Channel != "" {
		q.Set("channel", f.Channel)
	}
	return q.Encode()
}

// agentInboxView is the inbox's data.
type agentInboxView struct {
	Filters     agentFilters
	Accounts    []uint64
	Presence    string
	Rows        []agentRow
	UnreadTotal int
	Query       string
}

func agentFiltersOf(c echo.Context) agentFilters {
	f := agentFilters{Unread: c.QueryParam("unread") == "1"}
	f.AccountID, _ = strconv.ParseUint(c.QueryParam("accountId"), 10, 64)
	if ch := c.QueryParam("channel"); ch == "WHATSAPP" || ch == "INSTAGRAM" {
		f.Channel = ch
	}
	return f
}

// agentSummarize fills a row's unread count, activity, window and preview from
// the interaction's messages (in Sinch order).
func agentSummarize(it agInteraction) agentRow {
	r := agentRow{agInteraction: it, Activity: it.OpenedAt}
	if it.LastMessageAt != nil && it.LastMessageAt.After(r.Activity) {
		r.Activity = *it.LastMessageAt
	}
	var lastIn time.Time
	for _, m := range it.Messages {
		at := m.CreatedAt
		if m.AcceptTime != nil {
			at = *m.AcceptTime
		}
		if at.After(r.Activity) {
			r.Activity = at
		}
		switch m.Direction {
		case "inbound":
			if m.Kind == "system" {
				continue
			}
			r.Unread++
			if at.After(lastIn) {
				lastIn = at
			}
			r.Preview = m.Text
			if r.Preview == "" && len(m.Attachments) > 0 {
				r.Preview = "File: " + m.Attachments[0].FileName
			}
		case "outbound":
			if m.Kind != "system" {
				r.Unread = 0
			}
		}
	}
	if !lastIn.IsZero() {
		r.WindowEnd = lastIn.Add(agentReplyWindow)
	}
	r.Messages = nil
	return r
}

// agentInboxData lists the agent's conversations: those assigned to it, and the
// offers and transfers its page learnt from the event stream (the API has
// no list of an agent's pending offers), newest activity first.
func (s *Server) agentInboxData(c echo.Context) (agentInboxView, error) {
	me, err := s.agentMe(c)
	if err != nil {
		return agentInboxView{}, err
	}
	f := agentFiltersOf(c)
	v := agentInboxView{Filters: f, Accounts: me.EnabledAccountIDs, Presence: me.Presence, Query: f.query()}
	q := url.Values{"status": {"assigned"}, "agentId": {strconv.FormatUint(me.ID, 10)}, "limit": {"200"}}
	if f.AccountID != 0 {
		q.Set("accountId", strconv.FormatUint(f.AccountID, 10))
	}
	if f.Channel != "" {
		q.Set("channel", f.Channel)
	}
	var list struct {
		Items []agInteraction `json:"items"`
	}
	if err := s.call(c, http.MethodGet, "/api/interactions?"+q.Encode(), nil, &list); err != nil {
		return v, err
	}
	transfers := map[uint64]bool{}
	for _, id := range agentIDs(c.QueryParam("transfers"), 50) {
		transfers[id] = true
	}
	seen := map[uint64]bool{}
	var rows []agentRow
	add := func(id uint64, offered bool) error {
		if seen[id] {
			return nil
		}
		var it agInteraction
		if err := s.call(c, http.MethodGet, fmt.Sprintf("/api/interactions/%d", id), nil, &it); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status < 500 {
				return nil // gone from the agent's reach: left out
			}
			return err
		}
		if offered && (it.Status != "queued" || (f.AccountID != 0 && it.AccountID != f.AccountID) || (f.Channel != "" && it.Channel != f.Channel)) {
			return nil // taken, closed, or filtered out
		}
		seen[id] = true
		r := agentSummarize(it)
		r.Offered, r.Transfer = offered, !offered && transfers[id]
		rows = append(rows, r)
		return nil
	}
	for _, it := range list.Items {
		if err := add(it.ID, false); err != nil {
			return v, err
		}
	}
	for _, id := range agentIDs(c.QueryParam("offered"), 50) {
		if err := add(id, true); err != nil {
			return v, err
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if !rows[i].Activity.Equal(rows[j].Activity) {
			return rows[i].Activity.After(rows[j].Activity)
		}
		return rows[i].ID > rows[j].ID
	})
	for _, r := range rows {
		v.UnreadTotal += r.Unread
		if f.Unread && r.Unread == 0 && !r.Offered {
			continue
		}
		v.Rows = append(v.Rows, r)
	}
	return v, nil
}

func (s *Server) agentInbox(c echo.Context) error {
	v, err := s.agentInboxData(c)
	if err != nil {
		return s.apiProblem(c, err)
	}
	return s.render(c, http.StatusOK, "agent/inbox", v)
}

func (s *Server) agentInboxList(c echo.Context) error {
	v, err := s.agentInboxData(c)
	if err != nil {
		return s.apiProblem(c, err)
	}
	return s.fragment(c, http.StatusOK, "agent/inbox", "inbox-list", v)
}
