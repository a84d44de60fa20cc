package reports

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
)

// DeliveryFigures are the figures of a group of outbound messages created
// in the range. A message counts once: the parts of a text Sinch asked to
// split (MESSAGE_SPLIT_REQUIRED) are not counted, their original is (its
// status is rolled up from the parts'); system notes are not messages
// sent.
type DeliveryFigures struct {
	// Sent is every agent reply and action-flow reply created in the
	// range (outbound, not a split part).
	Sent int64 `json:"sent"`
	// Accepted: Sinch accepted it (sent_at set, or a status past
	// pending other than failed).
	Accepted int64 `json:"accepted"`
	// Delivered: delivered or read; Read: read.
	Delivered int64 `json:"delivered"`
	Read      int64 `json:"read"`
	// Failed: failed for good (after any automatic resend).
	Failed int64 `json:"failed"`
	// Resent counts the messages the connector sent again on its own:
	// resent after a network-class failure (send_attempt > 1) or split
	// into parts after MESSAGE_SPLIT_REQUIRED. A message resent twice
	// counts once.
	Resent int64 `json:"resent"`
	// FailureRate is Failed / Sent (0 when nothing was sent).
	FailureRate float64 `json:"failureRate"`
	// TopCodes are the most frequent failure codes (at most
	// MaxTopCodes), most frequent first, then by code.
	TopCodes []CodeCount `json:"topCodes"`
}

// CodeCount is a failure code of failed messages. Code is Sinch's reason
// code (or the connector's own, such as SEND_TIMED_OUT; UNKNOWN when none
// was given; for a split text whose part failed, the part's code); Class
// the failure class; Advice what the agent sees on such a failure
// (activities.ClassifyReason's text for Sinch's codes, else the text
// stored on such a failure of the report: of several, the greatest in
// byte order).
type CodeCount struct {
	Code   string `json:"code"`
	Class  string `json:"class"`
	Count  int64  `json:"count"`
	Advice string `json:"advice"`
}

// MaxTopCodes is the most failure codes a row lists.
const MaxTopCodes = 5

// DeliveryRow is one group of the deliveries report. Grouped by class or
// code, the messages that did not fail are the None row.
type DeliveryRow struct {
	Group Group `json:"group"`
	DeliveryFigures
}

// DeliveriesReport is the answer of the deliveries report.
type DeliveriesReport struct {
	From    time.Time       `json:"from"`
	To      time.Time       `json:"to"`
	TZ      string          `json:"tz"`
	GroupBy string          `json:"groupBy"`
	Rows    []DeliveryRow   `json:"rows"`
	Totals  DeliveryFigures `json:"totals"`
}

// The SQL of a message's figures (alias m; the same on both engines).
const (
	dAccepted = "(m.sent_at IS NOT NULL OR m.status IN ('accepted', 'queued', 'switching', 'delivered', 'read'))"
	dResent   = "(m.send_attempt > 1 OR (m.reason_code = '" + activities.ReasonSplitRequired + "' AND EXISTS (" +
		"SELECT 1 FROM messages p WHERE p.parent_id = m.id AND p.direction = 'outbound')))"
	// sqliteCode is the failure code: a split text's first failed
	// part's, else the message's own, UNKNOWN when empty. Postgres
	// (pgCode) reads the part's code from a join (splitParts): a
	// subquery in a grouping key rules out hash aggregation.
	sqliteCode = "COALESCE(NULLIF(CASE WHEN m.reason_code = '" + activities.ReasonSplitRequired + "' THEN COALESCE((" +
		"SELECT p.reason_code FROM messages p WHERE p.parent_id = m.id AND p.direction = 'outbound' AND p.status = 'failed' " +
		"ORDER BY p.part LIMIT 1), m.reason_code) ELSE m.reason_code END, ''), 'UNKNOWN')"
	pgCode = "COALESCE(NULLIF(CASE WHEN m.reason_code = '" + activities.ReasonSplitRequired + "' THEN COALESCE(sp.reason_code, m.reason_code) " +
		"ELSE m.reason_code END, ''), 'UNKNOWN') COLLATE \"C\""
	// splitParts is the first failed part of each split text.
	splitParts = " LEFT JOIN (SELECT DISTINCT ON (p.parent_id) p.parent_id, p.reason_code FROM messages p " +
		"WHERE p.parent_id IS NOT NULL AND p.direction = 'outbound' AND p.status = 'failed' ORDER BY p.parent_id, p.part) sp ON sp.parent_id = m.id"
	dClass = "COALESCE(m.error_class, '')"
	// pgClass is dClass grouped on bytes.
	pgClass = dClass + " COLLATE \"C\""
)

