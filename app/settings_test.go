package app_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch/emulator"
)

func TestSettingsEndToEnd(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			t.Run("canned reply, dispositions and transfer targets", func(t *testing.T) { testSettingsCannedDispositionsTransfer(t, engine) })
			t.Run("a transfer to an agent returns to the queue unless accepted", func(t *testing.T) { testSettingsTransferReturns(t, engine) })
			t.Run("a new interaction follows the action flow", func(t *testing.T) { testSettingsActionFlow(t, engine) })
		})
	}
}

// assignee splits the stack's two agents into the interaction's and the other.
func (s *replyStack) assignee(it api.InteractionResponse) (owner, other agentCreds) {
	s.t.Helper()
	require.NotNil(s.t, it.AgentID)
	owner, other = s.agents["bob"], s.agents["carl"]
	if *it.AgentID == other.ID {
		owner, other = other, owner
	}
	return owner, other
}

// putSettings replaces the account's settings document.
func (s *replyStack) putSettings(doc map[string]any) api.AccountSettings {
	s.t.Helper()
	var out api.AccountSettings
	s.admin(http.MethodPut, fmt.Sprintf("/api/whatsapp/accounts/%d/settings", s.account), doc, &out, http.StatusOK)
	return out
}

func testSettingsCannedDispositionsTransfer(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	var elsewhere struct{ ID uint64 }
	s.admin(http.MethodPost, "/api/queues", map[string]any{"name": "elsewhere", "strategy": "round_robin"}, &elsewhere, http.StatusCreated)
	var dave struct{ ID uint64 }
	s.admin(http.MethodPost, "/api/agents", map[string]any{"name": "dave", "capacity": 5}, &dave, http.StatusCreated)
	doc := s.putSettings(map[string]any{
		"dispositions":    []string{"Solved", "Call back"},
		"cannedAnswers":   []map[string]any{{"title": "Greeting", "text": "Hello {{contact.name}} ({{contact.mobile}}), I am {{agent.name}} from {{account.name}} & co"}},
		"transferOptions": map[string]any{"queues": []uint64{s.queue}, "agents": []uint64{s.agents["bob"].ID, s.agents["carl"].ID}},
	})
	greeting := doc.CannedAnswers[0]

	it := s.hello("393330000701")
	owner, other := s.assignee(it)
	require.NoError(t, s.dev.DB.Model(&models.Contact{}).Where("id = ?", it.Contact.ID).Update("display_name", "Maria Rossi").Error)

	// The agent lists the account's answers and sends one by id: the
	// customer receives it rendered, not HTML-escaped.
	var listed []api.CannedAnswerView
	require.Equal(t, http.StatusOK, s.call(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d/canned-answers", s.account), owner.Token, nil, &listed))
	require.Equal(t, doc.CannedAnswers, listed)
	var msg api.MessageResponse
	require.Equal(t, http.StatusAccepted, s.reply(it, owner.Token, map[string]any{"cannedAnswerId": greeting.ID}, &msg))
	name := "bob"
	if owner.ID == s.agents["carl"].ID {
		name = "carl"
	}
	want := fmt.Sprintf("Hello Maria Rossi (+393330000701), I am %s from Acme Support & co", name)
	assert.Equal(t, want, msg.Text)
	s.waitStatus(it.ID, msg.ID, "delivered")
	out := s.outbox("393330000701")
	require.Len(t, out, 1)
	assert.Equal(t, want, out[0].Text, "the emulator received the rendered text")

	// Transfers outside the options are refused before the workflow; an
	// allowed one goes through it.
	var e api.ErrorBody
	transferPath := fmt.Sprintf("/api/interactions/%d/transfer", it.ID)
	assert.Equal(t, http.StatusUnprocessableEntity, s.call(http.MethodPost, transferPath, owner.Token, map[string]any{"queueId": elsewhere.ID}, &e))
	assert.Equal(t, "transfer_not_allowed", e.Error.Code)
	assert.Contains(t, e.Error.Message, fmt.Sprintf("queue %d; allowed queues: %d", elsewhere.ID, s.queue))
	assert.Equal(t, http.StatusUnprocessableEntity, s.call(http.MethodPost, transferPath, owner.Token, map[string]any{"agentId": dave.ID}, &e))
	assert.Equal(t, "transfer_not_allowed", e.Error.Code)
	assert.Contains(t, e.Error.Message, fmt.Sprintf("agent %d", dave.ID))
	var moved api.InteractionResponse
	require.Equal(t, http.StatusOK, s.call(http.MethodPost, transferPath, owner.Token, map[string]any{"agentId": other.ID}, &moved))
	require.NotNil(t, moved.AgentID)
	assert.Equal(t, other.ID, *moved.AgentID)
	assert.Equal(t, "assigned", moved.Status, "no returnToQueueAfterSeconds: assigned at once")

	// Closing takes a listed disposition only.
	closePath := fmt.Sprintf("/api/interactions/%d/close", it.ID)
	for _, d := range []string{"Wrong", ""} {
		assert.Equal(t, http.StatusUnprocessableEntity, s.call(http.MethodPost, closePath, other.Token, map[string]any{"disposition": d}, &e), "%q", d)
		assert.Equal(t, "invalid_disposition", e.Error.Code)
		assert.Contains(t, e.Error.Message, `"Solved", "Call back"`)
	}
	var closed api.InteractionResponse
	require.Equal(t, http.StatusOK, s.call(http.MethodPost, closePath, other.Token, map[string]any{"disposition": "solved"}, &closed))
	assert.Equal(t, "closed", closed.Status)
	assert.Equal(t, "Solved", closed.Disposition, "stored as listed")
}

func testSettingsTransferReturns(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	s.putSettings(map[string]any{"transferOptions": map[string]any{"returnToQueueAfterSeconds": 2}})
	it := s.hello("393330000702")
	owner, other := s.assignee(it)
	transferPath := fmt.Sprintf("/api/interactions/%d/transfer", it.ID)

	// The target accepts in time: it stays.
	var moved api.InteractionResponse
	require.Equal(t, http.StatusOK, s.call(http.MethodPost, transferPath, owner.Token, map[string]any{"agentId": other.ID}, &moved))
	require.NotNil(t, moved.AgentID)
	assert.Equal(t, other.ID, *moved.AgentID)
	// The target's inbox shows the deadline; accepting clears it.
	var inbox api.InboxResponse
	require.Equal(t, http.StatusOK, s.call(http.MethodGet, fmt.Sprintf("/api/agents/%d/inbox", other.ID), other.Token, nil, &inbox))
	require.Len(t, inbox.Items, 1)
	require.NotNil(t, inbox.Items[0].Interaction.AcceptBy, "a transfer waiting for its target")
	assert.WithinDuration(t, time.Now().Add(2*time.Second), *inbox.Items[0].Interaction.AcceptBy, 2*time.Second)
	require.Equal(t, http.StatusOK, s.call(http.MethodPost, fmt.Sprintf("/api/interactions/%d/accept", it.ID), other.Token, nil, nil))
	assert.Nil(t, s.interaction(it.ID).AcceptBy, "accepted")
	assert.Never(t, func() bool {
		got := s.interaction(it.ID)
		return got.AgentID == nil || *got.AgentID != other.ID
	}, 4*time.Second, 200*time.Millisecond, "accepted: it stays with the target past the 2 s")

	// Nobody available, the target does not accept: back to the queue.
	for _, a := range []agentCreds{owner, other} {
		require.Equal(t, http.StatusOK, s.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/presence", a.ID), a.Token, map[string]string{"status": "away"}, nil))
	}
	require.Equal(t, http.StatusOK, s.call(http.MethodPost, transferPath, other.Token, map[string]any{"agentId": owner.ID}, &moved))
	require.NotNil(t, moved.AgentID)
	assert.Equal(t, owner.ID, *moved.AgentID, "assigned to the target while it may accept")
	assert.NotNil(t, moved.AcceptBy)
	require.Eventually(t, func() bool {
		got := s.interaction(it.ID)
		return got.Status == "queued" && got.AgentID == nil && got.QueueID != nil && *got.QueueID == s.queue
	}, 30*time.Second, 100*time.Millisecond, "not accepted within returnToQueueAfterSeconds: back in its queue")
	assert.Nil(t, s.interaction(it.ID).AcceptBy, "back in its queue, nothing to accept")
}

// testSettingsActionFlow: a queue nobody serves for 2 s, an automatic
// reply, then the account's queue, where an agent takes it.
func testSettingsActionFlow(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	var night struct{ ID uint64 }
	s.admin(http.MethodPost, "/api/queues", map[string]any{"name": "night", "strategy": "round_robin"}, &night, http.StatusCreated)
	busy := "All our agents are busy, we will answer soon"
	s.putSettings(map[string]any{"actionFlow": []map[string]any{
		{"queue": night.ID, "seconds": 2}, {"reply": busy}, {"queue": s.queue},
	}})

	const from = "393330000703"
	start := time.Now()
	_, err := s.em.SendInbound(appID, emulator.Inbound{From: from, Text: "Hello?"})
	require.NoError(t, err)
	it := s.waitAssigned(from) // at the flow's last step
	assert.GreaterOrEqual(t, time.Since(start), 2*time.Second, "not before the first step's 2 s in the night queue")
	require.NotNil(t, it.QueueID)
	assert.Equal(t, s.queue, *it.QueueID)

	require.Eventually(t, func() bool { return len(s.outbox(from)) == 1 }, 30*time.Second, 50*time.Millisecond, "the flow's reply reaches the customer")
	assert.Equal(t, busy, s.outbox(from)[0].Text)
	full := s.interaction(it.ID)
	var auto *api.MessageResponse
	for i, m := range full.Messages {
		if m.Direction == "outbound" {
			auto = &full.Messages[i]
		}
	}
	require.NotNil(t, auto, "the automatic reply is in the interaction")
	assert.Equal(t, busy, auto.Text)
	assert.Nil(t, auto.AgentID, "sent by the flow, not an agent")
}
