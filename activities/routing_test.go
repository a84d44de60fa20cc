package activities_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

type world struct {
	t    *testing.T
	db   *gorm.DB
	acts *activities.Activities
	acc  models.Account
	n    int
}

func newWorld(t *testing.T, engine models.Engine) *world {
	db := testdb.Open(t, engine)
	w := &world{t: t, db: db, acts: &activities.Activities{DB: db}}
	w.acc = models.Account{Name: "Acme", Key: "acme", PublicURL: "https://m.example.com", Type: models.AccountTypeSinchV2, Region: models.RegionEU,
		ProjectID: "p", AppID: "a", KeyID: "k", Phone: "+390212345678", Channels: "WHATSAPP"}
	require.NoError(t, db.Create(&w.acc).Error)
	return w
}

func (w *world) queue(name string, strategy models.QueueStrategy, linked bool) models.Queue {
	q := models.Queue{Name: name, Strategy: strategy}
	require.NoError(w.t, w.db.Create(&q).Error)
	if linked {
		require.NoError(w.t, w.db.Create(&models.QueueAccount{QueueID: q.ID, AccountID: w.acc.ID}).Error)
	}
	return q
}

// agent creates an agent; member/enabled/available say how eligible it is.
func (w *world) agent(name string, capacity int, q models.Queue, member, enabled, available bool) models.Agent {
	a := models.Agent{Name: name, Capacity: capacity, TokenHash: "h-" + name, Presence: models.PresenceAway}
	if available {
		a.Presence = models.PresenceAvailable
	}
	require.NoError(w.t, w.db.Create(&a).Error)
	if member {
		require.NoError(w.t, w.db.Create(&models.QueueAgent{QueueID: q.ID, AgentID: a.ID}).Error)
	}
	if enabled {
		require.NoError(w.t, w.db.Create(&models.AgentAccount{AgentID: a.ID, AccountID: w.acc.ID, Enabled: true}).Error)
	}
	return a
}

// interaction opens one through IngestInbound, as the workflow does.
func (w *world) interaction() uint64 {
	w.n++
	identity := fmt.Sprintf("39333000%04d", w.n)
	res, err := w.acts.IngestInbound(context.Background(), activities.IngestInboundInput{
		WorkflowID: "conversation/1/WHATSAPP/" + identity, AccountID: w.acc.ID, Channel: "WHATSAPP", Identity: identity,
		Messages: []activities.InboundMessage{{MessageID: "m-" + identity, AcceptTime: time.Now(), Kind: "text", Text: "hi"}},
	})
	require.NoError(w.t, err)
	require.True(w.t, res.Opened)
	return res.InteractionID
}

func (w *world) route(id uint64) activities.RouteResult {
	res, err := w.acts.RouteInteraction(context.Background(), activities.RouteInput{InteractionID: id, AccountID: w.acc.ID})
	require.NoError(w.t, err)
	return res
}

func forEngines(t *testing.T, fn func(t *testing.T, w *world)) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) { fn(t, newWorld(t, engine)) })
	}
}

func TestRoundRobinRotates(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		q := w.queue("support", models.StrategyRoundRobin, true)
		a := w.agent("a", 5, q, true, true, true)
		b := w.agent("b", 5, q, true, true, true)
		c := w.agent("c", 5, q, true, true, true)
		var got []uint64
		for i := 0; i < 6; i++ {
			res := w.route(w.interaction())
			require.True(t, res.Assigned)
			assert.Equal(t, q.ID, res.Queue.ID)
			got = append(got, res.AgentID)
		}
		assert.Equal(t, []uint64{a.ID, b.ID, c.ID, a.ID, b.ID, c.ID}, got)
	})
}

func TestLeastBusyTakesTheFewestActive(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		q := w.queue("support", models.StrategyRoundRobin, true)
		a := w.agent("a", 5, q, true, true, true)
		b := w.agent("b", 5, q, true, true, true)
		// a gets two, b one (round robin a, b, a).
		for i := 0; i < 3; i++ {
			w.route(w.interaction())
		}
		require.NoError(t, w.db.Model(&models.Queue{}).Where("id = ?", q.ID).Update("strategy", models.StrategyLeastBusy).Error)
		c := w.agent("c", 5, q, true, true, true)
		assert.Equal(t, c.ID, w.route(w.interaction()).AgentID, "c has none")
		assert.Equal(t, b.ID, w.route(w.interaction()).AgentID, "b and c have one; b comes first after the cursor")
		_ = a
	})
}

