package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/ptr"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/reports"
)

// drillWorld is the rows of the drill-down tests: Alpha, Beta and Old
// (migrated to Alpha), two queues, two agents and interactions spread
// over the range and around it, every few hours (so they cross local
// midnights), with every combination of queue, agent, channel,
// disposition, status and first response.
type drillWorld struct {
	alpha, beta, old uint64
	q1, q2           uint64
	ann, bob         uint64
	all              []models.Interaction
	from, to         time.Time
}

func seedDrill(t *testing.T, env *cfgEnv) drillWorld {
	t.Helper()
	db := env.db
	w := drillWorld{from: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), to: time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)}
	mk := func(name string, migratedTo uint64) uint64 {
		a := models.Account{Name: name, Key: "k-" + name, PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
			Region: models.RegionEU, ProjectID: "p", AppID: "app-" + name, KeyID: "k", Phone: "+390000", Channels: "WHATSAPP,INSTAGRAM"}
		if migratedTo != 0 {
			a.Status, a.MigratedToAccountID = models.AccountMigrated, &migratedTo
		}
		require.NoError(t, db.Create(&a).Error)
		return a.ID
	}
	w.alpha = mk("Alpha", 0)
	w.beta = mk("Beta", 0)
	w.old = mk("Old", w.alpha)
	var queuesMade []string
	for _, q := range []*uint64{&w.q1, &w.q2} {
		row := models.Queue{Name: fmt.Sprintf("Queue %d", len(queuesMade)), Strategy: models.StrategyRoundRobin}
		queuesMade = append(queuesMade, row.Name)
		require.NoError(t, db.Create(&row).Error)
		*q = row.ID
	}
	for i, a := range []*uint64{&w.ann, &w.bob} {
		row := models.Agent{Name: fmt.Sprintf("Agent %d", i), Capacity: 2, TokenHash: fmt.Sprintf("drill-%d", i), Presence: models.PresenceAvailable}
		require.NoError(t, db.Create(&row).Error)
		*a = row.ID
	}
	accounts := []uint64{w.alpha, w.beta, w.old}
	queues := []*uint64{&w.q1, &w.q2, nil}
	agents := []*uint64{&w.ann, nil, &w.bob}
	channels := []models.Channel{models.ChannelWhatsApp, models.ChannelInstagram}
	dispositions := []string{"", "sold", "spam", "", "call back"}
	statuses := []models.InteractionStatus{models.InteractionClosed, models.InteractionAssigned, models.InteractionQueued, models.InteractionClosed}
	start := w.from.Add(-7 * time.Hour)
	for i := range 80 {
		c := models.Contact{AccountID: accounts[i%3], Channel: models.ChannelWhatsApp, Identity: fmt.Sprintf("3933300%04d", i)}
		require.NoError(t, db.Create(&c).Error)
		opened := start.Add(time.Duration(i) * (4*time.Hour + 23*time.Minute + 500*time.Millisecond))
		in := models.Interaction{Key: fmt.Sprintf("drill-%d", i), WorkflowID: fmt.Sprintf("wf-drill-%d", i), AccountID: accounts[i%3],
			ContactID: c.ID, Channel: channels[(i/2)%2], Status: statuses[(i/5)%4], Disposition: dispositions[(i/7)%5], OpenedAt: opened, MessagesIn: 1}
		if q := queues[(i/3)%3]; q != nil {
			in.QueueID = ptr.To(*q)
		}
		if a := agents[(i/9)%3]; a != nil && in.Status != models.InteractionQueued {
			in.AgentID = ptr.To(*a)
			in.FirstAssignedAt, in.TimeToAssignMs = ptr.To(opened.Add(time.Minute)), ptr.To(int64(60000))
		}
		if i%7 < 4 && in.AgentID != nil {
			in.FirstResponseAt, in.FirstResponseMs = ptr.To(opened.Add(2*time.Minute)), ptr.To(int64(120000))
		}
		if in.Status == models.InteractionClosed {
			in.CloseReason = []string{"agent", "admin", "inactivity"}[i%3]
		}
		in.Transfers, in.Overflows = i%5/4, i%6/5*2
		require.NoError(t, db.Create(&in).Error)
		w.all = append(w.all, in)
	}
	require.True(t, w.all[len(w.all)-1].OpenedAt.After(w.to), "some are after the range")
	return w
}

