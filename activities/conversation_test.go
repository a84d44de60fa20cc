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
