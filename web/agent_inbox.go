package web

import (
	"fmt"
	"github.com/xcally-connector/connector/api"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// agentMaxReplyChars is WhatsApp's limit on a text reply, in characters
// (workflows.MaxReplyLength; the API answers 422 message_too_long above it).
const agentMaxReplyChars = 4096

// agentRow is one conversation of the inbox, or the conversation a page
// shows.
type agentRow struct {
	api.InteractionResponse
	AccountName string
	// Offered: waiting for this agent to accept it (Accept takes it).
	Offered bool
	// Unread counts the customer's messages after the agent's read mark.
	Unread int64
	// Activity is the newest message's time (the opening without one).
	Activity time.Time
	// WindowEnd is when the customer service window closes (zero without
	// a customer message).
	WindowEnd time.Time
	Preview   string
}

// Account is the row's account as people know it: its name, or its number.
func (r agentRow) Account() string {
	return agentAccountName(map[uint64]string{r.AccountID: r.AccountName}, r.AccountID)
}

func agentRowOf(it api.InboxItem) agentRow {
	r := agentRow{InteractionResponse: it.Interaction, AccountName: it.AccountName, Offered: it.Offered || it.Interaction.AcceptBy != nil,
		Unread: it.Unread, Preview: it.Preview, Activity: it.Interaction.OpenedAt}
	if it.Interaction.LastMessageAt != nil && it.Interaction.LastMessageAt.After(r.Activity) {
		r.Activity = *it.Interaction.LastMessageAt
	}
	if it.WindowEndsAt != nil {
		r.WindowEnd = *it.WindowEndsAt
	}
	r.Messages = nil
	return r
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

func (f agentFilters) any() bool { return f.Unread || f.AccountID != 0 || f.Channel != "" }

// keep says whether the filters let a row through (an offer shows with
// "unread only": it waits for the agent).
func (f agentFilters) keep(r agentRow) bool {
	return (!f.Unread || r.Unread > 0 || r.Offered) &&
		(f.AccountID == 0 || r.AccountID == f.AccountID) &&
		(f.Channel == "" || r.Channel == f.Channel)
}

func agentFiltersOf(c echo.Context) agentFilters {
	f := agentFilters{Unread: c.QueryParam("unread") == "1"}
	f.AccountID, _ = strconv.ParseUint(c.QueryParam("accountId"), 10, 64)
	if ch := c.QueryParam("channel"); ch == "WHATSAPP" || ch == "INSTAGRAM" {
		f.Channel = ch
	}
	return f
}

// agentAccountOption is an account of the inbox's filter.
type agentAccountOption struct {
	ID   uint64
	Name string
}

// agentInboxView is the inbox's data.
type agentInboxView struct {
	Filters  agentFilters
	Filtered bool
	Accounts []agentAccountOption
	Presence string
	Rows     []agentRow
	// UnreadTotal is the API's sum over all the agent's conversations,
	// whatever the filters.
	UnreadTotal int64
	Query       string
}

// agentInboxOf reads the agent's inbox (one call: the API joins the
// offers, unread counts, windows and account names).
func (s *Server) agentInboxOf(c echo.Context) (api.InboxResponse, error) {
	var in api.InboxResponse
	err := s.call(c, http.MethodGet, fmt.Sprintf("/api/agents/%d/inbox", sessionOf(c).AgentID), nil, &in)
	return in, err
}

// agentAccountOptions are the enabled accounts (those the inbox can hold)
// by name (the number when the API does not name one).
func agentAccountOptions(enabled []uint64, names map[uint64]string) []agentAccountOption {
	out := make([]agentAccountOption, 0, len(enabled))
	for _, id := range enabled {
		out = append(out, agentAccountOption{ID: id, Name: agentAccountName(names, id)})
	}
	return out
}

func (s *Server) agentInboxData(c echo.Context) (agentInboxView, error) {
	me, err := s.agentMe(c)
	if err != nil {
		return agentInboxView{}, err
	}
	f := agentFiltersOf(c)
	v := agentInboxView{Filters: f, Filtered: f.any(), Presence: me.Presence, Query: f.query()}
	in, err := s.agentInboxOf(c)
	if err != nil {
		return v, err
	}
	v.UnreadTotal = in.Unread
	v.Accounts = agentAccountOptions(me.EnabledAccountIDs, agentAccountNamesFrom(me))
	for _, it := range in.Items {
		if r := agentRowOf(it); f.keep(r) {
			v.Rows = append(v.Rows, r)
		}
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