// listIDs follows a drill-down URL through every page.
func listIDs(t *testing.T, env *cfgEnv, u string) []uint64 {
	t.Helper()
	var ids []uint64
	for before := uint64(0); ; {
		page := u + "&limit=7"
		if before != 0 {
			page += fmt.Sprintf("&before=%d", before)
		}
		list := cfgDecode[api.InteractionList](t, env.admin(http.MethodGet, page, nil), http.StatusOK)
		for _, it := range list.Items {
			ids = append(ids, it.ID)
		}
		if list.NextBefore == 0 {
			break
		}
		before = list.NextBefore
	}
	slices.Sort(ids)
	return ids
}

// matches is the test's own reading of a report row: the interactions
// opened in the range, of the filter, in the row's group.
func (w drillWorld) matches(in models.Interaction, f reports.Filter, g *reports.Group, loc *time.Location) bool {
	if in.OpenedAt.Before(f.From) || !in.OpenedAt.Before(f.To) {
		return false
	}
	if f.AccountID != 0 {
		set := []uint64{f.AccountID}
		if f.IncludeMigrated {
			set = []uint64{w.alpha, w.old}
		}
		if !slices.Contains(set, in.AccountID) {
			return false
		}
	}
	eqID := func(p *uint64, id uint64) bool { return p != nil && *p == id }
	if f.QueueID != 0 && !eqID(in.QueueID, f.QueueID) || f.AgentID != 0 && !eqID(in.AgentID, f.AgentID) ||
		f.Channel != "" && string(in.Channel) != f.Channel {
		return false
	}
	if g == nil {
		return true
	}
	if g.AccountID != 0 && in.AccountID != g.AccountID {
		return false
	}
	local := in.OpenedAt.In(loc)
	date := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC)
	switch f.GroupBy {
	case reports.ByQueue:
		return g.None && in.QueueID == nil || !g.None && eqID(in.QueueID, g.QueueID)
	case reports.ByAgent:
		return g.None && in.AgentID == nil || !g.None && eqID(in.AgentID, g.AgentID)
	case reports.ByChannel:
		return string(in.Channel) == g.Channel
	case reports.ByDisposition:
		return g.None && in.Disposition == "" || !g.None && in.Disposition == g.Disposition
	case reports.ByDay:
		return date.Format(time.DateOnly) == g.Day
	case reports.ByWeek:
		return date.AddDate(0, 0, -((int(date.Weekday())+6)%7)).Format(time.DateOnly) == g.Week
	}
	return true
}

