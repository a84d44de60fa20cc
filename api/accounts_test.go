package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/workflows"
)

// Secrets sent by the configuration tests. Every cfgEnv checks at cleanup
// that none of them appears in any response body or log line, and that a
// secret the API generated appears only in the one response that returns
// it (cfgEnv.shownOnce).
const (
	cfgKeySecret     = "ks-PLAIN-key-secret-0001"
	cfgWebhookSecret = "wh-PLAIN-webhook-secret-0001"
	cfgRotatedSecret = "ks-PLAIN-rotated-secret-0002"
	cfgNewWebhook    = "wh-PLAIN-new-webhook-secret-0002"
)

var cfgSecrets = []string{cfgKeySecret, cfgWebhookSecret, cfgRotatedSecret, cfgNewWebhook}

// cfgTemporal records the routing nudges the API sends and the workflows
// it starts (AgentReleaseWorkflow); startErr (of fakeTemporal) fails the
// starts.
type cfgTemporal struct {
	fakeTemporal
	mu      sync.Mutex
	signals []string
	starts  []cfgStart
}

// cfgStart is one ExecuteWorkflow call.
type cfgStart struct {
	opts     client.StartWorkflowOptions
	workflow any
	args     []any
}

func (f *cfgTemporal) ExecuteWorkflow(_ context.Context, opts client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return nil, f.startErr
	}
	f.starts = append(f.starts, cfgStart{opts: opts, workflow: wf, args: args})
	return nil, nil
}

// releases returns the AgentReleaseWorkflow starts so far, checking that
// each went by name to the API's task queue with one AgentReleaseInput and
// a workflow id of its agent and account.
func (f *cfgTemporal) releases(t *testing.T) []workflows.AgentReleaseInput {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []workflows.AgentReleaseInput
	for _, s := range f.starts {
		if !assert.Equal(t, workflows.AgentReleaseWorkflowName, s.workflow, "started by its registered name") || !assert.Len(t, s.args, 1) {
			continue
		}
		in, ok := s.args[0].(workflows.AgentReleaseInput)
		if !assert.True(t, ok, "argument %T is an AgentReleaseInput", s.args[0]) {
			continue
		}
		assert.Equal(t, "q", s.opts.TaskQueue)
		assert.True(t, strings.HasPrefix(s.opts.ID, fmt.Sprintf("agent-release/%d/%d/", in.AgentID, in.AccountID)), "workflow id %q", s.opts.ID)
		out = append(out, in)
	}
	return out
}

func (f *cfgTemporal) SignalWorkflow(_ context.Context, workflowID, _ string, name string, _ any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, name+" "+workflowID)
	return nil
}

// expectSignals waits for the asynchronous routing nudges to reach want,
// then checks that no more arrive.
func (f *cfgTemporal) expectSignals(t *testing.T, want int, msg string) {
	t.Helper()
	assert.Eventually(t, func() bool { return f.signalCount() >= want }, 5*time.Second, 5*time.Millisecond, msg)
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, want, f.signalCount(), msg)
}

// settled waits until no nudge arrived for 100ms and returns the count.
func (f *cfgTemporal) settled() int {
	n := f.signalCount()
	for {
		time.Sleep(100 * time.Millisecond)
		m := f.signalCount()
		if m == n {
			return n
		}
		n = m
	}
}

func (f *cfgTemporal) signalCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.signals)
}

// cfgLog is a goroutine-safe log sink.
type cfgLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *cfgLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *cfgLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// cfgEnv is an API server on one database engine, with everything the
// configuration tests inspect.
type cfgEnv struct {
	t        *testing.T
	e        *echo.Echo
	db       *gorm.DB
	box      *secretbox.Box
	temporal *cfgTemporal
	logs     *cfgLog
	mu       sync.Mutex
	bodies   []string
	// shownOnce maps a secret the API generated to the index in bodies of
	// the one response that returned it.
	shownOnce map[string]int
}

// forEachCfgEngine runs fn on a fresh server per engine.
func forEachCfgEngine(t *testing.T, fn func(t *testing.T, env *cfgEnv)) {
	forEachCfgEngineWith(t, nil, fn)
}

// forEachCfgEngineWith is forEachCfgEngine with tweak applied to the
// server's deps.
func forEachCfgEngineWith(t *testing.T, tweak func(*api.Deps), fn func(t *testing.T, env *cfgEnv)) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			fn(t, newCfgEnvWith(t, engine, tweak))
		})
	}
}

// allowCustomURLs lets accounts name a loopback or emulator baseUrl and
// authUrl (SINCH_ALLOW_CUSTOM_URLS), for the tests that need one.
func allowCustomURLs(d *api.Deps) { d.SinchAllowCustomURLs = true }

func newCfgEnv(t *testing.T, engine models.Engine) *cfgEnv {
	t.Helper()
	return newCfgEnvWith(t, engine, nil)
}

// newCfgEnvWith is a configuration server on engine; tweak (may be nil)
// adjusts its deps before the server is built.
func newCfgEnvWith(t *testing.T, engine models.Engine, tweak func(*api.Deps)) *cfgEnv {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	env := &cfgEnv{t: t, db: testdb.Open(t, engine), box: box, temporal: &cfgTemporal{}, logs: &cfgLog{}, shownOnce: map[string]int{}}
	logger := slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	deps := api.Deps{DB: env.db, Temporal: env.temporal, Secrets: box, Logger: logger,
		AdminToken: adminToken, TaskQueue: "q", PublicURL: "https://motion.example.com"}
	if tweak != nil {
		tweak(&deps)
	}
	env.e = api.New(deps)
	t.Cleanup(func() {
		env.mu.Lock()
		defer env.mu.Unlock()
		for _, secret := range cfgSecrets {
			for _, b := range env.bodies {
				assert.NotContains(t, b, secret, "a secret in a response body")
			}
			assert.NotContains(t, env.logs.String(), secret, "a secret in the logs")
		}
		// A generated secret is returned once, by design, to be pasted
		// into Sinch: only that response may carry it.
		for secret, once := range env.shownOnce {
			for i, b := range env.bodies {
				if i != once {
					assert.NotContains(t, b, secret, "a generated secret in a response other than the one that generated it")
				}
			}
			assert.NotContains(t, env.logs.String(), secret, "a generated secret in the logs")
		}
	})
	return env
}

