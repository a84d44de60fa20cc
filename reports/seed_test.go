package reports_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/internal/ptr"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/reports"
)

// world seeds rows with exact times and figures and names them.
type world struct {
	t        *testing.T
	db       *gorm.DB
	accounts map[string]uint64
	queues   map[string]uint64
	agents   map[string]uint64
	inter    map[string]models.Interaction
	specs    map[string]ispec
	seq      int
}

func newWorld(t *testing.T, db *gorm.DB) *world {
	return &world{t: t, db: db, accounts: map[string]uint64{}, queues: map[string]uint64{}, agents: map[string]uint64{},
		inter: map[string]models.Interaction{}, specs: map[string]ispec{}}
}

// forEachEngine runs fn on a fresh database of every engine.
func forEachEngine(t *testing.T, fn func(t *testing.T, w *world)) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) { fn(t, newWorld(t, testdb.Open(t, engine))) })
	}
}

func (w *world) account(name, migratedTo string) uint64 {
	w.t.Helper()
	w.seq++
	a := models.Account{Name: name, Key: fmt.Sprintf("k%d", w.seq), PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "p", AppID: fmt.Sprintf("app%d", w.seq), KeyID: "k", Phone: "+390000", Channels: "WHATSAPP,INSTAGRAM"}
	if migratedTo != "" {
		a.Status, a.MigratedToAccountID = models.AccountMigrated, ptr.To(w.accounts[migratedTo])
	}
	require.NoError(w.t, w.db.Create(&a).Error)
	w.accounts[name] = a.ID
	return a.ID
}

func (w *world) queue(name string, accounts ...string) uint64 {
	w.t.Helper()
	q := models.Queue{Name: name, Strategy: models.StrategyRoundRobin}
	require.NoError(w.t, w.db.Create(&q).Error)
	for _, a := range accounts {
		require.NoError(w.t, w.db.Create(&models.QueueAccount{QueueID: q.ID, AccountID: w.accounts[a]}).Error)
	}
	w.queues[name] = q.ID
	return q.ID
}

func (w *world) agent(name string, presence models.Presence, capacity int, accounts ...string) uint64 {
	w.t.Helper()
	w.seq++
	a := models.Agent{Name: name, Capacity: capacity, TokenHash: fmt.Sprintf("h%d", w.seq), Presence: presence}
	require.NoError(w.t, w.db.Create(&a).Error)
	for _, acc := range accounts {
		require.NoError(w.t, w.db.Create(&models.AgentAccount{AgentID: a.ID, AccountID: w.accounts[acc], Enabled: true}).Error)
	}
	w.agents[name] = a.ID
	return a.ID
}

// ispec is an interaction with its figures; times are offsets from
// opened in milliseconds (nil: not happened).
type ispec struct {
	label, account, queue, agent string
	channel                      models.Channel
	opened                       time.Time
	status                       models.InteractionStatus
	reason, disposition          string
	tta, fr, handle              *int64
	transfers, overflows         int
	in, out                      int
	// replies are the reply_ms of its agent replies (nil: a reply that
	// answers nothing new).
	replies []*int64
}

func ms(v int64) *int64 { return &v }