// Indexes of dFig.c.
const (
	dcSent = iota
	dcAccepted
	dcDelivered
	dcRead
	dcFailed
	dcResent
	ndCounts
)

// codeKey is a failure code and class.
type codeKey struct{ code, class string }

// dFig is the figures of a group as both engines compute them.
type dFig struct {
	c     [ndCounts]int64
	codes map[codeKey]int64
}

type dResult struct {
	rows  map[key]*dFig
	total dFig
	// texts is, per failure code and class, the greatest (in byte order)
	// error text stored on such a failure in the report.
	texts map[codeKey]string
}

// text keeps the greatest stored text of a code.
func (r *dResult) text(ck codeKey, t string) {
	if t > r.texts[ck] {
		r.texts[ck] = t
	}
}

func (r *dResult) row(k key) *dFig {
	if r.rows[k] == nil {
		r.rows[k] = &dFig{codes: map[codeKey]int64{}}
	}
	return r.rows[k]
}

// Deliveries reports the outbound messages created in f's range, grouped
// by f.GroupBy (DeliveryGroupBys): their account, their interaction's
// channel, the failure class or code (the messages that did not fail are
// the None row), or the day (in f.Location) they were created. QueueID
// narrows to the interactions of that queue, AgentID to the messages that
// agent wrote, Channel to the interactions of that channel.
func Deliveries(ctx context.Context, db *gorm.DB, f Filter) (DeliveriesReport, error) {
	s, err := newScope(ctx, db, f, ReportDeliveries, true)
	if err != nil {
		return DeliveriesReport{}, err
	}
	res := &dResult{rows: map[key]*dFig{}, total: dFig{codes: map[codeKey]int64{}}, texts: map[codeKey]string{}}
	if s.pg {
		err = s.pgDeliveries(res)
	} else {
		err = s.sqliteDeliveries(res)
	}
	if err != nil {
		return DeliveriesReport{}, err
	}
	out := DeliveriesReport{
		From: s.f.From.In(s.loc), To: s.f.To.In(s.loc), TZ: s.loc.String(), GroupBy: f.GroupBy,
		Rows: make([]DeliveryRow, 0, len(res.rows)),
	}
	out.Totals = deliveryFigures(res.total, res.texts)
	for k, x := range res.rows {
		figs := deliveryFigures(*x, res.texts)
		out.Rows = append(out.Rows, DeliveryRow{Group: s.group(k, f.GroupBy, nameBook{}), DeliveryFigures: figs})
	}
	slices.SortFunc(out.Rows, func(a, b DeliveryRow) int { return compareGroups(a.Group, b.Group) })
	return out, nil
}

// messagesFrom is the FROM and WHERE of the filter's messages: outbound,
// not a split part, created in the range.
func (s *scope) messagesFrom() (string, []any) {
	from := "messages m"
	if s.f.QueueID != 0 || s.f.Channel != "" || s.f.GroupBy == ByChannel {
		from += " JOIN interactions i ON i.id = m.interaction_id"
	}
	if s.pg {
		from += splitParts
	}
	conds, args := s.narrow("m.account_id", "i.queue_id", "m.agent_id", "i.channel")
	return from + " WHERE m.created_at >= ? AND m.created_at < ? AND m.direction = 'outbound' AND m.parent_id IS NULL AND " +
		strings.Join(conds, " AND "), append([]any{s.f.From, s.f.To}, args...)
}

// code and class are the failure code and class of a message (alias m,
// in messagesFrom).
func (s *scope) code() string {
	if s.pg {
		return pgCode
	}
	return sqliteCode
}

