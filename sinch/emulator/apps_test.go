package emulator_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch/emulator"
)

func TestCreateApp(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	valid := emulator.App{AppID: "new", ProjectID: testProject, Region: "us", WebhookURL: "http://127.0.0.1:1/hook",
		WebhookSecret: "ws", KeyID: e.app.KeyID, KeySecret: e.app.KeySecret}

	res, body := e.do(http.MethodPost, "/emulator/apps", valid, nil)
	require.Equal(t, http.StatusCreated, res.StatusCode, string(body))
	var got emulator.App
	require.NoError(t, json.Unmarshal(body, &got))
	assert.Equal(t, "new", got.AppID)
	assert.Equal(t, emulator.ModeConversation, got.ProcessingMode, "default mode")
	assert.NotContains(t, string(body), "keySecret", "secrets are write-only")
	assert.NotContains(t, string(body), "webhookSecret")

	res, body = e.do(http.MethodPost, "/emulator/apps", valid, nil)
	assert.Equal(t, http.StatusConflict, res.StatusCode, string(body))
	assert.ErrorIs(t, e.emu.CreateApp(valid), emulator.ErrAppExists)

	for field, mutate := range map[string]func(a *emulator.App){
		"appId":          func(a *emulator.App) { a.AppID = "" },
		"projectId":      func(a *emulator.App) { a.ProjectID = "" },
		"region":         func(a *emulator.App) { a.Region = "" },
		"keyId":          func(a *emulator.App) { a.KeyID = "" },
		"keySecret":      func(a *emulator.App) { a.KeySecret = "" },
		"webhookUrl":     func(a *emulator.App) { a.WebhookURL = "ftp://example.com/hook" },
		"742":            func(a *emulator.App) { a.WebhookURL = "http://example.com/" + strings.Repeat("a", 724) },
		"channels":       func(a *emulator.App) { a.Channels = []string{"WHATSAPP", "PIGEON"} },
		"eu, us or br":   func(a *emulator.App) { a.Region = "ap" },
		"processingMode": func(a *emulator.App) { a.ProcessingMode = "BATCH" },
		"another secret": func(a *emulator.App) { a.KeySecret = "different" },
		"0 and 7":        func(a *emulator.App) { a.DispatchRetentionDays = 8 },
	} {
		t.Run(field, func(t *testing.T) {
			a := valid
			a.AppID = "x-" + field
			mutate(&a)
			res, body := e.do(http.MethodPost, "/emulator/apps", a, nil)
			require.Equal(t, http.StatusBadRequest, res.StatusCode, string(body))
			assert.Contains(t, string(body), field)
			assert.True(t, errors.Is(e.emu.CreateApp(a), emulator.ErrInvalid))
		})
	}

	res, _ = e.do(http.MethodGet, "/emulator/healthz", nil, nil)
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

func TestStartTwiceAndAfterClose(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	_, err := emu.Start("127.0.0.1:0")
	require.NoError(t, err)
	_, err = emu.Start("127.0.0.1:0")
	assert.Error(t, err)
	require.NoError(t, emu.Close())
	_, err = emu.Start("127.0.0.1:0")
	assert.Error(t, err)
}
