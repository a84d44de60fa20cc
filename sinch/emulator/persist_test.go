package emulator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// startStateful runs an emulator on a state file, stopped at the end of
// the test.
func startStateful(t *testing.T, path string) (*emulator.Server, string) {
	t.Helper()
	opts := fastOptions()
	opts.StateFile = path
	em, err := emulator.Open(opts)
	require.NoError(t, err)
	url, err := em.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = em.Close() })
	return em, url
}

func statefulClient(t *testing.T, url, appID, keyID, keySecret string) *sinch.Client {
	t.Helper()
	c, err := sinch.NewClient(sinch.ClientConfig{BaseURL: url, AuthURL: url + "/oauth2/token", ProjectID: testProject,
		AppID: appID, KeyID: keyID, KeySecret: keySecret}, sinch.NewTokenCache(nil, nil), nil)
	require.NoError(t, err)
	return c
}

func TestStateFileSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "emulator-state.json")
	rcv := newReceiver(t, "hook-secret")
	ctx := context.Background()

	em, url := startStateful(t, path)
	require.NoError(t, em.CreateApp(emulator.App{AppID: "persisted", ProjectID: testProject, Region: "eu",
		Channels: []string{"WHATSAPP"}, KeyID: "pkey", KeySecret: "pkey-secret"}))
	c := statefulClient(t, url, "persisted", "pkey", "pkey-secret")
	created, err := c.CreateWebhook(ctx, sinch.Webhook{Target: rcv.srv.URL + "/notify", Secret: "hook-secret",
		Triggers: []string{"MESSAGE_INBOUND", "MESSAGE_DELIVERY"}})
	require.NoError(t, err)

	// The answer of the API call came after the write: the file has it now.
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(raw), created.ID)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the file holds secrets")

	inID, err := em.SendInbound("persisted", emulator.Inbound{From: "393331234567", Text: "before restart"})
	require.NoError(t, err)
	var contactID string
	require.Eventually(t, func() bool {
		for _, h := range rcv.snapshot() {
			if h.cb.Message != nil && h.cb.Message.ID == inID {
				contactID = h.cb.Message.ContactID
				return true
			}
		}
		return false
	}, waitFor, tick)
	require.NotEmpty(t, contactID)
	sent, err := c.SendMessage(ctx, sinch.TextRequest(sinch.ContactRecipient(contactID), "reply before restart"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		items, _ := em.Outbox("persisted", "")
		return len(items) == 1 && items[0].Status == emulator.StatusRead
	}, waitFor, tick)
	require.NoError(t, em.Close())

	// A new emulator on the same file serves the same app, key and webhook.
	em2, url2 := startStateful(t, path)
	c2 := statefulClient(t, url2, "persisted", "pkey", "pkey-secret")
	app, err := c2.GetApp(ctx)
	require.NoError(t, err, "a token is issued for the restored key")
	assert.Equal(t, "persisted", app.ID)
	assert.Equal(t, []string{"WHATSAPP"}, app.Channels())
	hooks, err := c2.ListWebhooks(ctx)
	require.NoError(t, err)
	assert.Equal(t, []sinch.Webhook{created}, hooks)

	// The contact is still known: a send by contact_id works and keeps its
	// conversation; the listing has the messages made before the restart.
	again, err := c2.SendMessage(ctx, sinch.TextRequest(sinch.ContactRecipient(contactID), "after restart"))
	require.NoError(t, err)
	list, err := em2.ListMessages(sinch.ListMessagesRequest{AppID: "persisted"})
	require.NoError(t, err)
	var listed []string
	for _, m := range list.Messages {
		listed = append(listed, m.ID)
		assert.Equal(t, contactID, m.ContactID)
	}
	assert.ElementsMatch(t, []string{inID, sent.MessageID, again.MessageID}, listed)
	items, err := em2.Outbox("persisted", "")
	require.NoError(t, err)
	require.Len(t, items, 2)
	assert.Equal(t, emulator.StatusRead, items[0].Status, "the status reached before the restart is kept")

	// Callbacks of the restored webhook are signed with its secret (the
	// receiver verifies it).
	n := len(rcv.snapshot())
	_, err = em2.SendInbound("persisted", emulator.Inbound{From: "393331234567", Text: "after restart"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rcv.snapshot()) > n }, waitFor, tick)

	// A restored app may be registered again once (dev --demo rotates its
	// secrets at each start), then it is an ordinary app.
	again2 := emulator.App{AppID: "persisted", ProjectID: testProject, Region: "eu", KeyID: "pkey", KeySecret: "rotated",
		WebhookURL: rcv.srv.URL + "/legacy", WebhookSecret: "hook-secret"}
	require.NoError(t, em2.CreateApp(again2))
	assert.ErrorIs(t, em2.CreateApp(again2), emulator.ErrAppExists)
	hs, err := em2.Webhooks("persisted")
	require.NoError(t, err)
	require.Len(t, hs, 2, "the API-made webhook stays, the webhookUrl one is added")
	assert.Equal(t, created.ID, hs[0].ID)
	_, err = statefulClient(t, url2, "persisted", "pkey", "rotated").GetApp(ctx)
	assert.NoError(t, err, "the key secret was rotated")
}

func TestCorruptStateFileIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "emulator-state.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"version":1,"apps":[{"appId":`), 0o600))
	_, err := emulator.Open(emulator.Options{StateFile: path})
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)

	// New cannot return it: its server refuses to start and never writes
	// over the file.
	em := emulator.New(emulator.Options{StateFile: path})
	defer em.Close()
	_, err = em.Start("127.0.0.1:0")
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	require.NoError(t, em.CreateApp(emulator.App{AppID: "a", ProjectID: "p", Region: "eu", KeyID: "k", KeySecret: "s"}))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `{"version":1,"apps":[{"appId":`, string(raw))

	for name, body := range map[string]string{
		"empty":           ``,
		"other version":   `{"version":99}`,
		"app without key": `{"version":1,"apps":[{"appId":"a","projectId":"p","keyId":"nope"}]}`,
		"orphan webhook":  `{"version":1,"webhooks":[{"id":"w","app_id":"ghost","target":"http://x/","triggers":[]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
			_, err := emulator.Open(emulator.Options{StateFile: path})
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
		})
	}

	// A missing file is an empty state, written at the first change.
	fresh := filepath.Join(t.TempDir(), "new.json")
	em2, err := emulator.Open(emulator.Options{StateFile: fresh})
	require.NoError(t, err)
	defer em2.Close()
	require.NoError(t, em2.CreateApp(emulator.App{AppID: "a", ProjectID: "p", Region: "eu", KeyID: "k", KeySecret: "s"}))
	raw, err = os.ReadFile(fresh)
	require.NoError(t, err)
	var st map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &st))
	assert.JSONEq(t, `1`, string(st["version"]))
}

func TestStateFileAdminEndpointsPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "emulator-state.json")
	em, url := startStateful(t, path)
	e := &env{t: t, emu: em, url: url}
	res, body := e.do(http.MethodPost, "/emulator/apps", map[string]any{"appId": "adm", "projectId": testProject, "region": "eu",
		"keyId": "k", "keySecret": "s", "channels": []string{"INSTAGRAM"}, "processingMode": "DISPATCH"}, nil)
	require.Equal(t, http.StatusCreated, res.StatusCode, string(body))
	res, body = e.do(http.MethodPatch, "/emulator/apps/adm", map[string]any{"dispatchRetentionDays": 3}, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	require.NoError(t, em.Close())

	em2, _ := startStateful(t, path)
	a, err := em2.App("adm")
	require.NoError(t, err)
	assert.Equal(t, []string{"INSTAGRAM"}, a.Channels)
	assert.Equal(t, emulator.ModeDispatch, a.ProcessingMode)
	assert.Equal(t, 3, a.DispatchRetentionDays)
	assert.Empty(t, a.KeySecret)
	hooks, err := em2.Webhooks("adm")
	require.NoError(t, err)
	assert.Empty(t, hooks)
}
