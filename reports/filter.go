package reports

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// scope is a checked Filter with what every report derives from it.
type scope struct {
	f   Filter
	loc *time.Location
	db  *gorm.DB
	pg  bool
	// accounts is the account set (nil: every account).
	accounts []uint64
	// split makes rows per (account, group): groupBy account, or
	// IncludeMigrated.
	split bool
	// accountNames names every account (deleted ones too).
	accountNames map[uint64]string
}

// newScope checks f for a report over a range (ranged) or for the live
// state, and resolves its account set.
func newScope(ctx context.Context, db *gorm.DB, f Filter, report string, ranged bool) (*scope, error) {
	s := &scope{f: f, loc: f.Location, db: db.WithContext(ctx), pg: db.Dialector.Name() == "postgres"}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.loc.String() == "Local" || !tzName.MatchString(s.loc.String()) {
		return nil, filterError("tz", "want an IANA time zone, got %q", s.loc.String())
	}
	if ranged {
		switch {
		case f.From.IsZero():
			return nil, filterError("from", "required")
		case f.To.IsZero():
			return nil, filterError("to", "required")
		case !f.From.Before(f.To):
			return nil, filterError("to", "must be after from")
		case f.To.Sub(f.From) > MaxRange:
			return nil, filterError("to", "the range is at most %d days", int(MaxRange/(24*time.Hour)))
		}
		if _, err := ParseGroupBy(report, f.GroupBy); err != nil {
			return nil, err
		}
		s.f.From, s.f.To = f.From.UTC(), f.To.UTC()
	}
	if f.Channel != "" && f.Channel != string(models.ChannelWhatsApp) && f.Channel != string(models.ChannelInstagram) {
		return nil, filterError("channel", "want WHATSAPP or INSTAGRAM, got %q", f.Channel)
	}
	var accs []models.Account
	if err := s.db.Unscoped().Model(&models.Account{}).Select("id", "name", "migrated_to_account_id").Find(&accs).Error; err != nil {
		return nil, fmt.Errorf("reports: accounts: %w", err)
	}
	s.accountNames = make(map[uint64]string, len(accs))
	for _, a := range accs {
		s.accountNames[a.ID] = a.Name
	}
	if f.AccountID != 0 {
		s.accounts = []uint64{f.AccountID}
		if f.IncludeMigrated {
			s.accounts = migrationSet(accs, f.AccountID)
		}
	}
	s.split = f.IncludeMigrated || f.GroupBy == ByAccount && ranged
	return s, nil
}

// pgWorkMem is the sort memory of a report's queries on Postgres: the
// grouped percentiles sort a range's rows, which the default (4MB) sends
// to disk.
const pgWorkMem = "64MB"

