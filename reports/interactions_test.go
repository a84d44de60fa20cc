package reports_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/reports"
)

func interactions(t *testing.T, w *world, f reports.Filter) reports.InteractionsReport {
	t.Helper()
	r, err := reports.Interactions(context.Background(), w.db, f)
	require.NoError(t, err)
	return r
}

func TestInteractionsTotals(t *testing.T) {
	forEachEngine(t, func(t *testing.T, w *world) {
		seedMain(w)
		r := interactions(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByQueue})
		// Hand-computed over I0..I6 (nearest rank: v[ceil(p·n)−1]).
		want := reports.InteractionFigures{
			Opened: 7, Assigned: 5, Closed: 3, ClosedByInactivity: 1, Transferred: 1, Overflowed: 2, Abandoned: 1,
			MessagesIn: 9, MessagesOut: 6,
			// 5000, 8000, 90000, 120000
			FirstResponseSeconds: reports.Stats{Count: 4, Avg: 55.75, P50: 8, P90: 120, Max: 120},
			// 2000, 4000, 10000, 30000, 60000
			TimeToAssignSeconds: reports.Stats{Count: 5, Avg: 21.2, P50: 10, P90: 60, Max: 60},
			// 5000, 8000, 30000, 90000, 120000 (not the flow reply, the
			// split part, nor the reply without a reply time)
			ReplySeconds: reports.Stats{Count: 5, Avg: 50.6, P50: 30, P90: 120, Max: 120},
			// 50000, 100000, 600000, 1770000
			HandleSeconds: reports.Stats{Count: 4, Avg: 630, P50: 100, P90: 1770, Max: 1770},
		}
		assert.Equal(t, want, r.Totals)
		assert.Equal(t, want, w.expect("I0", "I1", "I2", "I3", "I4", "I5", "I6"), "the test's own arithmetic agrees")
		assert.Equal(t, "/api/interactions?openedFrom=2026-03-01T00%3A00%3A00Z&openedTo=2026-03-10T00%3A00%3A00Z", r.TotalsURL)
		assert.Equal(t, "UTC", r.TZ)
		assert.Equal(t, reports.ByQueue, r.GroupBy)

		// The Sales row by hand.
		require.NotEmpty(t, r.Rows)
		sales := r.Rows[0]
		assert.Equal(t, reports.Group{QueueID: w.queues["Sales"], QueueName: "Sales"}, sales.Group)
		assert.Equal(t, [9]int64{4, 4, 2, 1, 1, 1, 0, 5, 6}, [9]int64{sales.Opened, sales.Assigned, sales.Closed, sales.ClosedByInactivity,
			sales.Transferred, sales.Overflowed, sales.Abandoned, sales.MessagesIn, sales.MessagesOut})
		assert.Equal(t, reports.Stats{Count: 4, Avg: 55.75, P50: 8, P90: 120, Max: 120}, sales.FirstResponseSeconds)
		assert.Equal(t, reports.Stats{Count: 5, Avg: 50.6, P50: 30, P90: 120, Max: 120}, sales.ReplySeconds)
	})
}

// row is an expected row: its group and the interactions behind it.
type row struct {
	group  reports.Group
	labels []string
}