// generated reads the webhook secret the API generated from rec, the
// latest response, and registers it as shown once.
func (env *cfgEnv) generated(rec *httptest.ResponseRecorder) string {
	env.t.Helper()
	var v struct {
		WebhookSecret string `json:"webhookSecret"`
	}
	require.NoError(env.t, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	require.NotEmpty(env.t, v.WebhookSecret, "the response carries the generated secret: %s", rec.Body.String())
	env.mu.Lock()
	defer env.mu.Unlock()
	require.Equal(env.t, rec.Body.String(), env.bodies[len(env.bodies)-1], "rec is the latest response")
	env.shownOnce[v.WebhookSecret] = len(env.bodies) - 1
	return v.WebhookSecret
}

// call sends a request with an optional bearer token; body is a string or
// a value marshalled to JSON.
func (env *cfgEnv) call(method, path, token string, body any) *httptest.ResponseRecorder {
	env.t.Helper()
	var raw string
	switch b := body.(type) {
	case nil:
	case string:
		raw = b
	default:
		j, err := json.Marshal(b)
		require.NoError(env.t, err)
		raw = string(j)
	}
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	rec := do(env.e, method, path, raw, hdr)
	env.mu.Lock()
	env.bodies = append(env.bodies, rec.Body.String())
	env.mu.Unlock()
	return rec
}

func (env *cfgEnv) admin(method, path string, body any) *httptest.ResponseRecorder {
	env.t.Helper()
	return env.call(method, path, adminToken, body)
}

// cfgDecode requires status and decodes the body.
func cfgDecode[T any](t *testing.T, rec *httptest.ResponseRecorder, status int) T {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	return v
}

// cfgFullAccount sets every account field.
func cfgFullAccount(key string) map[string]any {
	return map[string]any{
		"name": "Sales " + key, "key": key, "list": "Leads", "publicUrl": "https://motion.example.com/",
		"type": "sinch_v2", "region": "eu",
		"baseUrl": "https://eu.conversation.api.sinch.com/", "authUrl": "https://eu.auth.sinch.com/oauth2/token",
		"projectId": "proj-1", "appId": "app-1", "keyId": "key-1",
		"keySecret": cfgKeySecret, "webhookSecret": cfgWebhookSecret,
		"phone": "+393331234567", "description": "Italian sales line",
		"notificationTemplate": "{{account.name}}: {{contact.mobile}}",
		"channels":             []string{"WHATSAPP", "INSTAGRAM"}, "debug": true,
	}
}

// cfgMinimalAccount sets only the required account fields (a webhook
// secret is required unless unsigned callbacks are allowed explicitly).
func cfgMinimalAccount(key string) map[string]any {
	return map[string]any{
		"name": "Support " + key, "key": key, "publicUrl": "https://motion.example.com", "region": "us",
		"projectId": "proj-2", "appId": "app-2", "keyId": "key-2", "keySecret": cfgKeySecret, "webhookSecret": cfgWebhookSecret,
		"phone": "+14155550100",
	}
}

func (env *cfgEnv) createAccount(key string) api.AccountResponse {
	env.t.Helper()
	return cfgDecode[api.AccountResponse](env.t, env.admin(http.MethodPost, "/api/whatsapp/accounts", cfgMinimalAccount(key)), http.StatusCreated)
}

func (env *cfgEnv) createAgent(name string) api.AgentCreatedResponse {
	env.t.Helper()
	return cfgDecode[api.AgentCreatedResponse](env.t, env.admin(http.MethodPost, "/api/agents", map[string]any{"name": name}), http.StatusCreated)
}

// permit gives agentID the admin's permission on accountID.
func (env *cfgEnv) permit(agentID, accountID uint64) {
	env.t.Helper()
	rec := env.admin(http.MethodPut, fmt.Sprintf("/api/agents/%d/permissions/%d", agentID, accountID), nil)
	require.Equal(env.t, http.StatusNoContent, rec.Code, rec.Body.String())
}

// enable has the agent itself enable accountID (permitted before).
func (env *cfgEnv) enable(ag api.AgentCreatedResponse, accountID uint64) {
	env.t.Helper()
	rec := env.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", ag.ID, accountID), ag.Token, nil)
	require.Equal(env.t, http.StatusNoContent, rec.Code, rec.Body.String())
}

func (env *cfgEnv) createQueue(name string) api.QueueResponse {
	env.t.Helper()
	return cfgDecode[api.QueueResponse](env.t, env.admin(http.MethodPost, "/api/queues", map[string]any{"name": name, "strategy": "round_robin"}), http.StatusCreated)
}

// seedQueuedInteraction makes routingChanged find one waiting workflow.
func (env *cfgEnv) seedQueuedInteraction(accountID uint64) {
	env.t.Helper()
	c := models.Contact{AccountID: accountID, Channel: models.ChannelWhatsApp, Identity: "393330000001"}
	require.NoError(env.t, env.db.Create(&c).Error)
	in := models.Interaction{Key: "wf-queued#1", WorkflowID: "wf-queued", AccountID: accountID, ContactID: c.ID,
		Channel: models.ChannelWhatsApp, Status: models.InteractionQueued, OpenedAt: time.Now()}
	require.NoError(env.t, env.db.Create(&in).Error)
}

// assertFieldError checks a 400 whose message starts with the field name.
func assertFieldError(t *testing.T, rec *httptest.ResponseRecorder, field, contains string) {
	t.Helper()
	if !assert.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String()) {
		return
	}
	d := errorBody(t, rec)
	assert.True(t, strings.HasPrefix(d.Message, field+": "), "message %q names %s first", d.Message, field)
	assert.Contains(t, d.Message, contains)
}