func (w drillWorld) expected(pred func(models.Interaction) bool) []uint64 {
	var ids []uint64
	for _, in := range w.all {
		if pred(in) {
			ids = append(ids, in.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func TestReportDrillDownsListTheCountedInteractions(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		w := seedDrill(t, env)
		ctx := context.Background()
		checked := 0
		figured := map[string]int64{}
		for _, tz := range []string{"UTC", "Europe/Rome", "America/New_York"} {
			loc, err := reports.LoadLocation(tz)
			require.NoError(t, err)
			for _, narrow := range []reports.Filter{
				{}, {AccountID: w.alpha}, {AccountID: w.alpha, IncludeMigrated: true}, {QueueID: w.q1}, {AgentID: w.ann},
				{Channel: "INSTAGRAM"}, {From: w.from.Add(90 * time.Minute), To: w.to.Add(-5 * time.Hour)},
			} {
				for _, g := range reports.InteractionGroupBys {
					f := narrow
					if f.From.IsZero() {
						f.From, f.To = w.from, w.to
					}
					f.GroupBy, f.Location = g, loc
					r, err := reports.Interactions(ctx, env.db, f)
					require.NoError(t, err)
					name := fmt.Sprintf("%s %s %+v", tz, g, narrow)
					total := w.expected(func(in models.Interaction) bool { return w.matches(in, f, nil, loc) })
					require.NotEmpty(t, total, name)
					assert.Equal(t, total, listIDs(t, env, r.TotalsURL), "%s: totals %s", name, r.TotalsURL)
					assert.Equal(t, int64(len(total)), r.Totals.Opened, name)
					var sum int64
					for _, row := range r.Rows {
						want := w.expected(func(in models.Interaction) bool { return w.matches(in, f, &row.Group, loc) })
						got := listIDs(t, env, row.InteractionsURL)
						assert.Equal(t, want, got, "%s: row %+v: %s", name, row.Group, row.InteractionsURL)
						assert.Equal(t, int64(len(got)), row.Opened, "%s: row %+v counts what its URL lists", name, row.Group)
						if tz == "UTC" {
							figures := map[string]int64{reports.FigureAssigned: row.Assigned, reports.FigureClosed: row.Closed,
								reports.FigureClosedByInactivity: row.ClosedByInactivity, reports.FigureTransferred: row.Transferred,
								reports.FigureOverflowed: row.Overflowed, reports.FigureAbandoned: row.Abandoned}
							for fig, n := range figures {
								assert.Len(t, listIDs(t, env, row.FigureURLs[fig]), int(n), "%s: row %+v: %s", name, row.Group, row.FigureURLs[fig])
								figured[fig] += n
							}
						}
						sum += row.Opened
						checked++
					}
					assert.Equal(t, r.Totals.Opened, sum, "%s: the rows partition the totals", name)
				}
			}
		}
		assert.Greater(t, checked, 300)
		for _, fig := range reports.Figures {
			assert.Positive(t, figured[fig], "the rows count some %s interactions", fig)
		}
		rec := env.admin(http.MethodGet, "/api/interactions?figure=lost", nil)
		assert.Equal(t, http.StatusBadRequest, rec.Code)
		assert.Contains(t, rec.Body.String(), `figure: want one of assigned, closed, closedByInactivity, transferred, overflowed, abandoned, got \"lost\"`)
	})
}

func TestLiveDrillDownsListTheCountedInteractions(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		w := seedDrill(t, env)
		nonEmpty := 0
		for _, f := range []reports.Filter{{}, {AccountID: w.alpha}, {AccountID: w.alpha, IncludeMigrated: true}, {QueueID: w.q2}, {AgentID: w.bob}, {Channel: "WHATSAPP"}} {
			r, err := reports.Live(context.Background(), env.db, f, w.to)
			require.NoError(t, err)
			pred := func(in models.Interaction, status string, responded *bool) bool {
				g := w.matches(in, reports.Filter{From: in.OpenedAt, To: in.OpenedAt.Add(1), AccountID: f.AccountID, IncludeMigrated: f.IncludeMigrated,
					QueueID: f.QueueID, AgentID: f.AgentID, Channel: f.Channel}, nil, time.UTC)
				switch status {
				case "open":
					g = g && in.Status != models.InteractionClosed
				default:
					g = g && string(in.Status) == status
				}
				return g && (responded == nil || *responded == (in.FirstResponseAt != nil))
			}
			for _, c := range []struct {
				count     reports.LiveCount
				status    string
				responded *bool
			}{{r.Open, "open", nil}, {r.Queued, "queued", nil}, {r.Unattended, "assigned", ptr.To(false)}} {
				want := w.expected(func(in models.Interaction) bool { return pred(in, c.status, c.responded) })
				if len(want) > 0 {
					nonEmpty++
				}
				assert.Equal(t, want, listIDs(t, env, c.count.InteractionsURL), "%+v %s", f, c.count.InteractionsURL)
				assert.Equal(t, int64(len(want)), c.count.Count)
			}
			var waiting int64
			for _, q := range r.Queues {
				want := w.expected(func(in models.Interaction) bool {
					inQueue := q.Group.None && in.QueueID == nil || !q.Group.None && in.QueueID != nil && *in.QueueID == q.Group.QueueID
					return pred(in, "queued", nil) && inQueue && (q.Group.AccountID == 0 || in.AccountID == q.Group.AccountID)
				})
				assert.Equal(t, want, listIDs(t, env, q.InteractionsURL), "%+v %s", f, q.InteractionsURL)
				assert.Equal(t, int64(len(want)), q.Waiting)
				waiting += q.Waiting
			}
			assert.Equal(t, r.Queued.Count, waiting, "%+v: the queue rows partition the queued", f)
		}
		assert.Greater(t, nonEmpty, 12, "most drill-downs list something")
	})
}

