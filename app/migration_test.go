package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
	"github.com/xcally-connector/connector/workflows"
)

// The new Sinch app the account moves to.
const (
	newAppID         = "01HAPPV2E2E"
	newProjectID     = "proj-2"
	newKeyID         = "key-2"
	newKeySecret     = "ks-2-right"
	newWebhookSecret = "whsec-v2-e2e-0123456789"
)

func TestMigrationEndToEnd(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) { testMigrationEndToEnd(t, engine) })
	}
}

// migrationOf reads a migration through the API.
func (s *stack) migrationOf(id uint64) api.MigrationResponse {
	s.t.Helper()
	var m api.MigrationResponse
	s.admin(http.MethodGet, fmt.Sprintf("/api/migrations/%d", id), nil, &m, http.StatusOK)
	return m
}

// waitMigration polls the migration until ok holds.
func (s *stack) waitMigration(id uint64, what string, ok func(api.MigrationResponse) bool) api.MigrationResponse {
	s.t.Helper()
	var m api.MigrationResponse
	if !assert.Eventually(s.t, func() bool {
		m = s.migrationOf(id)
		return ok(m)
	}, 60*time.Second, 100*time.Millisecond, what) {
		s.t.Fatalf("migration %d: %+v", id, m)
	}
	return m
}

