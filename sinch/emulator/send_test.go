package emulator_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

func TestSendValidation(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	dispatch := emulator.App{AppID: "disp", ProjectID: testProject, Region: "eu", ProcessingMode: "DISPATCH",
		WebhookURL: e.rcv.srv.URL, KeyID: e.app.KeyID, KeySecret: e.app.KeySecret}
	require.NoError(t, e.emu.CreateApp(dispatch))
	require.NoError(t, e.emu.CreateApp(emulator.App{AppID: "elsewhere", ProjectID: "proj-9", Region: "eu",
		WebhookURL: e.rcv.srv.URL, KeyID: "key-9", KeySecret: "s9"}))
	contact := e.waitInbound(e.inbound(emulator.Inbound{From: "393331234567", Text: "hi"})).cb.Message.ContactID

	const to = "393331234567"
	mod := func(f func(r *sinch.SendMessageRequest)) sinch.SendMessageRequest {
		r := textTo(e.app.AppID, to, "hello")
		f(&r)
		return r
	}
	byContact := func(appID, id string) sinch.SendMessageRequest {
		r := textTo(appID, "", "hello")
		r.Recipient = sinch.Recipient{ContactID: id}
		return r
	}
	cases := []struct {
		name   string
		prefix string
		host   string
		req    sinch.SendMessageRequest
		code   int
	}{
		{"ok", "", "", textTo(e.app.AppID, to, "hello"), 200},
		{"ok eu prefix", "/eu", "", textTo(e.app.AppID, to, "hello"), 200},
		{"ok eu host", "", "eu.conversation.api.sinch.com", textTo(e.app.AppID, to, "hello"), 200},
		{"ok by contact", "", "", byContact(e.app.AppID, contact), 200},
		{"ok 4096 runes", "", "", textTo(e.app.AppID, to, strings.Repeat("é", 4096)), 200},
		{"unknown app", "", "", textTo("nope", to, "hello"), 404},
		{"app of another project", "", "", textTo("elsewhere", to, "hello"), 404},
		{"wrong region prefix", "/us", "", textTo(e.app.AppID, to, "hello"), 404},
		{"wrong region host", "", "br.conversation.api.sinch.com", textTo(e.app.AppID, to, "hello"), 404},
		{"not a region", "/xx", "", textTo(e.app.AppID, to, "hello"), 404},
		{"no app id", "", "", textTo("", to, "hello"), 400},
		{"two kinds", "", "", mod(func(r *sinch.SendMessageRequest) {
			r.Message.MediaMessage = &sinch.MediaMessage{URL: "https://example.com/a.jpg"}
		}), 400},
		{"no kind", "", "", mod(func(r *sinch.SendMessageRequest) { r.Message = sinch.AppMessage{} }), 400},
		{"raw kind plus text", "", "", mod(func(r *sinch.SendMessageRequest) {
			r.Message.CardMessage = json.RawMessage(`{"title":"x"}`)
		}), 400},
		{"4097 runes", "", "", textTo(e.app.AppID, to, strings.Repeat("é", 4097)), 400},
		{"no recipient", "", "", mod(func(r *sinch.SendMessageRequest) { r.Recipient = sinch.Recipient{} }), 400},
		{"no identities", "", "", mod(func(r *sinch.SendMessageRequest) { r.Recipient.IdentifiedBy.ChannelIdentities = nil }), 400},
		{"dispatch with contact", "", "", byContact("disp", contact), 400},
		{"unknown contact", "", "", byContact(e.app.AppID, "01HNOSUCHCONTACT0000000000"), 400},
		{"metadata 1025", "", "", mod(func(r *sinch.SendMessageRequest) { r.MessageMetadata = strings.Repeat("m", 1025) }), 400},
		{"correlation 129", "", "", mod(func(r *sinch.SendMessageRequest) { r.CorrelationID = strings.Repeat("c", 129) }), 400},
		{"bad ttl", "", "", mod(func(r *sinch.SendMessageRequest) { r.TTL = "1s" }), 400},
		{"relative media url", "", "", mod(func(r *sinch.SendMessageRequest) {
			r.Message = sinch.AppMessage{MediaMessage: &sinch.MediaMessage{URL: "a.jpg"}}
		}), 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.host != "" {
				h.Set("Host", tc.host)
			}
			res, body := e.sendAt(tc.prefix, tc.req, h)
			require.Equal(t, tc.code, res.StatusCode, string(body))
			if tc.code == 200 {
				var sr sinch.SendMessageResponse
				require.NoError(t, json.Unmarshal(body, &sr))
				assert.Len(t, sr.MessageID, 26)
				assert.WithinDuration(t, time.Now(), sr.AcceptedTime, 5*time.Second)
				return
			}
			status := map[int]string{400: "INVALID_ARGUMENT", 404: "NOT_FOUND"}[tc.code]
			se := requireSinchError(t, body, tc.code, status)
			if tc.name == "unknown contact" {
				assert.Contains(t, se.Error.Message, "contact not found")
			}
		})
	}
}