func (s *scope) class() string {
	if s.pg {
		return pgClass
	}
	return dClass
}

// deliveryFigures finishes a group's figures: the rate and the top codes
// with their advice.
func deliveryFigures(x dFig, texts map[codeKey]string) DeliveryFigures {
	out := DeliveryFigures{
		Sent: x.c[dcSent], Accepted: x.c[dcAccepted], Delivered: x.c[dcDelivered], Read: x.c[dcRead],
		Failed: x.c[dcFailed], Resent: x.c[dcResent], TopCodes: []CodeCount{},
	}
	if out.Sent > 0 {
		out.FailureRate = float64(out.Failed) / float64(out.Sent)
	}
	for ck, n := range x.codes {
		out.TopCodes = append(out.TopCodes, CodeCount{Code: ck.code, Class: ck.class, Count: n})
	}
	slices.SortFunc(out.TopCodes, func(a, b CodeCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code), cmp.Compare(a.Class, b.Class))
	})
	out.TopCodes = out.TopCodes[:min(len(out.TopCodes), MaxTopCodes)]
	for i, c := range out.TopCodes {
		out.TopCodes[i].Advice = adviceOf(codeKey{c.Code, c.Class}, texts)
	}
	return out
}

// adviceOf is the advice an agent sees on a failure: ClassifyReason's
// for a Sinch reason code of that class, else the text stored on such a
// failure (the connector's own codes, such as SEND_TIMED_OUT, carry
// theirs there; of several, the greatest in byte order, the same on both
// engines), else ClassifyReason's.
func adviceOf(ck codeKey, texts map[codeKey]string) string {
	known := func(f activities.Failure) bool {
		return string(f.Class) == ck.class && !strings.HasPrefix(f.Message, ck.code+": unknown Sinch error code")
	}
	canonical := activities.ClassifyReason(ck.code, "", "")
	if known(canonical) {
		return canonical.Message
	}
	if ck.class == string(models.ErrorClassMedia) {
		if f := activities.ClassifyReason(ck.code, "ATTACHMENT_REJECTED", ""); known(f) {
			return f.Message
		}
	}
	if t := texts[ck]; t != "" {
		return t
	}
	return canonical.Message
}

// dKeyExprs are the Postgres expressions of a message row's account
// (NULL when not split) and group value (NULL for None).
func (s *scope) dKeyExprs() (acc, k string) {
	acc = "CAST(NULL AS BIGINT)"
	if s.split {
		acc = "m.account_id"
	}
	switch s.f.GroupBy {
	case ByChannel:
		k = `i.channel COLLATE "C"`
	case ByClass:
		k = "CASE WHEN m.status = 'failed' THEN NULLIF(" + s.class() + ", '') END"
	case ByCode:
		k = "CASE WHEN m.status = 'failed' THEN " + s.code() + " END"
	case ByDay:
		k = s.pgDateKey("m.created_at", false)
	default:
		k = "CAST(NULL AS TEXT)"
	}
	return acc, k
}

