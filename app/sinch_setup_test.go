package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
	"github.com/xcally-connector/connector/sinchsetup"
)

// TestSinchSetupEndToEnd: on the dev stack against the emulator's app and
// webhook endpoints, the connector sets up the Sinch side itself: from
// nothing (a customer's message then arrives), idempotently, patching a
// webhook with missing triggers and a wrong secret, refusing a sixth
// webhook with Sinch's error, planning without changing on a dry run, and
// reporting a DISPATCH app by GET …/sinch and the diagnostics before any
// callback.
func TestSinchSetupEndToEnd(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) { testSinchSetup(t, engine) })
	}
}

func problemCodes(r sinchsetup.Report) []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.Code)
	}
	return out
}

func testSinchSetup(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	const setupApp = "01HSETUPAPP0"
	require.NoError(t, s.em.CreateApp(emulator.App{AppID: setupApp, ProjectID: "proj-1", Region: "eu", ProcessingMode: "CONVERSATION",
		KeyID: "key-1", KeySecret: "ks-1"}))
	// The account moves to an app without a webhook; its Receive URL is
	// this server, so the emulator's callbacks reach it.
	s.admin(http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", s.account), map[string]any{"appId": setupApp, "publicUrl": s.dev.APIURL()}, nil, http.StatusOK)
	receive := fmt.Sprintf("%s/api/whatsapp/accounts/%d/notify", s.dev.APIURL(), s.account)
	sinchPath := fmt.Sprintf("/api/whatsapp/accounts/%d/sinch", s.account)
	setup := func(body any, want int) (api.SinchSetupResponse, string) {
		t.Helper()
		var raw json.RawMessage
		code := s.call(http.MethodPost, sinchPath+"/setup", s.cfg.AdminToken, body, &raw)
		require.Equal(t, want, code, "%s", raw)
		var res api.SinchSetupResponse
		if want == http.StatusOK {
			require.NoError(t, json.Unmarshal(raw, &res))
			return res, ""
		}
		var e api.ErrorBody
		require.NoError(t, json.Unmarshal(raw, &e))
		return res, e.Error.Code + ": " + e.Error.Message
	}
	hooks := func(app string) []emulator.Webhook {
		t.Helper()
		w, err := s.em.Webhooks(app)
		require.NoError(t, err)
		return w
	}

	// Nothing set up: GET says so, with the fix.
	var before sinchsetup.Report
	s.admin(http.MethodGet, sinchPath, nil, &before, http.StatusOK)
	assert.Equal(t, []string{sinchsetup.ProblemNotHTTPS, sinchsetup.ProblemNoWebhook}, problemCodes(before), "plain http on loopback in dev")
	assert.Equal(t, sinch.ProcessingModeConversation, before.ProcessingMode)
	assert.Equal(t, []string{"WHATSAPP", "INSTAGRAM"}, before.Channels)
	require.NotNil(t, before.RateLimits)
	assert.Equal(t, 25, before.RateLimits.Outbound)
	require.NotNil(t, before.QueueStats)
	assert.Equal(t, 500000, before.QueueStats.OutboundLimit)
	assert.Equal(t, receive, before.ReceiveURL)

	// A dry run plans the webhook and changes nothing.
	dry, _ := setup(map[string]any{"dryRun": true}, http.StatusOK)
	assert.True(t, dry.DryRun)
	require.Len(t, dry.Changes, 1)
	assert.Equal(t, sinchsetup.ActionCreate, dry.Changes[0].Action)
	assert.Equal(t, receive, dry.Changes[0].Target)
	assert.Empty(t, hooks(setupApp), "a dry run creates nothing")

	// The setup creates it with every trigger and the account's secret.
	var res api.SinchSetupResponse
	s.admin(http.MethodPost, sinchPath+"/setup", nil, &res, http.StatusOK)
	require.Len(t, res.Changes, 1)
	assert.Equal(t, sinchsetup.ActionCreate, res.Changes[0].Action)
	assert.False(t, res.SecretGenerated, "the account has its secret")
	assert.Equal(t, []string{sinchsetup.ProblemNotHTTPS}, problemCodes(res.Report))
	got := hooks(setupApp)
	require.Len(t, got, 1)
	assert.Equal(t, receive, got[0].Target)
	assert.Equal(t, webhookSecret, got[0].Secret)
	assert.ElementsMatch(t, sinch.ConnectorTriggers, got[0].Triggers)
	assert.Equal(t, res.Changes[0].WebhookID, got[0].ID)

	// A customer writes: the emulator posts to the new webhook, signed,
	// and the interaction is assigned.
	_, err := s.em.SendInbound(setupApp, emulator.Inbound{From: "393337770001", Text: "Hello through the new webhook"})
	require.NoError(t, err)
	s.waitAssigned("393337770001")

	// A second setup changes nothing.
	again, _ := setup(nil, http.StatusOK)
	assert.Empty(t, again.Changes)
	assert.Len(t, hooks(setupApp), 1)

	// The admin breaks it by hand: two triggers and another secret.
	_, err = s.em.UpdateWebhook(got[0].ID, emulator.Webhook{Triggers: []string{sinch.WebhookTriggerMessageInbound, sinch.WebhookTriggerRecordNotification},
		Secret: "not-the-account-secret"}, []string{"triggers", "secret"})
	require.NoError(t, err)
	var broken sinchsetup.Report
	s.admin(http.MethodGet, sinchPath, nil, &broken, http.StatusOK)
	assert.Equal(t, []string{sinchsetup.ProblemNotHTTPS, sinchsetup.ProblemTriggersMissing, sinchsetup.ProblemSecretDiffers}, problemCodes(broken))
	assert.Equal(t, sinchsetup.SecretDiffers, broken.Webhooks[0].Secret)
	assert.NotContains(t, fmt.Sprint(broken), "not-the-account-secret", "the view never shows a secret")
	var diag api.AccountDiagnosticsResponse
	s.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d/diagnostics", s.account), nil, &diag, http.StatusOK)
	check := checkNamed(t, diag, api.CheckSinchApp)
	assert.Equal(t, api.CheckFail, check.Status, check.Message)
	assert.Contains(t, check.Message, "lacks the triggers")
	assert.Contains(t, check.Fix, sinchPath+"/setup")

	patched, _ := setup(map[string]any{}, http.StatusOK)
	require.Len(t, patched.Changes, 1)
	assert.Equal(t, sinchsetup.ActionUpdate, patched.Changes[0].Action)
	assert.Equal(t, []string{"triggers", "secret"}, patched.Changes[0].Fields)
	fixed := hooks(setupApp)[0]
	assert.Equal(t, webhookSecret, fixed.Secret)
	assert.Contains(t, fixed.Triggers, sinch.WebhookTriggerRecordNotification, "the trigger the admin added stays")
	for _, tr := range sinch.ConnectorTriggers {
		assert.Contains(t, fixed.Triggers, tr)
	}

	// Bad input is named.
	_, msg := setup(map[string]any{"removeStaleWebhooks": true}, http.StatusBadRequest)
	assert.Contains(t, msg, "removeStaleWebhooks")
	_, msg = setup(map[string]any{"dryRun": "yes"}, http.StatusBadRequest)
	assert.Contains(t, msg, "dryRun")
	assert.Equal(t, http.StatusNotFound, s.call(http.MethodGet, "/api/whatsapp/accounts/999999/sinch", s.cfg.AdminToken, nil, nil))
	agentToken := s.agents["bob"].Token
	assert.Equal(t, http.StatusForbidden, s.call(http.MethodGet, sinchPath, agentToken, nil, nil), "admin only")

	// A second account, without a webhook secret, on an app whose five
	// webhooks point elsewhere, in DISPATCH mode, that never got a callback.
	const fullApp = "01HSETUPFULL"
	require.NoError(t, s.em.CreateApp(emulator.App{AppID: fullApp, ProjectID: "proj-1", Region: "eu", ProcessingMode: "DISPATCH",
		KeyID: "key-1", KeySecret: "ks-1"}))
	for i := range sinch.MaxWebhooksPerApp {
		_, err := s.em.CreateWebhook(emulator.Webhook{AppID: fullApp, Target: fmt.Sprintf("https://crm%d.example.com/sinch", i),
			Triggers: []string{sinch.WebhookTriggerMessageInbound}})
		require.NoError(t, err)
	}
	var acc2 api.AccountResponse
	s.admin(http.MethodPost, "/api/whatsapp/accounts", map[string]any{
		"name": "Full app", "key": "full", "publicUrl": "https://motion.example.com", "region": "eu",
		"projectId": "proj-1", "appId": fullApp, "keyId": "key-1", "keySecret": "ks-1",
		"allowUnsignedWebhooks": true, "phone": "+390212345670",
		"baseUrl": s.dev.EmulatorURL, "authUrl": s.dev.EmulatorURL + "/oauth2/token",
	}, &acc2, http.StatusCreated)
	path2 := fmt.Sprintf("/api/whatsapp/accounts/%d/sinch", acc2.ID)
	var r2 sinchsetup.Report
	s.admin(http.MethodGet, path2, nil, &r2, http.StatusOK)
	assert.Equal(t, []string{sinchsetup.ProblemDispatchMode, sinchsetup.ProblemNoWebhook, sinchsetup.ProblemWebhookLimit}, problemCodes(r2))
	assert.Zero(t, r2.FreeWebhookSlots)
	s.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d/diagnostics", acc2.ID), nil, &diag, http.StatusOK)
	check = checkNamed(t, diag, api.CheckSinchApp)
	assert.Equal(t, api.CheckFail, check.Status)
	assert.Contains(t, check.Message, "DISPATCH mode")
	assert.Contains(t, check.Fix, "16 April 2025")
	assert.Equal(t, api.CheckSkip, checkNamed(t, diag, api.CheckProcessingMode).Status, "the callbacks' mode is unknown: no callback yet")

	// The sixth webhook is refused by Sinch, named; no secret is stored.
	var errBody api.ErrorBody
	require.Equal(t, http.StatusBadGateway, s.call(http.MethodPost, path2+"/setup", s.cfg.AdminToken, nil, &errBody))
	assert.Equal(t, "sinch_refused", errBody.Error.Code)
	assert.Contains(t, errBody.Error.Message, "HTTP 400 INVALID_ARGUMENT")
	assert.Contains(t, errBody.Error.Message, "5")
	s.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", acc2.ID), nil, &acc2, http.StatusOK)
	assert.False(t, acc2.WebhookSecretSet, "the secret is stored only once Sinch took it")
	assert.Len(t, hooks(fullApp), sinch.MaxWebhooksPerApp)

	// A slot freed, the setup creates the webhook with a generated secret.
	require.NoError(t, s.em.DeleteWebhook(hooks(fullApp)[0].ID))
	made, _ := setup2(t, s, path2)
	assert.True(t, made.SecretGenerated)
	s.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", acc2.ID), nil, &acc2, http.StatusOK)
	assert.True(t, acc2.WebhookSecretSet)
	idx := slices.IndexFunc(hooks(fullApp), func(w emulator.Webhook) bool { return w.ID == made.Changes[0].WebhookID })
	require.GreaterOrEqual(t, idx, 0)
	assert.Len(t, hooks(fullApp)[idx].Secret, 43, "32 random bytes, base64url")
	assert.Equal(t, []string{sinchsetup.ProblemDispatchMode}, problemCodes(made.Report), "the setup never changes the app's mode")
	again2, _ := setup2(t, s, path2)
	assert.Empty(t, again2.Changes, "the stored secret is the webhook's: nothing to change")
}

// setup2 runs a setup of another account's path and expects 200.
func setup2(t *testing.T, s *replyStack, path string) (api.SinchSetupResponse, int) {
	t.Helper()
	var res api.SinchSetupResponse
	s.admin(http.MethodPost, path+"/setup", nil, &res, http.StatusOK)
	return res, len(res.Changes)
}

func checkNamed(t *testing.T, res api.AccountDiagnosticsResponse, name string) api.DiagnosticCheck {
	t.Helper()
	for _, c := range res.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s in %v", name, res.Checks)
	return api.DiagnosticCheck{}
}
