package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/models"
)

// seedMessage stores a message of the interaction at the given time.
func (env *cfgEnv) seedMessage(in models.Interaction, dir models.Direction, text string, at time.Time) models.Message {
	env.t.Helper()
	m := models.Message{InteractionID: in.ID, AccountID: in.AccountID, ContactID: in.ContactID, Direction: dir, Kind: "text",
		Text: text, Status: models.StatusDelivered, CreatedAt: at}
	if dir == models.DirectionInbound {
		m.ProviderTime = &at
	}
	require.NoError(env.t, env.db.Create(&m).Error)
	return m
}

// offer writes the offer (or withdrawal) event of agentID's stream.
func (env *cfgEnv) offer(agentID, interactionID uint64, typ string) {
	env.t.Helper()
	require.NoError(env.t, env.db.Create(&models.AgentEvent{AgentID: agentID, Type: typ, InteractionID: interactionID, Data: "{}",
		DedupKey: fmt.Sprintf("%s-%d-%d-%d", typ, agentID, interactionID, time.Now().UnixNano())}).Error)
}

func TestAgentInboxUnreadAndOffers(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		acc := env.createAccount("inbox")
		other := env.createAccount("other")
		ann, ben := env.createAgent("Ann"), env.createAgent("Ben")
		for _, ag := range []api.AgentCreatedResponse{ann, ben} {
			env.permit(ag.ID, acc.ID)
			env.enable(ag, acc.ID)
		}
		now := time.Now().UTC().Truncate(time.Second)
		mine := env.seedAssigned(acc.ID, ann.ID, "393330000101", "Carla <b>")
		m1 := env.seedMessage(mine, models.DirectionInbound, "Hello", now.Add(-3*time.Hour))
		env.seedMessage(mine, models.DirectionOutbound, "Hi, how can I help?", now.Add(-2*time.Hour))
		env.seedMessage(mine, models.DirectionInbound, "My   order\nis late "+strings.Repeat("x", 200), now.Add(-time.Hour))
		offered := env.seedAssigned(acc.ID, 0, "393330000102", "Dario")
		env.seedMessage(offered, models.DirectionInbound, "Anyone?", now.Add(-10*time.Minute))
		env.offer(ann.ID, offered.ID, "interaction.offered")
		withdrawn := env.seedAssigned(acc.ID, 0, "393330000103", "Elio")
		env.offer(ann.ID, withdrawn.ID, "interaction.offered")
		env.offer(ann.ID, withdrawn.ID, "interaction.withdrawn")
		// Another account's interaction assigned to Ann is not reachable:
		// not in her inbox.
		env.seedAssigned(other.ID, ann.ID, "393330000104", "Fabio")
		env.seedAssigned(acc.ID, ben.ID, "393330000105", "Gina") // Ben's

		me := cfgDecode[api.AgentResponse](t, env.call(http.MethodGet, fmt.Sprintf("/api/agents/%d", ann.ID), ann.Token, nil), http.StatusOK)
		assert.Equal(t, []api.NamedTarget{{ID: acc.ID, Name: "Support inbox"}}, me.PermittedAccounts, "the agent sees the names of its accounts")
		path := fmt.Sprintf("/api/agents/%d/inbox", ann.ID)
		inbox := cfgDecode[api.InboxResponse](t, env.call(http.MethodGet, path, ann.Token, nil), http.StatusOK)
		require.Len(t, inbox.Items, 2, "her assigned interaction and the offer that stands")
		byID := map[uint64]api.InboxItem{}
		for _, it := range inbox.Items {
			byID[it.Interaction.ID] = it
		}
		a, o := byID[mine.ID], byID[offered.ID]
		assert.False(t, a.Offered)
		assert.True(t, o.Offered)
		assert.Equal(t, "Support inbox", a.AccountName)
		assert.Equal(t, int64(2), a.Unread, "no read mark: every customer message")
		assert.Equal(t, int64(1), o.Unread)
		assert.Equal(t, int64(3), inbox.Unread)
		require.NotNil(t, a.WindowEndsAt)
		assert.True(t, now.Add(23*time.Hour).Equal(*a.WindowEndsAt), "24 h after the customer's latest message: %v", a.WindowEndsAt)
		assert.True(t, strings.HasPrefix(a.Preview, "My order is late xxx"), a.Preview)
		assert.Equal(t, 140, len([]rune(a.Preview)))
		assert.Equal(t, "Carla <b>", a.Interaction.Contact.Name)

		// Reading up to the first message leaves one unread; reading all,
		// none; an older mark does not move it back.
		read := fmt.Sprintf("/api/interactions/%d/read", mine.ID)
		require.Equal(t, http.StatusNoContent, env.call(http.MethodPost, read, ann.Token, map[string]any{"messageId": m1.ID}).Code)
		inbox = cfgDecode[api.InboxResponse](t, env.call(http.MethodGet, path, ann.Token, nil), http.StatusOK)
		assert.Equal(t, int64(2), inbox.Unread)
		require.Equal(t, http.StatusNoContent, env.call(http.MethodPost, read, ann.Token, nil).Code)
		require.Equal(t, http.StatusNoContent, env.call(http.MethodPost, read, ann.Token, map[string]any{"messageId": m1.ID}).Code)
		inbox = cfgDecode[api.InboxResponse](t, env.call(http.MethodGet, path, ann.Token, nil), http.StatusOK)
		assert.Equal(t, int64(1), inbox.Unread, "only the offer's message is left")

		// Errors name the problem.
		rec := env.call(http.MethodPost, read, ann.Token, map[string]any{"messageId": 999999})
		assert.Equal(t, http.StatusBadRequest, rec.Code)
		assert.Contains(t, rec.Body.String(), "messageId: message 999999 is not a message of interaction")
		rec = env.call(http.MethodPost, read, ann.Token, map[string]any{"message": 1})
		assert.Equal(t, http.StatusBadRequest, rec.Code, "unknown field")
		assert.Equal(t, http.StatusForbidden, env.admin(http.MethodPost, read, nil).Code, "the admin has no read marks")
		assert.Equal(t, http.StatusForbidden, env.call(http.MethodGet, path, ben.Token, nil).Code, "another agent's inbox")
		assert.Equal(t, http.StatusOK, env.admin(http.MethodGet, path, nil).Code, "the admin sees any agent's inbox")

		// The interaction's own view carries the window too.
		one := cfgDecode[api.InteractionResponse](t, env.call(http.MethodGet, fmt.Sprintf("/api/interactions/%d", mine.ID), ann.Token, nil), http.StatusOK)
		require.NotNil(t, one.WindowEndsAt)
		assert.True(t, now.Add(23*time.Hour).Equal(*one.WindowEndsAt))
	})
}

