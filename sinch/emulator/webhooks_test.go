package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// restApp is an app made without webhookUrl, as the connector finds a new
// Sinch app: no webhook until it creates one.
const restApp = "01RESTAPP"

// newRESTEnv is an env (its app has the legacy webhook) plus restApp in
// the same project and key.
func newRESTEnv(t *testing.T, opts emulator.Options) *env {
	t.Helper()
	e := newEnv(t, opts, emulator.ModeConversation)
	require.NoError(t, e.emu.CreateApp(emulator.App{AppID: restApp, ProjectID: testProject, Region: "eu",
		DisplayName: "Support", KeyID: e.app.KeyID, KeySecret: e.app.KeySecret}))
	return e
}

// client is a real sinch.Client for an app of the env's project.
func (e *env) client(appID string) *sinch.Client {
	e.t.Helper()
	c, err := sinch.NewClient(sinch.ClientConfig{BaseURL: e.url, AuthURL: e.url + "/oauth2/token",
		ProjectID: testProject, AppID: appID, KeyID: e.app.KeyID, KeySecret: e.app.KeySecret},
		sinch.NewTokenCache(nil, nil), nil)
	require.NoError(e.t, err)
	return c
}

// sinchDo calls a Sinch endpoint of the env's project with its token.
func (e *env) sinchDo(method, path string, body any) (*http.Response, []byte) {
	e.t.Helper()
	return e.do(method, "/v1/projects/"+testProject+path, body, http.Header{"Authorization": {"Bearer " + e.token}})
}

func requireAPIError(t *testing.T, err error, code int) *sinch.APIError {
	t.Helper()
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, code, apiErr.HTTPStatus, "%v", err)
	return apiErr
}

func TestGetAppThroughClient(t *testing.T) {
	opts := fastOptions()
	opts.DeliveryDelays = [3]time.Duration{time.Hour, time.Hour, time.Hour} // sends stay queued
	e := newRESTEnv(t, opts)
	ctx := context.Background()
	c := e.client(restApp)

	app, err := c.GetApp(ctx)
	require.NoError(t, err)
	assert.Equal(t, restApp, app.ID)
	assert.Equal(t, "Support", app.DisplayName)
	assert.Equal(t, sinch.ProcessingModeConversation, app.ProcessingMode)
	assert.Equal(t, []string{"WHATSAPP", "INSTAGRAM"}, app.Channels())
	for _, cc := range app.ChannelCredentials {
		require.NotNil(t, cc.State)
		assert.Equal(t, "ACTIVE", cc.State.Status)
	}
	assert.Equal(t, &sinch.AppRateLimits{Inbound: 25, Outbound: 25, Webhooks: 25}, app.RateLimits)
	assert.Equal(t, &sinch.AppQueueStats{OutboundSize: 0, OutboundLimit: 500000}, app.QueueStats)
	assert.JSONEq(t, `{}`, string(app.CallbackSettings))

	// Accepted sends wait in the queue until their first callback.
	e.send(textTo(restApp, "393331234567", "one"))
	e.send(textTo(restApp, "393331234568", "two"))
	app, err = c.GetApp(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, app.QueueStats.OutboundSize)

	// The control API changes the mode and the channels.
	require.NoError(t, e.emu.SetProcessingMode(restApp, "DISPATCH"))
	require.NoError(t, e.emu.SetChannels(restApp, []string{"WHATSAPP"}))
	app, err = c.GetApp(ctx)
	require.NoError(t, err)
	assert.Equal(t, sinch.ProcessingModeDispatch, app.ProcessingMode)
	assert.Equal(t, []string{"WHATSAPP"}, app.Channels())
	req := textTo(restApp, "393331234567", "hi")
	req.Recipient.IdentifiedBy.ChannelIdentities[0].Channel = "INSTAGRAM"
	res, body := e.sendAt("", req, nil)
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.Contains(t, string(body), "not configured on the app")
	_, err = e.emu.SendInbound(restApp, emulator.Inbound{From: "1", Text: "x", Channel: "INSTAGRAM"})
	assert.ErrorIs(t, err, emulator.ErrInvalid)

	res, body = e.do(http.MethodPatch, "/emulator/apps/"+restApp, map[string]any{
		"processingMode": "CONVERSATION", "channels": []string{"INSTAGRAM", "WHATSAPP"}, "displayName": "Sales"}, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	app, err = c.GetApp(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"INSTAGRAM", "WHATSAPP"}, app.Channels())
	assert.Equal(t, "Sales", app.DisplayName)
	assert.Equal(t, sinch.ProcessingModeConversation, app.ProcessingMode)
	res, body = e.do(http.MethodPatch, "/emulator/apps/"+restApp, map[string]any{"processingMode": "BATCH"}, nil)
	assert.Equal(t, http.StatusBadRequest, res.StatusCode, string(body))

	// Unknown app, another project's app: Sinch's 404.
	res, body = e.sinchDo(http.MethodGet, "/apps/NOPE", nil)
	requireSinchError(t, body, http.StatusNotFound, "NOT_FOUND")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	require.NoError(t, e.emu.CreateApp(emulator.App{AppID: "other-project-app", ProjectID: "proj-2", Region: "eu",
		KeyID: "key-2", KeySecret: "key-2-secret"}))
	_, body = e.sinchDo(http.MethodGet, "/apps/other-project-app", nil)
	requireSinchError(t, body, http.StatusNotFound, "NOT_FOUND")
	// Wrong region: 404, like a send.
	res, _ = e.do(http.MethodGet, "/us/v1/projects/"+testProject+"/apps/"+restApp, nil, http.Header{"Authorization": {"Bearer " + e.token}})
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
}

