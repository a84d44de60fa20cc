package web

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/reports"
)

// adminOpsFuncs are the operations pages' template functions.
var adminOpsFuncs = template.FuncMap{
	// drill turns a report's interactionsUrl (a GET /api/interactions
	// query) into the console's interactions page with the same query.
	"opsDrill": opsDrillURL,
	// opsNext is a migration's next action in the console's words.
	"opsNext": opsNextAction,
	// secs writes a duration in seconds for people: 42 s, 3 min 5 s,
	// 2 h 10 min.
	"opsSecs": opsHumanSeconds,
	// pct writes a ratio as a percentage with one decimal.
	"opsPct": func(r float64) string { return strconv.FormatFloat(r*100, 'f', 1, 64) + " %" },
	// opsGroup names a report row for people.
	"opsGroup": opsGroupLabel,
	// badge is the badge class of a migration state, a step status, an
	// interaction or message status.
	"opsBadge": opsBadgeClass,
	// opsField is one input of a form: its name, label, value, type,
	// whether the API's message names it, and its hint.
	"opsField": func(name, label, value, typ, invalid, hint string) opsFormField {
		return opsFormField{Name: name, Label: label, Value: value, Type: typ, Invalid: name == invalid, Hint: hint}
	},
	// idName names an id with the names loaded for the page.
	"opsName": func(names map[uint64]string, id any) string {
		var n uint64
		switch v := id.(type) {
		case uint64:
			n = v
		case *uint64:
			if v == nil {
				return ""
			}
			n = *v
		}
		if n == 0 {
			return ""
		}
		if name, ok := names[n]; ok && name != "" {
			return fmt.Sprintf("%s (#%d)", name, n)
		}
		return fmt.Sprintf("#%d", n)
	},
}

// registerAdminOps adds the operations pages under /console/admin: the
// migrations (admin_ops_migrations.go), the reports with the opsLive
// overview (admin_ops_reports.go) and the interactions their figures
// link to (admin_ops_interactions.go).
func (s *Server) registerAdminOps(g *echo.Group) {
	g.GET("/migrations", s.opsMigrationsPage)
	g.GET("/migrations/new", s.opsMigrationNewPage)
	g.POST("/migrations", s.opsMigrationStart)
	g.GET("/migrations/:id", s.opsMigrationPage)
	g.GET("/migrations/:id/status", s.opsMigrationStatus)
	g.POST("/migrations/:id/:action", s.opsMigrationAction)

	g.GET("/reports", s.opsReportsPage)
	g.GET("/reports/live", s.opsLiveFragment)
	g.GET("/reports/csv", s.opsReportCSV)

	g.GET("/interactions", s.opsInteractionsPage)
	g.GET("/interactions/:id", s.opsInteractionPage)
}

// opsDrillURL is the console page of a GET /api/interactions query ("" when
// it is not one).
func opsDrillURL(apiURL string) string {
	rest, ok := strings.CutPrefix(apiURL, reports.InteractionsPath)
	if !ok || (rest != "" && rest[0] != '?') {
		return ""
	}
	return Prefix + "/admin/interactions" + rest
}

func opsHumanSeconds(v float64) string {
	if v <= 0 || math.IsNaN(v) {
		return "0 s"
	}
	if v < 0.1 {
		return "under 0.1 s"
	}
	if v < 60 {
		if v < 10 && v != math.Trunc(v) {
			return strconv.FormatFloat(v, 'f', 1, 64) + " s"
		}
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64) + " s"
	}
	s := int64(math.Round(v))
	h, m, sec := s/3600, (s%3600)/60, s%60
	switch {
	case h > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	case sec > 0:
		return fmt.Sprintf("%d min %d s", m, sec)
	}
	return fmt.Sprintf("%d min", m)
}

// opsGroupLabel names a row of a report grouped by groupBy; with
// includeMigrated a row also names its account.
func opsGroupLabel(groupBy string, g reports.Group) string {
	var label string
	switch groupBy {
	case reports.ByAccount:
		label = opsNamed(g.AccountName, g.AccountID)
	case reports.ByQueue:
		label = opsOrNone(g.None, "No queue", opsNamed(g.QueueName, g.QueueID))
	case reports.ByAgent:
		label = opsOrNone(g.None, "No agent", opsNamed(g.AgentName, g.AgentID))
	case reports.ByChannel:
		label = g.Channel
	case reports.ByDisposition:
		label = opsOrNone(g.None, "No disposition", g.Disposition)
	case reports.ByDay:
		label = g.Day
	case reports.ByWeek:
		label = "Week of " + g.Week
	case reports.ByClass:
		label = opsOrNone(g.None, "Not failed", g.Class)
	case reports.ByCode:
		label = opsOrNone(g.None, "Not failed", g.Code)
	}
	if groupBy != reports.ByAccount && g.AccountID != 0 {
		label += " · " + opsNamed(g.AccountName, g.AccountID)
	}
	return label
}