func TestAccountCreateGetList(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		rec := env.admin(http.MethodPost, "/api/whatsapp/accounts", cfgFullAccount("sales"))
		full := cfgDecode[api.AccountResponse](t, rec, http.StatusCreated)
		require.NotZero(t, full.ID)
		assert.Equal(t, api.AccountResponse{
			ID: full.ID, Name: "Sales sales", Key: "sales", List: "Leads", PublicURL: "https://motion.example.com",
			Type: "sinch_v2", Region: "eu",
			BaseURL: "https://eu.conversation.api.sinch.com", AuthURL: "https://eu.auth.sinch.com/oauth2/token",
			ProjectID: "proj-1", AppID: "app-1", KeyID: "key-1", Phone: "+393331234567",
			Description: "Italian sales line", NotificationTemplate: "{{account.name}}: {{contact.mobile}}",
			Channels: []string{"WHATSAPP", "INSTAGRAM"}, Debug: true,
			ReceiveURL:   fmt.Sprintf("https://motion.example.com/api/whatsapp/accounts/%d/notify", full.ID),
			KeySecretSet: true, WebhookSecretSet: true, Status: "active", Warnings: []string{},
			CreatedAt: full.CreatedAt, UpdatedAt: full.UpdatedAt,
		}, full)
		assert.False(t, full.CreatedAt.IsZero())
		assert.Contains(t, rec.Body.String(), `"warnings":[]`, "warnings is never null")
		assert.NotContains(t, rec.Body.String(), "keySecret\"", "no secret field, only the flags")
		assert.NotContains(t, rec.Body.String(), "webhookSecret\"")

		minimal := env.createAccount("support")
		assert.Equal(t, "sinch_v2", minimal.Type, "default type")
		assert.Equal(t, []string{"WHATSAPP"}, minimal.Channels, "default channels")
		assert.Equal(t, activities.DefaultNotificationTemplate, minimal.NotificationTemplate, "default template")
		assert.False(t, minimal.Debug)
		assert.Empty(t, minimal.List)
		assert.Empty(t, minimal.BaseURL)
		assert.True(t, minimal.KeySecretSet)
		assert.True(t, minimal.WebhookSecretSet, "signed by default: the webhook secret is required")
		assert.False(t, minimal.AllowUnsignedWebhooks)
		assert.Empty(t, minimal.Warnings)

		got := cfgDecode[api.AccountResponse](t, env.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", full.ID), nil), http.StatusOK)
		assert.Equal(t, full, got, "GET returns what POST returned")

		list := cfgDecode[[]api.AccountResponse](t, env.admin(http.MethodGet, "/api/whatsapp/accounts", nil), http.StatusOK)
		require.Len(t, list, 2)
		assert.Equal(t, []uint64{full.ID, minimal.ID}, []uint64{list[0].ID, list[1].ID}, "ordered by id")
		assert.Equal(t, full, list[0])

		rec = env.admin(http.MethodGet, "/api/whatsapp/accounts/999", nil)
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.Equal(t, "account 999 does not exist", errorBody(t, rec).Message)
		assert.Contains(t, env.logs.String(), "account created", "the audit line is written, so the secret check above means something")
	})
}

func TestAccountListIsEmptyArray(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		rec := env.admin(http.MethodGet, "/api/whatsapp/accounts", nil)
		require.Equal(t, http.StatusOK, rec.Code)
		assert.JSONEq(t, `[]`, rec.Body.String())
	})
}

func TestDefaultNotificationTemplateRendersThePhone(t *testing.T) {
	text, err := activities.RenderNotification(models.Account{Name: "Sales"}, &models.Queue{Name: "Q1"},
		models.Contact{Mobile: "+393331234567"}, "")
	require.NoError(t, err)
	assert.Equal(t, "Account: Sales\nQueue: Q1\nFrom : +393331234567", text)
}

