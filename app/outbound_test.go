package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// replyStack is a stack whose account sends to the dev stack's own Sinch
// emulator, which posts its signed callbacks back to the connector.
type replyStack struct {
	*stack
	em *emulator.Server
}

func newReplyStack(t *testing.T, engine models.Engine, tweak func(*config.Config)) *replyStack {
	t.Helper()
	s := &replyStack{stack: newStackWith(t, engine, func(cfg *config.Config) {
		cfg.ReplyResendBackoff = 300 * time.Millisecond
		cfg.ShutdownTimeout = 200 * time.Millisecond
		if tweak != nil {
			tweak(cfg)
		}
	}, "round_robin", "bob", "carl")}
	s.em = s.dev.Emulator
	require.NotNil(t, s.em)
	require.NoError(t, s.em.CreateApp(emulator.App{AppID: appID, ProjectID: "proj-1", Region: "eu", ProcessingMode: "CONVERSATION",
		WebhookURL: s.url(fmt.Sprintf("/api/whatsapp/accounts/%d/notify", s.account)), WebhookSecret: webhookSecret,
		KeyID: "key-1", KeySecret: "ks-1"}))
	s.admin(http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", s.account), map[string]any{
		"baseUrl": s.dev.EmulatorURL, "authUrl": s.dev.EmulatorURL + "/oauth2/token",
	}, nil, http.StatusOK)
	return s
}

// hello makes a customer write and waits until the interaction is
// assigned; it returns the interaction.
func (s *replyStack) hello(from string) api.InteractionResponse {
	s.t.Helper()
	_, err := s.em.SendInbound(appID, emulator.Inbound{From: from, Text: "Hello, I need help"})
	require.NoError(s.t, err)
	return s.waitAssigned(from)
}

// waitAssigned waits until the interaction of the customer from is
// assigned and returns it.
func (s *replyStack) waitAssigned(from string) api.InteractionResponse {
	s.t.Helper()
	var it api.InteractionResponse
	require.Eventually(s.t, func() bool {
		for _, i := range s.interactions("status=assigned") {
			if i.Contact.Identity == from {
				it = i
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "the customer's interaction is assigned")
	return it
}

// reply posts a reply as the agent (or the admin with token "") and
// decodes the answer.
func (s *replyStack) reply(it api.InteractionResponse, token string, body any, out any) int {
	s.t.Helper()
	if token == "" {
		token = s.cfg.AdminToken
	}
	return s.call(http.MethodPost, fmt.Sprintf("/api/interactions/%d/messages", it.ID), token, body, out)
}

// waitStatus polls the interaction until message id has status.
func (s *replyStack) waitStatus(itID, msgID uint64, status string) api.MessageResponse {
	s.t.Helper()
	var found api.MessageResponse
	ok := assert.Eventually(s.t, func() bool {
		for _, m := range s.interaction(itID).Messages {
			if m.ID == msgID {
				found = m
				return m.Status == status
			}
		}
		return false
	}, 40*time.Second, 50*time.Millisecond, "message %d reaches %s", msgID, status)
	if !ok {
		s.t.Fatalf("message %d is %+v; outbox: %+v", msgID, found, s.outbox(""))
	}
	return found
}

func (s *replyStack) outbox(to string) []emulator.OutboxItem {
	s.t.Helper()
	items, err := s.em.Outbox(appID, to)
	require.NoError(s.t, err)
	return items
}

func TestRepliesEndToEnd(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			t.Run("reply is delivered then read", func(t *testing.T) { testReplyDeliveredRead(t, engine) })
			t.Run("429 twice then accepted, one message", func(t *testing.T) { testReply429(t, engine) })
			t.Run("RATE_LIMITED report is resent", func(t *testing.T) { testReplyResent(t, engine) })
			t.Run("policy failure is not resent and is shown", func(t *testing.T) { testReplyPolicy(t, engine) })
			t.Run("worker stopped after Sinch accepted", func(t *testing.T) { testReplyWorkerStopped(t, engine) })
			t.Run("worker stopped in the local send", func(t *testing.T) { testReplyLocalSendWorkerStopped(t, engine) })
			t.Run("refusals", func(t *testing.T) { testReplyRefusals(t, engine) })
		})
	}
}

