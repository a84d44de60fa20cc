package reports_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/reports"
)

var liveNow = day(5, 12, 0)

// seedLive: Beta migrated to Alpha; queues Sales (Alpha), Support
// (Alpha, Beta), Empty (Beta) and Other (no account); agents Ann, Bob,
// Cid (away), Dee (Beta only) and Eve (deleted).
func seedLive(w *world) {
	w.account("Alpha", "")
	w.account("Beta", "Alpha")
	w.queue("Sales", "Alpha")
	w.queue("Support", "Alpha", "Beta")
	w.queue("Empty", "Beta")
	w.queue("Other")
	w.agent("Ann", models.PresenceAvailable, 1, "Alpha")
	w.agent("Bob", models.PresenceAvailable, 2, "Alpha", "Beta")
	w.agent("Cid", models.PresenceAway, 1, "Alpha")
	w.agent("Dee", models.PresenceAvailable, 3, "Beta")
	eve := w.agent("Eve", models.PresenceAvailable, 1, "Alpha")
	require.NoError(w.t, w.db.Delete(&models.Agent{ID: eve}).Error)
	ago := func(d time.Duration) time.Time { return liveNow.Add(-d) }
	wa := models.ChannelWhatsApp
	queued, assigned, closed := models.InteractionQueued, models.InteractionAssigned, models.InteractionClosed
	for _, s := range []ispec{
		{label: "L1", account: "Alpha", queue: "Sales", channel: wa, opened: ago(10 * time.Minute), status: queued},
		{label: "L2", account: "Alpha", queue: "Sales", channel: wa, opened: ago(3 * time.Minute), status: queued},
		{label: "L3", account: "Alpha", queue: "Support", channel: models.ChannelInstagram, opened: ago(time.Minute), status: queued},
		{label: "L4", account: "Beta", channel: wa, opened: ago(20 * time.Minute), status: queued},
		{label: "L5", account: "Alpha", queue: "Sales", agent: "Ann", channel: wa, opened: ago(30 * time.Minute), status: assigned, tta: ms(120000)},
		{label: "L6", account: "Alpha", queue: "Sales", agent: "Bob", channel: wa, opened: ago(40 * time.Minute), status: assigned, tta: ms(60000), fr: ms(90000)},
		{label: "L7", account: "Beta", queue: "Support", agent: "Bob", channel: wa, opened: ago(50 * time.Minute), status: assigned, tta: ms(300000)},
		// Closed: not open, but assigned within the hour (Sales' expected
		// wait), and one assigned two hours ago (too old).
		{label: "L8", account: "Alpha", queue: "Sales", agent: "Ann", channel: wa, opened: ago(50 * time.Minute), status: closed, reason: "agent", tta: ms(30000), fr: ms(40000)},
		{label: "L9", account: "Alpha", queue: "Sales", agent: "Ann", channel: wa, opened: ago(3 * time.Hour), status: closed, reason: "agent", tta: ms(3600000)},
	} {
		w.interaction(s)
	}
}

func live(t *testing.T, w *world, f reports.Filter) reports.LiveReport {
	t.Helper()
	r, err := reports.Live(context.Background(), w.db, f, liveNow)
	require.NoError(t, err)
	return r
}