func TestAccountSecretsEncryptedAtRest(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		acc := cfgDecode[api.AccountResponse](t, env.admin(http.MethodPost, "/api/whatsapp/accounts", cfgFullAccount("sec")), http.StatusCreated)
		row := func() models.Account {
			var a models.Account
			require.NoError(t, env.db.Take(&a, acc.ID).Error)
			return a
		}
		assertSealed := func(sealed []byte, field, plain string) {
			t.Helper()
			require.NotEmpty(t, sealed, field)
			assert.False(t, bytes.Contains(sealed, []byte(plain)), "%s stored in clear", field)
			got, err := env.box.Open(sealed, secretbox.AccountAAD(acc.ID, field))
			require.NoError(t, err)
			assert.Equal(t, plain, got)
			_, err = env.box.Open(sealed, secretbox.AccountAAD(acc.ID+1, field))
			assert.ErrorIs(t, err, secretbox.ErrDecrypt, "bound to the account id")
		}
		r := row()
		assertSealed(r.KeySecretEnc, "key_secret", cfgKeySecret)
		assertSealed(r.WebhookSecretEnc, "webhook_secret", cfgWebhookSecret)
		_, err := env.box.Open(r.KeySecretEnc, secretbox.AccountAAD(acc.ID, "webhook_secret"))
		assert.ErrorIs(t, err, secretbox.ErrDecrypt, "bound to the column")

		path := fmt.Sprintf("/api/whatsapp/accounts/%d", acc.ID)
		got := cfgDecode[api.AccountResponse](t, env.admin(http.MethodPatch, path, map[string]any{"keySecret": cfgRotatedSecret}), http.StatusOK)
		assert.True(t, got.KeySecretSet)
		r = row()
		assertSealed(r.KeySecretEnc, "key_secret", cfgRotatedSecret)
		assertSealed(r.WebhookSecretEnc, "webhook_secret", cfgWebhookSecret)

		assertFieldError(t, env.admin(http.MethodPatch, path, map[string]any{"keySecret": ""}), "keySecret", "cannot be cleared")
		assertSealed(row().KeySecretEnc, "key_secret", cfgRotatedSecret)

		// Clearing the webhook secret needs the explicit choice of unsigned
		// callbacks; without it the PATCH is refused and changes nothing.
		assertFieldError(t, env.admin(http.MethodPatch, path, map[string]any{"webhookSecret": ""}), "webhookSecret", "allowUnsignedWebhooks")
		assertSealed(row().WebhookSecretEnc, "webhook_secret", cfgWebhookSecret)
		got = cfgDecode[api.AccountResponse](t, env.admin(http.MethodPatch, path, map[string]any{"webhookSecret": "", "allowUnsignedWebhooks": true}), http.StatusOK)
		assert.False(t, got.WebhookSecretSet)
		assert.True(t, got.AllowUnsignedWebhooks)
		assert.Equal(t, []string{api.WarningNoWebhookSecret}, got.Warnings)
		assert.Empty(t, row().WebhookSecretEnc, "cleared")
		assert.True(t, got.KeySecretSet, "the key secret is untouched")

		got = cfgDecode[api.AccountResponse](t, env.admin(http.MethodPatch, path, map[string]any{"webhookSecret": cfgNewWebhook, "allowUnsignedWebhooks": false}), http.StatusOK)
		assert.True(t, got.WebhookSecretSet)
		assert.False(t, got.AllowUnsignedWebhooks)
		assert.Empty(t, got.Warnings)
		assertSealed(row().WebhookSecretEnc, "webhook_secret", cfgNewWebhook)
	})
}

func TestAccountPatch(t *testing.T) {
	// The patch below points authUrl at a loopback token endpoint.
	forEachCfgEngineWith(t, allowCustomURLs, func(t *testing.T, env *cfgEnv) {
		before := cfgDecode[api.AccountResponse](t, env.admin(http.MethodPost, "/api/whatsapp/accounts", cfgFullAccount("p1")), http.StatusCreated)
		path := fmt.Sprintf("/api/whatsapp/accounts/%d", before.ID)

		got := cfgDecode[api.AccountResponse](t, env.admin(http.MethodPatch, path, map[string]any{"name": "  Renamed  "}), http.StatusOK)
		want := before
		want.Name, want.UpdatedAt = "Renamed", got.UpdatedAt
		assert.Equal(t, want, got, "only the name changed")
		assert.False(t, got.UpdatedAt.Before(before.UpdatedAt))

		got = cfgDecode[api.AccountResponse](t, env.admin(http.MethodPatch, path, map[string]any{}), http.StatusOK)
		assert.Equal(t, want.Name, got.Name, "an empty patch changes nothing")

		got = cfgDecode[api.AccountResponse](t, env.admin(http.MethodPatch, path, map[string]any{
			"key": "p2", "list": "", "publicUrl": "http://localhost:8080/", "region": "br", "baseUrl": "", "authUrl": "http://127.0.0.1:9999/token",
			"projectId": "proj-9", "appId": "app-9", "keyId": "key-9", "phone": "+5511912345678", "description": "",
			"notificationTemplate": "", "channels": []string{"INSTAGRAM"}, "debug": false, "type": "sinch_v2",
		}), http.StatusOK)
		assert.Equal(t, "p2", got.Key)
		assert.Empty(t, got.List)
		assert.Equal(t, "http://localhost:8080", got.PublicURL)
		assert.Equal(t, fmt.Sprintf("http://localhost:8080/api/whatsapp/accounts/%d/notify", got.ID), got.ReceiveURL)
		assert.Equal(t, "br", got.Region)
		assert.Empty(t, got.BaseURL, "override cleared")
		assert.Equal(t, "http://127.0.0.1:9999/token", got.AuthURL)
		assert.Equal(t, []string{"proj-9", "app-9", "key-9"}, []string{got.ProjectID, got.AppID, got.KeyID})
		assert.Equal(t, "+5511912345678", got.Phone)
		assert.Empty(t, got.Description)
		assert.Equal(t, activities.DefaultNotificationTemplate, got.NotificationTemplate, `"" restores the default`)
		assert.Equal(t, []string{"INSTAGRAM"}, got.Channels)
		assert.False(t, got.Debug)
		assert.Equal(t, "Renamed", got.Name)
		assert.True(t, got.KeySecretSet && got.WebhookSecretSet, "secrets untouched")

		var row models.Account
		require.NoError(t, env.db.Take(&row, got.ID).Error)
		assert.Equal(t, "INSTAGRAM", row.Channels)
		assert.Equal(t, "p2", row.Key)

		rec := env.admin(http.MethodPatch, "/api/whatsapp/accounts/424242", map[string]any{"name": "x"})
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.Contains(t, errorBody(t, rec).Message, "account 424242")
	})
}

func TestAccountDelete(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		acc := env.createAccount("gone")
		keep := env.createAccount("kept")
		path := fmt.Sprintf("/api/whatsapp/accounts/%d", acc.ID)
		rec := env.admin(http.MethodDelete, path, nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		assert.Empty(t, rec.Body.String())

		for _, r := range []*httptest.ResponseRecorder{
			env.admin(http.MethodGet, path, nil),
			env.admin(http.MethodPatch, path, map[string]any{"name": "x"}),
			env.admin(http.MethodDelete, path, nil),
		} {
			assert.Equal(t, http.StatusNotFound, r.Code, r.Body.String())
			assert.Equal(t, "not_found", errorBody(t, r).Code)
		}
		list := cfgDecode[[]api.AccountResponse](t, env.admin(http.MethodGet, "/api/whatsapp/accounts", nil), http.StatusOK)
		require.Len(t, list, 1)
		assert.Equal(t, keep.ID, list[0].ID)

		var n int64
		require.NoError(t, env.db.Unscoped().Model(&models.Account{}).Where("id = ? AND deleted_at IS NOT NULL", acc.ID).Count(&n).Error)
		assert.EqualValues(t, 1, n, "soft delete keeps the row")

		again := env.createAccount("gone")
		assert.NotEqual(t, acc.ID, again.ID, "a deleted account's key is free again")
	})
}