func testReplyDeliveredRead(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	bob := s.agents["bob"]
	events := s.openEventStream(bob)
	it := s.hello("393330000001")
	require.Equal(t, bob.ID, *it.AgentID)
	before := s.settledHistory(it.WorkflowID)

	var msg api.MessageResponse
	code := s.reply(it, bob.Token, map[string]string{"text": "Hi, this is Bob. How can I help?"}, &msg)
	require.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, "pending", msg.Status)
	assert.Equal(t, "outbound", msg.Direction)
	assert.Equal(t, bob.ID, *msg.AgentID)

	s.waitStatus(it.ID, msg.ID, "read")
	out := s.outbox("393330000001")
	require.Len(t, out, 1, "exactly one message at the customer")
	assert.Equal(t, "Hi, this is Bob. How can I help?", out[0].Text)
	final := s.waitStatus(it.ID, msg.ID, "read")
	assert.Equal(t, out[0].MessageID, final.ProviderMessageID)
	assert.Equal(t, 1, final.Attempts)
	assert.Nil(t, final.Error)

	// Ticks: every status once, in order.
	var ticks []string
	for len(ticks) < 5 {
		ev := events.next(t, "message.status")
		if strings.Contains(ev, fmt.Sprintf(`"messageId":%d,`, msg.ID)) {
			for _, st := range []string{"pending", "accepted", "queued", "delivered", "read"} {
				if strings.Contains(ev, `"status":"`+st+`"`) {
					ticks = append(ticks, st)
				}
			}
		}
	}
	assert.Equal(t, []string{"pending", "accepted", "queued", "delivered", "read"}, ticks)
	// The reply with its three reports: 7 events (update, record and send
	// in one workflow task; no signal for a report), 2 more for the
	// cheap-reply version marker of the run's first reply (decisions §22).
	added := s.settledHistory(it.WorkflowID) - before
	assert.LessOrEqual(t, added, int64(10), "history events of a reply with its queued, delivered and read reports")
	t.Logf("history events of the reply with its three reports: %d", added)
	if engine == models.SQLite {
		saveHistory(t, s.dev, it.WorkflowID, "conversation_reply_local.json")
	}
}

func testReply429(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	bob := s.agents["bob"]
	it := s.hello("393330000002")
	require.NoError(t, s.em.AddFault(appID, emulator.Fault{HTTPStatus: http.StatusTooManyRequests, RetryAfterSeconds: 1, Times: 2}))
	var msg api.MessageResponse
	require.Equal(t, http.StatusAccepted, s.reply(it, bob.Token, map[string]string{"text": "after two 429s"}, &msg))
	s.waitStatus(it.ID, msg.ID, "read")
	assert.Len(t, s.outbox("393330000002"), 1, "the two refused sends reached nobody")
}

func testReplyResent(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	bob := s.agents["bob"]
	it := s.hello("393330000003")
	require.NoError(t, s.em.AddFault(appID, emulator.Fault{ReasonCode: "RATE_LIMITED", To: "393330000003"}))
	var msg api.MessageResponse
	require.Equal(t, http.StatusAccepted, s.reply(it, bob.Token, map[string]string{"text": "resend me"}, &msg))
	final := s.waitStatus(it.ID, msg.ID, "read")
	assert.Equal(t, 2, final.Attempts, "resent once")
	out := s.outbox("393330000003")
	require.Len(t, out, 2)
	assert.Equal(t, "FAILED", out[0].Status)
	assert.Equal(t, "RATE_LIMITED", out[0].ReasonCode)
	assert.Equal(t, "READ", out[1].Status)
	assert.Equal(t, out[1].MessageID, final.ProviderMessageID)
}

