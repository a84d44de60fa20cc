package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// settledHistory is the history length of a workflow once it has settled:
// no workflow task and no activity pending, so every event of what came
// before is counted.
func (s *stack) settledHistory(workflowID string) int64 {
	s.t.Helper()
	var n int64
	require.Eventually(s.t, func() bool {
		desc, err := s.dev.Client.DescribeWorkflowExecution(context.Background(), workflowID, "")
		if err != nil {
			return false
		}
		n = desc.GetWorkflowExecutionInfo().GetHistoryLength()
		return desc.GetPendingWorkflowTask() == nil && len(desc.GetPendingActivities()) == 0
	}, 30*time.Second, 20*time.Millisecond, "%s settles", workflowID)
	return n
}

// replyAnswer is the API's answer to a reply posted in the background.
type replyAnswer struct {
	code int
	body []byte
	err  error
}

// postReply posts a reply as the agent without the test's require (it runs
// in its own goroutine) and sends the answer on the returned channel.
func (s *replyStack) postReply(it api.InteractionResponse, token, text string) <-chan replyAnswer {
	out := make(chan replyAnswer, 1)
	go func() {
		b, _ := json.Marshal(map[string]string{"text": text})
		req, err := http.NewRequest(http.MethodPost, s.url(fmt.Sprintf("/api/interactions/%d/messages", it.ID)), bytes.NewReader(b))
		if err != nil {
			out <- replyAnswer{err: err}
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- replyAnswer{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		raw, err := io.ReadAll(resp.Body)
		out <- replyAnswer{code: resp.StatusCode, body: raw, err: err}
	}()
	return out
}

// holdReports points the stack's account at an emulator of its own whose
// delivery reports come only after delay: until then Sinch's message list
// is the only way the connector can learn a send's outcome. Call it before
// the customer writes: that emulator knows only its own contacts.
func (s *replyStack) holdReports(delay time.Duration) {
	s.t.Helper()
	em := emulator.New(emulator.Options{DeliveryDelays: [3]time.Duration{delay, delay + 100*time.Millisecond, delay + 200*time.Millisecond}})
	base, err := em.Start("127.0.0.1:0")
	require.NoError(s.t, err)
	s.t.Cleanup(func() { _ = em.Close() })
	require.NoError(s.t, em.CreateApp(emulator.App{AppID: appID, ProjectID: "proj-1", Region: "eu", ProcessingMode: "CONVERSATION",
		WebhookURL: s.url(fmt.Sprintf("/api/whatsapp/accounts/%d/notify", s.account)), WebhookSecret: webhookSecret,
		KeyID: "key-1", KeySecret: "ks-1"}))
	s.admin(http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", s.account), map[string]any{
		"baseUrl": base, "authUrl": base + "/oauth2/token"}, nil, http.StatusOK)
	s.em = em
}

// testReplyLocalSendWorkerStopped: a text's first send runs as a local
// activity in the workflow task of its reply update. Sinch accepts it and
// never answers, and the worker is stopped while it waits: that task is
// lost, and with it the update's acceptance and the record of the send
// (the reply is stored and its attempt marked, nothing is in history). A
// new worker gets the update again, finds the reply stored and never sent,
// and sends it: the send finds the attempt in Sinch's list by its metadata
// (the delivery reports are held back) and does not send it again. The
// agent's request is answered 202 all the same.
func testReplyLocalSendWorkerStopped(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	bob := s.agents["bob"]
	const customer, text = "393330000007", "exactly once, from the update's task"
	s.holdReports(2 * time.Minute)
	it := s.hello(customer)
	require.NoError(t, s.em.AddFault(appID, emulator.Fault{HangAfterAccept: true, To: customer}))
	answer := s.postReply(it, bob.Token, text)
	require.Eventually(t, func() bool { return len(s.outbox(customer)) == 1 }, 20*time.Second, 20*time.Millisecond, "Sinch accepted it")
	s.dev.StopWorker()
	var row models.Message
	require.NoError(t, s.dev.DB.Where("interaction_id = ? AND text = ?", it.ID, text).Take(&row).Error)
	assert.NotNil(t, row.SendStartedAt, "the attempt was recorded, its outcome unknown")
	assert.Nil(t, row.ProviderMessageID, "the worker never learnt Sinch's id")
	require.NoError(t, s.dev.StartWorker())

	select {
	case a := <-answer:
		require.NoError(t, a.err)
		require.Equal(t, http.StatusAccepted, a.code, "%s", a.body)
		var msg api.MessageResponse
		require.NoError(t, json.Unmarshal(a.body, &msg))
		assert.Equal(t, row.ID, msg.ID, "the reply stored by the lost task")
	case <-time.After(40 * time.Second):
		t.Fatal("the reply was never answered")
	}
	out := s.outbox(customer)
	require.Len(t, out, 1, "exactly one message at the customer")
	got := s.waitStatus(it.ID, row.ID, "accepted")
	assert.Equal(t, out[0].MessageID, got.ProviderMessageID, "found in Sinch's list, before any report")
	assert.Equal(t, 1, got.Attempts)
	assert.Len(t, s.outbox(customer), 1, "not sent again")
}