func TestAppAndWebhookEndpointsAuthLikeMessages(t *testing.T) {
	e := newRESTEnv(t, fastOptions())
	require.NoError(t, e.emu.CreateApp(emulator.App{AppID: "p2", ProjectID: "proj-2", Region: "eu", KeyID: "key-2", KeySecret: "key-2-secret"}))
	other := e.fetchToken("key-2", "key-2-secret")

	sendRes, sendBody := e.sendAt("", textTo(restApp, "393331234567", "hi"), http.Header{"Authorization": {"Bearer " + other}})
	require.Equal(t, http.StatusForbidden, sendRes.StatusCode)
	want := requireSinchError(t, sendBody, http.StatusForbidden, "PERMISSION_DENIED")

	for _, call := range []struct{ method, path string }{
		{http.MethodGet, "/apps/" + restApp},
		{http.MethodGet, "/apps/" + restApp + "/webhooks"},
		{http.MethodPost, "/webhooks"},
		{http.MethodGet, "/webhooks/X"},
		{http.MethodPatch, "/webhooks/X"},
		{http.MethodDelete, "/webhooks/X"},
	} {
		t.Run(call.method+call.path, func(t *testing.T) {
			res, body := e.do(call.method, "/v1/projects/"+testProject+call.path, map[string]string{},
				http.Header{"Authorization": {"Bearer " + other}})
			assert.Equal(t, http.StatusForbidden, res.StatusCode)
			got := requireSinchError(t, body, http.StatusForbidden, "PERMISSION_DENIED")
			assert.Equal(t, want.Error.Message, got.Error.Message)

			res, body = e.do(call.method, "/v1/projects/"+testProject+call.path, map[string]string{}, nil)
			assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
			requireSinchError(t, body, http.StatusUnauthorized, "UNAUTHENTICATED")
		})
	}
}