func testReplyPolicy(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, func(cfg *config.Config) { cfg.PolicyWarningStreak = 2 })
	bob := s.agents["bob"]
	events := s.openEventStream(bob)
	it := s.hello("393330000004")
	require.NoError(t, s.em.AddFault(appID, emulator.Fault{ReasonCode: "RECIPIENT_NOT_OPTED_IN", Times: 2}))
	var first, second api.MessageResponse
	require.Equal(t, http.StatusAccepted, s.reply(it, bob.Token, map[string]string{"text": "one"}, &first))
	failed := s.waitStatus(it.ID, first.ID, "failed")
	require.NotNil(t, failed.Error)
	assert.Equal(t, "RECIPIENT_NOT_OPTED_IN", failed.Error.Code)
	assert.Equal(t, "policy", failed.Error.Class)
	assert.Contains(t, failed.Error.Message, "may be blocked by Meta")

	var acc api.AccountResponse
	s.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", s.account), nil, &acc, http.StatusOK)
	for _, w := range acc.Warnings {
		assert.NotContains(t, w, api.WarningMetaBlocked, "one failure is no streak yet")
	}
	require.Equal(t, http.StatusAccepted, s.reply(it, bob.Token, map[string]string{"text": "two"}, &second))
	s.waitStatus(it.ID, second.ID, "failed")
	assert.Len(t, s.outbox("393330000004"), 2, "never resent")

	full := s.interaction(it.ID)
	var notes []string
	for _, m := range full.Messages {
		if m.Direction == "system" {
			notes = append(notes, m.Text)
		}
	}
	require.Len(t, notes, 2, "a system message per failure")
	assert.Contains(t, notes[0], "RECIPIENT_NOT_OPTED_IN")

	ev := events.next(t, "message.status")
	for !strings.Contains(ev, `"status":"failed"`) {
		ev = events.next(t, "message.status")
	}
	assert.Contains(t, ev, `"class":"policy"`)
	assert.Contains(t, ev, `"code":"RECIPIENT_NOT_OPTED_IN"`)

	s.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", s.account), nil, &acc, http.StatusOK)
	assert.Equal(t, 2, acc.PolicyFailureStreak)
	joined := strings.Join(acc.Warnings, "\n")
	assert.Contains(t, joined, api.WarningMetaBlocked)
	assert.Contains(t, joined, "RECIPIENT_NOT_OPTED_IN")
}

// testReplyWorkerStopped: Sinch accepts the reply but its answer never
// reaches the worker, which is stopped hard (its activity cancelled, the
// result lost); a new worker retries the send, finds the message in
// Sinch's list by its metadata and does not send it again. The first
// (local) try is answered 500 so that the regular activity, which takes
// it over, is the send that hangs; testReplyLocalSendWorkerStopped stops
// the worker in the local try.
func testReplyWorkerStopped(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	bob := s.agents["bob"]
	it := s.hello("393330000005")
	require.NoError(t, s.em.AddFault(appID, emulator.Fault{HTTPStatus: http.StatusInternalServerError, To: "393330000005"}))
	require.NoError(t, s.em.AddFault(appID, emulator.Fault{HangAfterAccept: true, To: "393330000005"}))
	var msg api.MessageResponse
	require.Equal(t, http.StatusAccepted, s.reply(it, bob.Token, map[string]string{"text": "exactly once"}, &msg))
	require.Eventually(t, func() bool { return len(s.outbox("393330000005")) == 1 }, 20*time.Second, 20*time.Millisecond, "Sinch accepted it")
	s.dev.StopWorker()
	var row models.Message
	require.NoError(t, s.dev.DB.Take(&row, msg.ID).Error)
	assert.NotNil(t, row.SendStartedAt, "the attempt was recorded, its outcome unknown")
	assert.Nil(t, row.ProviderMessageID, "the worker never learnt Sinch's id")
	require.NoError(t, s.dev.StartWorker())

	final := s.waitStatus(it.ID, msg.ID, "read")
	out := s.outbox("393330000005")
	require.Len(t, out, 1, "exactly one message at the customer")
	assert.Equal(t, out[0].MessageID, final.ProviderMessageID)
}

