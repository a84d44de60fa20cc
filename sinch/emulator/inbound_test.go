package emulator_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

func TestInboundConversationMode(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)

	before := time.Now()
	id := e.inbound(emulator.Inbound{From: "+393331234567", Text: "hi"})
	h := e.waitInbound(id)

	// The callback is signed the way Sinch signs (checked by the receiver).
	assert.Equal(t, sinch.SignatureAlgorithm, h.header.Get(sinch.HeaderAlgorithm))
	assert.Len(t, h.header.Get(sinch.HeaderNonce), 26)
	cb := h.cb
	require.Equal(t, sinch.TriggerMessageInbound, cb.Trigger)
	assert.Equal(t, e.app.AppID, cb.AppID)
	assert.Equal(t, testProject, cb.ProjectID)
	assert.WithinDuration(t, before, cb.AcceptedTime, 5*time.Second)
	m := cb.Message
	assert.Equal(t, "TO_APP", m.Direction)
	assert.Equal(t, sinch.ChannelIdentity{Channel: "WHATSAPP", Identity: "393331234567"}, m.ChannelIdentity)
	assert.Equal(t, "hi", m.ContactMessage.TextMessage.Text)
	assert.Equal(t, emulator.ModeConversation, m.ProcessingMode)
	assert.Equal(t, emulator.SenderID, m.SenderID)
	assert.False(t, m.Injected)
	assert.Len(t, m.ContactID, 26)
	assert.Len(t, m.ConversationID, 26)
	assert.False(t, m.AcceptTime.IsZero())

	// Wire details: accept_time spelling with nanoseconds, app_id "" present.
	var raw struct {
		Message map[string]json.RawMessage `json:"message"`
	}
	require.NoError(t, json.Unmarshal(h.body, &raw))
	assert.Regexp(t, `^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"$`, string(raw.Message["accept_time"]))
	assert.JSONEq(t, `{"channel":"WHATSAPP","identity":"393331234567","app_id":""}`, string(raw.Message["channel_identity"]))

	// The same identity keeps its contact and conversation; another gets new ones.
	again := e.waitInbound(e.inbound(emulator.Inbound{From: "393331234567", Text: "again"})).cb.Message
	assert.Equal(t, m.ContactID, again.ContactID)
	assert.Equal(t, m.ConversationID, again.ConversationID)
	other := e.waitInbound(e.inbound(emulator.Inbound{From: "393339999999", Text: "hello"})).cb.Message
	assert.NotEqual(t, m.ContactID, other.ContactID)
	assert.NotEqual(t, m.ConversationID, other.ConversationID)
}

func TestInboundDispatchModeHasEmptyIDs(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeDispatch)
	h := e.waitInbound(e.inbound(emulator.Inbound{From: "393331234567", Text: "hi"}))
	m := h.cb.Message
	assert.Equal(t, emulator.ModeDispatch, m.ProcessingMode)
	assert.Empty(t, m.ContactID)
	assert.Empty(t, m.ConversationID)
	// Sinch sends the keys with "" rather than omitting them.
	var raw struct {
		Message map[string]json.RawMessage `json:"message"`
	}
	require.NoError(t, json.Unmarshal(h.body, &raw))
	assert.Equal(t, `""`, string(raw.Message["contact_id"]))
	assert.Equal(t, `""`, string(raw.Message["conversation_id"]))
}

func TestInboundMediaAndInstagram(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	m := e.waitInbound(e.inbound(emulator.Inbound{From: "393331234567", MediaURL: "sample.jpg", Filename: "photo.jpg"})).cb.Message
	require.NotNil(t, m.ContactMessage.MediaMessage)
	assert.Equal(t, e.url+"/emulator/media/sample.jpg", m.ContactMessage.MediaMessage.URL)
	assert.Equal(t, "photo.jpg", m.ContactMessage.MediaMessage.FilenameOverride)

	ig := e.waitInbound(e.inbound(emulator.Inbound{From: "1784000000", Text: "dm", Channel: "INSTAGRAM"})).cb.Message
	assert.Equal(t, "INSTAGRAM", ig.ChannelIdentity.Channel)
}

func TestInboundValidation(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	path := "/emulator/apps/" + e.app.AppID + "/inbound"
	for name, tc := range map[string]struct {
		path string
		body any
		code int
	}{
		"empty from":    {path, emulator.Inbound{Text: "hi"}, http.StatusBadRequest},
		"neither":       {path, emulator.Inbound{From: "39333"}, http.StatusBadRequest},
		"both":          {path, emulator.Inbound{From: "39333", Text: "hi", MediaURL: "sample.jpg"}, http.StatusBadRequest},
		"bad channel":   {path, emulator.Inbound{From: "39333", Text: "hi", Channel: "SMS"}, http.StatusBadRequest},
		"unknown field": {path, map[string]string{"from": "39333", "txt": "hi"}, http.StatusBadRequest},
		"unknown app":   {"/emulator/apps/nope/inbound", emulator.Inbound{From: "39333", Text: "hi"}, http.StatusNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			res, body := e.do(http.MethodPost, tc.path, tc.body, nil)
			assert.Equal(t, tc.code, res.StatusCode, string(body))
			var eb struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
					Status  string `json:"status"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(body, &eb))
			assert.Equal(t, tc.code, eb.Error.Code)
			assert.NotEmpty(t, eb.Error.Message)
			assert.NotEmpty(t, eb.Error.Status)
		})
	}
}

func TestUnsignedWhenAppHasNoSecret(t *testing.T) {
	rcv := newReceiver(t, "")
	emu := emulator.New(fastOptions())
	t.Cleanup(func() { _ = emu.Close() })
	require.NoError(t, emu.CreateApp(emulator.App{AppID: "a", ProjectID: "p", Region: "us",
		WebhookURL: rcv.srv.URL, KeyID: "k", KeySecret: "s"}))
	_, err := emu.SendInbound("a", emulator.Inbound{From: "1555", Text: "hi"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rcv.snapshot()) == 1 }, waitFor, tick)
	assert.Empty(t, rcv.snapshot()[0].header.Get(sinch.HeaderSignature))
}