func TestAccountDuplicateKey(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		env.createAccount("dup")
		rec := env.admin(http.MethodPost, "/api/whatsapp/accounts", cfgMinimalAccount("dup"))
		require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
		d := errorBody(t, rec)
		assert.Equal(t, "conflict", d.Code)
		assert.True(t, strings.HasPrefix(d.Message, "key: "), d.Message)

		other := env.createAccount("other")
		rec = env.admin(http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", other.ID), map[string]any{"key": "dup"})
		require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
		assert.Contains(t, errorBody(t, rec).Message, `"dup"`)
		got := cfgDecode[api.AccountResponse](t, env.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", other.ID), nil), http.StatusOK)
		assert.Equal(t, "other", got.Key, "the failed patch changed nothing")
	})
}

func TestAccountWarnings(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		body := cfgMinimalAccount("warn")
		delete(body, "webhookSecret")
		body["allowUnsignedWebhooks"] = true
		acc := cfgDecode[api.AccountResponse](t, env.admin(http.MethodPost, "/api/whatsapp/accounts", body), http.StatusCreated)
		require.NoError(t, env.db.Model(&models.Account{}).Where("id = ?", acc.ID).
			Updates(map[string]any{"last_processing_mode": models.ProcessingDispatch, "quality_rating": "GREEN"}).Error)
		got := cfgDecode[api.AccountResponse](t, env.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", acc.ID), nil), http.StatusOK)
		assert.Equal(t, []string{api.WarningDispatchMode, api.WarningNoWebhookSecret}, got.Warnings)
		assert.Equal(t, "DISPATCH", got.LastProcessingMode)
		assert.Equal(t, "GREEN", got.QualityRating)

		assert.True(t, got.KeySecretSet)

		// Rows not written by the API (a migration, an import) may lack the
		// key secret; the flag says so.
		require.NoError(t, env.db.Model(&models.Account{}).Where("id = ?", acc.ID).
			Updates(map[string]any{"last_processing_mode": models.ProcessingConversation, "key_secret_enc": nil}).Error)
		got = cfgDecode[api.AccountResponse](t, env.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", acc.ID), nil), http.StatusOK)
		assert.Equal(t, []string{api.WarningNoWebhookSecret}, got.Warnings)
		assert.False(t, got.KeySecretSet)
	})
}

