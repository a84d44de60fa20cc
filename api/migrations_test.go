package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

const (
	migKeySecret     = "ks-PLAIN-migration-target-01"
	migWebhookSecret = "wh-PLAIN-migration-target-01"
)

// migTemporal records the workflows the API starts and the signals it
// sends.
type migTemporal struct {
	fakeTemporal
	mu      sync.Mutex
	started []client.StartWorkflowOptions
	inputs  []workflows.MigrationInput
	signals []string
}

func (f *migTemporal) ExecuteWorkflow(_ context.Context, opts client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return nil, f.startErr
	}
	f.started = append(f.started, opts)
	if len(args) == 1 {
		if in, ok := args[0].(workflows.MigrationInput); ok {
			f.inputs = append(f.inputs, in)
		}
	}
	return nil, nil
}

func (f *migTemporal) SignalWorkflow(_ context.Context, id, _ string, name string, _ any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, name+" "+id)
	return nil
}

type migEnv struct {
	t        *testing.T
	e        *echo.Echo
	db       *gorm.DB
	box      *secretbox.Box
	temporal *migTemporal
	source   models.Account
}

func newMigEnv(t *testing.T, engine models.Engine) *migEnv {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{9}, 32))
	require.NoError(t, err)
	env := &migEnv{t: t, db: testdb.Open(t, engine), box: box, temporal: &migTemporal{}}
	env.e = api.New(api.Deps{DB: env.db, Temporal: env.temporal, Secrets: box, AdminToken: adminToken, TaskQueue: "q",
		Migrations: workflows.MigrationSettings{ConfirmTimeout: 48 * time.Hour}})
	env.source = models.Account{Name: "Acme", Key: "acme", PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "proj-old", AppID: "01HOLDAPP", KeyID: "key-old", Phone: "+390212345678", Channels: "WHATSAPP"}
	require.NoError(t, env.db.Create(&env.source).Error)
	return env
}

func (env *migEnv) call(method, path string, body any) *httptest.ResponseRecorder {
	env.t.Helper()
	raw := ""
	if body != nil {
		if s, ok := body.(string); ok {
			raw = s
		} else {
			b, err := json.Marshal(body)
			require.NoError(env.t, err)
			raw = string(b)
		}
	}
	rec := do(env.e, method, path, raw, map[string]string{"Authorization": "Bearer " + adminToken})
	assert.NotContains(env.t, rec.Body.String(), migKeySecret, "a secret in a response")
	assert.NotContains(env.t, rec.Body.String(), migWebhookSecret, "a secret in a response")
	return rec
}

func migTarget() map[string]any {
	return map[string]any{
		"name": "Acme V2", "key": "acme-v2", "publicUrl": "https://motion.example.com", "region": "eu",
		"projectId": "proj-new", "appId": "01HNEWAPP", "keyId": "key-new", "keySecret": migKeySecret,
		"webhookSecret": migWebhookSecret, "phone": "+390212345678",
	}
}

func (env *migEnv) start(target map[string]any) api.MigrationResponse {
	env.t.Helper()
	rec := env.call(http.MethodPost, "/api/migrations", map[string]any{"sourceAccountId": env.source.ID, "target": target})
	return cfgDecode[api.MigrationResponse](env.t, rec, http.StatusAccepted)
}

func TestMigrationAPI(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			t.Run("start", func(t *testing.T) { testMigrationStart(t, newMigEnv(t, engine)) })
			t.Run("validation", func(t *testing.T) { testMigrationValidation(t, newMigEnv(t, engine)) })
			t.Run("signals", func(t *testing.T) { testMigrationSignals(t, newMigEnv(t, engine)) })
			t.Run("webhook secret", func(t *testing.T) { testMigrationWebhookSecret(t, newMigEnv(t, engine)) })
		})
	}
}