func TestOnlyEligibleAgentsAreChosen(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		q := w.queue("support", models.StrategyRoundRobin, true)
		w.agent("away", 5, q, true, true, false)
		w.agent("not-enabled", 5, q, true, false, true)
		w.agent("not-member", 5, q, false, true, true)
		// Permitted by an admin but not enabled by the agent.
		permitted := w.agent("permitted-only", 5, q, true, false, true)
		require.NoError(t, w.db.Create(&models.AgentAccount{AgentID: permitted.ID, AccountID: w.acc.ID}).Error)
		deleted := w.agent("deleted", 5, q, true, true, true)
		require.NoError(t, w.db.Delete(&deleted).Error)
		id := w.interaction()
		res := w.route(id)
		assert.False(t, res.Assigned)
		assert.False(t, res.NoQueue)
		assert.Equal(t, q.ID, res.Queue.ID, "waits in the queue")
		var inter models.Interaction
		require.NoError(t, w.db.First(&inter, id).Error)
		assert.Equal(t, models.InteractionQueued, inter.Status)
		assert.Equal(t, q.ID, *inter.QueueID, "visible as queued in its queue")

		ok := w.agent("ok", 1, q, true, true, true)
		res = w.route(id)
		assert.True(t, res.Assigned)
		assert.Equal(t, ok.ID, res.AgentID)
		again := w.route(id)
		assert.Equal(t, res, again, "a retried route returns the assignment already made")
	})
}

func TestNoQueueLinked(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		w.queue("unlinked", models.StrategyRoundRobin, false)
		res := w.route(w.interaction())
		assert.True(t, res.NoQueue)
		assert.False(t, res.Assigned)
	})
}

func TestRingAllOffersEveryEligibleAgent(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		q := w.queue("ring", models.StrategyRingAll, true)
		a := w.agent("a", 1, q, true, true, true)
		b := w.agent("b", 1, q, true, true, true)
		w.agent("away", 1, q, true, true, false)
		id := w.interaction()
		res := w.route(id)
		assert.False(t, res.Assigned)
		assert.Equal(t, []uint64{a.ID, b.ID}, res.Offered)
		require.NoError(t, w.acts.AssignToAgent(context.Background(), activities.AssignToAgentInput{InteractionID: id, AccountID: w.acc.ID, AgentID: b.ID, QueueID: q.ID}))
		_, err := w.acts.NotifyAgents(context.Background(), activities.NotifyInput{InteractionID: id, Withdrawn: []uint64{a.ID}})
		require.NoError(t, err)
		var kinds []string
		require.NoError(t, w.db.Model(&models.AgentEvent{}).Where("interaction_id = ?", id).Order("id").Pluck("type", &kinds).Error)
		assert.Equal(t, []string{"interaction.withdrawn", "interaction.assigned"}, kinds)
		var owners []uint64
		require.NoError(t, w.db.Model(&models.AgentEvent{}).Where("interaction_id = ?", id).Order("id").Pluck("agent_id", &owners).Error)
		assert.Equal(t, []uint64{a.ID, b.ID}, owners)
		var inter models.Interaction
		require.NoError(t, w.db.First(&inter, id).Error)
		assert.Equal(t, b.ID, *inter.AgentID)
		assert.Equal(t, models.InteractionAssigned, inter.Status)
	})
}

// TestCapacityHoldsUnderConcurrency routes many interactions at once to one
// agent of capacity 2: exactly two are assigned.
func TestCapacityHoldsUnderConcurrency(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		q := w.queue("support", models.StrategyRoundRobin, true)
		a := w.agent("a", 2, q, true, true, true)
		ids := make([]uint64, 10)
		for i := range ids {
			ids[i] = w.interaction()
		}
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A conflict is retried by Temporal; emulate a few retries.
				for attempt := 0; attempt < 20; attempt++ {
					if _, err := w.acts.RouteInteraction(context.Background(), activities.RouteInput{InteractionID: id, AccountID: w.acc.ID}); err == nil {
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				t.Errorf("routing %d kept failing", id)
			}()
		}
		wg.Wait()
		var assigned int64
		require.NoError(t, w.db.Model(&models.Interaction{}).Where("agent_id = ? AND status = ?", a.ID, models.InteractionAssigned).Count(&assigned).Error)
		assert.EqualValues(t, 2, assigned)
	})
}

