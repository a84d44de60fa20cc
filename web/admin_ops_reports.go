package web

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xcally-connector/connector/reports"
)

// The reports the page shows, and the parameters it passes to the API.
var (
	opsReportNames  = []string{reports.ReportInteractions, reports.ReportDeliveries}
	opsReportParams = []string{"from", "to", "tz", "groupBy", "accountId", "queueId", "agentId", "channel", "includeMigrated"}
	opsScopeParams  = []string{"accountId", "queueId", "agentId", "channel", "includeMigrated"}
)

// opsReportForm is the reports page's form, as the browser sent it.
type opsReportForm struct {
	Report                                         string
	From, To, TZ, GroupBy                          string
	AccountID, QueueID, AgentID, Channel, Migrated string
}

func opsReportFormOf(c echo.Context, now time.Time) opsReportForm {
	q := c.QueryParams()
	f := opsReportForm{Report: q.Get("report"), From: q.Get("from"), To: q.Get("to"), TZ: q.Get("tz"), GroupBy: q.Get("groupBy"),
		AccountID: q.Get("accountId"), QueueID: q.Get("queueId"), AgentID: q.Get("agentId"), Channel: q.Get("channel"),
		Migrated: q.Get("includeMigrated")}
	if !slices.Contains(opsReportNames, f.Report) {
		f.Report = reports.ReportInteractions
	}
	if len(q) == 0 {
		// The first visit shows the last seven days, today included.
		f.From = now.UTC().AddDate(0, 0, -6).Format(time.DateOnly)
	}
	return f
}

// query is the form as the API's query (and the page's own).
func (f opsReportForm) query() url.Values {
	return opsPick(url.Values{"from": {f.From}, "to": {f.To}, "tz": {f.TZ}, "groupBy": {f.GroupBy}, "accountId": {f.AccountID},
		"queueId": {f.QueueID}, "agentId": {f.AgentID}, "channel": {f.Channel}, "includeMigrated": {f.Migrated}}, opsReportParams...)
}

// GroupBys are the groupBy values of the form's report.
func (f opsReportForm) GroupBys() []string {
	if f.Report == reports.ReportDeliveries {
		return reports.DeliveryGroupBys
	}
	return reports.InteractionGroupBys
}

// CSVURL downloads the form's report as the API's CSV.
func (f opsReportForm) CSVURL() string {
	q := f.query()
	q.Set("report", f.Report)
	return Prefix + "/admin/reports/csv?" + q.Encode()
}

// LiveQuery is the live overview's scope (the form's).
func (f opsReportForm) LiveQuery() string { return opsPick(f.query(), opsScopeParams...).Encode() }

// opsChart is what reports.js draws: a label per row and a few series of
// the table's numbers.
type opsChart struct {
	Title  string           `json:"title"`
	Labels []string         `json:"labels"`
	Series []opsChartSeries `json:"series"`
}

type opsChartSeries struct {
	Label  string  `json:"label"`
	Values []int64 `json:"values"`
}

type opsReportsView struct {
	Form         opsReportForm
	Pickers      opsPickers
	Error        string
	Interactions *reports.InteractionsReport
	Deliveries   *reports.DeliveriesReport
	Chart        *opsChart
	Live         opsLiveView
}

// opsLiveView is the live overview: the API's answer, or its error.
type opsLiveView struct {
	Query  string
	Report *reports.LiveReport
	Error  string
}

