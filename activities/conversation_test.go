package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
)

// TestStoreInOpenInteraction covers the API's fast path: nothing is written
// without an open interaction; with one, the message is stored there once,
// its agent is told, and a redelivery names the interaction that holds it.
func TestStoreInOpenInteraction(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		wf := "conversation/1/WHATSAPP/393330000001"
		m2 := activities.InboundMessage{MessageID: "m2", AcceptTime: time.Now().UTC().Add(time.Minute).Truncate(time.Millisecond), Kind: "text", Text: "are you there?"}

		holder, err := activities.StoreInOpenInteraction(ctx, w.db, wf, w.acc.ID, m2)
		require.NoError(t, err)
		assert.Zero(t, holder, "no interaction yet: the workflow stores it")
		var n int64
		require.NoError(t, w.db.Model(&models.Message{}).Count(&n).Error)
		assert.Zero(t, n)

		q := w.queue("support", models.StrategyRoundRobin, true)
		agent := w.agent("ann", 2, q, true, true, true)
		id := w.interaction() // opened by m-393330000001 on wf
		r := w.route(id)
		require.True(t, r.Assigned)
		require.Equal(t, agent.ID, r.AgentID)

		holder, err = activities.StoreInOpenInteraction(ctx, w.db, wf, w.acc.ID, m2)
		require.NoError(t, err)
		assert.Equal(t, id, holder)
		again, err := activities.StoreInOpenInteraction(ctx, w.db, wf, w.acc.ID, m2)
		require.NoError(t, err)
		assert.Equal(t, id, again, "a redelivery names the holder and stores nothing")

		var rows []models.Message
		require.NoError(t, w.db.Where("provider_message_id = ?", "m2").Find(&rows).Error)
		require.Len(t, rows, 1)
		assert.Equal(t, id, rows[0].InteractionID)
		assert.Equal(t, "are you there?", rows[0].Text)
		var evs []models.AgentEvent
		require.NoError(t, w.db.Where("agent_id = ? AND type = ?", agent.ID, "message.inbound").Find(&evs).Error)
		assert.Len(t, evs, 1, "the assigned agent is told once")
		var inter models.Interaction
		require.NoError(t, w.db.First(&inter, id).Error)
		require.NotNil(t, inter.LastMessageAt)
		assert.True(t, inter.LastMessageAt.Equal(m2.AcceptTime), "last_message_at moves to the message")

		// Closed: the next message is the workflow's again.
		require.NoError(t, w.acts.CloseInteraction(ctx, activities.CloseInteractionInput{InteractionID: id, Reason: "agent"}))
		holder, err = activities.StoreInOpenInteraction(ctx, w.db, wf, w.acc.ID, activities.InboundMessage{MessageID: "m3", AcceptTime: time.Now(), Kind: "text"})
		require.NoError(t, err)
		assert.Zero(t, holder)
	})
}

// TestIngestReclaimsFromAClosedInteraction: a message the API stored in an
// interaction the workflow closed moves to the new interaction, once.
func TestIngestReclaimsFromAClosedInteraction(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		id := w.interaction()
		var first models.Interaction
		require.NoError(t, w.db.First(&first, id).Error)
		late := activities.InboundMessage{MessageID: "late", AcceptTime: time.Now().UTC(), Kind: "text", Text: "one more thing"}
		holder, err := activities.StoreInOpenInteraction(ctx, w.db, first.WorkflowID, w.acc.ID, late)
		require.NoError(t, err)
		require.Equal(t, id, holder)
		require.NoError(t, w.acts.CloseInteraction(ctx, activities.CloseInteractionInput{InteractionID: id, Reason: "agent"}))

		var contact models.Contact
		require.NoError(t, w.db.First(&contact, first.ContactID).Error)
		in := activities.IngestInboundInput{WorkflowID: first.WorkflowID, AccountID: w.acc.ID, Channel: "WHATSAPP", Identity: contact.Identity,
			Messages: []activities.InboundMessage{late}, Reclaim: []string{"late"}}
		res, err := w.acts.IngestInbound(ctx, in)
		require.NoError(t, err)
		assert.True(t, res.Opened)
		assert.NotEqual(t, id, res.InteractionID)
		assert.Equal(t, []string{"late"}, res.Stored)

		retry, err := w.acts.IngestInbound(ctx, in)
		require.NoError(t, err)
		assert.Equal(t, res.InteractionID, retry.InteractionID, "a retry adopts the same interaction")
		assert.Empty(t, retry.Stored)

		var row models.Message
		require.NoError(t, w.db.Where("provider_message_id = ?", "late").First(&row).Error)
		assert.Equal(t, res.InteractionID, row.InteractionID)
		var n int64
		require.NoError(t, w.db.Model(&models.Message{}).Where("provider_message_id = ?", "late").Count(&n).Error)
		assert.EqualValues(t, 1, n)
	})
}