func TestAssignToAgentRefusesIneligible(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		q := w.queue("support", models.StrategyRoundRobin, true)
		busy := w.agent("busy", 1, q, true, true, true)
		stranger := w.agent("stranger", 5, q, true, false, true)
		first := w.interaction()
		require.True(t, w.route(first).Assigned)
		second := w.interaction()
		for _, tc := range []struct {
			agent uint64
			want  string
		}{{busy.ID, "at capacity"}, {stranger.ID, "has not enabled"}, {999999, "does not exist"}} {
			err := w.acts.AssignToAgent(context.Background(), activities.AssignToAgentInput{InteractionID: second, AccountID: w.acc.ID, AgentID: tc.agent})
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "%v", err)
			assert.Equal(t, activities.ErrTypeNotEligible, appErr.Type())
			assert.True(t, appErr.NonRetryable())
			assert.Contains(t, appErr.Message(), tc.want)
		}
		// Transfer of an assigned interaction to an eligible agent frees the first.
		other := w.agent("other", 1, q, true, true, true)
		require.NoError(t, w.acts.AssignToAgent(context.Background(), activities.AssignToAgentInput{InteractionID: first, AccountID: w.acc.ID, AgentID: other.ID}))
		var evs []models.AgentEvent
		require.NoError(t, w.db.Where("agent_id = ? AND type = ?", busy.ID, "interaction.transferred").Find(&evs).Error)
		assert.Len(t, evs, 1, "the previous agent is told")
		require.NoError(t, w.acts.AssignToAgent(context.Background(), activities.AssignToAgentInput{InteractionID: second, AccountID: w.acc.ID, AgentID: busy.ID}),
			"busy has capacity again")
	})
}

func TestIngestIsIdempotent(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		in := activities.IngestInboundInput{
			WorkflowID: "conversation/1/WHATSAPP/4915112345678", AccountID: w.acc.ID, Channel: "WHATSAPP", Identity: "4915112345678", SinchContactID: "01HCONT",
			Messages: []activities.InboundMessage{
				{MessageID: "m2", AcceptTime: time.Unix(200, 0), Kind: "text", Text: "second"},
				{MessageID: "m1", AcceptTime: time.Unix(100, 0), Kind: "text", Text: "first"},
			},
		}
		first, err := w.acts.IngestInbound(context.Background(), in)
		require.NoError(t, err)
		assert.True(t, first.Opened)
		assert.Equal(t, []string{"m1", "m2"}, first.Stored, "stored in accept_time order")

		retry, err := w.acts.IngestInbound(context.Background(), in)
		require.NoError(t, err)
		assert.Equal(t, first.InteractionID, retry.InteractionID, "a retried open finds the same interaction")
		assert.True(t, retry.Opened, "and hands it to the workflow to route")
		assert.Empty(t, retry.Stored)

		// Once that interaction is closed, a late redelivery reaching a fresh
		// workflow run opens nothing.
		require.NoError(t, w.acts.CloseInteraction(context.Background(), activities.CloseInteractionInput{InteractionID: first.InteractionID, Reason: "agent"}))
		in.Messages = in.Messages[:1]
		late, err := w.acts.IngestInbound(context.Background(), in)
		require.NoError(t, err)
		assert.False(t, late.Opened)
		assert.Zero(t, late.InteractionID)
		assert.Empty(t, late.Stored)

		var msgs, inters int64
		require.NoError(t, w.db.Model(&models.Message{}).Count(&msgs).Error)
		require.NoError(t, w.db.Model(&models.Interaction{}).Count(&inters).Error)
		assert.EqualValues(t, 2, msgs)
		assert.EqualValues(t, 1, inters)

		// DISPATCH mode later: the stored contact_id is kept.
		in.SinchContactID = ""
		in.Messages = []activities.InboundMessage{{MessageID: "m3", AcceptTime: time.Unix(300, 0), Kind: "text"}}
		next, err := w.acts.IngestInbound(context.Background(), in)
		require.NoError(t, err)
		assert.True(t, next.Opened, "a new message after the close opens a new interaction")
		assert.NotEqual(t, first.InteractionID, next.InteractionID)
		var c models.Contact
		require.NoError(t, w.db.First(&c, first.ContactID).Error)
		assert.Equal(t, "01HCONT", c.SinchContactID)
		assert.Equal(t, "+4915112345678", c.Mobile)
	})
}