func TestDeliveryCallbacks(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	in := e.waitInbound(e.inbound(emulator.Inbound{From: "393331234567", Text: "hi"})).cb.Message

	req := textTo(e.app.AppID, "393331234567", "hello")
	req.MessageMetadata = "xcally-msg-123"
	req.CorrelationID = "corr-1"
	req.ConversationMetadata = json.RawMessage(`{"ticket":"42"}`)
	id := e.send(req)

	hits := e.waitReports(id, 3)
	require.Equal(t, []string{"QUEUED_ON_CHANNEL", "DELIVERED", "READ"}, statuses(hits))
	for _, h := range hits {
		r := h.cb.MessageDeliveryReport
		assert.Equal(t, "xcally-msg-123", r.Metadata)
		assert.Equal(t, "corr-1", h.cb.CorrelationID)
		assert.Empty(t, h.cb.MessageMetadata)
		assert.Equal(t, in.ContactID, r.ContactID)
		assert.Equal(t, in.ConversationID, r.ConversationID)
		assert.Equal(t, "WHATSAPP", r.ChannelIdentity.Channel)
		assert.Equal(t, "393331234567", r.ChannelIdentity.Identity)
		assert.Equal(t, emulator.ModeConversation, r.ProcessingMode)
		assert.Nil(t, r.Reason)
		assert.Contains(t, string(h.body), `"message_metadata":""`)
	}
	assert.Eventually(t, func() bool {
		items, err := e.emu.Outbox(e.app.AppID, "393331234567")
		return err == nil && len(items) == 1 && items[0].Status == "READ"
	}, waitFor, tick)

	// A later inbound carries the conversation's correlation id and metadata.
	next := e.waitInbound(e.inbound(emulator.Inbound{From: "393331234567", Text: "thanks"}))
	assert.Equal(t, "corr-1", next.cb.CorrelationID)
	assert.JSONEq(t, `{"ticket":"42"}`, next.cb.MessageMetadata)
}

func TestDeliveryCallbacksDispatchMode(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeDispatch)
	id := e.send(textTo(e.app.AppID, "393331234567", "hello"))
	for _, h := range e.waitReports(id, 3) {
		r := h.cb.MessageDeliveryReport
		assert.Empty(t, r.ContactID)
		assert.Empty(t, r.ConversationID)
		assert.Equal(t, emulator.ModeDispatch, r.ProcessingMode)
	}
}

func TestOutOfOrderStillDeliversAll(t *testing.T) {
	opts := fastOptions()
	opts.OutOfOrder = true
	e := newEnv(t, opts, emulator.ModeConversation)
	id := e.send(textTo(e.app.AppID, "393331234567", "hello"))
	got := statuses(e.waitReports(id, 3))
	assert.ElementsMatch(t, []string{"QUEUED_ON_CHANNEL", "DELIVERED", "READ"}, got)
	assert.NotEqual(t, []string{"QUEUED_ON_CHANNEL", "DELIVERED", "READ"}, got, "order is shuffled")
}

func TestOutbox(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	contact := e.waitInbound(e.inbound(emulator.Inbound{From: "393330000002", Text: "hi"})).cb.Message.ContactID

	a1 := e.send(textTo(e.app.AppID, "393330000001", "one"))
	b1 := e.send(mediaTo(e.app.AppID, "393330000002", e.url+"/emulator/media/sample.png"))
	byContact := textTo(e.app.AppID, "", "three")
	byContact.Recipient = sinch.Recipient{ContactID: contact}
	b2 := e.send(byContact)
	e.waitReports(a1, 3)
	e.waitReports(b1, 3)
	e.waitReports(b2, 3)

	type outbox struct {
		Items []emulator.OutboxItem `json:"items"`
	}
	get := func(query string) outbox {
		res, body := e.do(http.MethodGet, "/emulator/apps/"+e.app.AppID+"/outbox"+query, nil, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		var ob outbox
		require.NoError(t, json.Unmarshal(body, &ob))
		return ob
	}
	require.Eventually(t, func() bool {
		for _, it := range get("").Items {
			if it.Status != "READ" {
				return false
			}
		}
		return true
	}, waitFor, tick)

	all := get("").Items
	require.Len(t, all, 3)
	assert.Equal(t, []string{a1, b1, b2}, []string{all[0].MessageID, all[1].MessageID, all[2].MessageID})

	only := get("?to=393330000002").Items
	require.Len(t, only, 2)
	assert.Equal(t, b1, only[0].MessageID)
	assert.Equal(t, e.url+"/emulator/media/sample.png", only[0].MediaURL)
	assert.Equal(t, "image", only[0].MediaKind)
	assert.Equal(t, "", only[0].Text)
	assert.Equal(t, b2, only[1].MessageID)
	assert.Equal(t, "393330000002", only[1].To, "contact_id resolved to its identity")
	assert.Equal(t, "three", only[1].Text)
	assert.Equal(t, "READ", only[1].Status)
	assert.Empty(t, only[1].ReasonCode)

	res, body := e.do(http.MethodGet, "/emulator/apps/nope/outbox", nil, nil)
	assert.Equal(t, http.StatusNotFound, res.StatusCode, string(body))
	// Raw field names are camelCase.
	_, body = e.do(http.MethodGet, "/emulator/apps/"+e.app.AppID+"/outbox?to=393330000001", nil, nil)
	for _, k := range []string{"messageId", "to", "text", "mediaUrl", "mediaKind", "status", "reasonCode"} {
		assert.Contains(t, string(body), `"`+k+`"`)
	}
}
