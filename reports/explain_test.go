package reports_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/reports"
)

// TestExplainReportQueries runs every report (each groupBy, with
// includeMigrated, narrowed, and the live report) on Postgres, records
// each SQL statement it sends, and EXPLAINs it with its own values under
// enable_seqscan = off: a sequential scan of interactions or messages
// that remains is a query no index can answer, and fails the test.
func TestExplainReportQueries(t *testing.T) {
	db := testdb.Open(t, models.Postgres) // skips without TEST_DATABASE_URL
	seed := explainSeed(t, db)
	rec := &explainRecorder{}
	rec.register(t, db)

	ctx := context.Background()
	base := reports.Filter{From: seed.now.Add(-90 * 24 * time.Hour), To: seed.now, Location: explainRome(t)}
	var cases []explainCase
	for _, g := range reports.InteractionGroupBys {
		f := base
		f.GroupBy = g
		cases = append(cases, explainCase{"interactions groupBy=" + g, func() error { _, err := reports.Interactions(ctx, db, f); return err }})
		f.AccountID, f.IncludeMigrated = seed.target, true
		cases = append(cases, explainCase{"interactions groupBy=" + g + " includeMigrated", func() error { _, err := reports.Interactions(ctx, db, f); return err }})
	}
	narrow := base
	narrow.GroupBy, narrow.AccountID, narrow.QueueID, narrow.AgentID, narrow.Channel = reports.ByDay, seed.target, seed.queue, seed.agent, string(models.ChannelWhatsApp)
	cases = append(cases, explainCase{"interactions narrowed", func() error { _, err := reports.Interactions(ctx, db, narrow); return err }})
	for _, g := range reports.DeliveryGroupBys {
		f := base
		f.GroupBy = g
		cases = append(cases, explainCase{"deliveries groupBy=" + g, func() error { _, err := reports.Deliveries(ctx, db, f); return err }})
		f.AccountID, f.IncludeMigrated = seed.target, true
		cases = append(cases, explainCase{"deliveries groupBy=" + g + " includeMigrated", func() error { _, err := reports.Deliveries(ctx, db, f); return err }})
	}
	dnarrow := narrow
	dnarrow.GroupBy = reports.ByCode
	cases = append(cases, explainCase{"deliveries narrowed", func() error { _, err := reports.Deliveries(ctx, db, dnarrow); return err }})
	for _, l := range []struct {
		name string
		f    reports.Filter
	}{
		{"live", reports.Filter{Location: base.Location}},
		{"live includeMigrated", reports.Filter{AccountID: seed.target, IncludeMigrated: true}},
		{"live narrowed", reports.Filter{AccountID: seed.target, QueueID: seed.queue, AgentID: seed.agent, Channel: string(models.ChannelWhatsApp)}},
	} {
		cases = append(cases, explainCase{l.name, func() error { _, err := reports.Live(ctx, db, l.f, seed.now); return err }})
	}

	sqlDB, err := db.DB()
	require.NoError(t, err)
	explained, onTables := 0, map[string]bool{}
	seen := map[string]bool{}
	for _, c := range cases {
		stmts := rec.run(t, c)
		require.NotEmpty(t, stmts, "%s ran no SQL", c.name)
		for _, s := range stmts {
			// The same text with other values may plan otherwise: the key
			// is the statement with its values.
			k := s.sql + fmt.Sprint(s.vars...)
			if seen[k] {
				continue
			}
			seen[k] = true
			plan := explainPlan(t, sqlDB, s)
			explained++
			for _, rel := range explainRelations(plan) {
				onTables[rel] = true
			}
			for _, f := range explainFullIndexScans(plan) {
				// Not a failure: on a small table with sequential scans
				// off, a whole index is often the cheapest way left (a
				// merge join's ordered input); worth a look on real data.
				t.Logf("%s: note: %s\n  %s", c.name, f, strings.Join(strings.Fields(s.sql), " "))
			}
			if scans := explainSeqScans(plan); len(scans) > 0 {
				pretty, _ := json.MarshalIndent(plan, "", "  ")
				t.Errorf("%s: sequential scan of %s with enable_seqscan = off (no index answers it):\n%s\nvars %v\nplan %s",
					c.name, strings.Join(scans, ", "), s.sql, s.vars, pretty)
			}
		}
	}
	require.True(t, onTables["interactions"] && onTables["messages"], "the plans read interactions and messages: %v", onTables)
	t.Logf("%d cases, %d distinct statements explained", len(cases), explained)
}

