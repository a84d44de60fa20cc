package reports

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// InteractionsPath is the API route the drill-down URLs query.
const InteractionsPath = "/api/interactions"

// The drill-down URLs use these GET /api/interactions parameters:
// openedFrom and openedTo (RFC 3339, opened_at >= from and < to),
// status, responded (true: an agent replied), accountId (an id or ids
// separated by commas), queueId and agentId (an id, or none), channel and
// disposition (a name, or none for no disposition).

// The figures of the interactions report that count interactions, each
// with a drill-down of its own (GET /api/interactions?figure=…).
const (
	FigureAssigned           = "assigned"
	FigureClosed             = "closed"
	FigureClosedByInactivity = "closedByInactivity"
	FigureTransferred        = "transferred"
	FigureOverflowed         = "overflowed"
	FigureAbandoned          = "abandoned"
)

// Figures lists them in the order the API documents them.
var Figures = []string{FigureAssigned, FigureClosed, FigureClosedByInactivity, FigureTransferred, FigureOverflowed, FigureAbandoned}

// figureSQL is each figure's condition on an interactions table (%[1]s:
// its name or alias): the report counts with these, and the drill-down
// filters with the same.
var figureSQL = map[string]string{
	FigureAssigned:           "(%[1]s.first_assigned_at IS NOT NULL)",
	FigureClosed:             "(%[1]s.status = 'closed' AND %[1]s.close_reason IN ('agent', 'admin'))",
	FigureClosedByInactivity: "(%[1]s.status = 'closed' AND %[1]s.close_reason = 'inactivity')",
	FigureTransferred:        "(%[1]s.transfers > 0)",
	FigureOverflowed:         "(%[1]s.overflows > 0)",
	FigureAbandoned:          "(%[1]s.status = 'closed' AND %[1]s.first_response_at IS NULL)",
}

// FigureCondition is the SQL condition, on the interactions table named
// table, of the interactions a figure counts (false for an unknown one).
func FigureCondition(figure, table string) (string, bool) {
	t, ok := figureSQL[figure]
	if !ok {
		return "", false
	}
	return fmt.Sprintf(t, table), true
}

func figureCond(figure, alias string) string {
	c, ok := FigureCondition(figure, alias)
	if !ok {
		panic("reports: no figure " + figure)
	}
	return c
}

// figureURLs are a row's drill-downs per figure: its interactions URL
// narrowed to those the figure counts.
func figureURLs(rowURL string) map[string]string {
	sep := "&"
	if !strings.Contains(rowURL, "?") {
		sep = "?"
	}
	out := make(map[string]string, len(Figures))
	for _, f := range Figures {
		out[f] = rowURL + sep + "figure=" + f
	}
	return out
}

// param is one query parameter of a drill-down URL.
type param struct{ name, value string }

// drillDown is a drill-down URL; parameters keep their order.
func drillDown(params ...param) string {
	var b strings.Builder
	b.WriteString(InteractionsPath)
	sep := "?"
	for _, p := range params {
		if p.value == "" {
			continue
		}
		b.WriteString(sep + p.name + "=" + url.QueryEscape(p.value))
		sep = "&"
	}
	return b.String()
}

// rfc3339 formats a bound in the report's zone, exact to the nanosecond.
func (s *scope) rfc3339(t time.Time) string { return t.In(s.loc).Format(time.RFC3339Nano) }

// accountParam is the accountId of a row of account acc (0: not split).
func (s *scope) accountParam(acc uint64) string {
	if acc != 0 {
		return strconv.FormatUint(acc, 10)
	}
	ids := make([]string, len(s.accounts))
	for i, id := range s.accounts {
		ids[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(ids, ",")
}

// idParam is a queueId or agentId: the row's (grouped) or the filter's.
func idParam(grouped bool, k *key, filter uint64) string {
	switch {
	case grouped && k.null:
		return "none"
	case grouped:
		return k.val
	case filter != 0:
		return strconv.FormatUint(filter, 10)
	}
	return ""
}

// rowURL lists the interactions of a row of the interactions report (k
// nil: all of them): opened in the range (the row's day or week, clipped
// to the range) and selected by the filter and the row's group.
func (s *scope) rowURL(k *key, groupBy string) string {
	from, to := s.f.From, s.f.To
	if k == nil {
		k, groupBy = &key{}, ""
	}
	if (groupBy == ByDay || groupBy == ByWeek) && !k.null {
		if d, err := time.ParseInLocation(time.DateOnly, k.val, s.loc); err == nil {
			end := d.AddDate(0, 0, 1)
			if groupBy == ByWeek {
				end = d.AddDate(0, 0, 7)
			}
			from, to = later(from, d), earlier(to, end)
		}
	}
	channel, disposition := s.f.Channel, ""
	switch {
	case groupBy == ByChannel:
		channel = k.val
	case groupBy == ByDisposition && k.null:
		disposition = "none"
	case groupBy == ByDisposition:
		disposition = k.val
	}
	return drillDown(
		param{"openedFrom", s.rfc3339(from)}, param{"openedTo", s.rfc3339(to)},
		param{"accountId", s.accountParam(k.acc)},
		param{"queueId", idParam(groupBy == ByQueue, k, s.f.QueueID)},
		param{"agentId", idParam(groupBy == ByAgent, k, s.f.AgentID)},
		param{"channel", channel}, param{"disposition", disposition},
	)
}

// liveURL lists open interactions of the live state: status (open,
// queued, assigned), responded ("" or false) and, for a queue row, its
// account (split) and queue.
func (s *scope) liveURL(status, responded string, k *key) string {
	queue := idParam(false, nil, s.f.QueueID)
	var acc uint64
	if k != nil {
		acc = k.acc
		queue = idParam(true, k, 0)
	}
	return drillDown(
		param{"status", status}, param{"responded", responded},
		param{"accountId", s.accountParam(acc)},
		param{"queueId", queue},
		param{"agentId", idParam(false, nil, s.f.AgentID)},
		param{"channel", s.f.Channel},
	)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
