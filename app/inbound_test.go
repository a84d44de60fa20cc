package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/devserver"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
	"github.com/xcally-connector/connector/workflows"
)

const (
	webhookSecret = "whsec-e2e-0123456789"
	appID         = "01HAPPE2E"
)

// stack is a running dev stack with one account, one queue and agents.
type stack struct {
	t       *testing.T
	cfg     *config.Config
	dev     *app.Dev
	account uint64
	queue   uint64
	agents  map[string]agentCreds
}

type agentCreds struct {
	ID    uint64
	Token string
}

func (s *stack) url(path string) string { return s.dev.APIURL() + path }

// call sends a JSON request and decodes a JSON answer into out.
func (s *stack) call(method, path, token string, in, out any) int {
	s.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		require.NoError(s.t, err)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url(path), body)
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	if out != nil && len(raw) > 0 {
		require.NoError(s.t, json.Unmarshal(raw, out), "%s %s: %s", method, path, raw)
	}
	return resp.StatusCode
}

func (s *stack) admin(method, path string, in, out any, want int) {
	s.t.Helper()
	var raw json.RawMessage
	code := s.call(method, path, s.cfg.AdminToken, in, &raw)
	require.Equal(s.t, want, code, "%s %s: %s", method, path, raw)
	if out != nil {
		require.NoError(s.t, json.Unmarshal(raw, out))
	}
}

// newStack starts the dev stack on engine and configures an account with a
// webhook secret, a queue with the given strategy and the named agents
// (members of the queue, account enabled, available unless "away").
func newStack(t *testing.T, engine models.Engine, strategy string, agents ...string) *stack {
	t.Helper()
	return newStackWith(t, engine, nil, strategy, agents...)
}

