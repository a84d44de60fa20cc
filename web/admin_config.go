package web

import (
	"errors"
	"fmt"
	"github.com/xcally-connector/connector/api"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// adminConfigFuncs are the configuration pages' template functions.
var adminConfigFuncs = template.FuncMap{
	// cfgHas reports whether ids holds id.
	"cfgHas": func(ids []uint64, id uint64) bool { return slices.Contains(ids, id) },
	// cfgBadge is the badge class of a check's or a reconciliation's status.
	"cfgBadge": func(status string) string {
		switch status {
		case "pass", "ok", "completed", "active", "matches", "CONVERSATION":
			return "ok"
		case "warn", "running", "migrated", "not_setup", "":
			return "warn"
		case "skip":
			return ""
		}
		return "bad"
	},
	// cfgSel is the selected or checked attribute's condition for a value
	// of a form kept as strings.
	"cfgIn": func(list []string, v string) bool { return slices.Contains(list, v) },
	"cfgID": func(id uint64) string { return strconv.FormatUint(id, 10) },
	// cfgBlankCanned and cfgBlankFlow are the rows admin.js adds, "__i__"
	// standing for their number.
	"cfgBlankCanned": func() cfgCannedRow { return cfgCannedRow{Index: cfgRowMark} },
	"cfgBlankFlow":   func() cfgFlowRow { return cfgFlowRow{Index: cfgRowMark, Kind: "queue"} },
	"cfgFlowView": func(r cfgFlowRow, queues []cfgQueue) map[string]any {
		return map[string]any{"Row": r, "Queues": queues}
	},
}

// cfgRowMark stands for a new row's number in the rows admin.js adds.
const cfgRowMark = "__i__"

// registerAdminConfig adds the configuration pages under /console/admin:
// accounts (with their diagnostics, Sinch side, reconciliations and
// settings), queues and agents. Every read and change is an API call as
// the signed-in admin.
func (s *Server) registerAdminConfig(g *echo.Group) {
	g.GET("/accounts", s.cfgAccountsPage)
	g.GET("/accounts/new", s.cfgAccountNewPage)
	g.POST("/accounts", s.cfgAccountCreate)
	g.GET("/accounts/:id", s.cfgAccountPage)
	g.POST("/accounts/:id", s.cfgAccountUpdate)
	g.POST("/accounts/:id/delete", s.cfgAccountDelete)
	g.GET("/accounts/:id/diagnostics", s.cfgDiagnosticsPage)
	g.GET("/accounts/:id/sinch", s.cfgSinchPage)
	g.POST("/accounts/:id/sinch", s.cfgSinchSetup)
	g.GET("/accounts/:id/reconcile", s.cfgReconcilePage)
	g.POST("/accounts/:id/reconcile", s.cfgReconcileStart)
	g.GET("/accounts/:id/settings", s.cfgSettingsPage)
	g.POST("/accounts/:id/settings", s.cfgSettingsSave)

	g.GET("/queues", s.cfgQueuesPage)
	g.POST("/queues", s.cfgQueueCreate)
	g.GET("/queues/:id", s.cfgQueuePage)
	g.POST("/queues/:id", s.cfgQueueUpdate)
	g.POST("/queues/:id/delete", s.cfgQueueDelete)
	g.POST("/queues/:id/accounts/:other", s.cfgQueueLinkAccount)
	g.POST("/queues/:id/agents/:other", s.cfgQueueLinkAgent)

	g.GET("/agents", s.cfgAgentsPage)
	g.POST("/agents", s.cfgAgentCreate)
	g.GET("/agents/:id", s.cfgAgentPage)
	g.POST("/agents/:id", s.cfgAgentUpdate)
	g.POST("/agents/:id/delete", s.cfgAgentDelete)
	g.POST("/agents/:id/token", s.cfgAgentRotateToken)
	g.POST("/agents/:id/permissions/:other", s.cfgAgentPermission)
}

// doneMessages are the confirmations a page shows after a redirect
// (?done=…): fixed texts, never the query's own.
var cfgDoneMessages = map[string]string{
	"created":   "Created.",
	"saved":     "Saved.",
	"deleted":   "Deleted.",
	"linked":    "Linked.",
	"unlinked":  "Unlinked.",
	"granted":   "Permission granted.",
	"revoked":   "Permission revoked: the account is disabled for the agent and its interactions there were taken back.",
	"started":   "Reconciliation started.",
	"setupdone": "The Sinch side was set up.",
}

func cfgDoneOf(c echo.Context) string { return cfgDoneMessages[c.QueryParam("done")] }

// seeOther redirects after a change, with its confirmation.
func cfgSeeOther(c echo.Context, path, done string) error {
	if done != "" {
		path += "?done=" + done
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/admin"+path)
}

// pathID is the route's parameter name as an id; a malformed one is a 404
// page (no such thing).
func (s *Server) cfgPathID(c echo.Context, name string) (uint64, error) {
	id, err := strconv.ParseUint(c.Param(name), 10, 64)
	if err != nil || id == 0 {
		return 0, s.problem(c, http.StatusNotFound, "not_found", "There is no such page.")
	}
	return id, nil
}

// errMessage is what a form shows for err: an API error's message as the
// API says it; any other error is not the user's to read (nil).
func cfgErrMessage(err error) (string, bool) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Message, true
	}
	return "", false
}

// formStatus is the status of a form shown again after err.
func cfgFormStatus(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return http.StatusBadRequest
}

// fieldError is a value the console cannot send (not a number): shown on
// the form like the API's messages.
type cfgFieldError struct{ msg string }

func (e *cfgFieldError) Error() string { return e.msg }

// formMessage is the message of a form's error: the API's, or the
// console's own for a value it could not read; ok false for any other.
func cfgFormMessage(err error) (string, bool) {
	var fe *cfgFieldError
	if errors.As(err, &fe) {
		return fe.msg, true
	}
	return cfgErrMessage(err)
}

// intField reads a whole number field ("" is def).
func cfgIntField(name, label, v string, def int) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, &cfgFieldError{fmt.Sprintf("%s: %q is not a whole number (%s)", name, v, label)}
	}
	return n, nil
}

// cfgQueue is a queue as the API returns it, with what its page shows of
// it.
type cfgQueue struct{ api.QueueResponse }

// lists reads the accounts, queues and agents a page names or links.
func (s *Server) cfgAccounts(c echo.Context) ([]api.AccountResponse, error) {
	var out []api.AccountResponse
	return out, s.call(c, http.MethodGet, "/api/whatsapp/accounts", nil, &out)
}

func (s *Server) cfgQueues(c echo.Context) ([]cfgQueue, error) {
	var out []cfgQueue
	return out, s.call(c, http.MethodGet, "/api/queues", nil, &out)
}

func (s *Server) cfgAgents(c echo.Context) ([]api.AgentCreatedResponse, error) {
	var out []api.AgentCreatedResponse
	return out, s.call(c, http.MethodGet, "/api/agents", nil, &out)
}

// strategies are the queue strategies, as the forms offer them.
var cfgStrategies = []struct{ Value, Label string }{
	{"round_robin", "Round robin: each agent in turn"},
	{"least_busy", "Least busy: the agent holding the fewest interactions"},
	{"ring_all", "Ring all: offered to every eligible agent, the first to accept takes it"},
}