func testMigrationStart(t *testing.T, env *migEnv) {
	target := migTarget()
	target["list"] = "  Leads  "
	m := env.start(target)
	assert.NotZero(t, m.ID)
	assert.Equal(t, fmt.Sprintf("migration/%d/%d", env.source.ID, m.ID), m.WorkflowID)
	assert.Equal(t, "running", m.State)
	require.Len(t, m.Steps, 8)
	assert.Equal(t, activities.StepCreateAccount, m.Steps[0].Name)
	assert.Equal(t, activities.StepPending, m.Steps[0].Status)
	assert.Nil(t, m.TargetAccountID)
	assert.Equal(t, "wait: the migration is starting (step 1 of 8: create the new account)", m.NextAction)
	require.NotNil(t, m.Target.List)
	assert.Equal(t, "Leads", *m.Target.List, "normalized")
	assert.Nil(t, m.Target.NotificationTemplate, "not given: the source's is copied")
	assert.Nil(t, m.Target.Channels, "not given: the source's are copied")

	// The workflow is started under the readable id, with the settings and
	// ids only.
	require.Len(t, env.temporal.started, 1)
	assert.Equal(t, m.WorkflowID, env.temporal.started[0].ID)
	assert.Equal(t, "q", env.temporal.started[0].TaskQueue)
	require.Len(t, env.temporal.inputs, 1)
	in := env.temporal.inputs[0]
	assert.Equal(t, m.ID, in.MigrationID)
	assert.Equal(t, env.source.ID, in.SourceAccountID)
	assert.Equal(t, "48h0m0s", in.ConfirmTimeout.String())
	raw, _ := json.Marshal(in)
	assert.NotContains(t, string(raw), migKeySecret, "no secret in the workflow input")

	// The row: active, secrets sealed to the migration.
	var row models.Migration
	require.NoError(t, env.db.Take(&row, m.ID).Error)
	require.NotNil(t, row.ActiveSourceID)
	assert.Equal(t, env.source.ID, *row.ActiveSourceID)
	assert.NotContains(t, row.Target, migKeySecret)
	ks, err := env.box.Open(row.TargetKeySecretEnc, secretbox.MigrationAAD(m.ID, "key_secret"))
	require.NoError(t, err)
	assert.Equal(t, migKeySecret, ks)
	ws, err := env.box.Open(row.TargetWebhookSecretEnc, secretbox.MigrationAAD(m.ID, "webhook_secret"))
	require.NoError(t, err)
	assert.Equal(t, migWebhookSecret, ws)

	// One active migration per source.
	rec := env.call(http.MethodPost, "/api/migrations", map[string]any{"sourceAccountId": env.source.ID, "target": migTarget()})
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	e := errorBody(t, rec)
	assert.Equal(t, "migration_active", e.Code)
	assert.Equal(t, fmt.Sprintf("sourceAccountId: account %d already has an active migration (%d, state running): cancel it first (POST /api/migrations/%d/cancel)", env.source.ID, m.ID, m.ID), e.Message)
	assert.Len(t, env.temporal.started, 1, "no second workflow")

	// List and get show the steps and the next action the workflow wrote.
	steps := activities.NewMigrationSteps()
	steps[0].Status, steps[1].Status = activities.StepDone, activities.StepFailed
	steps[1].Error = "Sinch refused the key"
	b, _ := json.Marshal(steps)
	require.NoError(t, env.db.Model(&models.Migration{}).Where("id = ?", m.ID).
		Updates(map[string]any{"steps": string(b), "next_action": "correct the new account's Sinch key", "target_account_id": 77}).Error)
	got := cfgDecode[api.MigrationResponse](t, env.call(http.MethodGet, fmt.Sprintf("/api/migrations/%d", m.ID), nil), http.StatusOK)
	assert.Equal(t, activities.StepFailed, got.Steps[1].Status)
	assert.Equal(t, "Sinch refused the key", got.Steps[1].Error)
	assert.Equal(t, "correct the new account's Sinch key", got.NextAction)
	require.NotNil(t, got.TargetAccountID)
	assert.Equal(t, uint64(77), *got.TargetAccountID)
	list := cfgDecode[api.MigrationList](t, env.call(http.MethodGet, fmt.Sprintf("/api/migrations?sourceAccountId=%d&state=running", env.source.ID), nil), http.StatusOK)
	require.Len(t, list.Items, 1)
	assert.Equal(t, got.Steps, list.Items[0].Steps)
	assert.Equal(t, got.NextAction, list.Items[0].NextAction)
	empty := cfgDecode[api.MigrationList](t, env.call(http.MethodGet, "/api/migrations?state=completed", nil), http.StatusOK)
	assert.Empty(t, empty.Items)
	assert.NotNil(t, empty.Items, "an empty list, not null")
	assert.Equal(t, http.StatusNotFound, env.call(http.MethodGet, "/api/migrations/999", nil).Code)

	// Once the migration ended, the source may be migrated again.
	require.NoError(t, env.db.Model(&models.Migration{}).Where("id = ?", m.ID).
		Updates(map[string]any{"state": models.MigrationCancelled, "active_source_id": nil}).Error)
	next := env.start(migTarget())
	assert.NotEqual(t, m.ID, next.ID)

	// A workflow engine that does not start it: 503, and the row does not
	// block the next attempt.
	require.NoError(t, env.db.Model(&models.Migration{}).Where("id = ?", next.ID).
		Updates(map[string]any{"state": models.MigrationCancelled, "active_source_id": nil}).Error)
	env.temporal.startErr = context.DeadlineExceeded
	rec = env.call(http.MethodPost, "/api/migrations", map[string]any{"sourceAccountId": env.source.ID, "target": migTarget()})
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	var failed models.Migration
	require.NoError(t, env.db.Order("id DESC").Take(&failed).Error)
	assert.Equal(t, models.MigrationFailed, failed.State)
	assert.Nil(t, failed.ActiveSourceID)
}

