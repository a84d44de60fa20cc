package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/xcally-connector/connector/api"
)

// opsInteractionFilters are the GET /api/interactions parameters the list
// passes on: every filter of the reports' drill-down links, and the
// API's paging (limit, before).
var opsInteractionFilters = []string{"accountId", "status", "agentId", "queueId", "channel", "disposition",
	"openedFrom", "openedTo", "responded", "figure", "limit"}

type opsInteractionsView struct {
	// Filter is the query without the page cursor; Q the same as values
	// for the form.
	Filter  string
	Q       url.Values
	Before  string
	Pickers opsPickers
	Items   []api.InteractionResponse
	// Older is the next (older) page's link, "" on the last page.
	Older string
	Error string
}

// opsInteractionsPage lists the interactions of the query, newest first,
// paged as the API pages (before: the cursor of the next page).
func (s *Server) opsInteractionsPage(c echo.Context) error {
	q := opsPick(c.QueryParams(), opsInteractionFilters...)
	v := opsInteractionsView{Filter: q.Encode(), Q: q, Before: c.QueryParam("before")}
	var err error
	if v.Pickers, err = s.opsLoadPickers(c); err != nil {
		return s.apiProblem(c, err)
	}
	apiQ := opsPick(c.QueryParams(), append(opsInteractionFilters, "before")...)
	var list api.InteractionList
	status := http.StatusOK
	if err := s.call(c, http.MethodGet, "/api/interactions?"+apiQ.Encode(), nil, &list); err != nil {
		var perr error
		if status, v.Error, perr = opsPageError(err); perr != nil {
			return perr
		}
	}
	v.Items = list.Items
	if list.NextBefore != 0 {
		older := opsPick(q, opsInteractionFilters...)
		older.Set("before", strconv.FormatUint(list.NextBefore, 10))
		v.Older = Prefix + "/admin/interactions?" + older.Encode()
	}
	return s.render(c, status, "admin/interactions", v)
}

type opsInteractionView struct {
	Pickers     opsPickers
	Interaction api.InteractionResponse
	// Back is the list the admin came from (a console interactions page),
	// else the whole list.
	Back string
}

// opsInteractionPage shows one interaction with its messages, read-only.
func (s *Server) opsInteractionPage(c echo.Context) error {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		return s.problem(c, http.StatusNotFound, "not_found", "There is no such interaction.")
	}
	v := opsInteractionView{Back: Prefix + "/admin/interactions"}
	if err := s.call(c, http.MethodGet, "/api/interactions/"+strconv.FormatUint(id, 10), nil, &v.Interaction); err != nil {
		return s.apiProblem(c, err)
	}
	if v.Pickers, err = s.opsLoadPickers(c); err != nil {
		return s.apiProblem(c, err)
	}
	if back := c.QueryParam("back"); back != "" {
		if u, err := url.Parse(back); err == nil && u.Path == Prefix+"/admin/interactions" && u.Host == "" && u.Scheme == "" {
			v.Back = u.RequestURI()
		}
	}
	return s.render(c, http.StatusOK, "admin/interactions_show", v)
}