func testReplyRefusals(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	bob, carl := s.agents["bob"], s.agents["carl"]
	it := s.hello("393330000006")
	owner, other := bob, carl
	if *it.AgentID == carl.ID {
		owner, other = carl, bob
	}
	var e api.ErrorBody
	assert.Equal(t, http.StatusBadRequest, s.reply(it, owner.Token, map[string]string{"text": "  "}, &e))
	assert.Equal(t, "invalid_message", e.Error.Code)
	assert.Equal(t, http.StatusBadRequest, s.reply(it, owner.Token, map[string]any{}, &e))
	assert.Equal(t, http.StatusUnprocessableEntity, s.reply(it, owner.Token, map[string]string{"text": strings.Repeat("a", 4097)}, &e))
	assert.Equal(t, "message_too_long", e.Error.Code)
	assert.Contains(t, e.Error.Message, "4096")
	assert.Equal(t, http.StatusUnprocessableEntity, s.reply(it, owner.Token, map[string]any{"template": map[string]string{"name": "welcome"}}, &e))
	assert.Equal(t, "templates_not_supported", e.Error.Code)
	assert.Contains(t, e.Error.Message, "message templates are not supported: only replies to customers")
	assert.Equal(t, http.StatusForbidden, s.reply(it, other.Token, map[string]string{"text": "not mine"}, &e))
	assert.Equal(t, http.StatusNotFound, s.call(http.MethodPost, "/api/interactions/999999/messages", s.cfg.AdminToken, map[string]string{"text": "x"}, &e))

	// The same Idempotency-Key twice stores and sends one reply.
	send := func() (int, api.MessageResponse) {
		var m api.MessageResponse
		req, err := http.NewRequest(http.MethodPost, s.url(fmt.Sprintf("/api/interactions/%d/messages", it.ID)), strings.NewReader(`{"text":"only once"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+owner.Token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "retry-1")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		return resp.StatusCode, m
	}
	c1, _ := send()
	c2, _ := send()
	assert.Equal(t, http.StatusAccepted, c1)
	assert.Equal(t, http.StatusAccepted, c2)
	require.Eventually(t, func() bool { return len(s.outbox("393330000006")) >= 1 }, 20*time.Second, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // let a wrongly queued second send show up
	assert.Len(t, s.outbox("393330000006"), 1, "one reply for one Idempotency-Key")

	// Outside the 24 h window: the customer's last message is 25 h old.
	old := inboundBody("01HOLDMSG0001", "393330000007", "old message", time.Now().Add(-25*time.Hour))
	code, body := s.postSigned(old, webhookSecret)
	require.Equal(t, http.StatusOK, code, body)
	var oldIt api.InteractionResponse
	require.Eventually(t, func() bool {
		for _, i := range s.interactions("status=assigned") {
			if i.Contact.Identity == "393330000007" {
				oldIt = i
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond)
	assert.Equal(t, http.StatusUnprocessableEntity, s.reply(oldIt, "", map[string]string{"text": "too late"}, &e))
	assert.Equal(t, "outside_customer_service_window", e.Error.Code)
	assert.Contains(t, e.Error.Message, "24h0m0s ago")

	// A closed interaction refuses replies.
	require.Equal(t, http.StatusOK, s.call(http.MethodPost, fmt.Sprintf("/api/interactions/%d/close", it.ID), owner.Token, map[string]string{}, nil))
	assert.Equal(t, http.StatusConflict, s.reply(it, owner.Token, map[string]string{"text": "hello?"}, &e))
	assert.Equal(t, "interaction_closed", e.Error.Code)
}
