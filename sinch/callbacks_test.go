package sinch_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/internal/fixtures"
	"github.com/xcally-connector/connector/sinch"
)

// fixturesDir finds shared/sinch-fixtures (skips outside CI, fails in CI).
func fixturesDir(tb testing.TB) string {
	tb.Helper()
	return fixtures.Dir(tb)
}

func readFixture(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(fixturesDir(tb), filepath.FromSlash(rel)))
	require.NoError(tb, err)
	return b
}

func mustDecode(tb testing.TB, body []byte) *sinch.Callback {
	tb.Helper()
	cb, err := sinch.DecodeCallback(body)
	require.NoError(tb, err)
	require.NotNil(tb, cb)
	return cb
}

// callbackFixtures maps every file under sinchevents/ to its trigger and the
// body key that identifies it.
var callbackFixtures = map[string]struct {
	trigger sinch.Trigger
	key     string
}{
	"capability/CapabilityEventDto.json":                                       {sinch.TriggerCapability, "capability_notification"},
	"channel/ChannelEventDto.json":                                             {sinch.TriggerChannelEvent, "channel_event_notification"},
	"contact/ContactCreateEventDto.json":                                       {sinch.TriggerContactCreate, "contact_create_notification"},
	"contact/ContactDeleteEventDto.json":                                       {sinch.TriggerContactDelete, "contact_delete_notification"},
	"contact/ContactIdentitiesDuplicationEventDto.json":                        {sinch.TriggerContactIdentitiesDuplication, "duplicated_contact_identities_notification"},
	"contact/ContactMergeEventDto.json":                                        {sinch.TriggerContactMerge, "contact_merge_notification"},
	"contact/ContactUpdateEventDto.json":                                       {sinch.TriggerContactUpdate, "contact_update_notification"},
	"conversation/ConversationDeleteEventDto.json":                             {sinch.TriggerConversationDelete, "conversation_delete_notification"},
	"conversation/ConversationStartEventDto.json":                              {sinch.TriggerConversationStart, "conversation_start_notification"},
	"conversation/ConversationStopEventDto.json":                               {sinch.TriggerConversationStop, "conversation_stop_notification"},
	"delivery/EventDeliveryReceiptEventDto.json":                               {sinch.TriggerEventDelivery, "event_delivery_report"},
	"delivery/MessageDeliveryReceiptEventDto.json":                             {sinch.TriggerMessageDelivery, "message_delivery_report"},
	"inbound/InboundContactEventDto.json":                                      {sinch.TriggerEventInbound, "event"},
	"inbound/InboundContactMessageEventDto.json":                               {sinch.TriggerEventInbound, "event"},
	"message/MessageInboundEventDto.json":                                      {sinch.TriggerMessageInbound, "message"},
	"message/MessageSubmitEventDto.json":                                       {sinch.TriggerMessageSubmit, "message_submit_notification"},
	"opting/OptInEventDto.json":                                                {sinch.TriggerOptIn, "opt_in_notification"},
	"opting/OptOutEventDto.json":                                               {sinch.TriggerOptOut, "opt_out_notification"},
	"record/RecordNotificationEventDto.json":                                   {sinch.TriggerRecordNotification, "record_notification"},
	"smartconversations/MessageInboundSmartConversationRedactionEventDto.json": {sinch.TriggerMessageRedaction, "message_redaction"},
	"smartconversations/SmartConversationsEventDto.json":                       {sinch.TriggerSmartConversations, "smart_conversation_notification"},
	"unsupported/UnsupportedCallbackEventDto.json":                             {sinch.TriggerUnsupported, "unsupported_callback"},
}

// allTriggers is every Trigger constant, for checks that a decode never
// invents one.
var allTriggers = map[sinch.Trigger]bool{
	sinch.TriggerMessageInbound: true, sinch.TriggerMessageDelivery: true, sinch.TriggerMessageSubmit: true,
	sinch.TriggerEventInbound: true, sinch.TriggerEventDelivery: true,
	sinch.TriggerConversationStart: true, sinch.TriggerConversationStop: true, sinch.TriggerConversationDelete: true,
	sinch.TriggerContactCreate: true, sinch.TriggerContactDelete: true, sinch.TriggerContactMerge: true,
	sinch.TriggerContactUpdate: true, sinch.TriggerContactIdentitiesDuplication: true,
	sinch.TriggerCapability: true, sinch.TriggerOptIn: true, sinch.TriggerOptOut: true,
	sinch.TriggerChannelEvent: true, sinch.TriggerUnsupported: true, sinch.TriggerSmartConversations: true,
	sinch.TriggerMessageRedaction: true, sinch.TriggerRecordNotification: true, sinch.TriggerUnknown: true,
}

// fixtureInstant is accepted_time of every sinchevents fixture.
var fixtureInstant = time.Date(2020, 11, 17, 16, 5, 51, 724083000, time.UTC)

