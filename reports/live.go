package reports

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// LiveCount is a count of open interactions with the GET
// /api/interactions query listing them.
type LiveCount struct {
	Count           int64  `json:"count"`
	InteractionsURL string `json:"interactionsUrl"`
}

// LiveAgents counts the agents (not deleted) by presence: the members of
// the filter's queue, who reach the filter's accounts (permitted and
// enabled), or the filter's agent. AtCapacity counts the available ones
// who hold as many assigned interactions (of any account) as their
// capacity: routing offers them nothing.
type LiveAgents struct {
	Total      int64 `json:"total"`
	Available  int64 `json:"available"`
	Away       int64 `json:"away"`
	AtCapacity int64 `json:"atCapacity"`
}

// LiveQueue is a queue's waiting line: the queues of the filter's
// accounts (every queue without an account filter), and any other queue
// where an interaction of the filter waits; the None row holds waiting
// interactions without a queue. With IncludeMigrated, rows are per
// (account, queue) and Group names the account.
type LiveQueue struct {
	Group Group `json:"group"`
	// Waiting counts the queued interactions (waiting for an agent).
	Waiting int64 `json:"waiting"`
	// LongestWaitSeconds is now minus the opening of the oldest waiting
	// interaction (0 when none waits).
	LongestWaitSeconds float64 `json:"longestWaitSeconds"`
	// ExpectedWaitSeconds is the median (nearest rank) time to assign of
	// the queue's interactions first assigned in the last
	// ExpectedWaitWindow; RecentAssigned is how many they are (0: no
	// estimate, ExpectedWaitSeconds is 0).
	ExpectedWaitSeconds float64 `json:"expectedWaitSeconds"`
	RecentAssigned      int64   `json:"recentAssigned"`
	InteractionsURL     string  `json:"interactionsUrl"`
}

// LiveReport is the live state of the filter's open interactions (From,
// To and GroupBy are not used).
type LiveReport struct {
	At time.Time `json:"at"`
	// Open: not closed; Queued: waiting for an agent; Unattended:
	// assigned and no agent replied yet.
	Open       LiveCount   `json:"open"`
	Queued     LiveCount   `json:"queued"`
	Unattended LiveCount   `json:"unattended"`
	Agents     LiveAgents  `json:"agents"`
	Queues     []LiveQueue `json:"queues"`
}

// ExpectedWaitWindow is how recent the assignments behind a queue's
// expected wait are; expectedWaitOpened bounds their opening (so the
// read stays on the opening-time index): an interaction that waited
// longer than that before its assignment is left out.
const (
	ExpectedWaitWindow = time.Hour
	expectedWaitOpened = 7 * 24 * time.Hour
)

// qFig is a queue row's figures as both engines compute them.
type qFig struct {
	waiting  int64
	oldest   time.Time
	expected statAgg
}