// newStackWith is newStack with the configuration adjusted by tweak.
func newStackWith(t *testing.T, engine models.Engine, tweak func(*config.Config), strategy string, agents ...string) *stack {
	t.Helper()
	cfg := devConfig(t, engine)
	cfg.RoutingRecheck = 2 * time.Second
	if tweak != nil {
		tweak(cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := app.StartDev(ctx, cfg, cfg.NewLogger(os.Stderr))
	require.NoError(t, err)
	t.Cleanup(d.Stop)
	s := &stack{t: t, cfg: cfg, dev: d, agents: map[string]agentCreds{}}

	var acc struct{ ID uint64 }
	s.admin(http.MethodPost, "/api/whatsapp/accounts", map[string]any{
		"name": "Acme Support", "key": "acme", "publicUrl": "https://motion.example.com", "region": "eu",
		"projectId": "proj-1", "appId": appID, "keyId": "key-1", "keySecret": "ks-1",
		"webhookSecret": webhookSecret, "phone": "+390212345678", "channels": []string{"WHATSAPP", "INSTAGRAM"},
	}, &acc, http.StatusCreated)
	s.account = acc.ID
	var q struct{ ID uint64 }
	s.admin(http.MethodPost, "/api/queues", map[string]any{"name": "support", "strategy": strategy}, &q, http.StatusCreated)
	s.queue = q.ID
	s.admin(http.MethodPut, fmt.Sprintf("/api/queues/%d/accounts/%d", q.ID, acc.ID), nil, nil, http.StatusNoContent)
	for _, name := range agents {
		var ag struct {
			ID    uint64
			Token string
		}
		s.admin(http.MethodPost, "/api/agents", map[string]any{"name": name, "capacity": 5}, &ag, http.StatusCreated)
		s.agents[name] = agentCreds{ag.ID, ag.Token}
		s.admin(http.MethodPut, fmt.Sprintf("/api/queues/%d/agents/%d", q.ID, ag.ID), nil, nil, http.StatusNoContent)
		// The admin permits the account; the agent enables it itself, with
		// its own token.
		s.admin(http.MethodPut, fmt.Sprintf("/api/agents/%d/permissions/%d", ag.ID, acc.ID), nil, nil, http.StatusNoContent)
		require.Equal(t, http.StatusNoContent, s.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", ag.ID, acc.ID), ag.Token, nil, nil))
		if !strings.HasPrefix(name, "away") {
			require.Equal(t, http.StatusOK, s.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/presence", ag.ID), ag.Token, map[string]string{"status": "available"}, nil))
		}
	}
	return s
}

// inboundBody is a WhatsApp text callback as Sinch sends it in CONVERSATION mode.
func inboundBody(msgID, identity, text string, at time.Time) []byte {
	ts := at.UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(map[string]any{
		"app_id": appID, "project_id": "proj-1", "accepted_time": ts, "event_time": ts,
		"message_metadata": "", "correlation_id": "",
		"message": map[string]any{
			"id": msgID, "direction": "TO_APP",
			"contact_message":  map[string]any{"text_message": map[string]any{"text": text}},
			"channel_identity": map[string]any{"channel": "WHATSAPP", "identity": identity, "app_id": ""},
			"conversation_id":  "01HCONV" + identity, "contact_id": "01HCONT" + identity,
			"metadata": "", "accept_time": ts, "sender_id": "390212345678",
			"processing_mode": "CONVERSATION", "injected": false,
		},
	})
	return b
}

var nonceSeq struct {
	sync.Mutex
	n int
}

func nextNonce() string {
	nonceSeq.Lock()
	defer nonceSeq.Unlock()
	nonceSeq.n++
	return fmt.Sprintf("01NONCE%020d", nonceSeq.n)
}

// postSigned posts a callback signed like Sinch with a fresh nonce.
func (s *stack) postSigned(body []byte, secret string) (int, string) {
	return s.postWithNonce(body, secret, nextNonce())
}

// postLikeSinch posts a callback the way Sinch delivers it: a 5xx (the
// connector's "not durable, retry" answer, e.g. the engine did not accept
// the signal in time under load) is retried with a fresh signature, a few
// times; the last answer is returned.
func (s *stack) postLikeSinch(body []byte, secret string) (int, string) {
	var code int
	var resp string
	for attempt := 0; attempt < 5; attempt++ {
		if code, resp = s.postSigned(body, secret); code < 500 {
			return code, resp
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return code, resp
}

func (s *stack) postWithNonce(body []byte, secret, nonce string) (int, string) {
	req, err := http.NewRequest(http.MethodPost, s.url(fmt.Sprintf("/api/whatsapp/accounts/%d/notify", s.account)), bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	sinch.SetSignatureHeaders(req.Header, secret, body, nonce, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func (s *stack) interactions(query string) []api.InteractionResponse {
	s.t.Helper()
	var list api.InteractionList
	s.admin(http.MethodGet, "/api/interactions?"+query, nil, &list, http.StatusOK)
	return list.Items
}

func (s *stack) interaction(id uint64) api.InteractionResponse {
	s.t.Helper()
	var out api.InteractionResponse
	s.admin(http.MethodGet, fmt.Sprintf("/api/interactions/%d", id), nil, &out, http.StatusOK)
	return out
}

func countRows(t *testing.T, d *app.Dev, model any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, d.DB.Model(model).Count(&n).Error)
	return n
}

func TestInboundEndToEnd(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			t.Run("signed text is routed to the available agent", func(t *testing.T) { testRoutedToAgent(t, engine) })
			t.Run("concurrent messages and redeliveries", func(t *testing.T) { testConcurrentAndDuplicates(t, engine) })
			t.Run("bad signature stores nothing", func(t *testing.T) { testBadSignature(t, engine) })
			t.Run("temporal down answers 503 then the retry lands", func(t *testing.T) { testTemporalDown(t, engine) })
			t.Run("the emulator's callback retries outlast a Temporal outage", func(t *testing.T) { testEmulatorRetries(t, engine) })
		})
	}
}

func testRoutedToAgent(t *testing.T, engine models.Engine) {
	s := newStack(t, engine, "round_robin", "away-ann", "bob")
	bob := s.agents["bob"]
	events := s.openEventStream(bob)

	code, body := s.postSigned(inboundBody("01HMSG0001", "393331234567", "Hi, I need help", time.Now()), webhookSecret)
	require.Equal(t, http.StatusOK, code, body)
	assert.JSONEq(t, `{"status":"accepted","trigger":"MESSAGE_INBOUND"}`, body)

	var it api.InteractionResponse
	require.Eventually(t, func() bool {
		items := s.interactions(fmt.Sprintf("accountId=%d", s.account))
		if len(items) == 1 && items[0].Status == "assigned" {
			it = items[0]
			return true
		}
		return false
	}, 20*time.Second, 50*time.Millisecond, "the interaction is assigned")
	require.NotNil(t, it.AgentID)
	assert.Equal(t, bob.ID, *it.AgentID, "the available agent, not the away one")
	assert.Equal(t, s.queue, *it.QueueID)
	assert.Equal(t, "393331234567", it.Contact.Identity)
	assert.Equal(t, "+393331234567", it.Contact.Mobile)
	assert.Equal(t, "CONVERSATION", it.ProcessingMode)
	assert.Equal(t, workflows.ConversationWorkflowID(s.account, "WHATSAPP", "393331234567"), it.WorkflowID)

	full := s.interaction(it.ID)
	require.Len(t, full.Messages, 1)
	assert.Equal(t, "Hi, I need help", full.Messages[0].Text)
	assert.Equal(t, "inbound", full.Messages[0].Direction)
	assert.Equal(t, "01HMSG0001", full.Messages[0].ProviderMessageID)

	ev := events.next(t, "interaction.assigned")
	assert.Contains(t, ev, "Account: Acme Support")
	assert.Contains(t, ev, "Queue: support")
	assert.Contains(t, ev, "From : +393331234567", "the default template shows the phone, as Motion's since v3.46.0")

	// The agent sees it; an agent who did not enable the account does not.
	var mine api.InteractionList
	require.Equal(t, http.StatusOK, s.call(http.MethodGet, "/api/interactions", bob.Token, nil, &mine))
	assert.Len(t, mine.Items, 1)

	// A second message reaches the agent's stream; close with a disposition.
	code, body = s.postSigned(inboundBody("01HMSG0002", "393331234567", "Are you there?", time.Now()), webhookSecret)
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, events.next(t, "message.inbound"), "Are you there?")
	var closed api.InteractionResponse
	require.Equal(t, http.StatusOK, s.call(http.MethodPost, fmt.Sprintf("/api/interactions/%d/close", it.ID), bob.Token, map[string]string{"disposition": "Solved"}, &closed))
	assert.Equal(t, "closed", closed.Status)
	assert.Equal(t, "Solved", closed.Disposition)
	require.Len(t, closed.Messages, 2)
	var apiErr api.ErrorBody
	assert.Equal(t, http.StatusConflict, s.call(http.MethodPost, fmt.Sprintf("/api/interactions/%d/close", it.ID), bob.Token, map[string]string{}, &apiErr))

	// A new message after the close opens a new interaction.
	code, body = s.postSigned(inboundBody("01HMSG0003", "393331234567", "One more thing", time.Now()), webhookSecret)
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool {
		return len(s.interactions(fmt.Sprintf("accountId=%d&status=assigned", s.account))) == 1
	}, 20*time.Second, 50*time.Millisecond)
	assert.Len(t, s.interactions(fmt.Sprintf("accountId=%d", s.account)), 2)
	if engine == models.SQLite {
		saveHistory(t, s.dev, it.WorkflowID, "conversation_cheap.json")
	}
}

func testConcurrentAndDuplicates(t *testing.T, engine models.Engine) {
	s := newStack(t, engine, "least_busy", "carol")
	base := time.Now().Add(-time.Minute)

	// 30 different messages from one contact, all at once.
	var wg sync.WaitGroup
	codes := make([]int, 30)
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = s.postLikeSinch(inboundBody(fmt.Sprintf("01HC%04d", i), "447700900001", fmt.Sprintf("part %02d", i), base.Add(time.Duration(i)*time.Millisecond)), webhookSecret)
		}()
	}
	wg.Wait()
	for i, c := range codes {
		require.Equal(t, http.StatusOK, c, "message %d", i)
	}
	var one api.InteractionResponse
	require.Eventually(t, func() bool {
		items := s.interactions("")
		if len(items) != 1 {
			return false
		}
		one = s.interaction(items[0].ID)
		return len(one.Messages) == 30
	}, 30*time.Second, 100*time.Millisecond, "one interaction with 30 messages")
	for i, m := range one.Messages {
		assert.Equal(t, fmt.Sprintf("part %02d", i), m.Text, "ordered by Sinch accept_time")
	}

	// Every webhook of another contact delivered 5 times concurrently, each
	// delivery freshly signed as a Sinch retry would be.
	for i := 0; i < 10; i++ {
		for k := 0; k < 5; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body := s.postLikeSinch(inboundBody(fmt.Sprintf("01HD%04d", i), "447700900002", fmt.Sprintf("dup %d", i), base.Add(time.Duration(i)*time.Second)), webhookSecret)
				assert.Equal(t, http.StatusOK, code, body)
			}()
		}
	}
	wg.Wait()
	require.Eventually(t, func() bool {
		var n int64
		require.NoError(t, s.dev.DB.Model(&models.Message{}).Where("provider_message_id LIKE ?", "01HD%").Count(&n).Error)
		return n == 10
	}, 30*time.Second, 100*time.Millisecond)
	// Let any straggling redelivery land, then check again: still 10.
	time.Sleep(500 * time.Millisecond)
	var n int64
	require.NoError(t, s.dev.DB.Model(&models.Message{}).Where("provider_message_id LIKE ?", "01HD%").Count(&n).Error)
	assert.EqualValues(t, 10, n, "no duplicates")
	assert.Len(t, s.interactions(""), 2, "one interaction per contact")

	// The exact same signed request replayed is refused (nonce reuse).
	body := inboundBody("01HD0000", "447700900002", "dup 0", base)
	code, resp := s.postWithNonce(body, webhookSecret, "01REPLAYNONCE")
	require.Equal(t, http.StatusOK, code, resp)
	code, resp = s.postWithNonce(body, webhookSecret, "01REPLAYNONCE")
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Contains(t, resp, "nonce_replayed")
}