func TestInteractionsGroupBy(t *testing.T) {
	forEachEngine(t, func(t *testing.T, w *world) {
		seedMain(w)
		alpha, beta := w.accounts["Alpha"], w.accounts["Beta"]
		sales, support := w.queues["Sales"], w.queues["Support"]
		ann, bob := w.agents["Ann"], w.agents["Bob"]
		rest := []string{"I1", "I2", "I3", "I4", "I5", "I6"}
		for _, tc := range []struct {
			name, groupBy string
			loc           *time.Location
			rows          []row
		}{
			{"account", reports.ByAccount, nil, []row{
				{reports.Group{AccountID: alpha, AccountName: "Alpha"}, []string{"I1", "I2", "I3", "I6"}},
				{reports.Group{AccountID: beta, AccountName: "Beta"}, []string{"I0", "I4", "I5"}},
			}},
			{"queue", reports.ByQueue, nil, []row{
				{reports.Group{QueueID: sales, QueueName: "Sales"}, []string{"I0", "I1", "I2", "I6"}},
				{reports.Group{QueueID: support, QueueName: "Support"}, []string{"I3", "I5"}},
				{reports.Group{None: true}, []string{"I4"}},
			}},
			{"agent", reports.ByAgent, nil, []row{
				{reports.Group{AgentID: ann, AgentName: "Ann"}, []string{"I1", "I5", "I6"}},
				{reports.Group{AgentID: bob, AgentName: "Bob"}, []string{"I0", "I2"}},
				{reports.Group{None: true}, []string{"I3", "I4"}},
			}},
			{"channel", reports.ByChannel, nil, []row{
				{reports.Group{Channel: "INSTAGRAM"}, []string{"I3", "I5"}},
				{reports.Group{Channel: "WHATSAPP"}, []string{"I0", "I1", "I2", "I4", "I6"}},
			}},
			{"disposition", reports.ByDisposition, nil, []row{
				{reports.Group{Disposition: "sold"}, []string{"I0", "I1", "I6"}},
				{reports.Group{Disposition: "spam"}, []string{"I3"}},
				{reports.Group{None: true}, []string{"I2", "I4", "I5"}},
			}},
			{"day UTC", reports.ByDay, time.UTC, []row{
				{reports.Group{Day: "2026-03-01"}, []string{"I0"}},
				{reports.Group{Day: "2026-03-02"}, []string{"I1", "I2"}},
				{reports.Group{Day: "2026-03-03"}, []string{"I3"}},
				{reports.Group{Day: "2026-03-04"}, []string{"I4"}},
				{reports.Group{Day: "2026-03-05"}, []string{"I5"}},
				{reports.Group{Day: "2026-03-08"}, []string{"I6"}},
			}},
			// 23:30 UTC is 00:30 the next day in Rome (UTC+1 in March
			// before the 29th); X1 (March 1, 00:59:59 in Rome) stays out.
			{"day Rome", reports.ByDay, rome(t), []row{
				{reports.Group{Day: "2026-03-01"}, []string{"I0"}},
				{reports.Group{Day: "2026-03-02"}, []string{"I1"}},
				{reports.Group{Day: "2026-03-03"}, []string{"I2", "I3"}},
				{reports.Group{Day: "2026-03-04"}, []string{"I4"}},
				{reports.Group{Day: "2026-03-05"}, []string{"I5"}},
				{reports.Group{Day: "2026-03-09"}, []string{"I6"}},
			}},
			{"week UTC", reports.ByWeek, nil, []row{
				{reports.Group{Week: "2026-02-23"}, []string{"I0"}},
				{reports.Group{Week: "2026-03-02"}, rest},
			}},
			// I6 is Sunday 23:30 UTC, Monday 00:30 in Rome.
			{"week Rome", reports.ByWeek, rome(t), []row{
				{reports.Group{Week: "2026-02-23"}, []string{"I0"}},
				{reports.Group{Week: "2026-03-02"}, []string{"I1", "I2", "I3", "I4", "I5"}},
				{reports.Group{Week: "2026-03-09"}, []string{"I6"}},
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := interactions(t, w, reports.Filter{From: from, To: to, GroupBy: tc.groupBy, Location: tc.loc})
				require.Len(t, r.Rows, len(tc.rows))
				for i, want := range tc.rows {
					got := r.Rows[i]
					assert.Equal(t, want.group, got.Group, "row %d", i)
					assert.Equal(t, w.expect(want.labels...), got.InteractionFigures, "row %d %+v", i, want.group)
					assert.NotEmpty(t, got.InteractionsURL)
				}
				assert.Equal(t, w.expect("I0", "I1", "I2", "I3", "I4", "I5", "I6"), r.Totals)
			})
		}
	})
}