// Live reports the open interactions, the agents and the queues' waiting
// lines of f's accounts (with IncludeMigrated, the accounts it migrated
// from and to), queue, agent and channel at now.
func Live(ctx context.Context, db *gorm.DB, f Filter, now time.Time) (LiveReport, error) {
	s, err := newScope(ctx, db, f, "", false)
	if err != nil {
		return LiveReport{}, err
	}
	s.f.GroupBy = ByQueue
	out := LiveReport{
		At:         now.In(s.loc),
		Open:       LiveCount{InteractionsURL: s.liveURL("open", "", nil)},
		Queued:     LiveCount{InteractionsURL: s.liveURL("queued", "", nil)},
		Unattended: LiveCount{InteractionsURL: s.liveURL("assigned", "false", nil)},
		Queues:     []LiveQueue{},
	}
	// Open is queued or assigned (the states other than closed: an index
	// answers it, status <> 'closed' would read every interaction).
	where, args := s.interactionsWhere(false)
	var counts struct{ Open, Queued, Unattended int64 }
	err = s.db.Raw(`SELECT count(*) AS open,
  COALESCE(SUM(CASE WHEN i.status = 'queued' THEN 1 ELSE 0 END), 0) AS queued,
  COALESCE(SUM(CASE WHEN i.status = 'assigned' AND i.first_response_at IS NULL THEN 1 ELSE 0 END), 0) AS unattended
FROM interactions i WHERE i.status IN ('queued', 'assigned') AND `+where, args...).Scan(&counts).Error
	if err != nil {
		return LiveReport{}, fmt.Errorf("reports: live counts: %w", err)
	}
	out.Open.Count, out.Queued.Count, out.Unattended.Count = counts.Open, counts.Queued, counts.Unattended
	if out.Agents, err = s.liveAgents(); err != nil {
		return LiveReport{}, err
	}
	queues, err := s.liveQueues(now)
	if err != nil {
		return LiveReport{}, err
	}
	keys := make([]key, 0, len(queues))
	for k := range queues {
		keys = append(keys, k)
	}
	nb, err := s.loadNames(keys, ByQueue)
	if err != nil {
		return LiveReport{}, err
	}
	for _, k := range keys {
		q := queues[k]
		row := LiveQueue{
			Group: s.group(k, ByQueue, nb), Waiting: q.waiting,
			ExpectedWaitSeconds: q.expected.stats().P50, RecentAssigned: q.expected.N,
			InteractionsURL: s.liveURL("queued", "", &k),
		}
		if q.waiting > 0 {
			row.LongestWaitSeconds = float64(max(now.Sub(q.oldest).Milliseconds(), 0)) / 1000
		}
		out.Queues = append(out.Queues, row)
	}
	slices.SortFunc(out.Queues, func(a, b LiveQueue) int { return compareGroups(a.Group, b.Group) })
	return out, nil
}

// liveAgents counts the agents of the filter by presence.
func (s *scope) liveAgents() (LiveAgents, error) {
	conds := []string{"a.deleted_at IS NULL"}
	var args []any
	if s.accounts != nil {
		conds = append(conds, "a.id IN (SELECT aa.agent_id FROM agent_accounts aa WHERE aa.account_id IN ? AND aa.enabled = ?)")
		args = append(args, s.accounts, true)
	}
	if s.f.QueueID != 0 {
		conds = append(conds, "a.id IN (SELECT qa.agent_id FROM queue_agents qa WHERE qa.queue_id = ?)")
		args = append(args, s.f.QueueID)
	}
	if s.f.AgentID != 0 {
		conds = append(conds, "a.id = ?")
		args = append(args, s.f.AgentID)
	}
	var out LiveAgents
	err := s.db.Raw(`SELECT count(*) AS total,
  COALESCE(SUM(CASE WHEN a.presence = 'available' THEN 1 ELSE 0 END), 0) AS available,
  COALESCE(SUM(CASE WHEN a.presence = 'away' THEN 1 ELSE 0 END), 0) AS away,
  COALESCE(SUM(CASE WHEN a.presence = 'available' AND
    (SELECT count(*) FROM interactions x WHERE x.agent_id = a.id AND x.status = 'assigned') >= a.capacity THEN 1 ELSE 0 END), 0) AS at_capacity
FROM agents a WHERE `+strings.Join(conds, " AND "), args...).Scan(&out).Error
	if err != nil {
		return LiveAgents{}, fmt.Errorf("reports: live agents: %w", err)
	}
	return out, nil
}