func TestApplyDeliveryOnlyMovesForward(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		id := w.interaction()
		var inter models.Interaction
		require.NoError(t, w.db.First(&inter, id).Error)
		pid := "out-1"
		out := models.Message{AccountID: w.acc.ID, InteractionID: id, ContactID: inter.ContactID, Direction: models.DirectionOutbound,
			Kind: "text", ProviderMessageID: &pid, Status: models.StatusAccepted, StatusRank: models.StatusAccepted.Rank()}
		require.NoError(t, w.db.Create(&out).Error)
		apply := func(status, code string) activities.ApplyDeliveryResult {
			res, err := w.acts.ApplyDelivery(context.Background(), activities.ApplyDeliveryInput{AccountID: w.acc.ID, DeliveryReport: activities.DeliveryReport{MessageID: pid, Status: status, ReasonCode: code}})
			require.NoError(t, err)
			return res
		}
		assert.True(t, apply("READ", "").Applied)
		assert.False(t, apply("DELIVERED", "").Applied, "late DELIVERED after READ")
		assert.False(t, apply("QUEUED_ON_CHANNEL", "").Applied)
		assert.False(t, apply("READ", "").Applied, "a duplicate is a no-op")
		var m models.Message
		require.NoError(t, w.db.First(&m, out.ID).Error)
		assert.Equal(t, models.StatusRead, m.Status)
		assert.NotNil(t, m.ReadAt)
		assert.Nil(t, m.DeliveredAt)

		_, err := w.acts.ApplyDelivery(context.Background(), activities.ApplyDeliveryInput{AccountID: w.acc.ID, DeliveryReport: activities.DeliveryReport{MessageID: pid, Status: "BOGUS"}})
		var appErr *temporal.ApplicationError
		require.True(t, errors.As(err, &appErr))
		assert.Equal(t, activities.ErrTypeBadInput, appErr.Type())
	})
}

func TestNotifyRendersTheAccountTemplate(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		q := w.queue("vip", models.StrategyRoundRobin, true)
		a := w.agent("a", 5, q, true, true, true)
		require.NoError(t, w.db.Model(&w.acc).Update("notification_template", "{{account.key}} / {{queue.name}} / {{contact.mobile}} / {{message.text}} <&>").Error)
		id := w.interaction()
		require.True(t, w.route(id).Assigned)
		res, err := w.acts.NotifyAgents(context.Background(), activities.NotifyInput{InteractionID: id})
		require.NoError(t, err)
		assert.Equal(t, "acme / vip / +39333000"+fmt.Sprintf("%04d", w.n)+" / hi <&>", res.Text, "plain text, not HTML-escaped")
		_, err = w.acts.NotifyAgents(context.Background(), activities.NotifyInput{InteractionID: id})
		require.NoError(t, err)
		var evs []models.AgentEvent
		require.NoError(t, w.db.Where("agent_id = ? AND type = ?", a.ID, "interaction.assigned").Find(&evs).Error)
		assert.Len(t, evs, 1, "a retried notification is published once")

		require.NoError(t, w.db.Model(&w.acc).Update("notification_template", "").Error)
		acc := w.acc
		acc.NotificationTemplate = ""
		text, err := activities.RenderNotification(acc, nil, models.Contact{Mobile: "+391"}, "")
		require.NoError(t, err)
		assert.Equal(t, "Account: Acme\nFrom : +391", text, "the default template (Motion shows the phone without a template change), queue section omitted without a queue")
	})
}

// TestStrategyOverride: the account's routing strategy replaces the
// queue's own for its interactions.
func TestStrategyOverride(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		q := w.queue("support", models.StrategyRoundRobin, true)
		a1 := w.agent("ann", 1, q, true, true, true)
		a2 := w.agent("bob", 1, q, true, true, true)
		id := w.interaction()
		res, err := w.acts.RouteInteraction(context.Background(), activities.RouteInput{InteractionID: id, AccountID: w.acc.ID, Strategy: string(models.StrategyRingAll)})
		require.NoError(t, err)
		assert.False(t, res.Assigned, "ring_all offers instead of assigning")
		assert.Equal(t, []uint64{a1.ID, a2.ID}, res.Offered)
	})
}