func testBadSignature(t *testing.T, engine models.Engine) {
	s := newStack(t, engine, "round_robin", "dan")
	body := inboundBody("01HBAD0001", "393330000000", "forged", time.Now())
	code, resp := s.postSigned(body, "not-the-secret")
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Contains(t, resp, "signature_invalid")

	req, _ := http.NewRequest(http.MethodPost, s.url(fmt.Sprintf("/api/whatsapp/accounts/%d/notify", s.account)), bytes.NewReader(body))
	r, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = r.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode, "unsigned")

	old := http.Header{}
	sinch.SetSignatureHeaders(old, webhookSecret, body, nextNonce(), time.Now().Add(-72*time.Hour))
	req, _ = http.NewRequest(http.MethodPost, s.url(fmt.Sprintf("/api/whatsapp/accounts/%d/notify", s.account)), bytes.NewReader(body))
	req.Header = old
	r, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = r.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode, "timestamp outside the window")

	assert.EqualValues(t, 0, countRows(t, s.dev, &models.Contact{}), "nothing stored after refused callbacks")
	code, resp = s.postSigned(body, webhookSecret)
	require.Equal(t, http.StatusOK, code, resp)
	// Give a wrongly accepted callback time to land, then check nothing did
	// except the one correctly signed delivery.
	require.Eventually(t, func() bool { return countRows(t, s.dev, &models.Message{}) == 1 }, 20*time.Second, 50*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	var texts []string
	require.NoError(t, s.dev.DB.Model(&models.Message{}).Pluck("text", &texts).Error)
	assert.Equal(t, []string{"forged"}, texts, "only the correctly signed delivery was stored")

	code, resp = s.postSigned([]byte(`{"app_id":`), webhookSecret)
	assert.Equal(t, http.StatusBadRequest, code, resp)
	var apiErr api.ErrorBody
	assert.Equal(t, http.StatusNotFound, s.call(http.MethodPost, "/api/whatsapp/accounts/999999/notify", "", map[string]any{}, &apiErr))
	assert.Equal(t, "account_not_found", apiErr.Error.Code)
}