func testMigrationValidation(t *testing.T, env *migEnv) {
	// The disabled new account of a cancelled migration still holds its key.
	old := models.Account{Name: "Old V2", Key: "old-v2", PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "p", AppID: "01HOLDV2", KeyID: "k", Phone: "+390212345678", Channels: "WHATSAPP",
		Status: models.AccountDisabled, StatusReason: "migration 7 was cancelled by the admin"}
	require.NoError(t, env.db.Create(&old).Error)
	cases := []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"missing key secret", map[string]any{"sourceAccountId": env.source.ID, "target": without(migTarget(), "keySecret")}, http.StatusBadRequest, "target.keySecret: required"},
		{"bad phone", map[string]any{"sourceAccountId": env.source.ID, "target": with(migTarget(), "phone", "0212345678")}, http.StatusBadRequest, `target.phone: want E.164`},
		{"bad region", map[string]any{"sourceAccountId": env.source.ID, "target": with(migTarget(), "region", "asia")}, http.StatusBadRequest, `target.region: want one of eu, us, br, got "asia"`},
		{"same app", map[string]any{"sourceAccountId": env.source.ID, "target": with(migTarget(), "appId", "01HOLDAPP")}, http.StatusBadRequest, `target.appId: "01HOLDAPP" is the source account's Sinch app`},
		{"no target", map[string]any{"sourceAccountId": env.source.ID}, http.StatusBadRequest, "target: required"},
		{"no source", map[string]any{"target": migTarget()}, http.StatusBadRequest, "sourceAccountId: want a positive integer id, got 0"},
		{"unknown source", map[string]any{"sourceAccountId": 9999, "target": migTarget()}, http.StatusNotFound, "sourceAccountId: account 9999 does not exist"},
		{"key taken", map[string]any{"sourceAccountId": env.source.ID, "target": with(migTarget(), "key", "acme")}, http.StatusConflict, fmt.Sprintf(`target.key: account %d already has key "acme"`, env.source.ID)},
		{"key of a cancelled migration's account", map[string]any{"sourceAccountId": env.source.ID, "target": with(migTarget(), "key", "old-v2")}, http.StatusConflict,
			fmt.Sprintf(`target.key: account %d already has key "old-v2" (disabled: migration 7 was cancelled by the admin); delete it (DELETE /api/whatsapp/accounts/%d) to reuse the key`, old.ID, old.ID)},
		{"unknown field", `{"sourceAccountId":1,"target":{},"extra":1}`, http.StatusBadRequest, "extra: unknown field"},
		// The new account is signed by default and talks to Sinch's hosts
		// only, like POST /api/whatsapp/accounts.
		{"no webhook secret", map[string]any{"sourceAccountId": env.source.ID, "target": without(migTarget(), "webhookSecret")}, http.StatusBadRequest, "target.webhookSecret: required"},
		{"short webhook secret", map[string]any{"sourceAccountId": env.source.ID, "target": with(migTarget(), "webhookSecret", "too-short")}, http.StatusBadRequest, "target.webhookSecret: at least 16 characters"},
		{"secret given and generated", map[string]any{"sourceAccountId": env.source.ID, "target": with(migTarget(), "generateWebhookSecret", true)}, http.StatusBadRequest, "target.generateWebhookSecret: give either"},
		{"foreign auth url", map[string]any{"sourceAccountId": env.source.ID, "target": with(migTarget(), "authUrl", "https://attacker.example/oauth2/token")}, http.StatusBadRequest, "target.authUrl: "},
		{"loopback base url", map[string]any{"sourceAccountId": env.source.ID, "target": with(migTarget(), "baseUrl", "http://127.0.0.1:8090/eu")}, http.StatusBadRequest, "target.baseUrl: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := env.call(http.MethodPost, "/api/migrations", tc.body)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			assert.True(t, strings.HasPrefix(errorBody(t, rec).Message, tc.msg), "%q starts with %q", errorBody(t, rec).Message, tc.msg)
		})
	}
	var n int64
	require.NoError(t, env.db.Model(&models.Migration{}).Count(&n).Error)
	assert.Zero(t, n, "no row for a refused request")
	assert.Empty(t, env.temporal.started)

	// A migrated source cannot be migrated again.
	require.NoError(t, env.db.Model(&models.Account{}).Where("id = ?", env.source.ID).
		Updates(map[string]any{"status": models.AccountMigrated, "migrated_to_account_id": 5}).Error)
	rec := env.call(http.MethodPost, "/api/migrations", map[string]any{"sourceAccountId": env.source.ID, "target": migTarget()})
	require.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, fmt.Sprintf("sourceAccountId: account %d was already migrated to account 5", env.source.ID), errorBody(t, rec).Message)
}

