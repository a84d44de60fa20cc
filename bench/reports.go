package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/models"
)

// The seeded directory and range: the issue's, fixed.
const (
	reportAccounts = 20
	reportQueues   = 50
	reportAgents   = 300
	reportDays     = 90
	reportTZ       = "Europe/Rome"
)

// ReportsOptions configures RunReports: Interactions and Messages are
// seeded over the last 90 days across 20 accounts, 50 queues and 300
// agents in a fresh schema of DatabaseURL (a postgres:// URL; dropped at
// the end unless Keep); each case gets Calls timed calls (after one
// untimed); a case fails when its p95 is over MaxP95 or over MaxRatio
// times its baseline's p95.
type ReportsOptions struct {
	DatabaseURL            string
	Interactions, Messages int
	Calls                  int
	Keep                   bool
	MaxP95                 time.Duration
	MaxRatio               float64
}

// ReportCase is one timed call, a report with a groupBy or a baseline:
// Rows is what its last call returned (report rows, or the count), Ratio
// its p95 over its Baseline's ("" for a baseline itself).
type ReportCase struct {
	Name     string          `json:"name"`
	Baseline string          `json:"baseline,omitempty"`
	Rows     int64           `json:"rows"`
	Times    []time.Duration `json:"-"`
	Latency  Dist            `json:"latency"`
	Ratio    float64         `json:"p95Ratio,omitempty"`
	// Reference marks a case that measures part of a report's own work
	// (shown with its ratio, never held to the limits).
	Reference bool `json:"reference,omitempty"`
	run       func(context.Context) (int64, error)
}

// SeedCounts are the rows the bench seeded (counted back from the tables).
type SeedCounts struct {
	Accounts     int64 `json:"accounts"`
	Queues       int64 `json:"queues"`
	Agents       int64 `json:"agents"`
	Contacts     int64 `json:"contacts"`
	Interactions int64 `json:"interactions"`
	Messages     int64 `json:"messages"`
}

// ReportsResult holds what RunReports seeded and measured (its JSON is
// the -json output).
type ReportsResult struct {
	Schema        string       `json:"schema"`
	Counts        SeedCounts   `json:"seeded"`
	SeedSeconds   float64      `json:"seedSeconds"`
	VacuumSeconds float64      `json:"vacuumAnalyzeSeconds"`
	From          time.Time    `json:"from"`
	To            time.Time    `json:"to"`
	TZ            string       `json:"tz"`
	Calls         int          `json:"calls"`
	MaxP95Ms      float64      `json:"maxP95Ms"`
	MaxRatio      float64      `json:"maxRatio"`
	Migrated      uint64       `json:"migratedAccount"`
	Cases         []ReportCase `json:"cases"`
	// Failures names every case over a limit.
	Failures []string `json:"failures"`
	kept     bool
}