func TestDecodeCallbackFixtures(t *testing.T) {
	dir := filepath.Join(fixturesDir(t), "sinchevents")
	for name, want := range callbackFixtures {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
			require.NoError(t, err)
			cb := mustDecode(t, body)

			assert.Equal(t, want.trigger, cb.Trigger)
			assert.Equal(t, "app id value", cb.AppID)
			assert.Equal(t, "project id value", cb.ProjectID)
			assert.Equal(t, "correlation id value", cb.CorrelationID)
			assert.Equal(t, "metadata value", cb.MessageMetadata)
			assert.True(t, fixtureInstant.Equal(cb.AcceptedTime), "accepted_time = %v", cb.AcceptedTime)
			assert.True(t, time.Date(2020, 11, 17, 16, 5, 45, 0, time.UTC).Equal(cb.EventTime), "event_time = %v", cb.EventTime)

			var fields map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(body, &fields))
			require.Contains(t, fields, want.key)
			assert.JSONEq(t, string(fields[want.key]), string(cb.Payload), "Payload is the object under the trigger key")
		})
	}
}

// TestCallbackFixturesAllExpected fails when a fixture is added without an
// expectation above, or an expectation loses its file.
func TestCallbackFixturesAllExpected(t *testing.T) {
	dir := filepath.Join(fixturesDir(t), "sinchevents")
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		require.NoError(t, err)
		rel = filepath.ToSlash(rel)
		seen[rel] = true
		assert.Contains(t, callbackFixtures, rel, "fixture %s has no expected trigger in callbackFixtures", rel)
		return nil
	})
	require.NoError(t, err)
	for name := range callbackFixtures {
		assert.True(t, seen[name], "expected fixture %s is missing", name)
	}
}

func TestDecodeCallbackMessageInboundFixture(t *testing.T) {
	cb := mustDecode(t, readFixture(t, "sinchevents/message/MessageInboundEventDto.json"))
	require.NotNil(t, cb.Message)
	m := cb.Message
	assert.Equal(t, "event id", m.ID)
	assert.Equal(t, "TO_APP", m.Direction)
	assert.Equal(t, sinch.ChannelIdentity{Channel: "MESSENGER", Identity: "an identity", AppID: "an app id"}, m.ChannelIdentity)
	assert.Equal(t, "conversation id", m.ConversationID)
	assert.Equal(t, "contact ID", m.ContactID)
	assert.Equal(t, "metadata value", m.Metadata)
	assert.True(t, time.Date(2020, 11, 17, 16, 7, 15, 0, time.UTC).Equal(m.AcceptTime))
	assert.Equal(t, "sender id value", m.SenderID)
	assert.Equal(t, "DISPATCH", m.ProcessingMode)
	assert.True(t, m.Injected)
	assert.Equal(t, "text", m.ContactMessage.Kind())
	assert.Equal(t, "This is a text message.", m.ContactMessage.Summary())
	require.NotNil(t, m.ContactMessage.ReplyTo)
	assert.Equal(t, "message id value", m.ContactMessage.ReplyTo.MessageID)

	// Only the trigger's own typed field is set.
	assert.Nil(t, cb.MessageDeliveryReport)
	assert.Nil(t, cb.Event)
	assert.Nil(t, cb.EventDeliveryReport)
	assert.Nil(t, cb.ChannelEventNotification)
	assert.Nil(t, cb.MessageRedaction)

	id, ok := cb.ChannelIdentity()
	assert.True(t, ok)
	assert.Equal(t, m.ChannelIdentity, id)
}

func TestDecodeCallbackDeliveryFixtures(t *testing.T) {
	wantID := sinch.ChannelIdentity{Channel: "MESSENGER", Identity: "an identity", AppID: "an app id"}
	wantReason := &sinch.Reason{Code: "RECIPIENT_NOT_OPTED_IN", Description: "reason description", SubCode: "UNSPECIFIED_SUB_CODE"}

	cb := mustDecode(t, readFixture(t, "sinchevents/delivery/MessageDeliveryReceiptEventDto.json"))
	r := cb.MessageDeliveryReport
	require.NotNil(t, r)
	assert.Equal(t, sinch.MessageDeliveryReport{
		MessageID: "message id", ConversationID: "conversation id", Status: "DELIVERED",
		ChannelIdentity: wantID, ContactID: "contact ID", Reason: wantReason,
		Metadata: "metadata value", ProcessingMode: "DISPATCH",
	}, *r)
	id, ok := cb.ChannelIdentity()
	assert.True(t, ok)
	assert.Equal(t, wantID, id)

	cb = mustDecode(t, readFixture(t, "sinchevents/delivery/EventDeliveryReceiptEventDto.json"))
	e := cb.EventDeliveryReport
	require.NotNil(t, e)
	assert.Equal(t, sinch.EventDeliveryReport{
		EventID: "event id", Status: "DELIVERED", ChannelIdentity: wantID, ContactID: "contact ID",
		Reason: wantReason, Metadata: "metadata value", ProcessingMode: "DISPATCH",
	}, *e)
}