// liveQueues is every queue row: the filter's queues and those where
// interactions wait, with their waiting lines and expected waits.
func (s *scope) liveQueues(now time.Time) (map[key]*qFig, error) {
	out := map[key]*qFig{}
	row := func(acc uint64, queue *uint64) *qFig {
		k := key{acc: acc, null: queue == nil}
		if queue != nil {
			k.val = strconv.FormatUint(*queue, 10)
		}
		if out[k] == nil {
			out[k] = &qFig{}
		}
		return out[k]
	}
	accOf := func(a uint64) uint64 {
		if s.split {
			return a
		}
		return 0
	}
	// The filter's queues.
	var linked []struct{ AccountID, QueueID uint64 }
	q := s.db.Table("queues q").Where("q.deleted_at IS NULL")
	if s.accounts != nil || s.split {
		q = q.Joins("JOIN queue_accounts qa ON qa.queue_id = q.id").Select("qa.account_id AS account_id, q.id AS queue_id")
		if s.accounts != nil {
			q = q.Where("qa.account_id IN ?", s.accounts)
		}
	} else {
		q = q.Select("0 AS account_id, q.id AS queue_id")
	}
	if s.f.QueueID != 0 {
		q = q.Where("q.id = ?", s.f.QueueID)
	}
	if err := q.Scan(&linked).Error; err != nil {
		return nil, fmt.Errorf("reports: live queues: %w", err)
	}
	for _, l := range linked {
		row(accOf(l.AccountID), &l.QueueID)
	}
	where, args := s.interactionsWhere(false)
	waitWhere := "i.status = 'queued' AND " + where
	recentWhere := "i.opened_at >= ? AND i.first_assigned_at >= ? AND i.time_to_assign_ms IS NOT NULL AND i.queue_id IS NOT NULL AND " + where
	recentArgs := append([]any{now.Add(-expectedWaitOpened).UTC(), now.Add(-ExpectedWaitWindow).UTC()}, args...)
	if s.pg {
		acc := "CAST(NULL AS BIGINT)"
		if s.split {
			acc = "i.account_id"
		}
		rows, err := s.db.Raw(`SELECT `+acc+` AS acc, i.queue_id, count(*), min(i.opened_at) FROM interactions i
WHERE `+waitWhere+` GROUP BY 1, 2`, args...).Rows()
		if err != nil {
			return nil, fmt.Errorf("reports: live waiting: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var a sql.NullInt64
			var queue *uint64
			var n int64
			var oldest time.Time
			if err := rows.Scan(&a, &queue, &n, &oldest); err != nil {
				return nil, fmt.Errorf("reports: live waiting: %w", err)
			}
			r := row(uint64(a.Int64), queue)
			r.waiting, r.oldest = n, oldest
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("reports: live waiting: %w", err)
		}
		rows.Close()
		erows, err := s.db.Raw(`SELECT `+acc+` AS acc, i.queue_id, `+pgStat("i.time_to_assign_ms")+` FROM interactions i
WHERE `+recentWhere+` GROUP BY 1, 2`, recentArgs...).Rows()
		if err != nil {
			return nil, fmt.Errorf("reports: live expected wait: %w", err)
		}
		defer erows.Close()
		for erows.Next() {
			var a sql.NullInt64
			var queue uint64
			var st statAgg
			if err := erows.Scan(append([]any{&a, &queue}, statDest(&st)...)...); err != nil {
				return nil, fmt.Errorf("reports: live expected wait: %w", err)
			}
			if r, ok := out[key{acc: uint64(a.Int64), val: strconv.FormatUint(queue, 10)}]; ok {
				r.expected = st
			}
		}
		return out, erows.Err()
	}
	var waiting []struct {
		AccountID uint64
		QueueID   *uint64
		OpenedAt  time.Time
	}
	if err := s.db.Raw(`SELECT i.account_id, i.queue_id, i.opened_at FROM interactions i WHERE `+waitWhere, args...).Scan(&waiting).Error; err != nil {
		return nil, fmt.Errorf("reports: live waiting: %w", err)
	}
	for _, w := range waiting {
		r := row(accOf(w.AccountID), w.QueueID)
		if r.waiting == 0 || w.OpenedAt.Before(r.oldest) {
			r.oldest = w.OpenedAt
		}
		r.waiting++
	}
	var recent []struct {
		AccountID      uint64
		QueueID        uint64
		TimeToAssignMs int64
	}
	if err := s.db.Raw(`SELECT i.account_id, i.queue_id, i.time_to_assign_ms FROM interactions i WHERE `+recentWhere, recentArgs...).
		Scan(&recent).Error; err != nil {
		return nil, fmt.Errorf("reports: live expected wait: %w", err)
	}
	samples := map[key][]int64{}
	for _, r := range recent {
		k := key{acc: accOf(r.AccountID), val: strconv.FormatUint(r.QueueID, 10)}
		samples[k] = append(samples[k], r.TimeToAssignMs)
	}
	for k, v := range samples {
		if r, ok := out[k]; ok {
			r.expected = samplesAgg(v)
		}
	}
	return out, nil
}