func opsNamed(name string, id uint64) string {
	if name == "" {
		return fmt.Sprintf("#%d", id)
	}
	return fmt.Sprintf("%s (#%d)", name, id)
}

func opsOrNone(none bool, noneLabel, label string) string {
	if none {
		return noneLabel
	}
	return label
}

func opsBadgeClass(status any) string {
	switch fmt.Sprint(status) {
	case "done", "completed", "delivered", "read", "stored", "closed", "available":
		return "ok"
	case "failed", "expired", "compensated", "cancelled":
		return "bad"
	case "running", "awaiting_confirmation", "awaiting_first_message", "pending", "queued", "assigned", "away":
		return "warn"
	}
	return ""
}

// opsFormField is what the "field" template renders.
type opsFormField struct {
	Name, Label, Value, Type, Hint string
	Invalid                        bool
}

// opsPickers are the names of the accounts, queues and agents, for the
// pages' selects and to name the ids of a list.
type opsPickers struct {
	Accounts, Queues, Agents []opsOption
	AccountNames             map[uint64]string
	QueueNames               map[uint64]string
	AgentNames               map[uint64]string
}

// opsOption is one choice of a select.
type opsOption struct {
	ID   uint64
	Name string
}

// opsLoadPickers reads the accounts, queues and agents from the API.
func (s *Server) opsLoadPickers(c echo.Context) (opsPickers, error) {
	var p opsPickers
	var accs []api.AccountResponse
	if err := s.call(c, http.MethodGet, "/api/whatsapp/accounts", nil, &accs); err != nil {
		return p, err
	}
	var qs []api.QueueResponse
	if err := s.call(c, http.MethodGet, "/api/queues", nil, &qs); err != nil {
		return p, err
	}
	var ags []api.AgentResponse
	if err := s.call(c, http.MethodGet, "/api/agents", nil, &ags); err != nil {
		return p, err
	}
	p.AccountNames, p.QueueNames, p.AgentNames = map[uint64]string{}, map[uint64]string{}, map[uint64]string{}
	for _, a := range accs {
		label := a.Name
		if a.Status != "" && a.Status != "active" {
			label += " (" + a.Status + ")"
		}
		p.Accounts = append(p.Accounts, opsOption{a.ID, label})
		p.AccountNames[a.ID] = a.Name
	}
	for _, q := range qs {
		p.Queues = append(p.Queues, opsOption{q.ID, q.Name})
		p.QueueNames[q.ID] = q.Name
	}
	for _, a := range ags {
		p.Agents = append(p.Agents, opsOption{a.ID, a.Name})
		p.AgentNames[a.ID] = a.Name
	}
	return p, nil
}

// opsPick keeps the listed query parameters of q that are set, in order.
func opsPick(q url.Values, names ...string) url.Values {
	out := url.Values{}
	for _, n := range names {
		if v := strings.TrimSpace(q.Get(n)); v != "" {
			out.Set(n, v)
		}
	}
	return out
}

// opsPageError is the message and status of an API error shown on a page
// (any other error is the server's, a 500).
func opsPageError(err error) (int, string, error) {
	if ae, ok := err.(*apiError); ok {
		return ae.Status, ae.Message, nil
	}
	return 0, "", err
}

// opsNextActionRoutes turn the API routes a migration's next action names
// into what the console offers for them (the buttons of the migration's
// page, the account's Sinch side tab, the form that starts one).
var opsNextActionRoutes = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`POST /api/migrations/\d+/confirm`), "press “The account manager confirmed” below"},
	{regexp.MustCompile(`POST /api/migrations/\d+/retry`), "press “Retry the failed step” below"},
	{regexp.MustCompile(`POST /api/migrations/\d+/cancel`), "“Cancel the migration”"},
	{regexp.MustCompile(`GET /api/whatsapp/accounts/(\d+)/sinch`), "the Sinch side tab of account $1"},
	{regexp.MustCompile(`POST /api/migrations\b`), "“Start a migration”"},
}

// opsNextAction is the API's next action with its routes named as the
// console's controls.
func opsNextAction(text string) string {
	for _, r := range opsNextActionRoutes {
		text = r.re.ReplaceAllString(text, r.with)
	}
	return text
}