func TestInteractionsURLs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, w *world) {
		seedMain(w)
		r := interactions(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByDay, Location: rome(t)})
		// Rome's March 1 starts at the range's start (clipped: X1, at
		// 00:59:59 in Rome, is not in it); March 9 is a whole local day.
		assert.Equal(t, "/api/interactions?openedFrom=2026-03-01T01%3A00%3A00%2B01%3A00&openedTo=2026-03-02T00%3A00%3A00%2B01%3A00", r.Rows[0].InteractionsURL)
		assert.Equal(t, "/api/interactions?openedFrom=2026-03-09T00%3A00%3A00%2B01%3A00&openedTo=2026-03-10T00%3A00%3A00%2B01%3A00", r.Rows[5].InteractionsURL)
		assert.Equal(t, "/api/interactions?openedFrom=2026-03-01T01%3A00%3A00%2B01%3A00&openedTo=2026-03-10T01%3A00%3A00%2B01%3A00", r.TotalsURL)
		// A week in Rome that the range's end clips: March 9 to 10, 00:00
		// UTC.
		r = interactions(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByWeek, Location: rome(t)})
		require.Len(t, r.Rows, 3)
		assert.Equal(t, "/api/interactions?openedFrom=2026-03-09T00%3A00%3A00%2B01%3A00&openedTo=2026-03-10T01%3A00%3A00%2B01%3A00", r.Rows[2].InteractionsURL)
		assert.Equal(t, "/api/interactions?openedFrom=2026-03-01T01%3A00%3A00%2B01%3A00&openedTo=2026-03-02T00%3A00%3A00%2B01%3A00", r.Rows[0].InteractionsURL,
			"the week of February 23 from the range's start")

		r = interactions(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByQueue, AccountID: w.accounts["Alpha"], Channel: "WHATSAPP"})
		require.Len(t, r.Rows, 1)
		assert.Equal(t, "/api/interactions?openedFrom=2026-03-01T00%3A00%3A00Z&openedTo=2026-03-10T00%3A00%3A00Z&accountId=1&queueId=1&channel=WHATSAPP",
			r.Rows[0].InteractionsURL)
		r = interactions(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByAgent})
		assert.Equal(t, "/api/interactions?openedFrom=2026-03-01T00%3A00%3A00Z&openedTo=2026-03-10T00%3A00%3A00Z&agentId=none", r.Rows[2].InteractionsURL)
		r = interactions(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByDisposition, QueueID: w.queues["Sales"]})
		require.Len(t, r.Rows, 2)
		assert.Equal(t, "/api/interactions?openedFrom=2026-03-01T00%3A00%3A00Z&openedTo=2026-03-10T00%3A00%3A00Z&queueId=1&disposition=sold", r.Rows[0].InteractionsURL)
		assert.Equal(t, "/api/interactions?openedFrom=2026-03-01T00%3A00%3A00Z&openedTo=2026-03-10T00%3A00%3A00Z&queueId=1&disposition=none", r.Rows[1].InteractionsURL)
	})
}

func TestInteractionsFilters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, w *world) {
		seedMain(w)
		for _, tc := range []struct {
			name   string
			f      reports.Filter
			labels []string
		}{
			{"account", reports.Filter{AccountID: w.accounts["Beta"]}, []string{"I0", "I4", "I5"}},
			{"queue", reports.Filter{QueueID: w.queues["Support"]}, []string{"I3", "I5"}},
			{"agent", reports.Filter{AgentID: w.agents["Ann"]}, []string{"I1", "I5", "I6"}},
			{"channel", reports.Filter{Channel: "INSTAGRAM"}, []string{"I3", "I5"}},
			{"account and agent", reports.Filter{AccountID: w.accounts["Alpha"], AgentID: w.agents["Ann"]}, []string{"I1", "I6"}},
			{"a shorter range", reports.Filter{From: day(2, 10, 0), To: day(2, 23, 30)}, []string{"I1"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := tc.f
				if f.From.IsZero() {
					f.From, f.To = from, to
				}
				f.GroupBy = reports.ByChannel
				r := interactions(t, w, f)
				assert.Equal(t, w.expect(tc.labels...), r.Totals)
			})
		}
	})
}