func TestDecodeCallbackInboundEventFixtures(t *testing.T) {
	cb := mustDecode(t, readFixture(t, "sinchevents/inbound/InboundContactEventDto.json"))
	require.NotNil(t, cb.Event)
	assert.Equal(t, "event id", cb.Event.ID)
	assert.Equal(t, "contact ID", cb.Event.ContactID)
	assert.Equal(t, "conversation id", cb.Event.ConversationID)
	assert.True(t, time.Date(2020, 11, 17, 16, 7, 15, 0, time.UTC).Equal(cb.Event.AcceptTime))
	assert.JSONEq(t, `{"composing_event":{}}`, string(cb.Event.ContactEvent))
	assert.Nil(t, cb.Event.ContactMessageEvent)

	cb = mustDecode(t, readFixture(t, "sinchevents/inbound/InboundContactMessageEventDto.json"))
	require.NotNil(t, cb.Event)
	assert.Nil(t, cb.Event.ContactEvent)
	var ev struct {
		ReactionEvent struct {
			Emoji     string `json:"emoji"`
			MessageID string `json:"message_id"`
		} `json:"reaction_event"`
	}
	require.NoError(t, json.Unmarshal(cb.Event.ContactMessageEvent, &ev))
	assert.Equal(t, "🔥 Java SDK", ev.ReactionEvent.Emoji, "surrogate pair escapes decode to one rune")
	assert.Equal(t, "message id value", ev.ReactionEvent.MessageID)
}

func TestDecodeCallbackChannelEventFixture(t *testing.T) {
	cb := mustDecode(t, readFixture(t, "sinchevents/channel/ChannelEventDto.json"))
	require.NotNil(t, cb.ChannelEventNotification)
	ev := cb.ChannelEventNotification.ChannelEvent
	assert.Equal(t, "WHATSAPP", ev.Channel)
	assert.Equal(t, "WHATS_APP_QUALITY_RATING_CHANGED", ev.EventType)
	var data struct {
		QualityRating string `json:"quality_rating"`
	}
	require.NoError(t, json.Unmarshal(ev.AdditionalData, &data))
	assert.Equal(t, "quality rating value", data.QualityRating)
	_, ok := cb.ChannelIdentity()
	assert.False(t, ok, "a channel event concerns no contact")
}

func TestDecodeCallbackRedactionFixture(t *testing.T) {
	cb := mustDecode(t, readFixture(t, "sinchevents/smartconversations/MessageInboundSmartConversationRedactionEventDto.json"))
	require.NotNil(t, cb.MessageRedaction)
	assert.Nil(t, cb.Message, "a redaction is not a new inbound message")
	m := cb.MessageRedaction
	assert.Equal(t, "id", m.ID)
	assert.True(t, fixtureInstant.Equal(m.AcceptTime))
	assert.Equal(t, "media", m.ContactMessage.Kind())
	assert.Equal(t, &sinch.MediaMessage{URL: "an url value", ThumbnailURL: "another url", FilenameOverride: "filename override value"},
		m.ContactMessage.MediaMessage)
	assert.Equal(t, "filename override value", m.ContactMessage.Summary())
	id, ok := cb.ChannelIdentity()
	assert.True(t, ok)
	assert.Equal(t, "an identity", id.Identity)
}

func TestCallbackChannelIdentityRawTriggers(t *testing.T) {
	want := sinch.ChannelIdentity{Channel: "MESSENGER", Identity: "an identity", AppID: "an app id"}
	for _, name := range []string{
		"sinchevents/message/MessageSubmitEventDto.json",
		"sinchevents/unsupported/UnsupportedCallbackEventDto.json",
		"sinchevents/record/RecordNotificationEventDto.json",
	} {
		id, ok := mustDecode(t, readFixture(t, name)).ChannelIdentity()
		assert.True(t, ok, name)
		assert.Equal(t, want, id, name)
	}
	// Smart conversations send channel_identity as a plain string.
	for _, name := range []string{
		"sinchevents/smartconversations/SmartConversationsEventDto.json",
		"sinchevents/contact/ContactCreateEventDto.json",
		"sinchevents/capability/CapabilityEventDto.json",
	} {
		_, ok := mustDecode(t, readFixture(t, name)).ChannelIdentity()
		assert.False(t, ok, name)
	}
	// A report without channel_identity has none either.
	_, ok := mustDecode(t, []byte(`{"message_delivery_report":{"message_id":"m","status":"READ"}}`)).ChannelIdentity()
	assert.False(t, ok)
}

