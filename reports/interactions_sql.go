package reports

import (
	"database/sql"
	"fmt"
	"strconv"
	"time"
)

// The interactions report on each engine. Both fill an iResult with the
// same figures: Postgres in SQL (one grouped scan of the range's
// interactions with a grouping set for the totals, and one of their
// agent replies), SQLite (development and tests: small data, no time
// zones) by reading the range's figures and aggregating them in Go.

// The conditions of the counts on interactions i (Postgres; iCounts is
// the same in Go). A NULL close reason is no close reason: NULL IN (…)
// is not true.
var (
	condAssigned    = figureCond(FigureAssigned, "i")
	condClosed      = figureCond(FigureClosed, "i")
	condInactivity  = figureCond(FigureClosedByInactivity, "i")
	condTransferred = figureCond(FigureTransferred, "i")
	condOverflowed  = figureCond(FigureOverflowed, "i")
	condAbandoned   = figureCond(FigureAbandoned, "i")
)

// agentReply selects agent replies (alias m), as the activities do.
const agentReply = "m.direction = 'outbound' AND m.agent_id IS NOT NULL AND m.parent_id IS NULL"

// iKeyExprs are the Postgres expressions of a row's account (NULL when
// not split) and group value (NULL for None; native, see pgKeyText) on
// interactions i.
func (s *scope) iKeyExprs() (acc, k string) {
	acc = "CAST(NULL AS BIGINT)"
	if s.split {
		acc = "i.account_id"
	}
	switch s.f.GroupBy {
	case ByQueue:
		k = "i.queue_id"
	case ByAgent:
		k = "i.agent_id"
	case ByChannel:
		k = `i.channel COLLATE "C"`
	case ByDisposition:
		k = `NULLIF(i.disposition, '') COLLATE "C"`
	case ByDay, ByWeek:
		k = s.pgDateKey("i.opened_at", s.f.GroupBy == ByWeek)
	default:
		k = "CAST(NULL AS TEXT)"
	}
	return acc, k
}

// keyOf makes the key of a grouped row.
func keyOf(acc sql.NullInt64, k sql.NullString, groupBy string) key {
	return key{acc: uint64(acc.Int64), val: k.String, null: !k.Valid && groupBy != ByAccount}
}

// pgInteractionsSQL is the Postgres query of the interactions' figures
// and the one of their agent replies' times, with their arguments.
func (s *scope) pgInteractionsSQL() (figures, replies string, args []any) {
	acc, k := s.iKeyExprs()
	where, args := s.interactionsWhere(true)
	// The flags are computed before the sort that groups the rows: it
	// moves narrow rows.
	figures = `SELECT GROUPING(acc, k) = 3 AS total, acc, ` + s.pgKeyText() + `,
  count(*),
  count(*) FILTER (WHERE assigned),
  count(*) FILTER (WHERE closed),
  count(*) FILTER (WHERE inactivity),
  count(*) FILTER (WHERE transferred),
  count(*) FILTER (WHERE overflowed),
  count(*) FILTER (WHERE abandoned),
  CAST(COALESCE(sum(messages_in), 0) AS BIGINT),
  CAST(COALESCE(sum(messages_out), 0) AS BIGINT),
  ` + pgStat("first_response_ms") + `,
  ` + pgStat("time_to_assign_ms") + `,
  ` + pgStat("handle_ms") + `
FROM (SELECT ` + acc + ` AS acc, ` + k + ` AS k, ` + condAssigned + ` AS assigned, ` + condClosed + ` AS closed,
    ` + condInactivity + ` AS inactivity, ` + condTransferred + ` AS transferred, ` + condOverflowed + ` AS overflowed,
    ` + condAbandoned + ` AS abandoned, i.messages_in, i.messages_out, i.first_response_ms, i.time_to_assign_ms, i.handle_ms
  FROM interactions i WHERE ` + where + `) s
GROUP BY GROUPING SETS ((acc, k), ())`
	replies = `SELECT GROUPING(acc, k) = 3 AS total, acc, ` + s.pgKeyText() + `, ` + pgStat("reply_ms") + `
FROM (SELECT ` + acc + ` AS acc, ` + k + ` AS k, m.reply_ms
  FROM interactions i JOIN messages m ON m.interaction_id = i.id
  WHERE ` + where + ` AND ` + agentReply + ` AND m.reply_ms IS NOT NULL) s
GROUP BY GROUPING SETS ((acc, k), ())`
	return figures, replies, args
}