// RunReports seeds a fresh Postgres schema with opts' interactions and
// messages, vacuums and analyzes it, then times every report and groupBy
// over the whole range against bare counts of the same range, the calls
// of all cases interleaved (one round at a time) so that the machine's
// noise falls on all of them alike.
func RunReports(ctx context.Context, opts ReportsOptions, log *slog.Logger) (*ReportsResult, error) {
	switch {
	case opts.DatabaseURL == "":
		return nil, errors.New("the reports bench needs Postgres: set DATABASE_URL (or -database-url) to a postgres:// URL")
	case opts.Interactions < 1 || opts.Calls < 1 || opts.Messages < opts.Interactions:
		return nil, errors.New("-interactions and -calls must be positive, -messages at least -interactions (a first customer message each)")
	}
	loc, err := time.LoadLocation(reportTZ)
	if err != nil {
		return nil, err
	}
	dsn, drop, err := freshSchema(opts.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if !opts.Keep { // (kept, its admin connection lives as long as the process)
		defer drop()
	}
	u, _ := url.Parse(dsn)
	res := &ReportsResult{Schema: u.Query().Get("search_path"), TZ: reportTZ, Calls: opts.Calls,
		MaxP95Ms: float64(opts.MaxP95.Microseconds()) / 1000, MaxRatio: opts.MaxRatio, Failures: []string{}, kept: opts.Keep}
	db, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: dsn, MaxOpenConns: 4})
	if err != nil {
		return nil, err
	}
	defer func() { _ = models.Close(db) }()
	if err := models.Migrate(db); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(context.Background()) }()

	now := time.Now().UTC().Truncate(time.Second)
	res.To = now.Add(time.Minute)
	res.From = res.To.Add(-reportDays * 24 * time.Hour)
	log.Info("reports bench: seeding", "schema", res.Schema, "interactions", opts.Interactions, "messages", opts.Messages)
	t0 := time.Now()
	dir, err := seedDirectory(db, now)
	if err != nil {
		return nil, fmt.Errorf("seed accounts, queues and agents: %w", err)
	}
	res.Migrated = dir.migTarget
	if err := seedTraffic(ctx, conn, opts, dir, res.From, now); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	res.SeedSeconds = time.Since(t0).Seconds()
	t0 = time.Now()
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) accounts, queues, agents, queue_accounts, queue_agents, agent_accounts,
  dispositions, contacts, interactions, messages`); err != nil {
		return nil, fmt.Errorf("vacuum analyze: %w", err)
	}
	res.VacuumSeconds = time.Since(t0).Seconds()
	if err := db.Raw(`SELECT (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM queues) AS queues,
  (SELECT count(*) FROM agents) AS agents, (SELECT count(*) FROM contacts) AS contacts,
  (SELECT count(*) FROM interactions) AS interactions, (SELECT count(*) FROM messages) AS messages`).Scan(&res.Counts).Error; err != nil {
		return nil, err
	}

	res.Cases = reportCases(db, res.From, res.To, loc, res.Migrated, now)
	// Round 0 is untimed (connections, plans and caches warm up).
	for round := 0; round <= opts.Calls; round++ {
		for i := range res.Cases {
			c := &res.Cases[i]
			t, err := time.Now(), error(nil)
			if c.Rows, err = c.run(ctx); err != nil {
				return nil, fmt.Errorf("%s: %w", c.Name, err)
			}
			if round > 0 {
				c.Times = append(c.Times, time.Since(t))
			}
		}
	}
	res.finish()
	return res, nil
}

// seedDir is what the traffic refers to: the accounts with their queues,
// channels and dispositions, each queue's agents, and one migration.
type seedDir struct {
	accounts     []uint64
	weights      []float64 // cumulative
	instagram    map[uint64]bool
	queues       map[uint64][]uint64 // of each account
	members      map[uint64][]uint64 // of each queue
	dispositions map[uint64][]string
	// migSource moved to migTarget at migratedAt (its interactions before).
	migSource, migTarget uint64
	migratedAt           time.Time
}

func seedDirectory(db *gorm.DB, now time.Time) (*seedDir, error) {
	d := &seedDir{instagram: map[uint64]bool{}, queues: map[uint64][]uint64{}, members: map[uint64][]uint64{}, dispositions: map[uint64][]string{}}
	accs := make([]models.Account, reportAccounts)
	for i := range accs {
		accs[i] = models.Account{Name: fmt.Sprintf("Account %02d", i+1), Key: fmt.Sprintf("acc%02d", i+1), PublicURL: "https://motion.example.com",
			Type: models.AccountTypeSinchV2, Region: models.RegionEU, ProjectID: "bench", AppID: fmt.Sprintf("01BENCHAPP%02d", i+1), KeyID: "k",
			Phone: fmt.Sprintf("+3902%08d", i+1), Channels: []string{"WHATSAPP,INSTAGRAM", "WHATSAPP", "WHATSAPP"}[i%3], Status: models.AccountActive}
	}
	queues := make([]models.Queue, reportQueues)
	for i := range queues {
		queues[i] = models.Queue{Name: fmt.Sprintf("Queue %02d", i+1), Strategy: models.StrategyRoundRobin, TimeoutSeconds: 300}
	}
	agents := make([]models.Agent, reportAgents)
	for i := range agents { // 40% available
		agents[i] = models.Agent{Name: fmt.Sprintf("Agent %03d", i+1), Capacity: 3, TokenHash: fmt.Sprintf("%064x", i+1), PresenceAt: &now,
			Presence: []models.Presence{models.PresenceAvailable, models.PresenceAway}[min(i%5/2, 1)]}
	}
	return d, db.Transaction(func(tx *gorm.DB) error {
		for _, rows := range []any{&accs, &queues, &agents} {
			if err := tx.Omit(clause.Associations).CreateInBatches(rows, 500).Error; err != nil {
				return err
			}
		}
		links, cum := []any{}, 0.0
		for i, a := range accs {
			d.accounts = append(d.accounts, a.ID)
			cum += 1 / math.Sqrt(float64(i+1)) // a few big accounts, many small
			d.weights = append(d.weights, cum)
			d.instagram[a.ID] = strings.Contains(a.Channels, "INSTAGRAM")
			for _, n := range []string{"Resolved", "Sale", "Follow-up", "Complaint", "Wrong number", "Information"}[:3+i%4] {
				d.dispositions[a.ID] = append(d.dispositions[a.ID], n)
				links = append(links, &models.Disposition{AccountID: a.ID, Name: n})
			}
		}
		for i, q := range queues { // 2 or 3 queues per account
			acc := accs[i%len(accs)].ID
			d.queues[acc] = append(d.queues[acc], q.ID)
			links = append(links, &models.QueueAccount{QueueID: q.ID, AccountID: acc})
		}
		for i, a := range agents { // every agent in two queues, every queue has 6 to 12
			for _, qi := range []int{i % len(queues), (i*7 + 3) % len(queues)} {
				if q := queues[qi].ID; !slices.Contains(d.members[q], a.ID) {
					d.members[q] = append(d.members[q], a.ID)
					links = append(links, &models.QueueAgent{QueueID: q, AgentID: a.ID},
						&models.AgentAccount{AgentID: a.ID, AccountID: accs[qi%len(accs)].ID, Enabled: true, EnabledAt: &now})
				}
			}
		}
		for _, l := range links {
			if err := tx.Omit(clause.Associations).Clauses(clause.OnConflict{DoNothing: true}).Create(l).Error; err != nil {
				return err
			}
		}
		d.migSource, d.migTarget = accs[len(accs)-2].ID, accs[len(accs)-1].ID // halfway through the range
		d.migratedAt = now.Add(-reportDays * 12 * time.Hour)
		return tx.Model(&models.Account{}).Where("id = ?", d.migSource).Updates(map[string]any{
			"status": models.AccountMigrated, "migrated_to_account_id": d.migTarget, "migrated_at": d.migratedAt}).Error
	})
}

// seedInteraction is one interaction's plan: its figures and its message
// counts (in: the customer's, out: agent replies, flow: the action flow's
// replies, sys: the connector's notes, parts: a reply resent in parts).
type seedInteraction struct {
	acc, contact, queue, agent                                  uint64
	channel, status, reason, disposition                        string
	opened, firstAssigned, assigned, firstResp, convEnd, closed time.Time
	transfers, overflows, in, out, flow, sys, parts             int
}

// logn draws a log-normal duration around median, clamped to [lo, hi].
func logn(r *rand.Rand, median time.Duration, sigma float64, lo, hi time.Duration) time.Duration {
	return min(max(time.Duration(float64(median)*math.Exp(sigma*r.NormFloat64())), lo), hi)
}

// msBetween is later - earlier in milliseconds, nil when either is unset.
func msBetween(later, earlier time.Time) any {
	if later.IsZero() || earlier.IsZero() {
		return nil
	}
	return later.Sub(earlier).Milliseconds()
}

// orNull is v, or NULL when v is its type's zero (no time, no id).
func orNull[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}

// planInteractions draws the interactions opened from from to now
// (ordered by opening, mostly in working hours) and their contacts.
func planInteractions(r *rand.Rand, opts ReportsOptions, d *seedDir, from, now time.Time) ([]seedInteraction, [][]any) {
	opened := make([]time.Time, opts.Interactions)
	for i := range opened {
		for opened[i].IsZero() {
			if t := from.Add(time.Duration(r.Int64N(int64(now.Sub(from))))); t.Hour() >= 7 && t.Hour() < 20 || r.Float64() < 0.15 {
				opened[i] = t.Truncate(time.Millisecond)
			}
		}
	}
	slices.SortFunc(opened, func(a, b time.Time) int { return a.Compare(b) })
	var contacts [][]any
	known := map[string][]uint64{}
	weights, sum := make([]float64, len(opened)), 0.0 // of the message counts
	plan := make([]seedInteraction, len(opened))
	for i, t := range opened {
		s := &plan[i]
		s.opened, s.status, s.channel = t, string(models.InteractionClosed), string(models.ChannelWhatsApp)
		x := r.Float64() * d.weights[len(d.weights)-1]
		s.acc = d.accounts[slices.IndexFunc(d.weights, func(w float64) bool { return x < w })]
		if s.acc == d.migSource && t.After(d.migratedAt) {
			s.acc = d.migTarget
		} else if s.acc == d.migTarget && t.Before(d.migratedAt) {
			s.acc = d.migSource
		}
		if d.instagram[s.acc] && r.Float64() < 0.3 {
			s.channel = string(models.ChannelInstagram)
		}
		ck := fmt.Sprint(s.acc, s.channel)
		if cs := known[ck]; len(cs) > 0 && r.Float64() < 0.4 { // a returning customer
			s.contact = cs[r.IntN(len(cs))]
		} else {
			s.contact = uint64(len(contacts) + 1)
			known[ck] = append(known[ck], s.contact)
			contacts = append(contacts, []any{int64(s.contact), int64(s.acc), s.channel, fmt.Sprintf("39%010d", s.contact),
				fmt.Sprintf("c%08d", s.contact), fmt.Sprintf("Customer %d", s.contact), fmt.Sprintf("+39%010d", s.contact), t, t})
		}
		qs := d.queues[s.acc]
		s.queue = qs[r.IntN(len(qs))]
		switch p := r.Float64(); {
		case p < 0.02: // the action flow answered it all: no queue, closed idle
			s.queue, s.reason = 0, "inactivity"
			s.convEnd = t.Add(logn(r, time.Minute, 0.8, 5*time.Second, 20*time.Minute))
		case p < 0.08: // abandoned in the queue
			s.reason, s.convEnd = "inactivity", t.Add(logn(r, 4*time.Minute, 0.8, 20*time.Second, 2*time.Hour))
		case p < 0.09: // closed by an admin before any agent took it
			s.reason, s.convEnd = "admin", t.Add(logn(r, 20*time.Minute, 0.6, time.Minute, 3*time.Hour))
		default:
			if o := r.Float64(); o < 0.08 { // overflowed to the account's next queue
				s.overflows, s.queue = 1+int(o*1000)%2, qs[(slices.Index(qs, s.queue)+1)%len(qs)]
			}
			if o := r.Float64(); o < 0.12 {
				s.transfers = 1 + int(o*1000)%2
			}
			tta := logn(r, 40*time.Second, 1.2, 2*time.Second, 45*time.Minute) + time.Duration(s.overflows)*5*time.Minute
			conv := logn(r, 9*time.Minute, 0.9, 40*time.Second, 4*time.Hour)
			s.firstAssigned, s.convEnd = t.Add(tta), t.Add(tta+conv)
			s.assigned = s.firstAssigned
			if s.transfers > 0 {
				s.assigned = s.firstAssigned.Add(conv * 2 / 5)
			}
			if r.Float64() > 0.04 {
				s.firstResp = s.firstAssigned.Add(min(logn(r, 35*time.Second, 1.1, 3*time.Second, 30*time.Minute), conv/3))
			}
			members := d.members[s.queue]
			s.agent = members[r.IntN(len(members))]
			switch c := r.Float64(); {
			case c < 0.78:
				s.reason = "agent"
				if ds := d.dispositions[s.acc]; r.Float64() < 0.85 {
					s.disposition = ds[r.IntN(len(ds))]
				}
			case c < 0.95:
				s.reason = "inactivity"
			default:
				s.reason = "admin"
			}
		}
		s.closed = s.convEnd.Add(logn(r, 40*time.Second, 0.7, 2*time.Second, 10*time.Minute))
		if s.reason == "inactivity" {
			s.closed = s.convEnd.Add(30 * time.Minute)
		}
		if s.closed.After(now) { // still open: assigned, or queued
			s.status, s.reason, s.disposition, s.closed = string(models.InteractionAssigned), "", "", time.Time{}
			if s.firstAssigned.IsZero() || s.firstAssigned.After(now) {
				s.status, s.agent, s.firstAssigned, s.assigned, s.firstResp = string(models.InteractionQueued), 0, time.Time{}, time.Time{}, time.Time{}
			}
			if s.assigned.After(now) {
				s.assigned = s.firstAssigned
			}
			if s.convEnd.After(now) { // the conversation goes on
				s.convEnd = s.opened.Add(max(now.Sub(s.opened)-time.Duration(r.IntN(30_000))*time.Millisecond, 0))
			}
			if !s.firstResp.Before(s.convEnd) {
				s.firstResp = time.Time{}
			}
		}
		weights[i] = float64(logn(r, 8, 0.7, 1, 80))
		sum += weights[i]
	}
	splitMessages(r, plan, weights, sum, opts.Messages)
	return plan, contacts
}

// splitMessages gives each interaction its message counts, in total
// exactly messages: one customer message each, the rest by weight.
func splitMessages(r *rand.Rand, plan []seedInteraction, weights []float64, sum float64, messages int) {
	counts, given := make([]int, len(plan)), 0
	for i, w := range weights {
		counts[i] = 1 + int(w*float64(messages-len(plan))/sum)
		given += counts[i]
	}
	for _, i := range r.Perm(len(plan))[:messages-given] {
		counts[i]++
	}
	for i, c := range counts {
		s := &plan[i]
		if c >= 2 && r.Float64() < 0.5 { // the flow's greeting
			s.flow = 1
		}
		if s.agent == 0 && c >= 4 && r.Float64() < 0.5 { // and its menu
			s.flow = 2
		}
		if c >= 6 && r.Float64() < 0.08 {
			s.sys = 1
		}
		left := c - s.flow - s.sys
		if !s.firstResp.IsZero() && left >= 2 {
			s.out = min(max(1, int(float64(left)*(0.35+0.2*r.Float64()))), left-1)
			if left-s.out >= 3 && r.Float64() < 0.02 {
				s.parts = 2
			}
		} else {
			s.firstResp = time.Time{}
		}
		s.in = left - s.out - s.parts
	}
}

// failures are the Sinch codes of failed sends, by share.
var failures = []struct {
	code, class string
	share       float64
}{
	{"RECIPIENT_NOT_OPTED_IN", "policy", 0.25}, {"OUTSIDE_ALLOWED_SENDING_WINDOW", "policy", 0.25}, {"DELIVERY_TIMED_OUT", "network", 0.15},
	{"RATE_LIMITED", "network", 0.05}, {"RECIPIENT_NOT_REACHABLE", "config", 0.10}, {"CHANNEL_FAILURE", "support", 0.08},
	{"MEDIA_TOO_LARGE", "media", 0.05}, {"MEDIA_TYPE_UNSUPPORTED", "media", 0.04}, {"UNKNOWN", "support", 0.03},
}

var (
	interactionColumns = strings.Fields(`id key workflow_id account_id contact_id channel status queue_id agent_id processing_mode
  sinch_conversation_id disposition close_reason opened_at assigned_at closed_at last_message_at created_at updated_at first_assigned_at
  time_to_assign_ms first_response_at first_response_ms handle_ms transfers overflows messages_in messages_out`)
	messageColumns = strings.Fields(`id account_id interaction_id contact_id direction kind text provider_message_id client_ref agent_id
  status status_rank reason_code reason_description error_class error_message send_attempt parent_id part reply_ms provider_time
  sent_at delivered_at read_at failed_at created_at updated_at`)
	contactColumns = strings.Fields(`id account_id channel identity sinch_contact_id display_name mobile created_at updated_at`)
)

// seedTraffic copies the contacts, interactions and messages in (COPY),
// then moves the id sequences past them.
func seedTraffic(ctx context.Context, conn *pgx.Conn, opts ReportsOptions, d *seedDir, from, now time.Time) error {
	r := rand.New(rand.NewPCG(20261203, 1))
	plan, contacts := planInteractions(r, opts, d, from, now)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"contacts"}, contactColumns, pgx.CopyFromRows(contacts)); err != nil {
		return fmt.Errorf("contacts: %w", err)
	}
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"interactions"}, interactionColumns, pgx.CopyFromSlice(len(plan), func(i int) ([]any, error) {
		s, id := plan[i], int64(i+1)
		updated := s.closed
		if updated.IsZero() {
			updated = s.convEnd
		}
		wf := fmt.Sprintf("conversation:%d:%d", s.acc, s.contact)
		return []any{id, fmt.Sprintf("%s:%d", wf, id), wf, int64(s.acc), int64(s.contact), s.channel, s.status, orNull(s.queue), orNull(s.agent),
			"CONVERSATION", fmt.Sprintf("conv%08d", id), s.disposition, s.reason, s.opened, orNull(s.assigned), orNull(s.closed), s.convEnd,
			s.opened, updated, orNull(s.firstAssigned), msBetween(s.firstAssigned, s.opened), orNull(s.firstResp),
			msBetween(s.firstResp, s.opened), msBetween(s.closed, s.assigned), s.transfers, s.overflows, s.in, s.out}, nil
	}))
	if err != nil {
		return fmt.Errorf("interactions: %w", err)
	}
	var rows [][]any
	i, next := 0, int64(1) // messages are numbered in the order of their interactions
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"messages"}, messageColumns, pgx.CopyFromFunc(func() ([]any, error) {
		for len(rows) == 0 {
			if i == len(plan) {
				return nil, nil
			}
			rows = messageRows(r, plan[i], int64(i+1), &next, now)
			i++
		}
		row := rows[0]
		rows = rows[1:]
		return row, nil
	}))
	if err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	var setval []string
	for _, t := range []string{"contacts", "interactions", "messages"} {
		setval = append(setval, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT max(id) FROM %s))`, t, t))
	}
	_, err = conn.Exec(ctx, strings.Join(setval, "; "))
	return err
}