func TestAccountValidation(t *testing.T) {
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(k string) func(map[string]any) { return func(m map[string]any) { delete(m, k) } }
	cases := []struct {
		name     string
		mutate   func(map[string]any)
		field    string
		contains string
	}{
		{"name missing", del("name"), "name", "required"},
		{"name blank", set("name", "   "), "name", "required"},
		{"name too long", set("name", strings.Repeat("n", 256)), "name", "at most 255"},
		{"key missing", del("key"), "key", "required"},
		{"key with a space", set("key", "a b"), "key", "letters, digits"},
		{"key with a dot", set("key", "a.b"), "key", `"a.b"`},
		{"key too long", set("key", strings.Repeat("k", 101)), "key", "1 to 100"},
		{"list too long", set("list", strings.Repeat("l", 256)), "list", "at most 255"},
		{"publicUrl missing", del("publicUrl"), "publicUrl", "required"},
		{"publicUrl relative", set("publicUrl", "motion.example.com"), "publicUrl", "absolute URL"},
		{"publicUrl ftp", set("publicUrl", "ftp://motion.example.com"), "publicUrl", "https"},
		{"publicUrl http", set("publicUrl", "http://motion.example.com"), "publicUrl", "https"},
		{"publicUrl http lookalike", set("publicUrl", "http://localhost.evil.com"), "publicUrl", "https"},
		{"publicUrl http private ip", set("publicUrl", "http://10.0.0.1"), "publicUrl", "https"},
		{"publicUrl path", set("publicUrl", "https://motion.example.com/motion"), "publicUrl", "path"},
		{"publicUrl query", set("publicUrl", "https://motion.example.com/?a=1"), "publicUrl", "query"},
		{"publicUrl fragment", set("publicUrl", "https://motion.example.com/#x"), "publicUrl", "fragment"},
		{"publicUrl credentials", set("publicUrl", "https://u:p@motion.example.com"), "publicUrl", "credentials"},
		{"publicUrl no host", set("publicUrl", "https:///x"), "publicUrl", "absolute"},
		{"type v1", set("type", "sinch_v1"), "type", `want one of sinch_v2, got "sinch_v1"`},
		{"type empty", set("type", ""), "type", "want one of sinch_v2"},
		{"region missing", del("region"), "region", "required"},
		{"region asia", set("region", "asia"), "region", `want one of eu, us, br, got "asia"`},
		{"region upper case", set("region", "EU"), "region", `got "EU"`},
		{"baseUrl relative", set("baseUrl", "/v1"), "baseUrl", "absolute"},
		{"baseUrl http", set("baseUrl", "http://eu.conversation.api.sinch.com"), "baseUrl", "https"},
		{"authUrl http", set("authUrl", "http://auth.sinch.com"), "authUrl", "https"},
		{"authUrl garbage", set("authUrl", "::"), "authUrl", "URL"},
		{"projectId missing", del("projectId"), "projectId", "required"},
		{"projectId too long", set("projectId", strings.Repeat("p", 129)), "projectId", "at most 128"},
		{"appId empty", set("appId", ""), "appId", "required"},
		{"appId too long", set("appId", strings.Repeat("a", 129)), "appId", "at most 128"},
		{"keyId missing", del("keyId"), "keyId", "required"},
		{"keyId too long", set("keyId", strings.Repeat("k", 129)), "keyId", "at most 128"},
		{"keySecret missing", del("keySecret"), "keySecret", "required"},
		{"keySecret empty", set("keySecret", ""), "keySecret", "required"},
		{"keySecret too long", set("keySecret", strings.Repeat("s", 1025)), "keySecret", "at most 1024"},
		{"webhookSecret too long", set("webhookSecret", strings.Repeat("s", 1025)), "webhookSecret", "at most 1024"},
		{"webhookSecret missing", del("webhookSecret"), "webhookSecret", "required"},
		{"webhookSecret short", set("webhookSecret", "fifteen-chars-x"), "webhookSecret", "at least 16 characters, got 15"},
		// Without SINCH_ALLOW_CUSTOM_URLS only Sinch's hosts: the key
		// secret is sent to authUrl.
		{"baseUrl loopback", set("baseUrl", "http://127.0.0.1:8090/eu"), "baseUrl", "Conversation API origin"},
		{"baseUrl foreign host", set("baseUrl", "https://eu.conversation.api.sinch.com.example.net"), "baseUrl", "is not a Sinch host"},
		{"authUrl loopback", set("authUrl", "http://127.0.0.1:9999/token"), "authUrl", "Sinch's token endpoint"},
		{"authUrl foreign host", set("authUrl", "https://attacker.example/oauth2/token"), "authUrl", `"attacker.example" is not a Sinch host`},
		{"authUrl other port", set("authUrl", "https://auth.sinch.com:8443/oauth2/token"), "authUrl", "port 443"},
		{"phone missing", del("phone"), "phone", "required"},
		{"phone without plus", set("phone", "393331234567"), "phone", "E.164"},
		{"phone leading zero", set("phone", "+0393331234"), "phone", "E.164"},
		{"phone too short", set("phone", "+123456"), "phone", "E.164"},
		{"phone too long", set("phone", "+1234567890123456"), "phone", "E.164"},
		{"phone with spaces", set("phone", "+39 333 1234567"), "phone", "E.164"},
		{"description too long", set("description", strings.Repeat("d", 2049)), "description", "at most 2048"},
		{"template unclosed section", set("notificationTemplate", "{{#queue}}Queue"), "notificationTemplate", "invalid mustache"},
		{"template unclosed tag", set("notificationTemplate", "Hi {{contact.name"), "notificationTemplate", "invalid mustache"},
		{"template partial", set("notificationTemplate", "{{#queue}}{{> /etc/passwd}}{{/queue}}"), "notificationTemplate", "partials"},
		{"channels empty", set("channels", []string{}), "channels", "at least one"},
		{"channels unknown", set("channels", []string{"SMS"}), "channels", `got "SMS"`},
		{"channels lower case", set("channels", []string{"whatsapp"}), "channels", `got "whatsapp"`},
		{"channels duplicate", set("channels", []string{"WHATSAPP", "WHATSAPP"}), "channels", "twice"},
		{"channels not an array", set("channels", "WHATSAPP"), "channels", "want an array"},
		{"debug not a bool", set("debug", "yes"), "debug", "want a boolean"},
		{"name not a string", set("name", 42), "name", "want a string"},
	}
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				body := cfgFullAccount("valid")
				tc.mutate(body)
				rec := env.admin(http.MethodPost, "/api/whatsapp/accounts", body)
				assertFieldError(t, rec, tc.field, tc.contains)
			})
		}
		var n int64
		require.NoError(t, env.db.Model(&models.Account{}).Count(&n).Error)
		assert.Zero(t, n, "no invalid account was stored")

		// The same rules apply to a PATCH of the field.
		acc := env.createAccount("patched")
		path := fmt.Sprintf("/api/whatsapp/accounts/%d", acc.ID)
		for _, tc := range cases {
			if strings.HasSuffix(tc.name, "missing") {
				continue // absent fields are unchanged on PATCH
			}
			t.Run("patch "+tc.name, func(t *testing.T) {
				body := map[string]any{}
				full := cfgFullAccount("valid")
				tc.mutate(full)
				if v, ok := full[tc.field]; ok {
					body[tc.field] = v
				}
				want := tc.contains
				if tc.name == "keySecret empty" {
					want = "cannot be cleared" // PATCH may replace the key secret, never remove it
				}
				assertFieldError(t, env.admin(http.MethodPatch, path, body), tc.field, want)
			})
		}
		got := cfgDecode[api.AccountResponse](t, env.admin(http.MethodGet, path, nil), http.StatusOK)
		assert.Equal(t, acc, got, "no invalid patch changed the account")
	})
}

func TestAccountURLNormalisation(t *testing.T) {
	cases := []struct{ in, want string }{
		{"https://motion.example.com/", "https://motion.example.com"},
		{"https://motion.example.com:8443", "https://motion.example.com:8443"},
		{"HTTPS://motion.example.com", "https://motion.example.com"},
		{"http://localhost:8080", "http://localhost:8080"},
		{"http://LOCALHOST", "http://LOCALHOST"},
		{"http://127.0.0.2:3000/", "http://127.0.0.2:3000"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"  https://motion.example.com  ", "https://motion.example.com"},
	}
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		for i, tc := range cases {
			body := cfgMinimalAccount(fmt.Sprintf("u%d", i))
			body["publicUrl"] = tc.in
			got := cfgDecode[api.AccountResponse](t, env.admin(http.MethodPost, "/api/whatsapp/accounts", body), http.StatusCreated)
			assert.Equal(t, tc.want, got.PublicURL, tc.in)
			assert.Equal(t, fmt.Sprintf("%s/api/whatsapp/accounts/%d/notify", tc.want, got.ID), got.ReceiveURL)
		}
	})
}

