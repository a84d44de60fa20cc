package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/reports"
)

// reportTimeout bounds one report's queries.
const reportTimeout = 30 * time.Second

func (s *Server) registerReportRoutes(e *echo.Echo) {
	e.GET("/api/reports/interactions", s.interactionsReport, s.requireAdmin)
	e.GET("/api/reports/deliveries", s.deliveriesReport, s.requireAdmin)
	e.GET("/api/reports/live", s.liveReport, s.requireAdmin)
}

// interactionsReport is GET /api/reports/interactions.
func (s *Server) interactionsReport(c echo.Context) error {
	f, err := reportFilter(c, reports.InteractionGroupBys, time.Now())
	if err != nil {
		return err
	}
	ctx, cancel := reportContext(c)
	defer cancel()
	r, err := reports.Interactions(ctx, s.deps.DB, f)
	if err != nil {
		return reportError(err)
	}
	return writeReport(c, r, r.Rows, r.Totals)
}

// deliveriesReport is GET /api/reports/deliveries.
func (s *Server) deliveriesReport(c echo.Context) error {
	f, err := reportFilter(c, reports.DeliveryGroupBys, time.Now())
	if err != nil {
		return err
	}
	ctx, cancel := reportContext(c)
	defer cancel()
	r, err := reports.Deliveries(ctx, s.deps.DB, f)
	if err != nil {
		return reportError(err)
	}
	return writeReport(c, r, r.Rows, r.Totals)
}

// liveReport is GET /api/reports/live: now, not a range.
func (s *Server) liveReport(c echo.Context) error {
	f, err := reportScope(c)
	if err != nil {
		return err
	}
	ctx, cancel := reportContext(c)
	defer cancel()
	r, err := reports.Live(ctx, s.deps.DB, f, time.Now().UTC())
	if err != nil {
		return reportError(err)
	}
	// In CSV the queues are the rows and the live counts the total line.
	totals := struct {
		Open       reports.LiveCount  `json:"open"`
		Queued     reports.LiveCount  `json:"queued"`
		Unattended reports.LiveCount  `json:"unattended"`
		Agents     reports.LiveAgents `json:"agents"`
	}{r.Open, r.Queued, r.Unattended, r.Agents}
	return writeReport(c, r, r.Queues, totals)
}

// reportFilter parses a ranged report's parameters: from (required),
// to (default now), tz, groupBy (one of groups, default the first) and
// the scope. Each mistake is a 400 naming the parameter.
func reportFilter(c echo.Context, groups []string, now time.Time) (reports.Filter, error) {
	f, err := reportScope(c)
	if err != nil {
		return f, err
	}
	if f.Location, err = reports.LoadLocation(c.QueryParam("tz")); err != nil {
		return f, reportError(err)
	}
	f.GroupBy = groups[0]
	if v := c.QueryParam("groupBy"); v != "" {
		if !slices.Contains(groups, v) {
			return f, errBadRequest("invalid_query", fmt.Sprintf("groupBy: want one of %s, got %q", strings.Join(groups, ", "), v))
		}
		f.GroupBy = v
	}
	v := c.QueryParam("from")
	if v == "" {
		return f, errBadRequest("invalid_query", "from: required, an RFC 3339 time or a date (YYYY-MM-DD, midnight in tz)")
	}
	if f.From, err = reportTime("from", v, f.Location, false); err != nil {
		return f, err
	}
	f.To = now.UTC()
	if v := c.QueryParam("to"); v != "" {
		if f.To, err = reportTime("to", v, f.Location, true); err != nil {
			return f, err
		}
	}
	switch {
	case !f.To.After(f.From):
		return f, errBadRequest("invalid_query", fmt.Sprintf("to (%s) must be after from (%s)", f.To.Format(time.RFC3339), f.From.Format(time.RFC3339)))
	case f.To.Sub(f.From) > reports.MaxRange:
		return f, errBadRequest("invalid_query", fmt.Sprintf("from..to spans %d days: at most %d", int(f.To.Sub(f.From).Hours()/24), int(reports.MaxRange.Hours()/24)))
	}
	return f, nil
}

// reportError turns a filter the report cannot answer into a 400 naming
// its parameter.
func reportError(err error) error {
	var fe *reports.FilterError
	if errors.As(err, &fe) {
		return errBadRequest("invalid_query", fe.Error())
	}
	return err
}

// reportTime parses an RFC 3339 time or a date in loc: a from date is
// its midnight, a to date the midnight after it (the whole day counts).
func reportTime(param, v string, loc *time.Location, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseInLocation(time.DateOnly, v, loc)
	if err != nil {
		return time.Time{}, errBadRequest("invalid_query", fmt.Sprintf("%s: want an RFC 3339 time (2026-12-01T09:00:00Z) or a date (2026-12-01), got %q", param, v))
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d.UTC(), nil
}

// reportScope parses the scope of every report: accountId, queueId,
// agentId, channel, includeMigrated.
func reportScope(c echo.Context) (reports.Filter, error) {
	var f reports.Filter
	for _, p := range []struct {
		name string
		dst  *uint64
	}{{"accountId", &f.AccountID}, {"queueId", &f.QueueID}, {"agentId", &f.AgentID}} {
		if v := c.QueryParam(p.name); v != "" {
			id, err := strconv.ParseUint(v, 10, 63)
			if err != nil || id == 0 {
				return f, errBadRequest("invalid_query", fmt.Sprintf("%s: want a positive integer, got %q", p.name, v))
			}
			*p.dst = id
		}
	}
	if v := c.QueryParam("channel"); v != "" {
		ch := models.Channel(strings.ToUpper(v))
		if ch != models.ChannelWhatsApp && ch != models.ChannelInstagram {
			return f, errBadRequest("invalid_query", fmt.Sprintf("channel: want WHATSAPP or INSTAGRAM, got %q", v))
		}
		f.Channel = string(ch)
	}
	if v := c.QueryParam("includeMigrated"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, errBadRequest("invalid_query", fmt.Sprintf("includeMigrated: want true or false, got %q", v))
		}
		if b && f.AccountID == 0 {
			return f, errBadRequest("invalid_query", "includeMigrated: needs accountId (the account reported with the accounts it migrated from and to)")
		}
		f.IncludeMigrated = b
	}
	if v := c.QueryParam("format"); v != "" && v != "json" && v != "csv" {
		return f, errBadRequest("invalid_query", fmt.Sprintf("format: want json or csv, got %q", v))
	}
	return f, nil
}

func reportContext(c echo.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request().Context(), reportTimeout)
}

// writeReport answers the report as JSON, or as CSV (format=csv or
// Accept: text/csv): its rows, then its totals.
func writeReport(c echo.Context, report, rows, totals any) error {
	if !wantsCSV(c) {
		return c.JSON(http.StatusOK, report)
	}
	b, err := reportCSV(rows, totals)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="report.csv"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", b)
}

// wantsCSV reports whether the client asked for CSV.
func wantsCSV(c echo.Context) bool {
	if v := c.QueryParam("format"); v != "" {
		return v == "csv"
	}
	for _, part := range strings.Split(c.Request().Header.Get(echo.HeaderAccept), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/csv") {
			return true
		}
	}
	return false
}
