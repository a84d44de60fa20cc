package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/inbound"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
	"github.com/xcally-connector/connector/workflows"
)

// TestRevokedAgentLosesItsInteractions: an admin revokes the permission of
// the agent holding an interaction. The agent can no longer read or answer
// it, and the conversation takes it back and routes it to the other agent,
// as after a timeout (AgentReleaseWorkflow → take-back signal). Before the
// permission model, a revoke route did not exist and nothing took an
// interaction back from an agent.
func TestRevokedAgentLosesItsInteractions(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) { testRevokedAgentLosesItsInteractions(t, engine) })
	}
}

func testRevokedAgentLosesItsInteractions(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	it := s.hello("393330000701")
	require.NotNil(t, it.AgentID)
	holder, other := s.agents["bob"], s.agents["carl"]
	if *it.AgentID == other.ID {
		holder, other = other, holder
	}
	path := fmt.Sprintf("/api/interactions/%d", it.ID)
	require.Equal(t, http.StatusOK, s.call(http.MethodGet, path, holder.Token, nil, nil))

	// The admin revokes the holder's permission on the account.
	req, err := http.NewRequest(http.MethodDelete, s.url(fmt.Sprintf("/api/agents/%d/permissions/%d", holder.ID, s.account)), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.cfg.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	releaseID := resp.Header.Get("X-Workflow-Id")
	require.NotEmpty(t, releaseID, "the revoke names the release workflow")

	// At once: the holder reaches nothing of the account any more.
	assert.Equal(t, http.StatusNotFound, s.call(http.MethodGet, path, holder.Token, nil, nil))
	assert.Equal(t, http.StatusNotFound, s.call(http.MethodPost, path+"/messages", holder.Token, map[string]string{"text": "still here?"}, nil))
	assert.Equal(t, http.StatusNotFound, s.call(http.MethodPost, path+"/close", holder.Token, map[string]string{}, nil))
	assert.Equal(t, http.StatusForbidden, s.call(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d/canned-answers", s.account), holder.Token, nil, nil))
	var list api.InteractionList
	require.Equal(t, http.StatusOK, s.call(http.MethodGet, "/api/interactions", holder.Token, nil, &list))
	assert.Empty(t, list.Items, "the holder lists no interaction of the account")
	var me api.AgentResponse
	require.Equal(t, http.StatusOK, s.call(http.MethodGet, fmt.Sprintf("/api/agents/%d", holder.ID), holder.Token, nil, &me))
	assert.Empty(t, me.PermittedAccountIDs)
	assert.Empty(t, me.EnabledAccountIDs)
	// Enabling it again is refused: the permission is the admin's.
	assert.Equal(t, http.StatusForbidden, s.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", holder.ID, s.account), holder.Token, nil, nil))

	// The release takes the interaction back; routing gives it to the other
	// agent, who reaches it.
	var res workflows.AgentReleaseResult
	require.NoError(t, s.dev.Client.GetWorkflow(context.Background(), releaseID, "").Get(context.Background(), &res))
	assert.Equal(t, workflows.AgentReleaseResult{Signalled: 1}, res)
	require.Eventually(t, func() bool {
		got := s.interaction(it.ID)
		return got.Status == "assigned" && got.AgentID != nil && *got.AgentID == other.ID
	}, 30*time.Second, 50*time.Millisecond, "the interaction goes to the other agent")
	assert.Equal(t, http.StatusOK, s.call(http.MethodGet, path, other.Token, nil, nil))
	// The holder's stream told it the interaction left (a content-free
	// event); the history of the interaction keeps everything.
	var events []models.AgentEvent
	require.NoError(t, s.dev.DB.Where("agent_id = ? AND interaction_id = ? AND type = ?", holder.ID, it.ID, "interaction.transferred").Find(&events).Error)
	assert.Len(t, events, 1)

	saveHistory(t, s.dev, releaseID, "agent_release.json")
	saveHistory(t, s.dev, it.WorkflowID, "conversation_take_back.json")
}

// TestDeliveryReportOfAnotherAccountChangesNothing: a delivery report
// signed with account A's secret, posted to A's URL, whose metadata names a
// conversation and a message of account B, is ignored: B's message keeps
// its status, nothing is resent to B's customer, and A records the attempt.
// The same report on B's own URL is applied (a resend), which shows the
// report would have had an effect: before the check, the API signalled
// whatever workflow the body named.
func TestDeliveryReportOfAnotherAccountChangesNothing(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) { testDeliveryReportOfAnotherAccount(t, engine) })
	}
}

func testDeliveryReportOfAnotherAccount(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	const appB, secretB, customerB = "01HAPPB2E", "whsec-b-e2e-0123456789", "393330000702"
	var accB api.AccountResponse
	s.admin(http.MethodPost, "/api/whatsapp/accounts", map[string]any{
		"name": "Other tenant", "key": "other", "publicUrl": "https://motion.example.com", "region": "eu",
		"projectId": "proj-b", "appId": appB, "keyId": "key-b", "keySecret": "ks-b",
		"webhookSecret": secretB, "phone": "+390212345679",
		"baseUrl": s.dev.EmulatorURL, "authUrl": s.dev.EmulatorURL + "/oauth2/token",
	}, &accB, http.StatusCreated)
	// B's app delivers its callbacks nowhere: B's reply stays accepted, so a
	// FAILED report could still act on it.
	require.NoError(t, s.em.CreateApp(emulator.App{AppID: appB, ProjectID: "proj-b", Region: "eu", ProcessingMode: "CONVERSATION",
		WebhookURL: s.url("/unused"), WebhookSecret: secretB, KeyID: "key-b", KeySecret: "ks-b"}))
	// The customer writes to B. Without a Sinch contact id the reply goes
	// to the channel identity, which the emulator takes without knowing
	// the contact.
	var cb map[string]any
	require.NoError(t, json.Unmarshal(inboundBody("01HMSGB0001", customerB, "hello B", time.Now()), &cb))
	cb["app_id"] = appB
	msg := cb["message"].(map[string]any)
	msg["contact_id"], msg["conversation_id"] = "", ""
	raw, err := json.Marshal(cb)
	require.NoError(t, err)
	code, body := s.postSignedTo(accB.ID, raw, secretB)
	require.Equal(t, http.StatusOK, code, body)
	var itB api.InteractionResponse
	require.Eventually(t, func() bool {
		for _, i := range s.interactions(fmt.Sprintf("accountId=%d", accB.ID)) {
			itB = i
			return true
		}
		return false
	}, 30*time.Second, 50*time.Millisecond)
	var reply api.ReplyResponse
	require.Equal(t, http.StatusAccepted, s.call(http.MethodPost, fmt.Sprintf("/api/interactions/%d/messages", itB.ID), s.cfg.AdminToken,
		map[string]string{"text": "hello from B"}, &reply))
	sent := s.waitStatus(itB.ID, reply.ID, "accepted")
	require.Len(t, s.outboxOf(appB, customerB), 1)

	report := func(app string) []byte {
		meta, err := json.Marshal(map[string]any{"workflowId": itB.WorkflowID, "messageId": reply.ID, "attempt": 1})
		require.NoError(t, err)
		now := time.Now().UTC().Format(time.RFC3339Nano)
		b, err := json.Marshal(map[string]any{
			"app_id": app, "project_id": "proj-1", "accepted_time": now, "event_time": now, "message_metadata": "", "correlation_id": "",
			"message_delivery_report": map[string]any{
				"message_id": sent.ProviderMessageID, "conversation_id": "", "status": "FAILED",
				"channel_identity": map[string]any{"channel": "WHATSAPP", "identity": customerB, "app_id": ""},
				"contact_id":       "", "metadata": string(meta), "processing_mode": "CONVERSATION",
				"reason": map[string]any{"code": "RATE_LIMITED", "description": "too many messages"},
			},
		})
		require.NoError(t, err)
		return b
	}

	// On A's URL, signed with A's secret: ignored and recorded on A.
	code, body = s.postSigned(report(appID), webhookSecret)
	require.Equal(t, http.StatusOK, code, body)
	var wr api.WebhookResponse
	require.NoError(t, json.Unmarshal([]byte(body), &wr))
	assert.Equal(t, "ignored", wr.Status)
	var evs []models.AccountEvent
	require.NoError(t, s.dev.DB.Where("account_id = ? AND kind = ?", s.account, inbound.AccountEventForeignID).Find(&evs).Error)
	require.Len(t, evs, 1, "account A records the foreign id")
	assert.Contains(t, evs[0].Payload, itB.WorkflowID)
	// B is unchanged: give a wrongly routed signal time to act.
	time.Sleep(2 * time.Second)
	after := s.messageOf(itB.ID, reply.ID)
	assert.Equal(t, "accepted", after.Status, "B's message keeps its status")
	assert.Equal(t, 1, after.Attempts, "nothing was resent")
	assert.Len(t, s.outboxOf(appB, customerB), 1, "B's customer got nothing more")

	// On B's own URL, signed with B's secret, the same report acts: the
	// reply is resent (RATE_LIMITED is a network-class failure).
	code, body = s.postSignedTo(accB.ID, report(appB), secretB)
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool { return len(s.outboxOf(appB, customerB)) == 2 }, 30*time.Second, 50*time.Millisecond,
		"the report on B's own URL resends the reply")
}

// postSignedTo posts a callback to an account's receive URL, signed with
// secret like Sinch.
func (s *replyStack) postSignedTo(accountID uint64, body []byte, secret string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url(fmt.Sprintf("/api/whatsapp/accounts/%d/notify", accountID)), bytes.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	sinch.SetSignatureHeaders(req.Header, secret, body, nextNonce(), time.Now())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer func() { _ = resp.Body.Close() }()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.String()
}

func (s *replyStack) outboxOf(app, to string) []emulator.OutboxItem {
	s.t.Helper()
	items, err := s.em.Outbox(app, to)
	require.NoError(s.t, err)
	return items
}

func (s *replyStack) messageOf(itID, msgID uint64) api.MessageResponse {
	s.t.Helper()
	for _, m := range s.interaction(itID).Messages {
		if m.ID == msgID {
			return m
		}
	}
	s.t.Fatalf("no message %d in interaction %d", msgID, itID)
	return api.MessageResponse{}
}