func (w *world) interaction(s ispec) models.Interaction {
	w.t.Helper()
	w.seq++
	c := models.Contact{AccountID: w.accounts[s.account], Channel: s.channel, Identity: fmt.Sprintf("39%d", w.seq)}
	require.NoError(w.t, w.db.Create(&c).Error)
	in := models.Interaction{
		Key: "k-" + s.label, WorkflowID: "wf-" + s.label, AccountID: w.accounts[s.account], ContactID: c.ID, Channel: s.channel,
		Status: s.status, Disposition: s.disposition, CloseReason: s.reason, OpenedAt: s.opened,
		TimeToAssignMs: s.tta, FirstResponseMs: s.fr, HandleMs: s.handle, Transfers: s.transfers, Overflows: s.overflows,
		MessagesIn: s.in, MessagesOut: s.out,
	}
	if s.queue != "" {
		in.QueueID = ptr.To(w.queues[s.queue])
	}
	if s.agent != "" {
		in.AgentID = ptr.To(w.agents[s.agent])
	}
	if s.tta != nil {
		at := s.opened.Add(time.Duration(*s.tta) * time.Millisecond)
		in.FirstAssignedAt, in.AssignedAt = &at, &at
	}
	if s.fr != nil {
		in.FirstResponseAt = ptr.To(s.opened.Add(time.Duration(*s.fr) * time.Millisecond))
	}
	if s.status == models.InteractionClosed {
		in.ClosedAt = ptr.To(s.opened.Add(time.Hour))
	}
	require.NoError(w.t, w.db.Create(&in).Error)
	w.inter[s.label], w.specs[s.label] = in, s
	for i := 0; i < s.in; i++ {
		w.message(models.Message{InteractionID: in.ID, Direction: models.DirectionInbound, Status: models.StatusReceived,
			CreatedAt: s.opened.Add(time.Duration(i) * time.Second)})
	}
	for i, r := range s.replies {
		w.message(models.Message{InteractionID: in.ID, Direction: models.DirectionOutbound, AgentID: in.AgentID, Status: models.StatusDelivered,
			ReplyMs: r, CreatedAt: s.opened.Add(time.Duration(i+1) * time.Minute)})
	}
	return in
}

// message stores a message of an interaction (account and contact from
// it; kind text unless set).
func (w *world) message(m models.Message) models.Message {
	w.t.Helper()
	var in models.Interaction
	require.NoError(w.t, w.db.Take(&in, m.InteractionID).Error)
	m.AccountID, m.ContactID = in.AccountID, in.ContactID
	if m.Kind == "" {
		m.Kind = "text"
	}
	m.StatusRank = m.Status.Rank()
	require.NoError(w.t, w.db.Create(&m).Error)
	return m
}

// ids are the interactions of labels, sorted.
func (w *world) ids(labels ...string) []uint64 {
	out := make([]uint64, 0, len(labels))
	for _, l := range labels {
		out = append(out, w.inter[l].ID)
	}
	slices.Sort(out)
	return out
}