// opsReportsPage shows the form, the report it asks for (tables, a chart,
// the CSV link) and the live overview.
func (s *Server) opsReportsPage(c echo.Context) error {
	f := opsReportFormOf(c, s.deps.Now())
	v := opsReportsView{Form: f}
	var err error
	if v.Pickers, err = s.opsLoadPickers(c); err != nil {
		return s.apiProblem(c, err)
	}
	status := http.StatusOK
	path := "/api/reports/" + f.Report + "?" + f.query().Encode()
	switch f.Report {
	case reports.ReportDeliveries:
		var r reports.DeliveriesReport
		if err = s.call(c, http.MethodGet, path, nil, &r); err == nil {
			v.Deliveries, v.Chart = &r, opsDeliveriesChart(&r)
		}
	default:
		var r reports.InteractionsReport
		if err = s.call(c, http.MethodGet, path, nil, &r); err == nil {
			v.Interactions, v.Chart = &r, opsInteractionsChart(&r)
		}
	}
	if err != nil {
		var perr error
		if status, v.Error, perr = opsPageError(err); perr != nil {
			return perr
		}
	}
	if v.Live, err = s.opsLive(c, f.LiveQuery()); err != nil {
		return err
	}
	return s.render(c, status, "admin/reports", v)
}

// opsLiveFragment is the live overview alone, which the page asks for every
// 10 seconds.
func (s *Server) opsLiveFragment(c echo.Context) error {
	lv, err := s.opsLive(c, opsPick(c.QueryParams(), opsScopeParams...).Encode())
	if err != nil {
		return err
	}
	return s.fragment(c, http.StatusOK, "admin/reports", "live", opsReportsView{Live: lv})
}

// opsLive reads GET /api/reports/live for the scope query; an API error is
// shown in the overview.
func (s *Server) opsLive(c echo.Context, query string) (opsLiveView, error) {
	lv := opsLiveView{Query: query}
	var r reports.LiveReport
	err := s.call(c, http.MethodGet, "/api/reports/live?"+query, nil, &r)
	if err == nil {
		lv.Report = &r
		return lv, nil
	}
	_, lv.Error, err = opsPageError(err)
	return lv, err
}

// opsReportCSV serves the API's CSV of the form's report as it is.
func (s *Server) opsReportCSV(c echo.Context) error {
	name := c.QueryParam("report")
	if !slices.Contains(opsReportNames, name) && name != "live" {
		return s.problem(c, http.StatusBadRequest, "invalid_query", "report: want interactions, deliveries or live")
	}
	params := opsReportParams
	if name == "live" {
		params = opsScopeParams
	}
	q := opsPick(c.QueryParams(), params...)
	q.Set("format", "csv")
	return s.stream(c, http.MethodGet, "/api/reports/"+name+"?"+q.Encode())
}

func opsInteractionsChart(r *reports.InteractionsReport) *opsChart {
	if len(r.Rows) == 0 {
		return nil
	}
	ch := &opsChart{Title: "Interactions opened, closed and abandoned"}
	opened, closed, abandoned := opsChartSeries{Label: "Opened"}, opsChartSeries{Label: "Closed"}, opsChartSeries{Label: "Abandoned"}
	for _, row := range r.Rows {
		ch.Labels = append(ch.Labels, opsGroupLabel(r.GroupBy, row.Group))
		opened.Values = append(opened.Values, row.Opened)
		closed.Values = append(closed.Values, row.Closed)
		abandoned.Values = append(abandoned.Values, row.Abandoned)
	}
	ch.Series = []opsChartSeries{opened, closed, abandoned}
	return ch
}

func opsDeliveriesChart(r *reports.DeliveriesReport) *opsChart {
	if len(r.Rows) == 0 {
		return nil
	}
	ch := &opsChart{Title: "Replies sent, delivered, read and failed"}
	sent, delivered, read, failed := opsChartSeries{Label: "Sent"}, opsChartSeries{Label: "Delivered"}, opsChartSeries{Label: "Read"}, opsChartSeries{Label: "Failed"}
	for _, row := range r.Rows {
		ch.Labels = append(ch.Labels, opsGroupLabel(r.GroupBy, row.Group))
		sent.Values = append(sent.Values, row.Sent)
		delivered.Values = append(delivered.Values, row.Delivered)
		read.Values = append(read.Values, row.Read)
		failed.Values = append(failed.Values, row.Failed)
	}
	ch.Series = []opsChartSeries{sent, delivered, read, failed}
	return ch
}