func TestConfigBodyErrors(t *testing.T) {
	cases := []struct {
		name, method, path, body string
		status                   int
		code, contains           string
	}{
		{"unknown account field", http.MethodPost, "/api/whatsapp/accounts", `{"name":"a","bogus":1}`, 400, "unknown_field", "bogus: unknown field"},
		{"read-only field", http.MethodPost, "/api/whatsapp/accounts", `{"receiveUrl":"https://x"}`, 400, "unknown_field", "receiveUrl"},
		{"unknown patch field", http.MethodPatch, "/api/whatsapp/accounts/1", `{"keySecretSet":false}`, 400, "unknown_field", "keySecretSet"},
		{"unknown queue field", http.MethodPost, "/api/queues", `{"name":"q","strategy":"ring_all","overflow":2}`, 400, "unknown_field", "overflow: unknown field"},
		{"unknown agent field", http.MethodPost, "/api/agents", `{"name":"a","token":"mine"}`, 400, "unknown_field", "token"},
		{"invalid json", http.MethodPost, "/api/whatsapp/accounts", `{"name":`, 400, "invalid_json", "body:"},
		{"syntax error", http.MethodPost, "/api/queues", `{"name" "q"}`, 400, "invalid_json", "body:"},
		{"empty body", http.MethodPost, "/api/agents", ``, 400, "invalid_json", "empty body"},
		{"trailing data", http.MethodPost, "/api/agents", `{"name":"a"} {"name":"b"}`, 400, "invalid_json", "after the JSON object"},
		{"array body", http.MethodPost, "/api/agents", `[1]`, 400, "invalid_json", "want a JSON object"},
		{"capacity not an integer", http.MethodPost, "/api/agents", `{"name":"a","capacity":1.5}`, 400, "invalid_field", "capacity: want an integer"},
		{"negative overflow id", http.MethodPost, "/api/queues", `{"name":"q","strategy":"ring_all","overflowQueueId":-1}`, 400, "invalid_field", "overflowQueueId:"},
	}
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		env.createAccount("one")
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				rec := env.admin(tc.method, tc.path, tc.body)
				require.Equal(t, tc.status, rec.Code, rec.Body.String())
				d := errorBody(t, rec)
				assert.Equal(t, tc.code, d.Code)
				assert.Contains(t, d.Message, tc.contains)
			})
		}
	})
}

func TestConfigPathIDs(t *testing.T) {
	cases := []struct{ method, path, param string }{
		{http.MethodGet, "/api/whatsapp/accounts/abc", "id"},
		{http.MethodGet, "/api/whatsapp/accounts/0", "id"},
		{http.MethodDelete, "/api/whatsapp/accounts/-1", "id"},
		{http.MethodPatch, "/api/whatsapp/accounts/1.5", "id"},
		{http.MethodGet, "/api/whatsapp/accounts/9223372036854775808", "id"},
		{http.MethodGet, "/api/queues/x", "id"},
		{http.MethodPut, "/api/queues/1/accounts/x", "accountId"},
		{http.MethodDelete, "/api/queues/1/agents/0", "agentId"},
		{http.MethodGet, "/api/agents/%20", "id"},
		{http.MethodPut, "/api/agents/1/accounts/abc", "accountId"},
		{http.MethodPut, "/api/agents/one/presence", "id"},
	}
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		for _, tc := range cases {
			rec := env.admin(tc.method, tc.path, "{}")
			require.Equal(t, http.StatusBadRequest, rec.Code, "%s %s: %s", tc.method, tc.path, rec.Body.String())
			d := errorBody(t, rec)
			assert.Equal(t, "invalid_id", d.Code)
			assert.True(t, strings.HasPrefix(d.Message, tc.param+": "), "%s %s: %q", tc.method, tc.path, d.Message)
		}
		rec := env.admin(http.MethodGet, "/api/whatsapp/accounts/9223372036854775807", nil)
		assert.Equal(t, http.StatusNotFound, rec.Code, "the largest id is valid: %s", rec.Body.String())
	})
}