func TestInteractionsIncludeMigrated(t *testing.T) {
	forEachEngine(t, func(t *testing.T, w *world) {
		// Gamma 2 is where Gamma 1 migrated, which is where Gamma 0
		// migrated; Delta migrated to Gamma 0 too. Omega is unrelated;
		// Side migrated from Gamma 2's sibling and is not in the set.
		w.account("Gamma 2", "")
		w.account("Gamma 1", "Gamma 2")
		w.account("Gamma 0", "Gamma 1")
		w.account("Delta", "Gamma 0")
		w.account("Omega", "")
		w.account("Side", "Omega")
		w.queue("Sales", "Gamma 2")
		w.agent("Ann", models.PresenceAvailable, 1)
		wa := models.ChannelWhatsApp
		for i, acc := range []string{"Gamma 2", "Gamma 1", "Gamma 0", "Delta", "Omega", "Side", "Gamma 1"} {
			w.interaction(ispec{label: "M" + string(rune('0'+i)), account: acc, queue: "Sales", agent: "Ann", channel: wa,
				opened: day(2+i%3, 9, 0), status: models.InteractionClosed, reason: "agent", tta: ms(int64(1000 * (i + 1))), in: 1})
		}
		for _, id := range []uint64{w.accounts["Gamma 1"], w.accounts["Gamma 0"], w.accounts["Gamma 2"]} {
			r := interactions(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByQueue, AccountID: id, IncludeMigrated: true})
			sales := w.queues["Sales"]
			g := func(name string) reports.Group {
				return reports.Group{AccountID: w.accounts[name], AccountName: name, QueueID: sales, QueueName: "Sales"}
			}
			want := []row{
				{g("Delta"), []string{"M3"}},
				{g("Gamma 0"), []string{"M2"}},
				{g("Gamma 1"), []string{"M1", "M6"}},
				{g("Gamma 2"), []string{"M0"}},
			}
			require.Len(t, r.Rows, len(want), "account %d", id)
			for i, wr := range want {
				assert.Equal(t, wr.group, r.Rows[i].Group)
				assert.Equal(t, w.expect(wr.labels...), r.Rows[i].InteractionFigures)
				assert.Contains(t, r.Rows[i].InteractionsURL, "accountId="+itoa(w.accounts[wr.group.AccountName])+"&queueId=")
			}
			assert.Equal(t, w.expect("M0", "M1", "M2", "M3", "M6"), r.Totals)
			assert.Contains(t, r.TotalsURL, "accountId=1%2C2%2C3%2C4", "the whole set")
		}
		// Without includeMigrated, the account alone.
		r := interactions(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByQueue, AccountID: w.accounts["Gamma 1"]})
		require.Len(t, r.Rows, 1)
		assert.Equal(t, reports.Group{QueueID: w.queues["Sales"], QueueName: "Sales"}, r.Rows[0].Group)
		assert.Equal(t, w.expect("M1", "M6"), r.Totals)
		// Omega's set is Omega and Side (migrated from it).
		r = interactions(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByAccount, AccountID: w.accounts["Omega"], IncludeMigrated: true})
		require.Len(t, r.Rows, 2)
		assert.Equal(t, "Omega", r.Rows[0].Group.AccountName)
		assert.Equal(t, "Side", r.Rows[1].Group.AccountName)
	})
}

func itoa(v uint64) string { b, _ := json.Marshal(v); return string(b) }

func TestInteractionsPercentilesNearestRank(t *testing.T) {
	forEachEngine(t, func(t *testing.T, w *world) {
		w.account("Alpha", "")
		w.agent("Ann", models.PresenceAvailable, 1)
		// Eleven replies of 1 to 11 seconds, stored shuffled: nearest rank
		// p50 is the 6th (6 s; interpolation would agree), p90 the 10th
		// (ceil(9.9) = 10: 10 s, where interpolation gives 10.0 too but
		// percentile_cont of ten values would not). Ten first responses
		// of 1..10 s: p50 is the 5th (5 s, not 5.5), p90 the 9th (9 s,
		// not 9.1).
		var replies []*int64
		for _, v := range []int64{7, 3, 11, 1, 9, 5, 2, 10, 4, 8, 6} {
			replies = append(replies, ms(v*1000))
		}
		w.interaction(ispec{label: "P", account: "Alpha", agent: "Ann", channel: models.ChannelWhatsApp, opened: day(2, 9, 0),
			status: models.InteractionAssigned, tta: ms(1000), fr: ms(1000), replies: replies})
		for i := int64(2); i <= 10; i++ {
			w.interaction(ispec{label: "P" + itoa(uint64(i)), account: "Alpha", agent: "Ann", channel: models.ChannelWhatsApp,
				opened: day(2, 9, int(i)), status: models.InteractionAssigned, tta: ms(1000), fr: ms(i * 1000)})
		}
		r := interactions(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByAgent})
		assert.Equal(t, reports.Stats{Count: 11, Avg: 6, P50: 6, P90: 10, Max: 11}, r.Totals.ReplySeconds)
		assert.Equal(t, reports.Stats{Count: 10, Avg: 5.5, P50: 5, P90: 9, Max: 10}, r.Totals.FirstResponseSeconds)
		assert.Equal(t, r.Totals.ReplySeconds, r.Rows[0].ReplySeconds)
	})
}