// expect is the figures of the labelled interactions, computed from
// their specs (nearest rank: v[ceil(p·n)−1]).
func (w *world) expect(labels ...string) reports.InteractionFigures {
	var f reports.InteractionFigures
	var fr, tta, reply, handle []int64
	for _, l := range labels {
		s := w.specs[l]
		closed := s.status == models.InteractionClosed
		f.Opened++
		f.Assigned += b2i(s.tta != nil)
		f.Closed += b2i(closed && (s.reason == "agent" || s.reason == "admin"))
		f.ClosedByInactivity += b2i(closed && s.reason == "inactivity")
		f.Transferred += b2i(s.transfers > 0)
		f.Overflowed += b2i(s.overflows > 0)
		f.Abandoned += b2i(closed && s.fr == nil)
		f.MessagesIn += int64(s.in)
		f.MessagesOut += int64(s.out)
		for _, x := range []struct {
			p    *int64
			into *[]int64
		}{{s.fr, &fr}, {s.tta, &tta}, {s.handle, &handle}} {
			if x.p != nil {
				*x.into = append(*x.into, *x.p)
			}
		}
		for _, r := range s.replies {
			if r != nil {
				reply = append(reply, *r)
			}
		}
	}
	f.FirstResponseSeconds, f.TimeToAssignSeconds, f.ReplySeconds, f.HandleSeconds = stats(fr), stats(tta), stats(reply), stats(handle)
	return f
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func stats(v []int64) reports.Stats {
	if len(v) == 0 {
		return reports.Stats{}
	}
	slices.Sort(v)
	var sum int64
	for _, x := range v {
		sum += x
	}
	rank := func(p float64) float64 { return float64(v[int(math.Ceil(p*float64(len(v))))-1]) / 1000 }
	return reports.Stats{Count: int64(len(v)), Avg: float64(sum) / float64(len(v)) / 1000, P50: rank(0.5), P90: rank(0.9), Max: float64(v[len(v)-1]) / 1000}
}

func day(d, hh, mm int) time.Time { return time.Date(2026, 3, d, hh, mm, 0, 0, time.UTC) }

// seedMain is the interactions of the main suite: two accounts, two
// queues, two agents, seven interactions in the range (March 1 to 10,
// UTC) and two just outside it.
func seedMain(w *world) {
	w.account("Alpha", "")
	w.account("Beta", "")
	w.queue("Sales", "Alpha", "Beta")
	w.queue("Support", "Alpha", "Beta")
	w.agent("Ann", models.PresenceAvailable, 2, "Alpha", "Beta")
	w.agent("Bob", models.PresenceAway, 1, "Alpha", "Beta")
	wa, ig := models.ChannelWhatsApp, models.ChannelInstagram
	closed, assigned, queued := models.InteractionClosed, models.InteractionAssigned, models.InteractionQueued
	for _, s := range []ispec{
		{label: "I0", account: "Beta", queue: "Sales", agent: "Bob", channel: wa, opened: day(1, 12, 0), status: closed, reason: "agent",
			disposition: "sold", tta: ms(4000), fr: ms(8000), handle: ms(50000), in: 1, out: 1, replies: []*int64{ms(8000)}},
		{label: "I1", account: "Alpha", queue: "Sales", agent: "Ann", channel: wa, opened: day(2, 10, 0), status: closed, reason: "agent",
			disposition: "sold", tta: ms(30000), fr: ms(90000), handle: ms(1770000), transfers: 1, in: 2, out: 2, replies: []*int64{ms(90000), ms(30000)}},
		{label: "I2", account: "Alpha", queue: "Sales", agent: "Bob", channel: wa, opened: day(2, 23, 30), status: closed, reason: "inactivity",
			tta: ms(60000), fr: ms(120000), handle: ms(600000), overflows: 1, in: 1, out: 1, replies: []*int64{ms(120000)}},
		{label: "I3", account: "Alpha", queue: "Support", channel: ig, opened: day(3, 9, 0), status: closed, reason: "admin",
			disposition: "spam", overflows: 2, in: 1},
		{label: "I4", account: "Beta", channel: wa, opened: day(4, 12, 0), status: queued, in: 1},
		{label: "I5", account: "Beta", queue: "Support", agent: "Ann", channel: ig, opened: day(5, 8, 0), status: assigned, tta: ms(10000), in: 2},
		{label: "I6", account: "Alpha", queue: "Sales", agent: "Ann", channel: wa, opened: day(8, 23, 30), status: closed, reason: "migration",
			disposition: "sold", tta: ms(2000), fr: ms(5000), handle: ms(100000), in: 1, out: 2, replies: []*int64{ms(5000), nil}},
		// Outside: a second before the range (March 1 in Rome), and at
		// its end (To is excluded).
		{label: "X1", account: "Alpha", queue: "Sales", agent: "Ann", channel: wa, opened: day(1, 0, 0).Add(-time.Second), status: closed,
			reason: "agent", tta: ms(1), fr: ms(1), handle: ms(1), in: 1, out: 1, replies: []*int64{ms(1)}},
		{label: "X2", account: "Alpha", queue: "Sales", agent: "Ann", channel: wa, opened: day(10, 0, 0), status: closed,
			reason: "agent", tta: ms(1), fr: ms(1), handle: ms(1), in: 1, out: 1, replies: []*int64{ms(1)}},
	} {
		w.interaction(s)
	}
	// Not agent replies: a flow reply, a part of a split reply (even with
	// a reply time) and a system note.
	i1 := w.inter["I1"]
	flow := w.message(models.Message{InteractionID: i1.ID, Direction: models.DirectionOutbound, Status: models.StatusDelivered, ReplyMs: ms(7), CreatedAt: day(2, 10, 5)})
	w.message(models.Message{InteractionID: i1.ID, Direction: models.DirectionOutbound, AgentID: i1.AgentID, ParentID: &flow.ID, Part: 1,
		Status: models.StatusDelivered, ReplyMs: ms(999999), CreatedAt: day(2, 10, 6)})
	w.message(models.Message{InteractionID: i1.ID, Direction: models.DirectionSystem, Kind: "system", Status: models.StatusReceived, CreatedAt: day(2, 10, 7)})
}

var (
	from = day(1, 0, 0)
	to   = day(10, 0, 0)
)

func rome(t *testing.T) *time.Location {
	loc, err := reports.LoadLocation("Europe/Rome")
	require.NoError(t, err)
	return loc
}