// pgRead runs Postgres queries in one read-only transaction (one
// snapshot: a query's rows and totals agree) with the sort memory they
// need.
func (s *scope) pgRead(fn func(*scope) error) error {
	return s.db.Transaction(func(tx *gorm.DB) error {
		// JIT compilation costs more than it saves on these scans.
		if err := tx.Raw("SELECT set_config('work_mem', ?, true), set_config('jit', 'off', true)", pgWorkMem).Row().Scan(new(string), new(string)); err != nil {
			return err
		}
		in := *s
		in.db = tx
		return fn(&in)
	}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
}

// migrationSet is the account, the accounts it migrated from (those whose
// MigratedToAccountID points at it, and theirs) and the accounts it
// migrated to (its MigratedToAccountID chain), sorted.
func migrationSet(accs []models.Account, id uint64) []uint64 {
	to := map[uint64]uint64{}
	from := map[uint64][]uint64{}
	for _, a := range accs {
		if a.MigratedToAccountID != nil {
			to[a.ID] = *a.MigratedToAccountID
			from[*a.MigratedToAccountID] = append(from[*a.MigratedToAccountID], a.ID)
		}
	}
	set := map[uint64]bool{id: true}
	for cur, ok := to[id]; ok && !set[cur]; cur, ok = to[cur] {
		set[cur] = true
	}
	for stack := []uint64{id}; len(stack) > 0; {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range from[cur] {
			if !set[p] {
				set[p] = true
				stack = append(stack, p)
			}
		}
	}
	out := make([]uint64, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// interactionsWhere is the condition selecting the filter's interactions
// (alias i): opened in the range when ranged.
func (s *scope) interactionsWhere(ranged bool) (string, []any) {
	var conds []string
	var args []any
	if ranged {
		conds = append(conds, "i.opened_at >= ? AND i.opened_at < ?")
		args = append(args, s.f.From, s.f.To)
	}
	c, a := s.narrow("i.account_id", "i.queue_id", "i.agent_id", "i.channel")
	return strings.Join(append(conds, c...), " AND "), append(args, a...)
}

// narrow is the conditions of the filter's account set, queue, agent and
// channel on the given columns ("" to skip one).
func (s *scope) narrow(account, queue, agent, channel string) ([]string, []any) {
	var conds []string
	var args []any
	if s.accounts != nil && account != "" {
		conds = append(conds, account+" IN ?")
		args = append(args, s.accounts)
	}
	if s.f.QueueID != 0 && queue != "" {
		conds = append(conds, queue+" = ?")
		args = append(args, s.f.QueueID)
	}
	if s.f.AgentID != 0 && agent != "" {
		conds = append(conds, agent+" = ?")
		args = append(args, s.f.AgentID)
	}
	if s.f.Channel != "" && channel != "" {
		conds = append(conds, channel+" = ?")
		args = append(args, s.f.Channel)
	}
	if len(conds) == 0 {
		conds = append(conds, "1 = 1")
	}
	return conds, args
}

// key names a row: its account (split reports) and its group value (an
// id in decimal, a name, a date); null for the None row.
type key struct {
	acc  uint64
	val  string
	null bool
}

// nameBook names queues and agents (deleted ones too).
type nameBook struct {
	queues, agents map[uint64]string
}

// loadNames names the queues or agents of the keys (byQueue or byAgent).
func (s *scope) loadNames(keys []key, groupBy string) (nameBook, error) {
	nb := nameBook{queues: map[uint64]string{}, agents: map[uint64]string{}}
	if groupBy != ByQueue && groupBy != ByAgent {
		return nb, nil
	}
	var ids []uint64
	for _, k := range keys {
		if id, err := strconv.ParseUint(k.val, 10, 64); err == nil && !k.null {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nb, nil
	}
	var rows []struct {
		ID   uint64
		Name string
	}
	var model any = &models.Queue{}
	into := nb.queues
	if groupBy == ByAgent {
		model, into = &models.Agent{}, nb.agents
	}
	if err := s.db.Unscoped().Model(model).Select("id", "name").Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nb, fmt.Errorf("reports: names: %w", err)
	}
	for _, r := range rows {
		into[r.ID] = r.Name
	}
	return nb, nil
}

// group names a row of groupBy.
func (s *scope) group(k key, groupBy string, nb nameBook) Group {
	var g Group
	if s.split {
		g.AccountID, g.AccountName = k.acc, s.accountNames[k.acc]
	}
	if groupBy == ByAccount {
		return g
	}
	if k.null {
		g.None = true
		return g
	}
	id, _ := strconv.ParseUint(k.val, 10, 64)
	switch groupBy {
	case ByQueue:
		g.QueueID, g.QueueName = id, nb.queues[id]
	case ByAgent:
		g.AgentID, g.AgentName = id, nb.agents[id]
	case ByChannel:
		g.Channel = k.val
	case ByDisposition:
		g.Disposition = k.val
	case ByDay:
		g.Day = k.val
	case ByWeek:
		g.Week = k.val
	case ByClass:
		g.Class = k.val
	case ByCode:
		g.Code = k.val
	}
	return g
}

// compareGroups orders rows: by account name (split reports), then day
// and week ascending, names (then ids) ascending, None last.
func compareGroups(a, b Group) int {
	if c := cmp.Or(cmp.Compare(a.AccountName, b.AccountName), cmp.Compare(a.AccountID, b.AccountID)); c != 0 {
		return c
	}
	if a.None != b.None {
		if a.None {
			return 1
		}
		return -1
	}
	return cmp.Or(
		cmp.Compare(a.Day, b.Day), cmp.Compare(a.Week, b.Week),
		cmp.Compare(a.QueueName, b.QueueName), cmp.Compare(a.QueueID, b.QueueID),
		cmp.Compare(a.AgentName, b.AgentName), cmp.Compare(a.AgentID, b.AgentID),
		cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Disposition, b.Disposition),
		cmp.Compare(a.Class, b.Class), cmp.Compare(a.Code, b.Code),
	)
}

// localDate is the date of t in loc (YYYY-MM-DD) and, for a week, the
// date of its Monday.
func localDate(t time.Time, loc *time.Location, week bool) string {
	l := t.In(loc)
	d := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC)
	if week {
		d = d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	}
	return d.Format(time.DateOnly)
}

// pgDateKey is the Postgres expression of the local day or week (a
// timestamp) of a timestamptz column; pgKeyText formats it as localDate
// does. The zone is inlined (checked by tzName, so it is a plain name).
func (s *scope) pgDateKey(column string, week bool) string {
	unit := "day"
	if week {
		unit = "week"
	}
	return fmt.Sprintf("date_trunc('%s', %s AT TIME ZONE '%s')", unit, column, s.loc.String())
}

// pgKeyText is the text of a group key column k grouped natively (ids,
// local days and weeks, names): rows are grouped on native values, which
// sort faster than text, and the few groups are formatted.
func (s *scope) pgKeyText() string {
	switch s.f.GroupBy {
	case ByQueue, ByAgent:
		return "CAST(k AS TEXT)"
	case ByDay, ByWeek:
		return "to_char(k, 'YYYY-MM-DD')"
	}
	return "k"
}