func TestWebhookCRUDThroughClient(t *testing.T) {
	e := newRESTEnv(t, fastOptions())
	ctx := context.Background()
	c := e.client(restApp)

	hooks, err := c.ListWebhooks(ctx)
	require.NoError(t, err)
	assert.Empty(t, hooks, "an app made without webhookUrl has no webhook")

	created, err := c.CreateWebhook(ctx, sinch.Webhook{Target: "https://connector.example.com/notify", Secret: "s1",
		Triggers: []string{sinch.WebhookTriggerMessageInbound, sinch.WebhookTriggerMessageDelivery}})
	require.NoError(t, err)
	assert.Len(t, created.ID, 26)
	assert.Equal(t, restApp, created.AppID)
	assert.Equal(t, "HTTP", created.TargetType)
	assert.Equal(t, "s1", created.Secret, "Sinch returns the secret")

	hooks, err = c.ListWebhooks(ctx)
	require.NoError(t, err)
	assert.Equal(t, []sinch.Webhook{created}, hooks)
	res, body := e.sinchDo(http.MethodGet, "/webhooks/"+created.ID, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	var got sinch.Webhook
	require.NoError(t, json.Unmarshal(body, &got))
	assert.Equal(t, created, got)

	// Only the masked field changes, whatever else the body says.
	updated, err := c.UpdateWebhook(ctx, created.ID, sinch.Webhook{Target: "https://elsewhere.example.com/x", Secret: "s2",
		Triggers: sinch.ConnectorTriggers}, []string{"triggers"})
	require.NoError(t, err)
	assert.Equal(t, sinch.ConnectorTriggers, updated.Triggers)
	assert.Equal(t, created.Target, updated.Target)
	assert.Equal(t, "s1", updated.Secret)
	updated, err = c.UpdateWebhook(ctx, created.ID, sinch.Webhook{Secret: "s2", Triggers: []string{"MESSAGE_INBOUND"}},
		[]string{"triggers", "secret"})
	require.NoError(t, err)
	assert.Equal(t, []string{"MESSAGE_INBOUND"}, updated.Triggers)
	assert.Equal(t, "s2", updated.Secret)
	assert.Equal(t, created.Target, updated.Target)

	require.NoError(t, c.DeleteWebhook(ctx, created.ID))
	hooks, err = c.ListWebhooks(ctx)
	require.NoError(t, err)
	assert.Empty(t, hooks)
	res, body = e.sinchDo(http.MethodDelete, "/webhooks/"+created.ID, nil)
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	requireSinchError(t, body, http.StatusNotFound, "NOT_FOUND")
	requireAPIError(t, c.DeleteWebhook(ctx, created.ID), http.StatusNotFound)

	// The legacy app got one webhook from webhookUrl: every connector trigger, its secret.
	legacy, err := e.emu.Webhooks(e.app.AppID)
	require.NoError(t, err)
	require.Len(t, legacy, 1)
	assert.Equal(t, e.app.WebhookURL, legacy[0].Target)
	assert.Equal(t, testSecret, legacy[0].Secret)
	assert.Equal(t, sinch.ConnectorTriggers, legacy[0].Triggers)
}

func TestWebhookRefusals(t *testing.T) {
	e := newRESTEnv(t, fastOptions())
	ctx := context.Background()
	c := e.client(restApp)
	post := func(body any) (int, sinchError) {
		t.Helper()
		res, raw := e.sinchDo(http.MethodPost, "/webhooks", body)
		if res.StatusCode == http.StatusOK {
			return res.StatusCode, sinchError{}
		}
		return res.StatusCode, requireSinchError(t, raw, res.StatusCode, map[int]string{400: "INVALID_ARGUMENT", 404: "NOT_FOUND"}[res.StatusCode])
	}
	hook := func(target string, triggers ...string) map[string]any {
		if triggers == nil {
			triggers = []string{"MESSAGE_INBOUND"}
		}
		return map[string]any{"app_id": restApp, "target": target, "triggers": triggers}
	}

	for i := range 5 {
		_, err := c.CreateWebhook(ctx, sinch.Webhook{Target: fmt.Sprintf("https://h%d.example.com/", i), Triggers: []string{"MESSAGE_INBOUND"}})
		require.NoError(t, err, "webhook %d", i+1)
	}
	code, se := post(hook("https://h6.example.com/"))
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, se.Error.Message, "5 webhooks")
	_, err := c.CreateWebhook(ctx, sinch.Webhook{Target: "https://h6.example.com/", Triggers: []string{"MESSAGE_INBOUND"}})
	apiErr := requireAPIError(t, err, http.StatusBadRequest)
	assert.Equal(t, "INVALID_ARGUMENT", apiErr.Status)
	assert.Contains(t, apiErr.Message, "5 webhooks")

	hooks, err := c.ListWebhooks(ctx)
	require.NoError(t, err)
	require.NoError(t, c.DeleteWebhook(ctx, hooks[4].ID))

	long := "https://example.com/" + strings.Repeat("a", sinch.MaxWebhookTargetLength-len("https://example.com/")+1)
	require.Len(t, long, 743)
	for name, tc := range map[string]struct {
		body any
		code int
		want string
	}{
		"duplicate target":      {hook("https://h0.example.com/"), 400, "duplicate target"},
		"743 characters":        {hook(long), 400, "742"},
		"sinch host":            {hook("https://eu.conversation-api.prod.sinch.com/cb"), 400, "conversation-api"},
		"unknown trigger":       {hook("https://n1.example.com/", "MESSAGE_INBOUND", "MESSAGE_OUTBOUND"), 400, "MESSAGE_OUTBOUND"},
		"unspecified trigger":   {hook("https://n2.example.com/", "UNSPECIFIED_TRIGGER"), 400, "UNSPECIFIED_TRIGGER"},
		"no app_id":             {map[string]any{"target": "https://n3.example.com/", "triggers": []string{"MESSAGE_INBOUND"}}, 400, "app_id"},
		"unknown app":           {map[string]any{"app_id": "NOPE", "target": "https://n4.example.com/", "triggers": []string{"MESSAGE_INBOUND"}}, 404, "NOPE"},
		"bad target_type":       {map[string]any{"app_id": restApp, "target": "https://n5.example.com/", "target_type": "FTP", "triggers": []string{"MESSAGE_INBOUND"}}, 400, "target_type"},
		"unknown field":         {map[string]any{"app_id": restApp, "target": "https://n6.example.com/", "trigger": []string{"MESSAGE_INBOUND"}}, 400, "trigger"},
		"relative target":       {hook("/notify"), 400, "absolute"},
		"incomplete credential": {map[string]any{"app_id": restApp, "target": "https://n7.example.com/", "client_credentials": map[string]string{"client_id": "x"}}, 400, "client_credentials"},
	} {
		t.Run(name, func(t *testing.T) {
			code, se := post(tc.body)
			assert.Equal(t, tc.code, code)
			assert.Contains(t, se.Error.Message, tc.want)
		})
	}

	// Through the client: the duplicate is Sinch's 400; the long target is
	// refused before the call (and the emulator would refuse it too, above).
	_, err = c.CreateWebhook(ctx, sinch.Webhook{Target: "https://h0.example.com/", Triggers: []string{"MESSAGE_INBOUND"}})
	assert.Contains(t, requireAPIError(t, err, http.StatusBadRequest).Message, "duplicate target")
	_, err = c.CreateWebhook(ctx, sinch.Webhook{Target: long, Triggers: []string{"MESSAGE_INBOUND"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "742")
	_, err = c.CreateWebhook(ctx, sinch.Webhook{Target: "https://n8.example.com/", Triggers: []string{"UNSPECIFIED_TRIGGER"}})
	assert.Contains(t, requireAPIError(t, err, http.StatusBadRequest).Message, "UNSPECIFIED_TRIGGER")
	hooks, err = c.ListWebhooks(ctx)
	require.NoError(t, err)
	assert.Len(t, hooks, 4, "no refused webhook was stored")
}

func TestWebhookPatch(t *testing.T) {
	e := newRESTEnv(t, fastOptions())
	ctx := context.Background()
	c := e.client(restApp)
	a, err := c.CreateWebhook(ctx, sinch.Webhook{Target: "https://a.example.com/", Secret: "sa", Triggers: []string{"MESSAGE_INBOUND"}})
	require.NoError(t, err)
	b, err := c.CreateWebhook(ctx, sinch.Webhook{Target: "https://b.example.com/", Triggers: []string{"MESSAGE_DELIVERY"}})
	require.NoError(t, err)
	patch := func(query string, body any) (*http.Response, sinch.Webhook, []byte) {
		t.Helper()
		res, raw := e.sinchDo(http.MethodPatch, "/webhooks/"+a.ID+query, body)
		var w sinch.Webhook
		if res.StatusCode == http.StatusOK {
			require.NoError(t, json.Unmarshal(raw, &w))
		}
		return res, w, raw
	}
	full := map[string]any{"target": "https://c.example.com/", "secret": "sc", "triggers": []string{"EVENT_INBOUND"}}

	res, w, raw := patch("?update_mask.paths=triggers", full)
	require.Equal(t, http.StatusOK, res.StatusCode, string(raw))
	assert.Equal(t, sinch.Webhook{ID: a.ID, AppID: restApp, Target: a.Target, TargetType: "HTTP", Secret: "sa", Triggers: []string{"EVENT_INBOUND"}}, w)

	res, w, raw = patch("?update_mask=secret,target", full)
	require.Equal(t, http.StatusOK, res.StatusCode, string(raw))
	assert.Equal(t, "https://c.example.com/", w.Target)
	assert.Equal(t, "sc", w.Secret)
	assert.Equal(t, []string{"EVENT_INBOUND"}, w.Triggers)

	// No mask: the fields present in the body are replaced.
	res, w, raw = patch("", map[string]any{"secret": "sd"})
	require.Equal(t, http.StatusOK, res.StatusCode, string(raw))
	assert.Equal(t, "sd", w.Secret)
	assert.Equal(t, "https://c.example.com/", w.Target)

	// Its own target is no duplicate; another webhook's is.
	res, _, raw = patch("?update_mask.paths=target", map[string]any{"target": "https://c.example.com/"})
	assert.Equal(t, http.StatusOK, res.StatusCode, string(raw))
	res, _, raw = patch("?update_mask.paths=target", map[string]any{"target": b.Target})
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.Contains(t, requireSinchError(t, raw, 400, "INVALID_ARGUMENT").Error.Message, "duplicate target")
	res, _, raw = patch("?update_mask.paths=triggers", map[string]any{"triggers": []string{"UNSPECIFIED_TRIGGER"}})
	assert.Equal(t, http.StatusBadRequest, res.StatusCode, string(raw))
	res, _, raw = patch("?update_mask.paths=colour", map[string]any{})
	assert.Equal(t, http.StatusBadRequest, res.StatusCode, string(raw))
	res, _, raw = patch("?update_mask.paths=app_id", map[string]any{"app_id": e.app.AppID})
	assert.Equal(t, http.StatusBadRequest, res.StatusCode, string(raw))
	res, raw = e.sinchDo(http.MethodPatch, "/webhooks/NOPE?update_mask.paths=secret", map[string]any{"secret": "x"})
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	requireSinchError(t, raw, 404, "NOT_FOUND")
	got, err := e.emu.GetWebhook(a.ID)
	require.NoError(t, err)
	assert.Equal(t, "https://c.example.com/", got.Target, "refused patches changed nothing")
	assert.Equal(t, []string{"EVENT_INBOUND"}, got.Triggers)
}

func TestWebhookFanOut(t *testing.T) {
	e := newRESTEnv(t, fastOptions())
	ctx := context.Background()
	c := e.client(restApp)
	inbound := newReceiver(t, "secret-inbound")
	delivery := newReceiver(t, "secret-delivery")
	unsigned := newReceiver(t, "")
	_, err := c.CreateWebhook(ctx, sinch.Webhook{Target: inbound.srv.URL + "/in", Secret: "secret-inbound", Triggers: []string{"MESSAGE_INBOUND"}})
	require.NoError(t, err)
	_, err = c.CreateWebhook(ctx, sinch.Webhook{Target: delivery.srv.URL + "/dr", Secret: "secret-delivery", Triggers: []string{"MESSAGE_DELIVERY"}})
	require.NoError(t, err)
	_, err = c.CreateWebhook(ctx, sinch.Webhook{Target: unsigned.srv.URL + "/all", Triggers: []string{"MESSAGE_INBOUND", "MESSAGE_DELIVERY"}})
	require.NoError(t, err)

	inID, err := e.emu.SendInbound(restApp, emulator.Inbound{From: "393331234567", Text: "hello"})
	require.NoError(t, err)
	outID := e.send(textTo(restApp, "393331234567", "hi"))

	require.Eventually(t, func() bool {
		return len(inbound.snapshot()) == 1 && len(delivery.snapshot()) == 3 && len(unsigned.snapshot()) == 4
	}, waitFor, tick)
	time.Sleep(50 * time.Millisecond) // nothing more arrives
	require.Len(t, inbound.snapshot(), 1)
	require.Len(t, delivery.snapshot(), 3)

	h := inbound.snapshot()[0]
	assert.Equal(t, inID, h.cb.Message.ID)
	sh := sinch.SignatureHeadersFrom(h.header)
	assert.NoError(t, sinch.VerifySignature("secret-inbound", sh, h.body))
	assert.ErrorIs(t, sinch.VerifySignature("secret-delivery", sh, h.body), sinch.ErrSignatureMismatch)
	for _, h := range delivery.snapshot() {
		require.NotNil(t, h.cb.MessageDeliveryReport)
		assert.Equal(t, outID, h.cb.MessageDeliveryReport.MessageID)
		sh := sinch.SignatureHeadersFrom(h.header)
		assert.NoError(t, sinch.VerifySignature("secret-delivery", sh, h.body))
		assert.ErrorIs(t, sinch.VerifySignature("secret-inbound", sh, h.body), sinch.ErrSignatureMismatch)
	}
	for _, h := range unsigned.snapshot() {
		assert.Empty(t, h.header.Get(sinch.HeaderSignature), "a webhook without secret gets unsigned callbacks")
	}

	// Every attempt names its webhook.
	targets := map[string]int{}
	for _, a := range e.emu.CallbackAttempts(restApp) {
		assert.NotEmpty(t, a.WebhookID)
		targets[a.Target]++
	}
	assert.Equal(t, map[string]int{inbound.srv.URL + "/in": 1, delivery.srv.URL + "/dr": 3, unsigned.srv.URL + "/all": 4}, targets)
	assert.Empty(t, e.emu.DroppedCallbacks(restApp))

	// A trigger no webhook has is dropped, with no attempt.
	hooks, err := c.ListWebhooks(ctx)
	require.NoError(t, err)
	require.NoError(t, c.DeleteWebhook(ctx, hooks[0].ID))
	require.NoError(t, c.DeleteWebhook(ctx, hooks[2].ID))
	before := len(e.emu.CallbackAttempts(restApp))
	dropID, err := e.emu.SendInbound(restApp, emulator.Inbound{From: "393331234567", Text: "anyone?"})
	require.NoError(t, err)
	dropped := e.emu.DroppedCallbacks(restApp)
	require.Len(t, dropped, 1)
	assert.Equal(t, sinch.TriggerMessageInbound, dropped[0].Trigger)
	assert.Equal(t, dropID, dropped[0].MessageID)
	assert.Zero(t, dropped[0].Number)
	assert.Contains(t, dropped[0].Err, "MESSAGE_INBOUND")
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, e.emu.CallbackAttempts(restApp), before)
	assert.Len(t, inbound.snapshot(), 1)
}

// keys returns the keys of a JSON object.
func keys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m), string(raw))
	return slices.Sorted(maps.Keys(m))
}