// pgInteractions runs the figures' query and the reply times' query at
// once, on two connections (each its own read-only transaction): the
// reply times, read from the messages, take longer than the figures.
func (s *scope) pgInteractions(res *iResult) error {
	q, rq, args := s.pgInteractionsSQL()
	replies := map[key]statAgg{}
	var total statAgg
	done := make(chan error, 1)
	go func() {
		done <- s.pgRead(func(s *scope) error {
			rows, err := s.db.Raw(rq, args...).Rows()
			if err != nil {
				return fmt.Errorf("reports: reply times: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var isTotal bool
				var a sql.NullInt64
				var kv sql.NullString
				var st statAgg
				if err := rows.Scan(append([]any{&isTotal, &a, &kv}, statDest(&st)...)...); err != nil {
					return fmt.Errorf("reports: reply times: %w", err)
				}
				if isTotal {
					total = st
				} else {
					replies[keyOf(a, kv, s.f.GroupBy)] = st
				}
			}
			return rows.Err()
		})
	}()
	err := s.pgRead(func(s *scope) error { return s.pgFigures(res, q, args) })
	if rerr := <-done; err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	res.total.st[sReply] = total
	for k, st := range replies {
		// A group whose interactions opened between the two reads is
		// left to the next report.
		if r, ok := res.rows[k]; ok {
			r.st[sReply] = st
		}
	}
	return nil
}

// pgFigures reads the figures' query.
func (s *scope) pgFigures(res *iResult, q string, args []any) error {
	rows, err := s.db.Raw(q, args...).Rows()
	if err != nil {
		return fmt.Errorf("reports: interactions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var total bool
		var a sql.NullInt64
		var kv sql.NullString
		var x iFig
		dest := []any{&total, &a, &kv}
		for i := range x.c {
			dest = append(dest, &x.c[i])
		}
		for _, i := range []int{sFirstResponse, sTimeToAssign, sHandle} {
			dest = append(dest, statDest(&x.st[i])...)
		}
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("reports: interactions: %w", err)
		}
		if total {
			res.total = x
		} else {
			*res.row(keyOf(a, kv, s.f.GroupBy)) = x
		}
	}
	return rows.Err()
}

func statDest(a *statAgg) []any { return []any{&a.N, &a.Sum, &a.Max, &a.P50, &a.P90} }

// iRow is what SQLite reads of an interaction.
type iRow struct {
	ID                                            uint64
	AccountID                                     uint64
	QueueID, AgentID                              *uint64
	Channel                                       string
	Disposition, Status, CloseReason              *string
	OpenedAt                                      time.Time
	Assigned, Responded                           bool
	TimeToAssignMs, FirstResponseMs, HandleMs     *int64
	Transfers, Overflows, MessagesIn, MessagesOut int64
}

// sqliteKey is the key of an interaction (iKeyExprs in Go).
func (s *scope) sqliteKey(r iRow) key {
	var k key
	if s.split {
		k.acc = r.AccountID
	}
	idKey := func(id *uint64) {
		if id == nil {
			k.null = true
		} else {
			k.val = strconv.FormatUint(*id, 10)
		}
	}
	switch s.f.GroupBy {
	case ByQueue:
		idKey(r.QueueID)
	case ByAgent:
		idKey(r.AgentID)
	case ByChannel:
		k.val = r.Channel
	case ByDisposition:
		if r.Disposition == nil || *r.Disposition == "" {
			k.null = true
		} else {
			k.val = *r.Disposition
		}
	case ByDay, ByWeek:
		k.val = localDate(r.OpenedAt, s.loc, s.f.GroupBy == ByWeek)
	}
	return k
}

// iCounts adds an interaction to the counts (the cond* constants).
func iCounts(c *[nCounts]int64, r iRow) {
	status, reason := deref(r.Status), deref(r.CloseReason)
	closed := status == "closed"
	add := func(i int, ok bool) {
		if ok {
			c[i]++
		}
	}
	add(cOpened, true)
	add(cAssigned, r.Assigned)
	add(cClosed, closed && (reason == "agent" || reason == "admin"))
	add(cInactivity, closed && reason == "inactivity")
	add(cTransferred, r.Transfers > 0)
	add(cOverflowed, r.Overflows > 0)
	add(cAbandoned, closed && !r.Responded)
	c[cIn] += r.MessagesIn
	c[cOut] += r.MessagesOut
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *scope) sqliteInteractions(res *iResult) error {
	where, args := s.interactionsWhere(true)
	var rows []iRow
	err := s.db.Raw(`SELECT i.id, i.account_id, i.queue_id, i.agent_id, i.channel, i.disposition, i.status, i.close_reason,
  i.opened_at, i.first_assigned_at IS NOT NULL AS assigned, i.first_response_at IS NOT NULL AS responded,
  i.time_to_assign_ms, i.first_response_ms, i.handle_ms, i.transfers, i.overflows, i.messages_in, i.messages_out
FROM interactions i WHERE `+where, args...).Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("reports: interactions: %w", err)
	}
	var replies []struct {
		InteractionID uint64
		ReplyMs       int64
	}
	err = s.db.Raw(`SELECT m.interaction_id, m.reply_ms FROM interactions i JOIN messages m ON m.interaction_id = i.id
WHERE `+where+` AND `+agentReply+` AND m.reply_ms IS NOT NULL`, args...).Scan(&replies).Error
	if err != nil {
		return fmt.Errorf("reports: reply times: %w", err)
	}
	samples := map[key]*[nStats][]int64{}
	var all [nStats][]int64
	keyOfID := make(map[uint64]key, len(rows))
	for _, r := range rows {
		k := s.sqliteKey(r)
		keyOfID[r.ID] = k
		iCounts(&res.row(k).c, r)
		iCounts(&res.total.c, r)
		if samples[k] == nil {
			samples[k] = &[nStats][]int64{}
		}
		for i, v := range map[int]*int64{sFirstResponse: r.FirstResponseMs, sTimeToAssign: r.TimeToAssignMs, sHandle: r.HandleMs} {
			if v != nil {
				samples[k][i] = append(samples[k][i], *v)
				all[i] = append(all[i], *v)
			}
		}
	}
	for _, r := range replies {
		if k, ok := keyOfID[r.InteractionID]; ok {
			samples[k][sReply] = append(samples[k][sReply], r.ReplyMs)
			all[sReply] = append(all[sReply], r.ReplyMs)
		}
	}
	for k, sm := range samples {
		for i := range sm {
			res.rows[k].st[i] = samplesAgg(sm[i])
		}
	}
	for i := range all {
		res.total.st[i] = samplesAgg(all[i])
	}
	return nil
}