// pgDeliveries reads, in one scan of the range's messages, the counts
// per group, failure code and class (a plain GROUP BY that Postgres
// hashes: few groups), and adds them up into the groups, their codes and
// the totals (counts add up exactly). The scan reads only the covering
// index ix_messages_deliveries; the failures' texts, which it does not
// hold, come from a second statement over the failed messages alone, run
// at once on another connection.
func (s *scope) pgDeliveries(res *dResult) error {
	acc, k := s.dKeyExprs()
	from, args := s.messagesFrom()
	texts := map[codeKey]string{}
	done := make(chan error, 1)
	go func() {
		done <- s.pgRead(func(s *scope) error {
			rows, err := s.db.Raw(`SELECT code, class, COALESCE(max(text), '')
FROM (SELECT `+s.code()+` AS code, `+s.class()+` AS class, m.error_message COLLATE "C" AS text
  FROM `+from+` AND m.status = 'failed') s
GROUP BY code, class`, args...).Rows()
			if err != nil {
				return fmt.Errorf("reports: failure texts: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var ck codeKey
				var text string
				if err := rows.Scan(&ck.code, &ck.class, &text); err != nil {
					return fmt.Errorf("reports: failure texts: %w", err)
				}
				texts[ck] = text
			}
			return rows.Err()
		})
	}()
	err := s.pgRead(func(s *scope) error { return s.pgCounts(res, acc, k, from, args) })
	if terr := <-done; err == nil {
		err = terr
	}
	for ck, t := range texts {
		res.text(ck, t)
	}
	return err
}

// pgCounts is pgDeliveries' counting statement.
func (s *scope) pgCounts(res *dResult, acc, k, from string, args []any) error {
	rows, err := s.db.Raw(`SELECT acc, `+s.pgKeyText()+`, code, class, count(*),
  count(*) FILTER (WHERE accepted),
  count(*) FILTER (WHERE status IN ('delivered', 'read')),
  count(*) FILTER (WHERE status = 'read'),
  count(*) FILTER (WHERE status = 'failed'),
  count(*) FILTER (WHERE resent)
FROM (SELECT `+acc+` AS acc, `+k+` AS k, m.status, `+dAccepted+` AS accepted, `+dResent+` AS resent,
    CASE WHEN m.status = 'failed' THEN `+s.code()+` END AS code, CASE WHEN m.status = 'failed' THEN `+s.class()+` END AS class
  FROM `+from+`) s
GROUP BY acc, k, code, class`, args...).Rows()
	if err != nil {
		return fmt.Errorf("reports: deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a sql.NullInt64
		var kv, code, class sql.NullString
		var c [ndCounts]int64
		dest := []any{&a, &kv, &code, &class}
		for i := range c {
			dest = append(dest, &c[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("reports: deliveries: %w", err)
		}
		for _, x := range []*dFig{res.row(keyOf(a, kv, s.f.GroupBy)), &res.total} {
			for i := range c {
				x.c[i] += c[i]
			}
			if code.Valid {
				x.codes[codeKey{code.String, class.String}] += c[dcFailed]
			}
		}
	}
	return rows.Err()
}

// dRow is what SQLite reads of a message.
type dRow struct {
	AccountID        uint64
	Channel          string
	CreatedAt        time.Time
	Status           string
	Accepted, Resent bool
	Code, Class      string
	Text             string
}

func (s *scope) sqliteDeliveries(res *dResult) error {
	from, args := s.messagesFrom()
	channel := "''"
	if strings.Contains(from, "JOIN interactions") {
		channel = "i.channel"
	}
	var rows []dRow
	err := s.db.Raw(`SELECT m.account_id, `+channel+` AS channel, m.created_at, m.status, `+dAccepted+` AS accepted,
  `+dResent+` AS resent, CASE WHEN m.status = 'failed' THEN `+s.code()+` ELSE '' END AS code, `+dClass+` AS class,
  CASE WHEN m.status = 'failed' THEN COALESCE(m.error_message, '') ELSE '' END AS text
FROM `+from, args...).Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("reports: deliveries: %w", err)
	}
	for _, r := range rows {
		var k key
		if s.split {
			k.acc = r.AccountID
		}
		failed := r.Status == string(models.StatusFailed)
		switch s.f.GroupBy {
		case ByChannel:
			k.val = r.Channel
		case ByClass:
			k.val, k.null = r.Class, !failed || r.Class == ""
		case ByCode:
			k.val, k.null = r.Code, !failed
		case ByDay:
			k.val = localDate(r.CreatedAt, s.loc, false)
		}
		if k.null {
			k.val = ""
		}
		for _, x := range []*dFig{res.row(k), &res.total} {
			add := func(i int, ok bool) {
				if ok {
					x.c[i]++
				}
			}
			add(dcSent, true)
			add(dcAccepted, r.Accepted)
			add(dcDelivered, r.Status == string(models.StatusDelivered) || r.Status == string(models.StatusRead))
			add(dcRead, r.Status == string(models.StatusRead))
			add(dcFailed, failed)
			add(dcResent, r.Resent)
			if failed {
				x.codes[codeKey{r.Code, r.Class}]++
			}
		}
		if failed {
			res.text(codeKey{r.Code, r.Class}, r.Text)
		}
	}
	return nil
}