func TestContactMessageFixtures(t *testing.T) {
	tests := []struct {
		file        string
		kind        string
		summary     string
		wantReplyTo bool
	}{
		{"messages/ContactMessageTextDto.json", "text", "This is a text message.", true},
		{"messages/ContactMessageTextNoReplyToDto.json", "text", "This is a text message.", false},
		{"messages/ContactMessageTextNullReplyToDto.json", "text", "This is a text message.", false},
		{"messages/ContactMessageMediaDto.json", "media", "filename override value", true},
		{"messages/ContactMessageMediaCardDto.json", "media_card", "caption value", true},
		{"messages/ContactMessageLocationDto.json", "location", "title value - label value (47.6279809, -2.8229159)", true},
		{"messages/ContactMessageChoiceResponseDto.json", "choice_response", "postback data value", true},
		{"messages/ContactMessageFallbackDto.json", "fallback", "message not supported by the channel (RECIPIENT_NOT_OPTED_IN)", true},
		{"messages/ContactMessageProductResponseDto.json", "product_response", "a product response message title value", true},
		{"messages/ContactMessageChannelSpecificContactNfmReply.json", "channel_specific", "nfm reply body value", true},
		{"messages/types/channelspecific/whatsapp/nfmreply/ChannelSpecificContactMessageNfmReply.json", "channel_specific", "nfm reply body value", false},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			var m sinch.ContactMessage
			require.NoError(t, json.Unmarshal(readFixture(t, tt.file), &m))
			assert.Equal(t, tt.kind, m.Kind())
			assert.Equal(t, tt.summary, m.Summary())
			if tt.wantReplyTo {
				require.NotNil(t, m.ReplyTo)
				assert.Equal(t, "message id value", m.ReplyTo.MessageID)
			} else {
				assert.Nil(t, m.ReplyTo)
			}
		})
	}

	// Every contact message fixture is in the table.
	dir := fixturesDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "messages", "Contact*.json"))
	require.NoError(t, err)
	nfm, err := filepath.Glob(filepath.Join(dir, "messages", "types", "channelspecific", "whatsapp", "nfmreply", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range append(files, nfm...) {
		rel, err := filepath.Rel(dir, f)
		require.NoError(t, err)
		assert.True(t, covered[filepath.ToSlash(rel)], "contact message fixture %s is not in the table", rel)
	}
}

func TestContactMessageFixtureDetails(t *testing.T) {
	var m sinch.ContactMessage
	require.NoError(t, json.Unmarshal(readFixture(t, "messages/ContactMessageLocationDto.json"), &m))
	assert.Equal(t, &sinch.LocationMessage{
		Coordinates: sinch.Coordinates{Latitude: 47.6279809, Longitude: -2.8229159},
		Title:       "title value", Label: "label value",
	}, m.LocationMessage)

	m = sinch.ContactMessage{}
	require.NoError(t, json.Unmarshal(readFixture(t, "messages/ContactMessageFallbackDto.json"), &m))
	require.NotNil(t, m.FallbackMessage)
	assert.Equal(t, "raw message value", m.FallbackMessage.RawMessage)
	assert.Equal(t, &sinch.Reason{Code: "RECIPIENT_NOT_OPTED_IN", Description: "reason description",
		SubCode: "UNSPECIFIED_SUB_CODE", ChannelCode: "a channel code"}, m.FallbackMessage.Reason)

	m = sinch.ContactMessage{}
	require.NoError(t, json.Unmarshal(readFixture(t, "messages/ContactMessageChoiceResponseDto.json"), &m))
	assert.Equal(t, &sinch.ChoiceResponseMessage{MessageID: "message id value", PostbackData: "postback data value"}, m.ChoiceResponseMessage)

	m = sinch.ContactMessage{}
	require.NoError(t, json.Unmarshal(readFixture(t, "messages/ContactMessageMediaCardDto.json"), &m))
	assert.Equal(t, &sinch.MediaCardMessage{URL: "an url value", Caption: "caption value"}, m.MediaCardMessage)
}

func TestReasonFixtures(t *testing.T) {
	var r sinch.Reason
	require.NoError(t, json.Unmarshal(readFixture(t, "ReasonDto.json"), &r))
	assert.Equal(t, sinch.Reason{Code: "RECIPIENT_NOT_OPTED_IN", Description: "reason description", SubCode: "UNSPECIFIED_SUB_CODE"}, r)

	r = sinch.Reason{}
	require.NoError(t, json.Unmarshal(readFixture(t, "ReasonWithChannelCodeDto.json"), &r))
	assert.Equal(t, sinch.Reason{Code: "RECIPIENT_NOT_OPTED_IN", Description: "reason description",
		SubCode: "UNSPECIFIED_SUB_CODE", ChannelCode: "a channel code"}, r)
}

// Realistic WhatsApp bodies, from section 1 of the Sinch research notes.
const (
	waInboundText = `{"app_id":"01HAPP","project_id":"c36f0000","accepted_time":"2024-06-15T14:23:45.123Z","event_time":"2024-06-15T14:23:44Z",
 "message_metadata":"","correlation_id":"",
 "message":{"id":"01HMSG","direction":"TO_APP","contact_message":{"text_message":{"text":"Hi, I need help"}},
  "channel_identity":{"channel":"WHATSAPP","identity":"46732001122","app_id":""},
  "conversation_id":"01HCONV","contact_id":"01HCONT","metadata":"","accept_time":"2024-06-15T14:23:45.100Z",
  "sender_id":"46700000000","processing_mode":"CONVERSATION","injected":false}}`

	waInboundMediaDispatch = `{"app_id":"01HAPP","project_id":"c36f0000","accepted_time":"2024-06-15T14:23:45.123456789Z","event_time":"2024-06-15T14:23:44.5Z",
 "message_metadata":"","correlation_id":"",
 "message":{"id":"01HMSG2","direction":"TO_APP","contact_message":{"media_message":{"url":"https://media.sinch.example/v1/f/IMG%201234.jpg?sig=abc"}},
  "channel_identity":{"channel":"WHATSAPP","identity":"46732001122","app_id":""},
  "conversation_id":"","contact_id":"","metadata":"","accept_time":"2024-06-15T14:23:45.100200300Z",
  "sender_id":"46700000000","processing_mode":"DISPATCH","injected":false}}`

	waDelivered = `{"app_id":"01HAPP","project_id":"c36f0000","accepted_time":"2024-06-15T14:25:10.456Z","event_time":"2024-06-15T14:25:09Z",
 "message_delivery_report":{"message_id":"01HOUT","conversation_id":"01HCONV","status":"DELIVERED",
  "channel_identity":{"channel":"WHATSAPP","identity":"46732001122","app_id":""},"contact_id":"01HCONT",
  "metadata":"xcally-msg-123","processing_mode":"CONVERSATION"},"message_metadata":""}`

	waFailed = `{"app_id":"01HAPP","project_id":"c36f0000","accepted_time":"2024-06-15T14:25:10.456Z","event_time":"2024-06-15T14:25:09Z",
 "message_delivery_report":{"message_id":"01HOUT","conversation_id":"","status":"FAILED",
  "channel_identity":{"channel":"WHATSAPP","identity":"46732001122","app_id":""},"contact_id":"",
  "reason":{"code":"OUTSIDE_ALLOWED_SENDING_WINDOW","description":"The underlying channel reported: Message failed to send because more than 24 hours have passed since the customer last replied to this number","sub_code":"UNSPECIFIED_SUB_CODE","channel_code":"131047"},
  "metadata":"xcally-msg-123","processing_mode":"DISPATCH"},"message_metadata":""}`
)

func TestDecodeCallbackWhatsAppInbound(t *testing.T) {
	waID := sinch.ChannelIdentity{Channel: "WHATSAPP", Identity: "46732001122"}

	t.Run("conversation mode text", func(t *testing.T) {
		cb := mustDecode(t, []byte(waInboundText))
		assert.Equal(t, sinch.TriggerMessageInbound, cb.Trigger)
		assert.Equal(t, "01HAPP", cb.AppID)
		assert.Equal(t, time.Date(2024, 6, 15, 14, 23, 45, 123e6, time.UTC), cb.AcceptedTime.UTC())
		m := cb.Message
		require.NotNil(t, m)
		assert.Equal(t, "01HMSG", m.ID)
		assert.Equal(t, "CONVERSATION", m.ProcessingMode)
		assert.Equal(t, "01HCONV", m.ConversationID)
		assert.Equal(t, "01HCONT", m.ContactID)
		assert.Equal(t, "46700000000", m.SenderID)
		assert.False(t, m.Injected)
		assert.Equal(t, waID, m.ChannelIdentity)
		assert.Equal(t, time.Date(2024, 6, 15, 14, 23, 45, 100e6, time.UTC), m.AcceptTime.UTC())
		assert.Equal(t, "text", m.ContactMessage.Kind())
		assert.Equal(t, "Hi, I need help", m.ContactMessage.Summary())
		assert.Nil(t, m.ContactMessage.ReplyTo)
	})

	t.Run("dispatch mode media with nanosecond timestamps", func(t *testing.T) {
		cb := mustDecode(t, []byte(waInboundMediaDispatch))
		m := cb.Message
		require.NotNil(t, m)
		assert.Equal(t, "DISPATCH", m.ProcessingMode)
		assert.Empty(t, m.ConversationID)
		assert.Empty(t, m.ContactID)
		id, ok := cb.ChannelIdentity()
		require.True(t, ok, "DISPATCH mode threads are keyed on the channel identity")
		assert.Equal(t, waID, id)
		assert.Equal(t, "media", m.ContactMessage.Kind())
		assert.Equal(t, "IMG 1234.jpg", m.ContactMessage.Summary(), "file name from the URL path, unescaped, without query")
		assert.Equal(t, time.Date(2024, 6, 15, 14, 23, 45, 123456789, time.UTC), cb.AcceptedTime.UTC())
		assert.Equal(t, time.Date(2024, 6, 15, 14, 23, 44, 5e8, time.UTC), cb.EventTime.UTC())
		assert.Equal(t, time.Date(2024, 6, 15, 14, 23, 45, 100200300, time.UTC), m.AcceptTime.UTC())
	})
}

func TestDecodeCallbackWhatsAppDelivery(t *testing.T) {
	cb := mustDecode(t, []byte(waDelivered))
	assert.Equal(t, sinch.TriggerMessageDelivery, cb.Trigger)
	r := cb.MessageDeliveryReport
	require.NotNil(t, r)
	assert.Equal(t, "DELIVERED", r.Status)
	assert.Equal(t, "01HOUT", r.MessageID)
	assert.Equal(t, "xcally-msg-123", r.Metadata, "metadata echoes the send's message_metadata")
	assert.Nil(t, r.Reason)

	cb = mustDecode(t, []byte(waFailed))
	r = cb.MessageDeliveryReport
	require.NotNil(t, r)
	assert.Equal(t, "FAILED", r.Status)
	assert.Equal(t, "DISPATCH", r.ProcessingMode)
	assert.Empty(t, r.ContactID)
	require.NotNil(t, r.Reason)
	assert.Equal(t, "OUTSIDE_ALLOWED_SENDING_WINDOW", r.Reason.Code)
	assert.Equal(t, "UNSPECIFIED_SUB_CODE", r.Reason.SubCode)
	assert.Equal(t, "131047", r.Reason.ChannelCode)
	assert.Contains(t, r.Reason.Description, "24 hours")
}

func TestDecodeCallbackTimestamps(t *testing.T) {
	tests := []struct {
		raw  string // JSON value of every time field, "" for absent
		want time.Time
	}{
		{`"2020-11-17T16:05:51.724083Z"`, time.Date(2020, 11, 17, 16, 5, 51, 724083000, time.UTC)},
		{`"2020-11-17T16:05:45Z"`, time.Date(2020, 11, 17, 16, 5, 45, 0, time.UTC)},
		{`"2020-11-17T16:05:45.123456789Z"`, time.Date(2020, 11, 17, 16, 5, 45, 123456789, time.UTC)},
		{`"2020-11-17T16:05:45.1Z"`, time.Date(2020, 11, 17, 16, 5, 45, 1e8, time.UTC)},
		{`"2020-11-17T18:05:45.5+02:00"`, time.Date(2020, 11, 17, 16, 5, 45, 5e8, time.UTC)},
		{`"2020-11-17T16:05:45.25"`, time.Date(2020, 11, 17, 16, 5, 45, 25e7, time.UTC)},
		{`""`, time.Time{}},
		{`null`, time.Time{}},
		{``, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			field := func(name string) string {
				if tt.raw == "" {
					return ""
				}
				return `"` + name + `":` + tt.raw + `,`
			}
			for _, body := range []string{
				`{` + field("accepted_time") + field("event_time") + `"message":{` + field("accept_time") + `"id":"m"}}`,
				`{` + field("accepted_time") + field("event_time") + `"message_redaction":{` + field("accept_time") + `"id":"m"}}`,
				`{` + field("accepted_time") + field("event_time") + `"event":{` + field("accept_time") + `"id":"e"}}`,
			} {
				cb := mustDecode(t, []byte(body))
				assert.True(t, tt.want.Equal(cb.AcceptedTime), "accepted_time %v", cb.AcceptedTime)
				assert.True(t, tt.want.Equal(cb.EventTime), "event_time %v", cb.EventTime)
				var accept time.Time
				switch {
				case cb.Message != nil:
					accept = cb.Message.AcceptTime
				case cb.MessageRedaction != nil:
					accept = cb.MessageRedaction.AcceptTime
				case cb.Event != nil:
					accept = cb.Event.AcceptTime
				default:
					t.Fatalf("no typed object decoded from %s", body)
				}
				assert.True(t, tt.want.Equal(accept), "accept_time %v", accept)
			}
		})
	}

	for _, bad := range []string{
		`{"accepted_time":"yesterday","message":{}}`,
		`{"accepted_time":1605629151,"message":{}}`,
		`{"message":{"accept_time":"2020-13-45T00:00:00Z"}}`,
		`{"event":{"accept_time":true}}`,
	} {
		_, err := sinch.DecodeCallback([]byte(bad))
		assert.ErrorIs(t, err, sinch.ErrMalformedCallback, bad)
	}
}