func TestInteractionOptions(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		acc := env.createAccount("opts")
		ann, ben, cleo := env.createAgent("Ann"), env.createAgent("Ben"), env.createAgent("Cleo")
		for _, ag := range []api.AgentCreatedResponse{ann, ben} {
			env.permit(ag.ID, acc.ID)
			env.enable(ag, acc.ID)
		}
		env.permit(cleo.ID, acc.ID) // permitted, not enabled: not reachable
		q1, q2 := env.createQueue("billing"), env.createQueue("support")
		env.createQueue("unlinked")
		for _, q := range []api.QueueResponse{q1, q2} {
			require.Equal(t, http.StatusNoContent, env.admin(http.MethodPut, fmt.Sprintf("/api/queues/%d/accounts/%d", q.ID, acc.ID), nil).Code)
		}
		in := env.seedAssigned(acc.ID, ann.ID, "393330000201", "")
		path := fmt.Sprintf("/api/interactions/%d/options", in.ID)

		got := cfgDecode[api.InteractionOptions](t, env.call(http.MethodGet, path, ann.Token, nil), http.StatusOK)
		assert.Empty(t, got.Dispositions)
		assert.Equal(t, []api.NamedTarget{{ID: q1.ID, Name: "billing"}, {ID: q2.ID, Name: "support"}}, got.Transfer.Queues)
		assert.Equal(t, []api.NamedTarget{{ID: ben.ID, Name: "Ben", Presence: "away"}}, got.Transfer.Agents, "agents who reach the account, not the caller")
		assert.Zero(t, got.Transfer.AcceptWithinSeconds)

		settings := map[string]any{"dispositions": []string{"Solved", "Call back"}, "cannedAnswers": []any{},
			"transferOptions": map[string]any{"queues": []uint64{q2.ID}, "agents": []uint64{cleo.ID}, "returnToQueueAfterSeconds": 90},
			"routing":         map[string]any{"strategy": "", "agentNotifyTimeoutSeconds": 0, "inactivityTimeoutSeconds": 0}, "actionFlow": []any{}}
		rec := env.admin(http.MethodPut, fmt.Sprintf("/api/whatsapp/accounts/%d/settings", acc.ID), settings)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		got = cfgDecode[api.InteractionOptions](t, env.call(http.MethodGet, path, ann.Token, nil), http.StatusOK)
		assert.Equal(t, []string{"Solved", "Call back"}, got.Dispositions)
		assert.Equal(t, []api.NamedTarget{{ID: q2.ID, Name: "support"}}, got.Transfer.Queues)
		assert.Equal(t, []api.NamedTarget{{ID: cleo.ID, Name: "Cleo", Presence: "away"}}, got.Transfer.Agents)
		assert.Equal(t, 90, got.Transfer.AcceptWithinSeconds)

		// Another account's interaction is not there for an agent.
		elsewhere := env.createAccount("elsewhere")
		far := env.seedAssigned(elsewhere.ID, 0, "393330000202", "")
		assert.Equal(t, http.StatusNotFound, env.call(http.MethodGet, fmt.Sprintf("/api/interactions/%d/options", far.ID), ann.Token, nil).Code)
	})
}