func TestInteractionsEmptyAndErrors(t *testing.T) {
	forEachEngine(t, func(t *testing.T, w *world) {
		r := interactions(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByDay})
		assert.Equal(t, []reports.InteractionRow{}, r.Rows)
		assert.Equal(t, reports.InteractionFigures{}, r.Totals)
		b, err := json.Marshal(r)
		require.NoError(t, err)
		assert.Contains(t, string(b), `"rows":[]`)

		for _, tc := range []struct {
			f     reports.Filter
			param string
		}{
			{reports.Filter{To: to, GroupBy: reports.ByDay}, "from"},
			{reports.Filter{From: to, To: from, GroupBy: reports.ByDay}, "to"},
			{reports.Filter{From: from, To: from.Add(reports.MaxRange + time.Hour), GroupBy: reports.ByDay}, "to"},
			{reports.Filter{From: from, To: to, GroupBy: reports.ByCode}, "groupBy"},
			{reports.Filter{From: from, To: to, GroupBy: reports.ByDay, Location: time.Local}, "tz"},
			{reports.Filter{From: from, To: to, GroupBy: reports.ByDay, Channel: "SMS"}, "channel"},
		} {
			_, err := reports.Interactions(context.Background(), w.db, tc.f)
			var fe *reports.FilterError
			require.True(t, errors.As(err, &fe), "%v", err)
			assert.Equal(t, tc.param, fe.Param)
		}
	})
}

func TestParseGroupByAndLocation(t *testing.T) {
	for _, g := range reports.InteractionGroupBys {
		v, err := reports.ParseGroupBy(reports.ReportInteractions, g)
		assert.NoError(t, err)
		assert.Equal(t, g, v)
	}
	_, err := reports.ParseGroupBy(reports.ReportDeliveries, reports.ByQueue)
	assert.EqualError(t, err, `groupBy: want one of account, channel, class, code, day, got "queue"`)
	for _, tz := range []string{"Local", "Mars/Olympus", "x'; DROP TABLE interactions; --"} {
		_, err := reports.LoadLocation(tz)
		var fe *reports.FilterError
		assert.True(t, errors.As(err, &fe), tz)
	}
	loc, err := reports.LoadLocation("")
	require.NoError(t, err)
	assert.Equal(t, time.UTC, loc)
}

// Both engines give the same answers to every report over the same rows.
func TestInteractionsEnginesAgree(t *testing.T) {
	engines := testdb.Engines(t)
	if len(engines) < 2 {
		t.Skip("needs Postgres")
	}
	var got [2][]string
	for e, engine := range engines {
		w := newWorld(t, testdb.Open(t, engine))
		seedMain(w)
		seedDeliveries(w)
		for _, loc := range []*time.Location{time.UTC, rome(t)} {
			for _, g := range reports.InteractionGroupBys {
				for _, migrated := range []bool{false, true} {
					r := interactions(t, w, reports.Filter{From: from, To: to, GroupBy: g, Location: loc, IncludeMigrated: migrated})
					b, err := json.Marshal(r)
					require.NoError(t, err)
					got[e] = append(got[e], string(b))
				}
			}
			for _, g := range reports.DeliveryGroupBys {
				r, err := reports.Deliveries(context.Background(), w.db, reports.Filter{From: from, To: to, GroupBy: g, Location: loc})
				require.NoError(t, err)
				b, err := json.Marshal(r)
				require.NoError(t, err)
				got[e] = append(got[e], string(b))
			}
		}
	}
	require.Equal(t, len(got[0]), len(got[1]))
	for i := range got[0] {
		assert.JSONEq(t, got[0][i], got[1][i])
	}
}