type explainCase struct {
	name string
	run  func() error
}

type explainStmt struct {
	sql  string
	vars []any
}

// explainRecorder records the statements gorm runs (queries and rows).
type explainRecorder struct {
	mu    sync.Mutex
	on    bool
	stmts []explainStmt
}

func (r *explainRecorder) register(t *testing.T, db *gorm.DB) {
	record := func(tx *gorm.DB) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.on && tx.Statement.SQL.Len() > 0 {
			r.stmts = append(r.stmts, explainStmt{tx.Statement.SQL.String(), append([]any(nil), tx.Statement.Vars...)})
		}
	}
	require.NoError(t, db.Callback().Query().After("gorm:query").Register("explain_test:query", record))
	require.NoError(t, db.Callback().Row().After("gorm:row").Register("explain_test:row", record))
	require.NoError(t, db.Callback().Raw().After("gorm:raw").Register("explain_test:raw", record))
}

// run runs a case and returns the statements it sent.
func (r *explainRecorder) run(t *testing.T, c explainCase) []explainStmt {
	t.Helper()
	r.mu.Lock()
	r.on, r.stmts = true, nil
	r.mu.Unlock()
	err := c.run()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	require.NoError(t, err, c.name)
	return r.stmts
}

// explainPlan is EXPLAIN (FORMAT JSON) of a statement with its values,
// with sequential scans disabled (in a transaction, SET LOCAL).
func explainPlan(t *testing.T, db *sql.DB, s explainStmt) map[string]any {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off")
	require.NoError(t, err)
	var raw []byte
	require.NoError(t, tx.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) "+s.sql, s.vars...).Scan(&raw), "explain %s", s.sql)
	var out []struct {
		Plan map[string]any `json:"Plan"`
	}
	require.NoError(t, json.Unmarshal(raw, &out))
	require.Len(t, out, 1)
	return out[0].Plan
}

// explainWalk visits a plan node and its children (subplans and init
// plans included: they are in "Plans" too).
func explainWalk(n map[string]any, visit func(map[string]any)) {
	visit(n)
	children, _ := n["Plans"].([]any)
	for _, c := range children {
		if m, ok := c.(map[string]any); ok {
			explainWalk(m, visit)
		}
	}
}

// explainSeqScans names the Seq Scan nodes on interactions or messages.
func explainSeqScans(plan map[string]any) []string {
	var out []string
	explainWalk(plan, func(n map[string]any) {
		rel, _ := n["Relation Name"].(string)
		if n["Node Type"] == "Seq Scan" && (rel == "interactions" || rel == "messages") {
			alias, _ := n["Alias"].(string)
			out = append(out, fmt.Sprintf("%s (alias %s)", rel, alias))
		}
	})
	return out
}

// explainFullIndexScans names the index scans of interactions or messages
// without an index condition (the whole index, in order).
func explainFullIndexScans(plan map[string]any) []string {
	var out []string
	explainWalk(plan, func(n map[string]any) {
		rel, _ := n["Relation Name"].(string)
		typ, _ := n["Node Type"].(string)
		if _, cond := n["Index Cond"]; !cond && strings.HasPrefix(typ, "Index") && (rel == "interactions" || rel == "messages") {
			out = append(out, fmt.Sprintf("%s %s using %v on %s (no Index Cond, filter %v)", typ, n["Scan Direction"], n["Index Name"], rel, n["Filter"]))
		}
	})
	return out
}

// explainRelations lists the relations a plan reads.
func explainRelations(plan map[string]any) []string {
	var out []string
	explainWalk(plan, func(n map[string]any) {
		if rel, ok := n["Relation Name"].(string); ok {
			out = append(out, rel)
		}
	})
	return out
}