// callbackTo posts a customer's text, signed like Sinch, to an account's
// notify URL as coming from app.
func (s *stack) callbackTo(accountID uint64, app, secret, msgID, identity, text string) (int, string) {
	s.t.Helper()
	var body map[string]any
	require.NoError(s.t, json.Unmarshal(inboundBody(msgID, identity, text, time.Now()), &body))
	body["app_id"] = app
	raw, err := json.Marshal(body)
	require.NoError(s.t, err)
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequest(http.MethodPost, s.url(fmt.Sprintf("/api/whatsapp/accounts/%d/notify", accountID)), bytes.NewReader(raw))
		require.NoError(s.t, err)
		req.Header.Set("Content-Type", "application/json")
		sinch.SetSignatureHeaders(req.Header, secret, raw, nextNonce(), time.Now())
		resp, err := http.DefaultClient.Do(req)
		require.NoError(s.t, err)
		var out bytes.Buffer
		_, _ = out.ReadFrom(resp.Body)
		_ = resp.Body.Close()
		// A 5xx is retried, as Sinch does.
		if resp.StatusCode < 500 || attempt == 4 {
			return resp.StatusCode, out.String()
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
}

func testMigrationEndToEnd(t *testing.T, engine models.Engine) {
	s := newStackWith(t, engine, func(cfg *config.Config) {
		// Step 6 polls every 300ms or so.
		cfg.MigrationFirstMessageTimeout = 15 * time.Second
	}, "round_robin", "bob")
	bob := s.agents["bob"]
	db := s.dev.DB
	// The source's settings: routing parameters, transfer options, action
	// flow, canned answers and dispositions.
	require.NoError(t, db.Model(&models.Account{}).Where("id = ?", s.account).Updates(map[string]any{
		"routing_strategy": models.StrategyLeastBusy, "agent_notify_timeout_seconds": 45, "inactivity_timeout_seconds": 7200,
		"transfer_options": `{"queues":null,"agents":null,"returnToQueueAfterSeconds":0}`,
		"action_flow":      fmt.Sprintf(`[{"queue":%d}]`, s.queue), "debug": true, "list": "Customers",
	}).Error)
	for _, name := range []string{"Solved", "Call back"} {
		require.NoError(t, db.Create(&models.Disposition{AccountID: s.account, Name: name}).Error)
	}
	for i, title := range []string{"Hello", "Opening hours"} {
		require.NoError(t, db.Create(&models.CannedAnswer{AccountID: s.account, Key: strings.ToLower(title), Title: title,
			Text: title + ", {{contact.name}}", Position: i + 1}).Error)
	}
	require.NoError(t, s.dev.Emulator.CreateApp(emulator.App{AppID: newAppID, ProjectID: newProjectID, Region: "eu",
		// A webhook of an earlier, abandoned attempt: a stale Receive URL.
		ProcessingMode: "CONVERSATION", WebhookURL: "https://motion.example.com/api/whatsapp/accounts/999/notify", WebhookSecret: "old-attempt-secret",
		KeyID: newKeyID, KeySecret: newKeySecret}))

	// The admin starts the migration with a mistyped key secret.
	var started api.MigrationResponse
	s.admin(http.MethodPost, "/api/migrations", map[string]any{"sourceAccountId": s.account, "target": map[string]any{
		"name": "Acme Support V2", "key": "acme-v2", "publicUrl": "https://motion.example.com", "region": "eu",
		"baseUrl": s.dev.EmulatorURL, "authUrl": s.dev.EmulatorURL + "/oauth2/token",
		"projectId": newProjectID, "appId": newAppID, "keyId": newKeyID, "keySecret": "ks-2-typo",
		"webhookSecret": newWebhookSecret, "phone": "+390212345678",
	}}, &started, http.StatusAccepted)
	assert.Equal(t, fmt.Sprintf("migration/%d/%d", s.account, started.ID), started.WorkflowID)

	// Step 2 fails early and waits for the corrected key.
	m := s.waitMigration(started.ID, "the credentials step fails", func(m api.MigrationResponse) bool {
		return m.Steps[1].Status == activities.StepFailed && strings.Contains(m.NextAction, "/retry")
	})
	assert.Equal(t, "running", m.State)
	require.NotNil(t, m.TargetAccountID)
	target := *m.TargetAccountID
	assert.Contains(t, m.Steps[1].Error, "401")
	assert.Contains(t, m.NextAction, fmt.Sprintf("PATCH /api/whatsapp/accounts/%d with the right keyId and keySecret, then POST /api/migrations/%d/retry", target, m.ID))
	s.admin(http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", target), map[string]any{"keySecret": newKeySecret}, nil, http.StatusOK)
	s.admin(http.MethodPost, fmt.Sprintf("/api/migrations/%d/retry", m.ID), nil, nil, http.StatusAccepted)

	m = s.waitMigration(m.ID, "awaiting confirmation", func(m api.MigrationResponse) bool { return m.State == "awaiting_confirmation" })
	assert.Equal(t, fmt.Sprintf("email your Sinch account manager App ID %s and Project ID %s to move +390212345678 to the new app; "+
		"when the account manager confirms the number moved, POST /api/migrations/%d/confirm", newAppID, newProjectID, m.ID), m.NextAction)
	for _, st := range m.Steps[:5] {
		assert.Equal(t, activities.StepDone, st.Status, st.Name)
	}
	// The migration set up the new app's webhook itself: the stale one of
	// the earlier attempt went, the new account's has every trigger and
	// its secret.
	receive := fmt.Sprintf("https://motion.example.com/api/whatsapp/accounts/%d/notify", target)
	assert.Equal(t, activities.StepSetUpWebhook, m.Steps[2].Name)
	assert.Contains(t, m.Steps[2].Detail, "delete webhook")
	assert.Contains(t, m.Steps[2].Detail, "create webhook")
	hooks, err := s.dev.Emulator.Webhooks(newAppID)
	require.NoError(t, err)
	require.Len(t, hooks, 1)
	assert.Equal(t, receive, hooks[0].Target)
	assert.Equal(t, newWebhookSecret, hooks[0].Secret)
	assert.ElementsMatch(t, sinch.ConnectorTriggers, hooks[0].Triggers)
	// Operators find it in the Temporal UI: "which migrations wait for
	// confirmation?" is a visibility query on its search attributes.
	waiting := fmt.Sprintf("WorkflowType = '%s' AND %s = 'awaiting_confirmation' AND %s = '%d'",
		workflows.MigrationWorkflowName, workflows.MigrationStateAttr, workflows.AccountIDAttr, s.account)
	require.Eventually(t, func() bool {
		res, err := s.dev.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: waiting})
		return err == nil && len(res.Executions) == 1 && res.Executions[0].GetExecution().GetWorkflowId() == m.WorkflowID
	}, 30*time.Second, 100*time.Millisecond, "found by %s", waiting)
	assert.Equal(t, 2, m.Steps[1].Attempts)
	require.NotNil(t, m.BridgeQueueID)
	assert.Equal(t, s.queue, *m.BridgeQueueID, "the source's queue serves both accounts")
	assert.False(t, m.BridgeCreated)

	// The new account has the source's settings and agents.
	var src, dst models.Account
	require.NoError(t, db.Take(&src, s.account).Error)
	require.NoError(t, db.Take(&dst, target).Error)
	assert.Equal(t, []any{src.List, src.NotificationTemplate, src.TransferOptions, src.ActionFlow, src.RoutingStrategy, src.AgentNotifyTimeoutSeconds, src.InactivityTimeoutSeconds, src.Debug, src.Channels},
		[]any{dst.List, dst.NotificationTemplate, dst.TransferOptions, dst.ActionFlow, dst.RoutingStrategy, dst.AgentNotifyTimeoutSeconds, dst.InactivityTimeoutSeconds, dst.Debug, dst.Channels})
	assert.EqualValues(t, 2, countWhere(t, s, &models.Disposition{}, "account_id = ?", target))
	var answers []models.CannedAnswer
	require.NoError(t, db.Where("account_id = ?", target).Order("position").Find(&answers).Error)
	require.Len(t, answers, 2)
	assert.Equal(t, "Opening hours", answers[1].Title)
	assert.EqualValues(t, 1, countWhere(t, s, &models.AgentAccount{}, "account_id = ? AND agent_id = ?", target, bob.ID), "bob may take the new account's interactions")
	var acc api.AccountResponse
	s.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", target), nil, &acc, http.StatusOK)
	assert.True(t, acc.KeySecretSet)
	assert.True(t, acc.WebhookSecretSet)

	// The account manager confirmed; a customer writes to the new app.
	s.admin(http.MethodPost, fmt.Sprintf("/api/migrations/%d/confirm", m.ID), nil, nil, http.StatusAccepted)
	s.waitMigration(m.ID, "awaiting the first message", func(m api.MigrationResponse) bool { return m.State == "awaiting_first_message" })
	code, body := s.callbackTo(target, newAppID, newWebhookSecret, "01HMIGMSG001", "393339990001", "Hello from the new number")
	require.Equal(t, http.StatusOK, code, body)
	m = s.waitMigration(m.ID, "completed", func(m api.MigrationResponse) bool { return m.State == "completed" })
	for _, st := range m.Steps {
		assert.Equal(t, activities.StepDone, st.Status, st.Name)
	}
	assert.NotNil(t, m.FinishedAt)
	assert.NotNil(t, m.ConfirmedAt)

	// bob gets the interaction through the bridge queue.
	var it api.InteractionResponse
	require.Eventually(t, func() bool {
		items := s.interactions(fmt.Sprintf("accountId=%d&status=assigned", target))
		if len(items) == 1 {
			it = items[0]
			return true
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "the new account's interaction is assigned")
	require.NotNil(t, it.AgentID)
	assert.Equal(t, bob.ID, *it.AgentID)
	require.NotNil(t, it.QueueID)
	assert.Equal(t, s.queue, *it.QueueID)

	// The source is migrated: a late callback to it opens no interaction.
	require.NoError(t, db.Take(&src, s.account).Error)
	assert.Equal(t, models.AccountMigrated, src.Status)
	require.NotNil(t, src.MigratedToAccountID)
	assert.Equal(t, target, *src.MigratedToAccountID)
	assert.NotNil(t, src.MigratedAt)
	assert.Contains(t, src.StatusReason, fmt.Sprintf("migrated to account %d", target))
	code, body = s.callbackTo(s.account, appID, webhookSecret, "01HMIGOLD001", "393339990002", "writing to the old app")
	require.Less(t, code, 500, body)
	time.Sleep(2 * time.Second)
	assert.Empty(t, s.interactions(fmt.Sprintf("accountId=%d", s.account)), "a migrated account opens no new interaction")

	// Finished: every request is refused naming the state.
	var e api.ErrorBody
	assert.Equal(t, http.StatusConflict, s.call(http.MethodPost, fmt.Sprintf("/api/migrations/%d/cancel", m.ID), s.cfg.AdminToken, nil, &e))
	assert.Equal(t, fmt.Sprintf("migration %d is completed: it has ended", m.ID), e.Error.Message)
	if engine == models.SQLite {
		// migration.json is a version 1 run (seven steps), kept so that
		// runs started before the webhook step still replay.
		saveHistory(t, s.dev, m.WorkflowID, "migration_webhook.json")
	}
}

func countWhere(t *testing.T, s *stack, model any, where string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.dev.DB.Model(model).Where(where, args...).Count(&n).Error)
	return n
}
