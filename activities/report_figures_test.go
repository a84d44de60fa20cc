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

// The report figures are written as things happen: first assignment,
// first response, each reply's time from the oldest customer message it
// answers, transfers, overflows, message counts, handle time.
func TestReportFiguresAreWrittenAsThingsHappen(t *testing.T) {
	forEngines(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		q := w.queue("support", models.StrategyRoundRobin, true)
		other := w.queue("overflow", models.StrategyRoundRobin, true)
		ann := w.agent("ann", 5, q, true, true, true)
		id := w.interaction()
		load := func() models.Interaction {
			var in models.Interaction
			require.NoError(t, w.db.Take(&in, id).Error)
			return in
		}
		in := load()
		assert.Equal(t, 1, in.MessagesIn)
		assert.Nil(t, in.FirstAssignedAt)

		require.True(t, w.route(id).Assigned)
		in = load()
		require.NotNil(t, in.FirstAssignedAt)
		require.NotNil(t, in.TimeToAssignMs)
		assert.InDelta(t, in.FirstAssignedAt.Sub(in.OpenedAt).Milliseconds(), *in.TimeToAssignMs, 1)

		reply := func(ref string, agent uint64) models.Message {
			res, err := w.acts.CreateOutbound(ctx, activities.CreateOutboundInput{AccountID: w.acc.ID, InteractionID: id,
				ContactID: in.ContactID, AgentID: agent, Text: "r", ClientRef: ref})
			require.NoError(t, err)
			var m models.Message
			require.NoError(t, w.db.Take(&m, res.MessageID).Error)
			return m
		}
		first := reply("r1", ann.ID)
		in = load()
		require.NotNil(t, in.FirstResponseMs)
		require.NotNil(t, first.ReplyMs)
		assert.Equal(t, *in.FirstResponseMs, *first.ReplyMs, "the first reply answers the first message")
		assert.Equal(t, 1, in.MessagesOut)
		again := reply("r1", ann.ID)
		assert.Equal(t, first.ID, again.ID, "a retried create is the same reply")
		second := reply("r2", ann.ID)
		assert.Nil(t, second.ReplyMs, "a second reply in a row answers no new customer message")
		flow := reply("flow", 0)
		assert.Nil(t, flow.ReplyMs, "a flow reply is not an agent's")
		assert.Equal(t, 2, load().MessagesOut)

		// The customer writes again; the next reply answers that message.
		time.Sleep(20 * time.Millisecond)
		_, err := w.acts.IngestInbound(ctx, activities.IngestInboundInput{WorkflowID: in.WorkflowID, AccountID: w.acc.ID, Channel: "WHATSAPP",
			Identity: "393330000001", InteractionID: id,
			Messages: []activities.InboundMessage{{MessageID: "m-2", AcceptTime: time.Now().Add(-time.Second), Kind: "text", Text: "and?"}}})
		require.NoError(t, err)
		assert.Equal(t, 2, load().MessagesIn)
		third := reply("r3", ann.ID)
		require.NotNil(t, third.ReplyMs)
		assert.GreaterOrEqual(t, *third.ReplyMs, int64(1000), "from the customer's time (Sinch's accept time), a second ago")

		_, err = w.acts.MoveToQueue(ctx, activities.MoveToQueueInput{InteractionID: id, QueueID: other.ID, Reason: activities.MoveOverflow})
		require.NoError(t, err)
		_, err = w.acts.MoveToQueue(ctx, activities.MoveToQueueInput{InteractionID: id, QueueID: other.ID, Reason: activities.MoveOverflow})
		require.NoError(t, err, "a retried move (committed the first time)")
		_, err = w.acts.MoveToQueue(ctx, activities.MoveToQueueInput{InteractionID: id, QueueID: q.ID, Reason: activities.MoveTransfer})
		require.NoError(t, err)
		_, err = w.acts.MoveToQueue(ctx, activities.MoveToQueueInput{InteractionID: id, QueueID: q.ID, Reason: activities.MoveFlow})
		require.NoError(t, err)
		require.NoError(t, w.acts.AssignToAgent(ctx, activities.AssignToAgentInput{InteractionID: id, AccountID: w.acc.ID, AgentID: ann.ID, Transfer: true}))
		in = load()
		assert.Equal(t, 2, in.Transfers)
		assert.Equal(t, 1, in.Overflows)
		assert.Equal(t, *in.FirstAssignedAt, *load().FirstAssignedAt, "the first assignment stays")

		require.NoError(t, w.acts.CloseInteraction(ctx, activities.CloseInteractionInput{InteractionID: id, Reason: "agent"}))
		in = load()
		require.NotNil(t, in.HandleMs)
		assert.InDelta(t, in.ClosedAt.Sub(*in.AssignedAt).Milliseconds(), *in.HandleMs, 1)
	})
}