// TestConfigRoutesAuth covers every configuration route: no token is a
// 401; on admin-only routes any other token (an agent's included) is a
// 403, as on /api/diagnostics; on agent routes an unknown token is a 401,
// the agent's own id is allowed and another agent's id is a 403.
func TestConfigRoutesAuth(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		acc := env.createAccount("auth")
		q := env.createQueue("auth")
		me := env.createAgent("me")
		other := env.createAgent("other")

		adminOnly := []struct{ method, path, body string }{
			{http.MethodPost, "/api/whatsapp/accounts", "{}"},
			{http.MethodGet, "/api/whatsapp/accounts", ""},
			{http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", acc.ID), ""},
			{http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", acc.ID), `{"name":"x"}`},
			{http.MethodDelete, fmt.Sprintf("/api/whatsapp/accounts/%d", acc.ID), ""},
			{http.MethodPost, "/api/queues", "{}"},
			{http.MethodGet, "/api/queues", ""},
			{http.MethodGet, fmt.Sprintf("/api/queues/%d", q.ID), ""},
			{http.MethodDelete, fmt.Sprintf("/api/queues/%d", q.ID), ""},
			{http.MethodPut, fmt.Sprintf("/api/queues/%d/accounts/%d", q.ID, acc.ID), ""},
			{http.MethodDelete, fmt.Sprintf("/api/queues/%d/accounts/%d", q.ID, acc.ID), ""},
			{http.MethodPut, fmt.Sprintf("/api/queues/%d/agents/%d", q.ID, me.ID), ""},
			{http.MethodDelete, fmt.Sprintf("/api/queues/%d/agents/%d", q.ID, me.ID), ""},
			{http.MethodPost, "/api/agents", `{"name":"x"}`},
			{http.MethodGet, "/api/agents", ""},
			{http.MethodPatch, fmt.Sprintf("/api/queues/%d", q.ID), `{"name":"x"}`},
			{http.MethodPatch, fmt.Sprintf("/api/agents/%d", me.ID), `{"capacity":5}`},
			{http.MethodDelete, fmt.Sprintf("/api/agents/%d", me.ID), ""},
			{http.MethodPut, fmt.Sprintf("/api/agents/%d/permissions/%d", me.ID, acc.ID), ""},
			{http.MethodDelete, fmt.Sprintf("/api/agents/%d/permissions/%d", me.ID, acc.ID), ""},
		}
		for _, r := range adminOnly {
			rec := env.call(r.method, r.path, "", r.body)
			assert.Equal(t, http.StatusUnauthorized, rec.Code, "no token: %s %s", r.method, r.path)
			assert.Equal(t, "unauthorized", errorBody(t, rec).Code)
			rec = env.call(r.method, r.path, me.Token, r.body)
			assert.Equal(t, http.StatusForbidden, rec.Code, "agent token: %s %s", r.method, r.path)
			assert.Equal(t, "forbidden", errorBody(t, rec).Code)
			rec = env.call(r.method, r.path, "nope", r.body)
			assert.Equal(t, http.StatusForbidden, rec.Code, "unknown token: %s %s", r.method, r.path)
		}

		// Both agents are permitted on the account, so enabling it is
		// theirs to do.
		env.permit(me.ID, acc.ID)
		env.permit(other.ID, acc.ID)
		agentRoutes := []struct{ method, path, body string }{
			{http.MethodGet, "/api/agents/%d", ""},
			{http.MethodPut, "/api/agents/%d/accounts/" + fmt.Sprint(acc.ID), ""},
			{http.MethodDelete, "/api/agents/%d/accounts/" + fmt.Sprint(acc.ID), ""},
			{http.MethodPut, "/api/agents/%d/presence", `{"status":"away"}`},
		}
		for _, r := range agentRoutes {
			mine, theirs := fmt.Sprintf(r.path, me.ID), fmt.Sprintf(r.path, other.ID)
			rec := env.call(r.method, mine, "", r.body)
			assert.Equal(t, http.StatusUnauthorized, rec.Code, "no token: %s %s", r.method, mine)
			assert.Equal(t, "unauthorized", errorBody(t, rec).Code)
			rec = env.call(r.method, mine, "agt_unknown", r.body)
			assert.Equal(t, http.StatusUnauthorized, rec.Code, "unknown token: %s %s", r.method, mine)
			assert.Equal(t, "unauthorized", errorBody(t, rec).Code)
			rec = env.call(r.method, theirs, me.Token, r.body)
			assert.Equal(t, http.StatusForbidden, rec.Code, "another agent: %s %s", r.method, theirs)
			assert.Equal(t, "forbidden", errorBody(t, rec).Code)
			rec = env.call(r.method, mine, me.Token, r.body)
			assert.Less(t, rec.Code, 300, "itself, not caught by the /api admin group: %s %s: %s", r.method, mine, rec.Body.String())
			rec = env.call(r.method, theirs, adminToken, r.body)
			assert.Less(t, rec.Code, 300, "admin: %s %s: %s", r.method, theirs, rec.Body.String())
		}

		// Token rotation is an agent route too; it invalidates the token
		// used, so it goes last.
		rotate := "/api/agents/%d/token"
		rec := env.call(http.MethodPost, fmt.Sprintf(rotate, me.ID), "", nil)
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "no token")
		rec = env.call(http.MethodPost, fmt.Sprintf(rotate, me.ID), "agt_unknown", nil)
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "unknown token")
		rec = env.call(http.MethodPost, fmt.Sprintf(rotate, other.ID), me.Token, nil)
		assert.Equal(t, http.StatusForbidden, rec.Code, "another agent's token")
		assert.Equal(t, "forbidden", errorBody(t, rec).Code)
		rec = env.call(http.MethodPost, fmt.Sprintf(rotate, other.ID), adminToken, nil)
		assert.Equal(t, http.StatusOK, rec.Code, "admin: %s", rec.Body.String())
		me = cfgDecode[api.AgentCreatedResponse](t, env.call(http.MethodPost, fmt.Sprintf(rotate, me.ID), me.Token, nil), http.StatusOK)

		rec = env.call(http.MethodGet, fmt.Sprintf("/api/agents/%d", me.ID), "", "")
		assert.Equal(t, "Bearer", rec.Header().Get(echo.HeaderWWWAuthenticate))
		rec = env.call(http.MethodGet, fmt.Sprintf("/api/agents/%d", me.ID), "", "")
		assert.Equal(t, http.StatusUnauthorized, rec.Code)
		rec = do(env.e, http.MethodGet, fmt.Sprintf("/api/agents/%d", me.ID), "", map[string]string{"Authorization": "Basic " + me.Token})
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "only the bearer scheme")
		rec = do(env.e, http.MethodGet, fmt.Sprintf("/api/agents/%d", me.ID), "", map[string]string{"Authorization": "Bearer"})
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "malformed header")
	})
}

// The routing nudge that config changes send is the conversation's signal.
func TestConfigNudgeSignalName(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		acc := env.createAccount("nudge")
		env.seedQueuedInteraction(acc.ID)
		ag := env.createAgent("n")
		env.permit(ag.ID, acc.ID)
		rec := env.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", ag.ID, acc.ID), ag.Token, nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		env.temporal.expectSignals(t, 1, "enabling an account wakes the waiting interaction")
		env.temporal.mu.Lock()
		defer env.temporal.mu.Unlock()
		assert.Equal(t, []string{workflows.RoutingNudgeSignalName + " wf-queued"}, env.temporal.signals)
	})
}
