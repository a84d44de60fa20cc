// Package reports answers what happened on each account, queue and agent:
// interactions (volumes and times), deliveries (what reached customers and
// what failed, with the advice an agent sees) and the live state (queues
// waiting, agents by presence). Every figure is read from the application
// database with indexed queries over the columns the activities write when
// things happen (decisions §20), never from Temporal visibility; every
// group carries the GET /api/interactions query that lists exactly the
// interactions behind it.
//
// It reads and never writes. It does not speak HTTP (api parses the
// parameters, renders JSON or CSV) and knows nothing of workflows.
package reports

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// GroupBy values of the interactions report.
const (
	ByAccount     = "account"
	ByQueue       = "queue"
	ByAgent       = "agent"
	ByChannel     = "channel"
	ByDisposition = "disposition"
	ByDay         = "day"
	ByWeek        = "week"
	// Deliveries only.
	ByClass = "class"
	ByCode  = "code"
)

// MaxRange is the longest report range.
const MaxRange = 400 * 24 * time.Hour

// Filter selects the interactions (or messages) a report counts.
type Filter struct {
	// From and To bound the opening time of interactions (the creation
	// time of messages): From <= t < To.
	From, To time.Time
	// Location is the zone of day and week groups.
	Location *time.Location
	// GroupBy is one of the By* values the report accepts.
	GroupBy string
	// AccountID, QueueID, AgentID (0: all) and Channel ("": all) narrow
	// the report.
	AccountID, QueueID, AgentID uint64
	Channel                     string
	// IncludeMigrated reports an account together with the accounts it
	// migrated from and to (with AccountID; each row names its account).
	IncludeMigrated bool
}

// Stats summarizes durations in seconds. Count is the number of
// interactions (or replies) it is based on; the percentiles are
// nearest-rank (the smallest value with at least that share of values at
// or below it). All zero when Count is 0.
type Stats struct {
	Count int64   `json:"count"`
	Avg   float64 `json:"avg"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	Max   float64 `json:"max"`
}

// Group names a row: the fields of its GroupBy (the others empty).
type Group struct {
	AccountID   uint64 `json:"accountId,omitempty"`
	AccountName string `json:"accountName,omitempty"`
	QueueID     uint64 `json:"queueId,omitempty"`
	QueueName   string `json:"queueName,omitempty"`
	AgentID     uint64 `json:"agentId,omitempty"`
	AgentName   string `json:"agentName,omitempty"`
	Channel     string `json:"channel,omitempty"`
	Disposition string `json:"disposition,omitempty"`
	// Day and Week are dates (YYYY-MM-DD) in the report's zone; a week is
	// named by its Monday.
	Day  string `json:"day,omitempty"`
	Week string `json:"week,omitempty"`
	// Class and Code group deliveries (failure class, Sinch reason code).
	Class string `json:"class,omitempty"`
	Code  string `json:"code,omitempty"`
	// None is true for the row of interactions without the grouped value
	// (no queue, no agent, no disposition).
	None bool `json:"none,omitempty"`
}

// InteractionFigures are the figures of a group of interactions opened in
// the range.
type InteractionFigures struct {
	Opened             int64 `json:"opened"`
	Assigned           int64 `json:"assigned"`
	Closed             int64 `json:"closed"`
	ClosedByInactivity int64 `json:"closedByInactivity"`
	Transferred        int64 `json:"transferred"`
	Overflowed         int64 `json:"overflowed"`
	Abandoned          int64 `json:"abandoned"`
	MessagesIn         int64 `json:"messagesIn"`
	MessagesOut        int64 `json:"messagesOut"`

	FirstResponseSeconds Stats `json:"firstResponseSeconds"`
	TimeToAssignSeconds  Stats `json:"timeToAssignSeconds"`
	ReplySeconds         Stats `json:"replySeconds"`
	HandleSeconds        Stats `json:"handleSeconds"`
}

// InteractionRow is one group of the interactions report.
type InteractionRow struct {
	Group Group `json:"group"`
	InteractionFigures
	// InteractionsURL is the GET /api/interactions query listing exactly
	// the interactions counted in Opened; FigureURLs, per figure that
	// counts interactions (assigned, closed, …), those counted in it.
	InteractionsURL string            `json:"interactionsUrl"`
	FigureURLs      map[string]string `json:"figureUrls"`
}

// InteractionsReport is the answer of the interactions report.
type InteractionsReport struct {
	From    time.Time          `json:"from"`
	To      time.Time          `json:"to"`
	TZ      string             `json:"tz"`
	GroupBy string             `json:"groupBy"`
	Rows    []InteractionRow   `json:"rows"`
	Totals  InteractionFigures `json:"totals"`
	// TotalsURL lists every interaction of the report; TotalsFigureURLs
	// those of each figure.
	TotalsURL        string            `json:"interactionsUrl"`
	TotalsFigureURLs map[string]string `json:"figureUrls"`
}

// InteractionGroupBys and DeliveryGroupBys are the groupBy values each
// report accepts, in the order the API documents them.
var (
	InteractionGroupBys = []string{ByAccount, ByQueue, ByAgent, ByChannel, ByDisposition, ByDay, ByWeek}
	DeliveryGroupBys    = []string{ByAccount, ByChannel, ByClass, ByCode, ByDay}
)

// Report names, for ParseGroupBy.
const (
	ReportInteractions = "interactions"
	ReportDeliveries   = "deliveries"
)

// FilterError is a filter a report cannot answer: Param names the query
// parameter the API took it from (groupBy, tz, from, to, accountId).
type FilterError struct {
	Param   string
	Message string
}

func (e *FilterError) Error() string { return e.Param + ": " + e.Message }

func filterError(param, format string, args ...any) error {
	return &FilterError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// ParseGroupBy checks a groupBy value of a report (ReportInteractions or
// ReportDeliveries); "" is an error (the API chooses its default).
func ParseGroupBy(report, v string) (string, error) {
	var allowed []string
	switch report {
	case ReportInteractions:
		allowed = InteractionGroupBys
	case ReportDeliveries:
		allowed = DeliveryGroupBys
	default:
		return "", fmt.Errorf("reports: unknown report %q", report)
	}
	if slices.Contains(allowed, v) {
		return v, nil
	}
	return "", filterError("groupBy", "want one of %s, got %q", strings.Join(allowed, ", "), v)
}

// tzName accepts IANA zone names only: they are safe to name in SQL.
var tzName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$`)

// LoadLocation loads an IANA time zone ("" is UTC). "Local" and names
// that are not zones are FilterErrors of the tz parameter.
func LoadLocation(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	if tz == "Local" || !tzName.MatchString(tz) {
		return nil, filterError("tz", "want an IANA time zone such as Europe/Rome, got %q", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, filterError("tz", "want an IANA time zone such as Europe/Rome, got %q", tz)
	}
	return loc, nil
}