func explainRome(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Rome")
	require.NoError(t, err)
	return loc
}

type explainSeeded struct {
	now                  time.Time
	target, queue, agent uint64
}

// explainSeed writes a small but complete dataset: two accounts (the
// first migrated to the second), queues, agents, open and closed
// interactions of both channels with every figure, agent and flow
// replies, delivered, read and failed messages (a split text with its
// parts, a connector's own code), system notes; then ANALYZE.
func explainSeed(t *testing.T, db *gorm.DB) explainSeeded {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	s := explainSeeded{now: now}
	var accs []models.Account
	for i := range 2 {
		accs = append(accs, models.Account{Name: fmt.Sprintf("Explain %d", i), Key: fmt.Sprintf("explain%d", i), PublicURL: "https://motion.example.com",
			Type: models.AccountTypeSinchV2, Region: models.RegionEU, ProjectID: "p", AppID: fmt.Sprintf("app%d", i), KeyID: "k", Phone: "+390000",
			Channels: "WHATSAPP,INSTAGRAM"})
	}
	require.NoError(t, db.Create(&accs).Error)
	s.target = accs[1].ID
	require.NoError(t, db.Model(&accs[0]).Updates(map[string]any{"status": models.AccountMigrated, "migrated_to_account_id": s.target}).Error)
	queues := []models.Queue{{Name: "explain a", Strategy: models.StrategyRoundRobin}, {Name: "explain b", Strategy: models.StrategyRoundRobin}}
	require.NoError(t, db.Create(&queues).Error)
	s.queue = queues[1].ID
	var agents []models.Agent
	for i := range 4 {
		presence := models.PresenceAway
		if i%2 == 0 {
			presence = models.PresenceAvailable
		}
		agents = append(agents, models.Agent{Name: fmt.Sprintf("explain %d", i), Capacity: 1, TokenHash: fmt.Sprintf("%064d", i), Presence: presence})
	}
	require.NoError(t, db.Create(&agents).Error)
	s.agent = agents[1].ID
	for i, q := range queues {
		require.NoError(t, db.Create(&models.QueueAccount{QueueID: q.ID, AccountID: accs[i].ID}).Error)
		for _, a := range agents[2*i : 2*i+2] {
			require.NoError(t, db.Create(&models.QueueAgent{QueueID: q.ID, AgentID: a.ID}).Error)
			require.NoError(t, db.Create(&models.AgentAccount{AgentID: a.ID, AccountID: accs[i].ID, Enabled: true}).Error)
		}
	}
	ms := func(d time.Duration) *int64 { v := d.Milliseconds(); return &v }
	at := func(t time.Time) *time.Time { return &t }
	seq := 0
	for i := range 120 {
		acc, q := accs[i%2], queues[i%2]
		agent := agents[2*(i%2)+(i/2)%2].ID
		ch := models.ChannelWhatsApp
		if i%5 == 0 {
			ch = models.ChannelInstagram
		}
		c := models.Contact{AccountID: acc.ID, Channel: ch, Identity: fmt.Sprintf("39%08d", i)}
		require.NoError(t, db.Create(&c).Error)
		opened := now.Add(-time.Duration(i)*17*time.Hour - time.Hour)
		in := models.Interaction{Key: fmt.Sprintf("explain:%d", i), WorkflowID: fmt.Sprintf("wf%d", i), AccountID: acc.ID, ContactID: c.ID,
			Channel: ch, Status: models.InteractionClosed, QueueID: &q.ID, OpenedAt: opened, MessagesIn: 2}
		switch {
		case i%10 == 3: // waiting
			in.Status, in.MessagesIn = models.InteractionQueued, 1
		case i%10 == 6: // abandoned
			in.CloseReason, in.ClosedAt = "inactivity", at(opened.Add(30*time.Minute))
		default:
			fa := opened.Add(time.Duration(10+i) * time.Second)
			in.AgentID, in.AssignedAt, in.FirstAssignedAt, in.TimeToAssignMs = &agent, &fa, &fa, ms(fa.Sub(opened))
			in.FirstResponseAt, in.FirstResponseMs, in.MessagesOut = at(fa.Add(20*time.Second)), ms(fa.Add(20*time.Second).Sub(opened)), 1
			in.Transfers, in.Overflows = i%3/2, i%4/3
			if i%10 == 9 {
				in.Status = models.InteractionAssigned
			} else {
				in.CloseReason, in.Disposition, in.ClosedAt = "agent", "Resolved", at(fa.Add(5*time.Minute))
				in.HandleMs = ms(5 * time.Minute)
			}
		}
		require.NoError(t, db.Create(&in).Error)
		msg := func(m models.Message) models.Message {
			seq++
			m.AccountID, m.InteractionID, m.ContactID = acc.ID, in.ID, c.ID
			if m.ClientRef == nil && m.Direction != models.DirectionInbound {
				m.ClientRef = ptrString(fmt.Sprintf("explain:%d", seq))
			}
			if m.Direction == models.DirectionInbound {
				m.ProviderMessageID = ptrString(fmt.Sprintf("in%d", seq))
			}
			m.StatusRank = m.Status.Rank()
			m.Kind = "text"
			if m.CreatedAt.IsZero() {
				m.CreatedAt = opened.Add(time.Duration(seq%50) * time.Second)
			}
			require.NoError(t, db.Create(&m).Error)
			return m
		}
		msg(models.Message{Direction: models.DirectionInbound, Status: models.StatusReceived, ProviderTime: at(opened), CreatedAt: opened})
		msg(models.Message{Direction: models.DirectionOutbound, Status: models.StatusRead, SentAt: at(opened), DeliveredAt: at(opened), ReadAt: at(opened)})
		if in.AgentID == nil {
			continue
		}
		msg(models.Message{Direction: models.DirectionInbound, Status: models.StatusReceived, ProviderTime: at(opened.Add(time.Minute))})
		reply := models.Message{Direction: models.DirectionOutbound, AgentID: in.AgentID, Status: models.StatusDelivered, ReplyMs: in.FirstResponseMs,
			SentAt: in.FirstResponseAt, DeliveredAt: in.FirstResponseAt, CreatedAt: *in.FirstResponseAt, SendAttempt: 1}
		switch i % 7 {
		case 1:
			reply.Status, reply.ReasonCode, reply.ErrorClass, reply.FailedAt = models.StatusFailed, "RECIPIENT_NOT_OPTED_IN", models.ErrorClassPolicy, in.FirstResponseAt
		case 2:
			reply.Status, reply.ReasonCode, reply.ErrorClass, reply.SendAttempt = models.StatusFailed, "DELIVERY_TIMED_OUT", models.ErrorClassNetwork, 2
		case 3: // the connector's own code: its advice is the stored text
			reply.Status, reply.ReasonCode, reply.ErrorClass, reply.ErrorMessage = models.StatusFailed, "SEND_TIMED_OUT", models.ErrorClassNetwork, "send timed out"
		case 4: // split into parts, one of which failed
			reply.Status, reply.ReasonCode, reply.ErrorClass = models.StatusFailed, "MESSAGE_SPLIT_REQUIRED", models.ErrorClassSupport
		}
		r := msg(reply)
		if i%7 == 4 {
			msg(models.Message{Direction: models.DirectionOutbound, AgentID: in.AgentID, ParentID: &r.ID, Part: 1, Status: models.StatusDelivered})
			msg(models.Message{Direction: models.DirectionOutbound, AgentID: in.AgentID, ParentID: &r.ID, Part: 2, Status: models.StatusFailed,
				ReasonCode: "MEDIA_TOO_LARGE", ErrorClass: models.ErrorClassMedia})
			msg(models.Message{Direction: models.DirectionSystem, ParentID: &r.ID, Status: models.StatusReceived})
		}
	}
	require.NoError(t, db.Exec("ANALYZE accounts, queues, agents, queue_accounts, queue_agents, agent_accounts, contacts, interactions, messages").Error)
	return s
}

func ptrString(s string) *string { return &s }