func TestDecodeCallbackMalformed(t *testing.T) {
	for _, body := range []string{
		``, ` `, `{`, `{"app_id":"a",}`, `[]`, `"x"`, `42`, `null`, `true`,
		`{"app_id":"a"}trailing`,
		`{"app_id":5}`,
		`{"message":"x"}`,
		`{"message":[]}`,
		`{"record_notification":"x"}`,
		`{"message":{"injected":"yes"}}`,
		`{"message":{"contact_message":{"text_message":"hi"}}}`,
		`{"message_delivery_report":{"reason":"FAILED"}}`,
	} {
		cb, err := sinch.DecodeCallback([]byte(body))
		assert.ErrorIs(t, err, sinch.ErrMalformedCallback, "body %q", body)
		assert.Nil(t, cb, "body %q", body)
	}
}

func TestDecodeCallbackUnknown(t *testing.T) {
	for _, body := range []string{
		`{}`,
		`{"app_id":"a","foo":{}}`,
		`{"app_id":"a","message":null}`,
		` {"project_id":"p","trigger":"MESSAGE_INBOUND"} `,
	} {
		cb, err := sinch.DecodeCallback([]byte(body))
		require.NoError(t, err, body)
		assert.Equal(t, sinch.TriggerUnknown, cb.Trigger, body)
		assert.Nil(t, cb.Payload, body)
		_, ok := cb.ChannelIdentity()
		assert.False(t, ok)
	}
}