func TestListInteractionsReportFilters(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		w := seedDrill(t, env)
		get := func(q string) []uint64 { return listIDs(t, env, "/api/interactions?"+q) }
		want := func(pred func(models.Interaction) bool) []uint64 { return w.expected(pred) }
		rome, err := time.LoadLocation("Europe/Rome")
		require.NoError(t, err)
		from := time.Date(2026, 3, 3, 0, 0, 0, 0, rome)
		to := time.Date(2026, 3, 5, 12, 30, 0, 0, rome)
		inRange := func(in models.Interaction) bool { return !in.OpenedAt.Before(from) && in.OpenedAt.Before(to) }
		assert.Equal(t, want(inRange), get("openedFrom=2026-03-03T00:00:00%2B01:00&openedTo=2026-03-05T12:30:00%2B01:00"), "RFC 3339 with an offset")
		assert.Equal(t, want(func(in models.Interaction) bool { return !in.OpenedAt.Before(from) }), get("openedFrom=2026-03-02T23:00:00Z"))
		// A bound with a fraction: the interaction at .5 s is on the
		// right side of it.
		edge := w.all[1].OpenedAt
		assert.Equal(t, want(func(in models.Interaction) bool { return in.OpenedAt.Before(edge) }),
			get("openedTo="+strings.ReplaceAll(edge.Format(time.RFC3339Nano), "+", "%2B")))
		assert.Equal(t, want(func(in models.Interaction) bool { return in.Channel == models.ChannelInstagram }), get("channel=INSTAGRAM"))
		assert.Equal(t, want(func(in models.Interaction) bool { return in.Disposition == "" }), get("disposition=none"))
		assert.Equal(t, want(func(in models.Interaction) bool { return in.Disposition == "call back" }), get("disposition=call+back"))
		assert.Equal(t, want(func(in models.Interaction) bool { return in.QueueID == nil }), get("queueId=none"))
		assert.Equal(t, want(func(in models.Interaction) bool { return in.AgentID == nil }), get("agentId=none"))
		assert.Equal(t, want(func(in models.Interaction) bool { return in.FirstResponseAt != nil }), get("responded=true"))
		assert.Equal(t, want(func(in models.Interaction) bool {
			return in.Status == models.InteractionAssigned && in.FirstResponseAt == nil
		}), get("status=assigned&responded=false"))
		assert.Equal(t, want(func(in models.Interaction) bool { return in.AccountID != w.beta }),
			get(fmt.Sprintf("accountId=%d,%d", w.alpha, w.old)), "several accounts")
		assert.Equal(t, want(func(in models.Interaction) bool { return in.AccountID == w.beta }), get(fmt.Sprintf("accountId=%d", w.beta)))
		require.NotEmpty(t, want(func(in models.Interaction) bool { return in.QueueID == nil }))

		for _, tc := range []struct{ query, param string }{
			{"openedFrom=2026-03-03", "openedFrom"},
			{"openedFrom=yesterday", "openedFrom"},
			{"openedTo=2026-03-03T00:00:00", "openedTo"},
			{"openedTo=2026-03-03T00:00:00+01:00", "openedTo"}, // a "+" not encoded is a space
			{"channel=SMS", "channel"},
			{"channel=whatsapp", "channel"},
			{"responded=yes", "responded"},
			{"queueId=nil", "queueId"},
			{"agentId=0", "agentId"},
			{"accountId=none", "accountId"},
			{"accountId=1,x", "accountId"},
			{"accountId=1,", "accountId"},
		} {
			rec := env.admin(http.MethodGet, "/api/interactions?"+tc.query, nil)
			require.Equal(t, http.StatusBadRequest, rec.Code, "%s: %s", tc.query, rec.Body.String())
			e := errorBody(t, rec)
			assert.Equal(t, "invalid_query", e.Code, tc.query)
			assert.True(t, strings.HasPrefix(e.Message, tc.param+": "), "%s: %s names %s", tc.query, e.Message, tc.param)
		}
	})
}