// TestCloseIdleInteraction closes only when the stored messages are old.
func TestCloseIdleInteraction(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		id := w.interaction() // its message was accepted just now
		res, err := w.acts.CloseIdleInteraction(ctx, activities.CloseIdleInput{InteractionID: id, IdleFor: time.Hour})
		require.NoError(t, err)
		assert.False(t, res.Closed)
		assert.WithinDuration(t, time.Now(), res.LastMessageAt, time.Minute)
		var inter models.Interaction
		require.NoError(t, w.db.First(&inter, id).Error)
		assert.NotEqual(t, models.InteractionClosed, inter.Status)

		res, err = w.acts.CloseIdleInteraction(ctx, activities.CloseIdleInput{InteractionID: id, IdleFor: time.Nanosecond})
		require.NoError(t, err)
		assert.True(t, res.Closed)
		require.NoError(t, w.db.First(&inter, id).Error)
		assert.Equal(t, models.InteractionClosed, inter.Status)
		assert.Equal(t, "inactivity", inter.CloseReason)

		res, err = w.acts.CloseIdleInteraction(ctx, activities.CloseIdleInput{InteractionID: id, IdleFor: time.Hour})
		require.NoError(t, err)
		assert.True(t, res.Closed, "a closed interaction stays closed")
	})
}

// TestIngestTakesTheAccountSettings: an opened interaction carries the
// account's settings as they were at its opening, and a retried open too.
func TestIngestTakesTheAccountSettings(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		require.NoError(t, w.db.Model(&w.acc).Updates(map[string]any{
			"action_flow": `[{"queue":3,"seconds":60},{"reply":"busy"},{"queue":5}]`, "routing_strategy": "least_busy",
			"agent_notify_timeout_seconds": 20, "inactivity_timeout_seconds": 600,
		}).Error)
		in := activities.IngestInboundInput{
			WorkflowID: "conversation/1/WHATSAPP/393330000099", AccountID: w.acc.ID, Channel: "WHATSAPP", Identity: "393330000099",
			Messages: []activities.InboundMessage{{MessageID: "s1", AcceptTime: time.Now(), Kind: "text", Text: "hi"}},
		}
		want := &activities.InteractionSettings{
			Flow:     []models.FlowStep{{Queue: 3, Seconds: 60}, {Reply: "busy"}, {Queue: 5}},
			Strategy: "least_busy", NotifyTimeout: 20 * time.Second, InactivityTimeout: 10 * time.Minute,
		}
		res, err := w.acts.IngestInbound(context.Background(), in)
		require.NoError(t, err)
		require.True(t, res.Opened)
		assert.Equal(t, want, res.Settings)
		retry, err := w.acts.IngestInbound(context.Background(), in)
		require.NoError(t, err)
		assert.True(t, retry.Opened)
		assert.Equal(t, want, retry.Settings, "a retried open hands back the settings too")

		in.InteractionID = res.InteractionID
		in.Messages = []activities.InboundMessage{{MessageID: "s2", AcceptTime: time.Now(), Kind: "text"}}
		more, err := w.acts.IngestInbound(context.Background(), in)
		require.NoError(t, err)
		assert.Nil(t, more.Settings, "only an opening takes the settings")
	})
}

// TestMigratedAccountOpensNoInteraction: once an account is migrated (or
// disabled), a new contact message opens nothing; it is kept once as an
// account event. An interaction already open keeps receiving messages.
func TestMigratedAccountOpensNoInteraction(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		open := w.interaction() // opened before the migration
		require.NoError(t, w.db.Model(&w.acc).Updates(map[string]any{"status": models.AccountMigrated, "status_reason": "migrated to account 9 by migration 3"}).Error)

		in := activities.IngestInboundInput{
			WorkflowID: "conversation/1/WHATSAPP/393330000077", AccountID: w.acc.ID, Channel: "WHATSAPP", Identity: "393330000077",
			Messages: []activities.InboundMessage{{MessageID: "late-1", AcceptTime: time.Now(), Kind: "text", Text: "still there?", Payload: `{"text_message":{"text":"still there?"}}`}},
		}
		for range 2 {
			res, err := w.acts.IngestInbound(ctx, in)
			require.NoError(t, err)
			assert.False(t, res.Opened)
			assert.Zero(t, res.InteractionID)
			assert.Contains(t, res.NotOpened, "migrated to account 9")
		}
		var inters int64
		require.NoError(t, w.db.Model(&models.Interaction{}).Where("account_id = ?", w.acc.ID).Count(&inters).Error)
		assert.EqualValues(t, 1, inters, "only the interaction opened before")
		var held []models.AccountEvent
		require.NoError(t, w.db.Where("account_id = ? AND kind = ?", w.acc.ID, activities.HeldMessageKind).Find(&held).Error)
		require.Len(t, held, 1, "kept once, retries included")
		assert.Equal(t, "late-1", held[0].Type)
		assert.Contains(t, held[0].Payload, `"still there?"`)

		// The interaction opened before the migration finishes here.
		var inter models.Interaction
		require.NoError(t, w.db.First(&inter, open).Error)
		res, err := w.acts.IngestInbound(ctx, activities.IngestInboundInput{
			WorkflowID: inter.WorkflowID, AccountID: w.acc.ID, Channel: "WHATSAPP", Identity: "393330000001", InteractionID: open,
			Messages: []activities.InboundMessage{{MessageID: "open-2", AcceptTime: time.Now(), Kind: "text", Text: "thanks"}},
		})
		require.NoError(t, err)
		assert.Equal(t, []string{"open-2"}, res.Stored)
		assert.Equal(t, open, res.InteractionID)
	})
}