func TestDecodeCallbackLenient(t *testing.T) {
	// No app_id, unknown fields at every level, metadata given as an object.
	cb := mustDecode(t, []byte(`{"brand_new":1,"message_metadata":{"ticket": 7},
		"message":{"id":"m","extra":[1,2],"contact_message":{"text_message":{"text":"hi","lang":"en"},"new_kind":{}}}}`))
	assert.Empty(t, cb.AppID)
	assert.Equal(t, `{"ticket":7}`, cb.MessageMetadata)
	require.NotNil(t, cb.Message)
	assert.Equal(t, "hi", cb.Message.ContactMessage.Summary())

	// A contact message of a kind we do not know yet has no Kind.
	cb = mustDecode(t, []byte(`{"message":{"id":"m","contact_message":{"new_kind":{}}}}`))
	assert.Equal(t, "", cb.Message.ContactMessage.Kind())
	assert.Equal(t, "", cb.Message.ContactMessage.Summary())
}

func TestDecodeCallbackTwoTriggerKeys(t *testing.T) {
	// The fixed order decides, not the position in the body.
	cb := mustDecode(t, []byte(`{"message_delivery_report":{"message_id":"r"},"message":{"id":"m"}}`))
	assert.Equal(t, sinch.TriggerMessageInbound, cb.Trigger)
	require.NotNil(t, cb.Message)
	assert.Nil(t, cb.MessageDeliveryReport)
	assert.JSONEq(t, `{"id":"m"}`, string(cb.Payload))

	cb = mustDecode(t, []byte(`{"record_notification":{},"event_delivery_report":{"event_id":"e"}}`))
	assert.Equal(t, sinch.TriggerEventDelivery, cb.Trigger)

	// A null trigger value does not count.
	cb = mustDecode(t, []byte(`{"message":null,"event":{"id":"e"}}`))
	assert.Equal(t, sinch.TriggerEventInbound, cb.Trigger)
	require.NotNil(t, cb.Event)
	assert.Equal(t, "e", cb.Event.ID)
}