func testMigrationSignals(t *testing.T, env *migEnv) {
	m := env.start(migTarget())
	path := func(op string) string { return fmt.Sprintf("/api/migrations/%d/%s", m.ID, op) }

	// Nothing failed yet: nothing to retry.
	rec := env.call(http.MethodPost, path("retry"), nil)
	require.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, fmt.Sprintf("migration %d is running and has no failed step to retry", m.ID), errorBody(t, rec).Message)

	// A failed credentials step can be retried.
	steps := activities.NewMigrationSteps()
	steps[1].Status = activities.StepFailed
	b, _ := json.Marshal(steps)
	require.NoError(t, env.db.Model(&models.Migration{}).Where("id = ?", m.ID).Update("steps", string(b)).Error)
	assert.Equal(t, http.StatusAccepted, env.call(http.MethodPost, path("retry"), nil).Code)
	assert.Equal(t, http.StatusAccepted, env.call(http.MethodPost, path("confirm"), nil).Code)
	assert.Equal(t, http.StatusAccepted, env.call(http.MethodPost, path("cancel"), nil).Code)
	assert.Equal(t, []string{
		workflows.MigrationRetrySignalName + " " + m.WorkflowID,
		workflows.MigrationConfirmSignalName + " " + m.WorkflowID,
		workflows.MigrationCancelSignalName + " " + m.WorkflowID,
	}, env.temporal.signals)

	// A confirmation already received is not sent twice.
	require.NoError(t, env.db.Model(&models.Migration{}).Where("id = ?", m.ID).Update("state", models.MigrationAwaitingFirstMessage).Error)
	rec = env.call(http.MethodPost, path("confirm"), nil)
	require.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, fmt.Sprintf("migration %d is awaiting_first_message: the confirmation was already received", m.ID), errorBody(t, rec).Message)

	// A finished migration refuses every request, naming its state.
	require.NoError(t, env.db.Model(&models.Migration{}).Where("id = ?", m.ID).
		Updates(map[string]any{"state": models.MigrationCompleted, "active_source_id": nil}).Error)
	for _, op := range []string{"confirm", "cancel", "retry"} {
		rec := env.call(http.MethodPost, path(op), nil)
		require.Equal(t, http.StatusConflict, rec.Code, op)
		e := errorBody(t, rec)
		assert.Equal(t, "migration_finished", e.Code)
		assert.Equal(t, fmt.Sprintf("migration %d is completed: it has ended", m.ID), e.Message)
	}
	assert.Len(t, env.temporal.signals, 3, "no signal to a finished migration")
	assert.Equal(t, http.StatusNotFound, env.call(http.MethodPost, "/api/migrations/999/cancel", nil).Code)
	assert.Equal(t, http.StatusUnauthorized, do(env.e, http.MethodGet, "/api/migrations", "", nil).Code)
}