func TestLive(t *testing.T) {
	forEachEngine(t, func(t *testing.T, w *world) {
		seedLive(w)
		sales, support, empty, other := w.queues["Sales"], w.queues["Support"], w.queues["Empty"], w.queues["Other"]
		r := live(t, w, reports.Filter{})
		assert.Equal(t, liveNow, r.At)
		assert.Equal(t, reports.LiveCount{Count: 7, InteractionsURL: "/api/interactions?status=open"}, r.Open)
		assert.Equal(t, reports.LiveCount{Count: 4, InteractionsURL: "/api/interactions?status=queued"}, r.Queued)
		assert.Equal(t, reports.LiveCount{Count: 2, InteractionsURL: "/api/interactions?status=assigned&responded=false"}, r.Unattended)
		// Ann holds L5 (capacity 1), Bob L6 and L7 (capacity 2): both at
		// capacity; Dee has room; Cid is away; Eve is deleted.
		assert.Equal(t, reports.LiveAgents{Total: 4, Available: 3, Away: 1, AtCapacity: 2}, r.Agents)
		assert.Equal(t, []reports.LiveQueue{
			{Group: reports.Group{QueueID: empty, QueueName: "Empty"}, InteractionsURL: "/api/interactions?status=queued&queueId=3"},
			{Group: reports.Group{QueueID: other, QueueName: "Other"}, InteractionsURL: "/api/interactions?status=queued&queueId=4"},
			// Waiting L1 (10 min) and L2; assigned within the hour: L8 30 s,
			// L6 60 s, L5 120 s: the median is 60 s.
			{Group: reports.Group{QueueID: sales, QueueName: "Sales"}, Waiting: 2, LongestWaitSeconds: 600, ExpectedWaitSeconds: 60, RecentAssigned: 3,
				InteractionsURL: "/api/interactions?status=queued&queueId=1"},
			{Group: reports.Group{QueueID: support, QueueName: "Support"}, Waiting: 1, LongestWaitSeconds: 60, ExpectedWaitSeconds: 300, RecentAssigned: 1,
				InteractionsURL: "/api/interactions?status=queued&queueId=2"},
			{Group: reports.Group{None: true}, Waiting: 1, LongestWaitSeconds: 1200, InteractionsURL: "/api/interactions?status=queued&queueId=none"},
		}, r.Queues)

		// Alpha alone: its interactions, its agents, its queues.
		r = live(t, w, reports.Filter{AccountID: w.accounts["Alpha"]})
		assert.Equal(t, reports.LiveCount{Count: 5, InteractionsURL: "/api/interactions?status=open&accountId=1"}, r.Open)
		assert.Equal(t, int64(3), r.Queued.Count)
		assert.Equal(t, reports.LiveCount{Count: 1, InteractionsURL: "/api/interactions?status=assigned&responded=false&accountId=1"}, r.Unattended)
		assert.Equal(t, reports.LiveAgents{Total: 3, Available: 2, Away: 1, AtCapacity: 2}, r.Agents)
		assert.Equal(t, []reports.LiveQueue{
			{Group: reports.Group{QueueID: sales, QueueName: "Sales"}, Waiting: 2, LongestWaitSeconds: 600, ExpectedWaitSeconds: 60, RecentAssigned: 3,
				InteractionsURL: "/api/interactions?status=queued&accountId=1&queueId=1"},
			{Group: reports.Group{QueueID: support, QueueName: "Support"}, Waiting: 1, LongestWaitSeconds: 60,
				InteractionsURL: "/api/interactions?status=queued&accountId=1&queueId=2"},
		}, r.Queues)

		// With the account it migrated from: rows per account.
		r = live(t, w, reports.Filter{AccountID: w.accounts["Alpha"], IncludeMigrated: true})
		assert.Equal(t, reports.LiveCount{Count: 7, InteractionsURL: "/api/interactions?status=open&accountId=1%2C2"}, r.Open)
		assert.Equal(t, reports.LiveAgents{Total: 4, Available: 3, Away: 1, AtCapacity: 2}, r.Agents)
		g := func(acc, queue string) reports.Group {
			g := reports.Group{AccountID: w.accounts[acc], AccountName: acc, QueueID: w.queues[queue], QueueName: queue}
			g.None = queue == ""
			return g
		}
		assert.Equal(t, []reports.LiveQueue{
			{Group: g("Alpha", "Sales"), Waiting: 2, LongestWaitSeconds: 600, ExpectedWaitSeconds: 60, RecentAssigned: 3,
				InteractionsURL: "/api/interactions?status=queued&accountId=1&queueId=1"},
			{Group: g("Alpha", "Support"), Waiting: 1, LongestWaitSeconds: 60, InteractionsURL: "/api/interactions?status=queued&accountId=1&queueId=2"},
			{Group: g("Beta", "Empty"), InteractionsURL: "/api/interactions?status=queued&accountId=2&queueId=3"},
			{Group: g("Beta", "Support"), ExpectedWaitSeconds: 300, RecentAssigned: 1, InteractionsURL: "/api/interactions?status=queued&accountId=2&queueId=2"},
			{Group: g("Beta", ""), Waiting: 1, LongestWaitSeconds: 1200, InteractionsURL: "/api/interactions?status=queued&accountId=2&queueId=none"},
		}, r.Queues)

		// A queue, an agent, a channel.
		r = live(t, w, reports.Filter{QueueID: sales})
		assert.Equal(t, int64(4), r.Open.Count)
		assert.Equal(t, "/api/interactions?status=open&queueId=1", r.Open.InteractionsURL)
		assert.Equal(t, reports.LiveAgents{}, r.Agents, "Sales has no members")
		require.Len(t, r.Queues, 1)
		r = live(t, w, reports.Filter{AgentID: w.agents["Bob"]})
		assert.Equal(t, reports.LiveCount{Count: 1, InteractionsURL: "/api/interactions?status=assigned&responded=false&agentId=2"}, r.Unattended)
		assert.Equal(t, reports.LiveAgents{Total: 1, Available: 1, AtCapacity: 1}, r.Agents)
		r = live(t, w, reports.Filter{Channel: "INSTAGRAM"})
		assert.Equal(t, reports.LiveCount{Count: 1, InteractionsURL: "/api/interactions?status=queued&channel=INSTAGRAM"}, r.Queued)
	})
}