func TestDecodeCallbackDuplicatedIdentitiesKeys(t *testing.T) {
	for _, key := range []string{"duplicated_contact_identities_notification", "duplicated_identities"} {
		cb := mustDecode(t, []byte(`{"app_id":"a","`+key+`":{"duplicated_identities":[]}}`))
		assert.Equal(t, sinch.TriggerContactIdentitiesDuplication, cb.Trigger, key)
		assert.JSONEq(t, `{"duplicated_identities":[]}`, string(cb.Payload), key)
	}
}

func TestDecodeCallbackNullRawFields(t *testing.T) {
	cb := mustDecode(t, []byte(`{"message":{"contact_message":{"product_response_message":null,"channel_specific_message":null,"reply_to":null}},
		"message_metadata":null}`))
	cm := cb.Message.ContactMessage
	assert.Nil(t, cm.ProductResponseMessage)
	assert.Nil(t, cm.ChannelSpecificMessage)
	assert.Nil(t, cm.ReplyTo)
	assert.Equal(t, "", cm.Kind())
	assert.Empty(t, cb.MessageMetadata)

	cb = mustDecode(t, []byte(`{"event":{"contact_event":null,"contact_message_event":null}}`))
	assert.Nil(t, cb.Event.ContactEvent)
	assert.Nil(t, cb.Event.ContactMessageEvent)

	cb = mustDecode(t, []byte(`{"channel_event_notification":{"channel_event":{"event_type":"X","additional_data":null}}}`))
	assert.Nil(t, cb.ChannelEventNotification.ChannelEvent.AdditionalData)
}

func TestDecodeCallbackPayloadIsACopy(t *testing.T) {
	body := []byte(`{"message":{"id":"m"}}`)
	cb := mustDecode(t, body)
	for i := range body {
		body[i] = ' '
	}
	assert.JSONEq(t, `{"id":"m"}`, string(cb.Payload), "Payload must not alias the request body")
}