func testTemporalDown(t *testing.T, engine models.Engine) {
	s := newStack(t, engine, "round_robin", "eve")
	addr := s.dev.Temporal.FrontendAddr()
	s.dev.Temporal.Stop()

	body := inboundBody("01HDOWN001", "393339999999", "are you up?", time.Now())
	code, resp := s.postWithNonce(body, webhookSecret, "01DOWNNONCE")
	require.Equal(t, http.StatusServiceUnavailable, code, resp)
	assert.Contains(t, resp, "engine_unavailable")
	assert.EqualValues(t, 0, countRows(t, s.dev, &models.Message{}))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{FrontendAddr: addr, DBPath: s.cfg.TemporalDBPath,
		Namespace: s.cfg.TemporalNamespace, SearchAttributes: workflows.SearchAttributes})
	require.NoError(t, err)
	s.dev.Temporal = srv

	// Sinch retries the same request, same nonce: it was not consumed.
	require.Eventually(t, func() bool {
		code, resp = s.postWithNonce(body, webhookSecret, "01DOWNNONCE")
		return code == http.StatusOK
	}, 30*time.Second, 500*time.Millisecond, "retry after restart: %d %s", code, resp)
	require.Eventually(t, func() bool {
		items := s.interactions("status=assigned")
		return len(items) == 1 && len(s.interaction(items[0].ID).Messages) == 1
	}, 30*time.Second, 100*time.Millisecond)
}