// messageRows are an interaction's messages in time order: the customer's
// first messages and the flow's replies, then agent replies each followed
// by the customer's answers, parts after a split reply, a note at the end.
func messageRows(r *rand.Rand, s seedInteraction, interaction int64, next *int64, now time.Time) [][]any {
	const in, out, sys = string(models.DirectionInbound), string(models.DirectionOutbound), string(models.DirectionSystem)
	var rows [][]any
	lastFailed, lastFailedAt := int64(0), time.Time{}
	add := func(dir, kind string, t time.Time, agent uint64, parent int64, replyMs any, forceFail string) int64 {
		id := *next
		*next++
		pmid, ref, created := any(fmt.Sprintf("b%010d", id)), any(fmt.Sprintf("bench:%d", id)), t
		status, attempt, part := models.StatusReceived, 0, 0
		var code, desc, class, advice string
		var sent, delivered, read, failed any
		switch dir {
		case in:
			ref, created = nil, t.Add(150*time.Millisecond) // provider_time is Sinch's accept time
		case sys:
			pmid, ref = nil, fmt.Sprintf("system:bench:%d", id)
		case out:
			if parent != 0 {
				part = int(id - parent) // the parts follow their original
			}
			st := t.Add(time.Duration(200+r.IntN(800)) * time.Millisecond)
			attempt = 1
			dl := st.Add(time.Duration(500+r.IntN(3000)) * time.Millisecond)
			switch p := r.Float64(); {
			case now.Sub(t) < 2*time.Minute:
				status, sent = []models.MessageStatus{models.StatusAccepted, models.StatusQueued}[r.IntN(2)], st
			case forceFail != "" || p < 0.04:
				code, class = forceFail, "support"
				x := r.Float64()
				for _, f := range failures {
					if code != "" {
						break
					}
					if x -= f.share; x < 0 || f.code == "UNKNOWN" {
						code, class = f.code, f.class
					}
				}
				if class == "network" { // resent once automatically
					attempt = 2
				}
				desc, advice = strings.ToLower(strings.ReplaceAll(code, "_", " ")), "see the failure class "+class
				status, sent, lastFailed, lastFailedAt = models.StatusFailed, st, id, st.Add(time.Duration(1+r.IntN(20))*time.Second)
				failed = lastFailedAt
			case p < 0.37:
				status, sent, delivered = models.StatusDelivered, st, dl
			default:
				status, sent, delivered, read = models.StatusRead, st, dl, dl.Add(logn(r, 2*time.Minute, 1.5, time.Second, 12*time.Hour))
			}
		}
		rows = append(rows, []any{id, int64(s.acc), interaction, int64(s.contact), dir, kind, "message " + kind, pmid, ref, orNull(agent),
			string(status), status.Rank(), code, desc, class, advice, attempt, orNull(parent), part, replyMs, t, sent, delivered, read, failed,
			created, created})
		return id
	}
	inKind := func() string { // 8% media, 1% location, 1% choice, else text
		if p := r.IntN(100); p < 10 {
			return []string{"media", "location", "choice_response"}[max(p-7, 0)]
		}
		return "text"
	}
	spread := func(n int, from, to time.Time, k int) time.Time { // the k-th of n evenly in [from, to)
		return from.Add(to.Sub(from) * time.Duration(k) / time.Duration(max(n, 1)))
	}
	first, n0 := s.convEnd, s.in
	if s.out > 0 { // the customer's messages before the first reply
		first, n0 = s.firstResp, 1+(s.in-1)/(s.out+1)
	}
	add(in, inKind(), s.opened, 0, 0, nil, "")
	for k := range s.flow {
		add(out, "text", s.opened.Add(time.Duration(1500*(k+1))*time.Millisecond), 0, 0, nil, "")
	}
	for k := 1; k < n0; k++ {
		add(in, inKind(), spread(n0, s.opened, first, k), 0, 0, nil, "")
	}
	// Replies j = 0..out-1 evenly spaced from the first response; the
	// customer's messages after reply j are the ones reply j+1 answers.
	left, split, oldest := s.in-n0, -1, s.opened
	if s.parts > 0 {
		split = r.IntN(s.out)
	}
	for j := range s.out {
		at := spread(s.out, s.firstResp, s.convEnd, j)
		replyMs, fail := msBetween(at, oldest), ""
		if j == split {
			fail = "MESSAGE_SPLIT_REQUIRED"
		}
		id := add(out, "text", at, s.agent, 0, replyMs, fail)
		if j == split {
			for p := range s.parts {
				add(out, "text", at.Add(time.Duration(2000+100*p)*time.Millisecond), s.agent, id, nil, "")
			}
		}
		nj := left / (s.out - j)
		if j < s.out-1 && left%(s.out-j) > 0 && r.Float64() < 0.5 {
			nj++
		}
		left -= nj
		nextAt := spread(s.out, s.firstResp, s.convEnd, j+1)
		oldest = time.Time{}
		for k := range nj {
			t := spread(nj+1, at, nextAt, k+1)
			if k == 0 {
				oldest = t
			}
			add(in, inKind(), t, 0, 0, nil, "")
		}
	}
	if s.sys > 0 && lastFailed != 0 { // a note on the failure, or at the end
		add(sys, "system", lastFailedAt.Add(time.Second), 0, lastFailed, nil, "")
	} else if s.sys > 0 {
		add(sys, "system", s.convEnd, 0, 0, nil, "")
	}
	return rows
}