func TestCallbackJSONRoundTrip(t *testing.T) {
	for _, body := range []string{waInboundText, waInboundMediaDispatch, waFailed,
		`{"app_id":"a","opt_in_notification":{"status":"OPT_IN_SUCCEEDED"}}`,
		`{"app_id":"a","event":{"id":"e","contact_event":{"composing_event":{}}}}`,
		`{"app_id":"a","channel_event_notification":{"channel_event":{"event_type":"X","additional_data":{"k":"v"}}}}`,
		`{"app_id":"a"}`,
	} {
		cb := mustDecode(t, []byte(body))
		b, err := json.Marshal(cb)
		require.NoError(t, err)
		var back sinch.Callback
		require.NoError(t, json.Unmarshal(b, &back), string(b))
		// time.Time loses its monotonic/location details through JSON;
		// compare the re-marshalled forms instead.
		b2, err := json.Marshal(&back)
		require.NoError(t, err)
		assert.JSONEq(t, string(b), string(b2))
		assert.Equal(t, cb.Trigger, back.Trigger)
		assert.True(t, cb.AcceptedTime.Equal(back.AcceptedTime))
	}
}

func TestContactMessageSummaryEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		m    sinch.ContactMessage
		want string
	}{
		{"media URL basename", sinch.ContactMessage{MediaMessage: &sinch.MediaMessage{URL: "https://x.example/a/b/voice.ogg"}}, "voice.ogg"},
		{"media URL without path", sinch.ContactMessage{MediaMessage: &sinch.MediaMessage{URL: "https://x.example"}}, "https://x.example"},
		{"media URL root", sinch.ContactMessage{MediaMessage: &sinch.MediaMessage{URL: "https://x.example/"}}, "https://x.example/"},
		{"media card without caption", sinch.ContactMessage{MediaCardMessage: &sinch.MediaCardMessage{URL: "https://x.example/p.jpg"}}, "https://x.example/p.jpg"},
		{"location without names", sinch.ContactMessage{LocationMessage: &sinch.LocationMessage{Coordinates: sinch.Coordinates{Latitude: 59.3293, Longitude: 18.0686}}}, "location (59.3293, 18.0686)"},
		{"location with label only", sinch.ContactMessage{LocationMessage: &sinch.LocationMessage{Label: "Main St 1", Coordinates: sinch.Coordinates{Latitude: 1, Longitude: -2.5}}}, "Main St 1 (1, -2.5)"},
		{"fallback without reason", sinch.ContactMessage{FallbackMessage: &sinch.FallbackMessage{RawMessage: "{}"}}, "message not supported by the channel"},
		{"product response without title", sinch.ContactMessage{ProductResponseMessage: json.RawMessage(`{"products":[]}`)}, "product response"},
		{"channel specific without nfm reply", sinch.ContactMessage{ChannelSpecificMessage: json.RawMessage(`{"message_type":"payment_confirmation","message":{}}`)}, "payment_confirmation"},
		{"channel specific unreadable", sinch.ContactMessage{ChannelSpecificMessage: json.RawMessage(`[1]`)}, "channel specific message"},
		{"empty", sinch.ContactMessage{}, ""},
		{"reply_to only", sinch.ContactMessage{ReplyTo: &sinch.ReplyTo{MessageID: "x"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.m.Summary())
		})
	}
}

func TestContactMessageKindOrder(t *testing.T) {
	// Sinch sends one kind; if it ever sends two, the first in Kind's
	// documented order wins, and Summary agrees with Kind.
	m := sinch.ContactMessage{
		MediaMessage: &sinch.MediaMessage{URL: "https://x.example/f.pdf"},
		TextMessage:  &sinch.TextMessage{Text: "hello"},
	}
	assert.Equal(t, "text", m.Kind())
	assert.Equal(t, "hello", m.Summary())
}

// FuzzDecodeCallback checks that no body makes DecodeCallback panic, that a
// decode yields either an ErrMalformedCallback or a known trigger, and that
// the accessors work on whatever decoded.
func FuzzDecodeCallback(f *testing.F) {
	for _, s := range []string{waInboundText, waInboundMediaDispatch, waDelivered, waFailed, `{}`, `[]`, `{"message":null}`} {
		f.Add([]byte(s))
	}
	if dir, ok := fixtures.Find(); ok {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
				if b, err := os.ReadFile(p); err == nil {
					f.Add(b)
				}
			}
			return nil
		})
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := sinch.DecodeCallback(body)
		if err != nil {
			if !errors.Is(err, sinch.ErrMalformedCallback) {
				t.Fatalf("error does not wrap ErrMalformedCallback: %v", err)
			}
			if cb != nil {
				t.Fatalf("callback returned with error %v", err)
			}
			return
		}
		if !allTriggers[cb.Trigger] {
			t.Fatalf("unknown trigger %q", cb.Trigger)
		}
		if (cb.Trigger == sinch.TriggerUnknown) != (cb.Payload == nil) {
			t.Fatalf("trigger %s with payload %q", cb.Trigger, cb.Payload)
		}
		cb.ChannelIdentity()
		for _, m := range []*sinch.InboundMessage{cb.Message, cb.MessageRedaction} {
			if m != nil {
				m.ContactMessage.Kind()
				m.ContactMessage.Summary()
			}
		}
	})
}