// eventStream reads an agent's SSE stream.
type eventStream struct {
	lines chan string
}

func (s *stack) openEventStream(a agentCreds) *eventStream {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url(fmt.Sprintf("/api/agents/%d/events", a.ID)), nil)
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+a.Token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	require.Equal(s.t, http.StatusOK, resp.StatusCode)
	require.Equal(s.t, "text/event-stream", resp.Header.Get("Content-Type"))
	es := &eventStream{lines: make(chan string, 100)}
	go func() {
		defer func() { _ = resp.Body.Close() }()
		sc := bufio.NewScanner(resp.Body)
		var event string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				es.lines <- event + " " + strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return es
}

// next returns the data of the next event of type typ (skipping others).
func (es *eventStream) next(t *testing.T, typ string) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l := <-es.lines:
			if strings.HasPrefix(l, typ+" ") {
				return strings.TrimPrefix(l, typ+" ")
			}
		case <-deadline:
			t.Fatalf("no %s event within 20s", typ)
			return ""
		}
	}
}

// testEmulatorRetries sends a customer message from the Sinch emulator while
// Temporal is down: the connector answers 503, the emulator retries like
// Sinch, and once Temporal is back the message lands exactly once.
func testEmulatorRetries(t *testing.T, engine models.Engine) {
	s := newStack(t, engine, "round_robin", "fay")
	em := emulator.New(emulator.Options{RetrySchedule: []time.Duration{300 * time.Millisecond, 600 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}})
	_, err := em.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = em.Close() })
	require.NoError(t, em.CreateApp(emulator.App{AppID: appID, ProjectID: "proj-1", Region: "eu", ProcessingMode: "CONVERSATION",
		WebhookURL: s.url(fmt.Sprintf("/api/whatsapp/accounts/%d/notify", s.account)), WebhookSecret: webhookSecret, KeyID: "key-1", KeySecret: "ks-1"}))

	addr := s.dev.Temporal.FrontendAddr()
	s.dev.Temporal.Stop()
	_, err = em.SendInbound(appID, emulator.Inbound{From: "393337777777", Text: "anyone there?"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, a := range em.CallbackAttempts(appID) {
			if a.StatusCode == http.StatusServiceUnavailable {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the connector refused the callback while Temporal was down")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{FrontendAddr: addr, DBPath: s.cfg.TemporalDBPath,
		Namespace: s.cfg.TemporalNamespace, SearchAttributes: workflows.SearchAttributes})
	require.NoError(t, err)
	s.dev.Temporal = srv
	require.Eventually(t, func() bool {
		items := s.interactions("status=assigned")
		return len(items) == 1 && items[0].Contact.Identity == "393337777777"
	}, 30*time.Second, 100*time.Millisecond, "a retry landed after the restart")
	assert.EqualValues(t, 1, countRows(t, s.dev, &models.Message{}), "exactly once")
}