func sorted(s ...string) []string { return slices.Sorted(slices.Values(s)) }

// TestAppAndWebhookWireKeys pins the raw JSON keys to those of Sinch's
// AppResponse and Webhook (shared/docs/sinch-conversation-api.md, "App and
// webhook management"; Sinch's Node SDK models), so that a misspelt key
// cannot pass through a lenient struct decode.
func TestAppAndWebhookWireKeys(t *testing.T) {
	e := newRESTEnv(t, fastOptions())
	// Every key Sinch's AppResponse may carry (the doc's list).
	sinchAppKeys := []string{"id", "display_name", "processing_mode", "channel_credentials", "rate_limits", "queue_stats",
		"retention_policy", "dispatch_retention_policy", "callback_settings", "delivery_report_based_fallback",
		"message_retry_settings", "smart_conversation"}

	res, body := e.sinchDo(http.MethodGet, "/apps/"+restApp, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	var app map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &app))
	got := keys(t, body)
	assert.Equal(t, sorted("id", "display_name", "processing_mode", "channel_credentials", "rate_limits", "queue_stats",
		"retention_policy", "dispatch_retention_policy", "callback_settings"), got)
	assert.Subset(t, sinchAppKeys, got)
	assert.Equal(t, sorted("inbound", "outbound", "webhooks"), keys(t, app["rate_limits"]))
	assert.Equal(t, sorted("outbound_size", "outbound_limit"), keys(t, app["queue_stats"]))
	assert.Equal(t, sorted("retention_type", "ttl_days"), keys(t, app["retention_policy"]))
	assert.Equal(t, sorted("retention_type", "ttl_days"), keys(t, app["dispatch_retention_policy"]))
	assert.JSONEq(t, `{}`, string(app["callback_settings"]))
	var creds []json.RawMessage
	require.NoError(t, json.Unmarshal(app["channel_credentials"], &creds))
	require.Len(t, creds, 2)
	assert.Equal(t, sorted("channel", "state"), keys(t, creds[0]))
	assert.JSONEq(t, `{"channel":"WHATSAPP","state":{"status":"ACTIVE"}}`, string(creds[0]))

	webhookKeys := sorted("id", "app_id", "target", "target_type", "secret", "triggers")
	res, body = e.sinchDo(http.MethodPost, "/webhooks", map[string]any{"app_id": restApp, "target": "https://k.example.com/",
		"triggers": []string{"MESSAGE_INBOUND"}})
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	assert.Equal(t, webhookKeys, keys(t, body))
	res, body = e.sinchDo(http.MethodPost, "/webhooks", map[string]any{"app_id": restApp, "target": "https://k2.example.com/",
		"secret": "s", "target_type": "HTTP", "triggers": []string{"MESSAGE_INBOUND"},
		"client_credentials": map[string]string{"client_id": "id", "client_secret": "cs", "endpoint": "https://auth.example.com/token"}})
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	assert.Equal(t, sorted(append(webhookKeys, "client_credentials")...), keys(t, body))
	var wh map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &wh))
	assert.Equal(t, sorted("client_id", "client_secret", "endpoint"), keys(t, wh["client_credentials"]))
	var id string
	require.NoError(t, json.Unmarshal(wh["id"], &id))

	res, body = e.sinchDo(http.MethodGet, "/apps/"+restApp+"/webhooks", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	assert.Equal(t, []string{"webhooks"}, keys(t, body))
	var list struct {
		Webhooks []json.RawMessage `json:"webhooks"`
	}
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Webhooks, 2)
	assert.Equal(t, webhookKeys, keys(t, list.Webhooks[0]))

	res, body = e.sinchDo(http.MethodGet, "/webhooks/"+id, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	assert.Equal(t, sorted(append(webhookKeys, "client_credentials")...), keys(t, body))
	res, body = e.sinchDo(http.MethodDelete, "/webhooks/"+id, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	assert.JSONEq(t, `{}`, string(body))

	// An app with no webhook lists [] (not null).
	require.NoError(t, e.emu.CreateApp(emulator.App{AppID: "bare", ProjectID: testProject, Region: "eu", KeyID: e.app.KeyID, KeySecret: e.app.KeySecret}))
	_, body = e.sinchDo(http.MethodGet, "/apps/bare/webhooks", nil)
	assert.JSONEq(t, `{"webhooks":[]}`, string(body))
}