func without(m map[string]any, key string) map[string]any {
	delete(m, key)
	return m
}

func with(m map[string]any, key string, v any) map[string]any {
	m[key] = v
	return m
}

// testMigrationWebhookSecret: target.generateWebhookSecret makes the new
// account's secret, returned once in targetWebhookSecret and sealed to the
// migration; target.allowUnsignedWebhooks carries the explicit choice of
// an unsigned account instead.
func testMigrationWebhookSecret(t *testing.T, env *migEnv) {
	target := without(migTarget(), "webhookSecret")
	target["generateWebhookSecret"] = true
	rec := env.call(http.MethodPost, "/api/migrations", map[string]any{"sourceAccountId": env.source.ID, "target": target})
	m := cfgDecode[api.MigrationResponse](t, rec, http.StatusAccepted)
	secret := m.TargetWebhookSecret
	assert.Len(t, secret, 43, "32 random bytes, base64url")
	var row models.Migration
	require.NoError(t, env.db.Take(&row, m.ID).Error)
	ws, err := env.box.Open(row.TargetWebhookSecretEnc, secretbox.MigrationAAD(m.ID, "webhook_secret"))
	require.NoError(t, err)
	assert.Equal(t, secret, ws, "the new account gets the secret that was shown")
	assert.NotContains(t, row.Target, secret)
	for _, path := range []string{fmt.Sprintf("/api/migrations/%d", m.ID), "/api/migrations"} {
		rec := env.call(http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.NotContains(t, rec.Body.String(), secret, "shown once: %s", path)
		assert.NotContains(t, rec.Body.String(), "targetWebhookSecret", path)
	}
	require.Len(t, env.temporal.inputs, 1)
	raw, _ := json.Marshal(env.temporal.inputs[0])
	assert.NotContains(t, string(raw), secret, "no secret in the workflow input")

	require.NoError(t, env.db.Model(&models.Migration{}).Where("id = ?", m.ID).
		Updates(map[string]any{"state": models.MigrationCancelled, "active_source_id": nil}).Error)
	target = without(migTarget(), "webhookSecret")
	target["allowUnsignedWebhooks"] = true
	unsigned := env.start(target)
	assert.Empty(t, unsigned.TargetWebhookSecret)
	assert.True(t, unsigned.Target.AllowUnsignedWebhooks)
	var unsignedRow models.Migration
	require.NoError(t, env.db.Take(&unsignedRow, unsigned.ID).Error)
	assert.Empty(t, unsignedRow.TargetWebhookSecretEnc, "no secret: the new account takes unsigned callbacks")
}
