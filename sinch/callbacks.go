package sinch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrMalformedCallback is wrapped by every DecodeCallback error: the body is
// not a JSON object, or a field the connector reads has the wrong JSON type.
// HTTP handlers map it to 400.
var ErrMalformedCallback = errors.New("sinch: malformed callback")

// Trigger names the kind of a callback, as configured on a Sinch webhook.
type Trigger string

// Triggers of the Conversation API. The comment on each gives the top-level
// body key that identifies it.
const (
	TriggerMessageInbound               Trigger = "MESSAGE_INBOUND"                              // "message"
	TriggerMessageDelivery              Trigger = "MESSAGE_DELIVERY"                             // "message_delivery_report"
	TriggerMessageSubmit                Trigger = "MESSAGE_SUBMIT"                               // "message_submit_notification"
	TriggerEventInbound                 Trigger = "EVENT_INBOUND"                                // "event"
	TriggerEventDelivery                Trigger = "EVENT_DELIVERY"                               // "event_delivery_report"
	TriggerConversationStart            Trigger = "CONVERSATION_START"                           // "conversation_start_notification"
	TriggerConversationStop             Trigger = "CONVERSATION_STOP"                            // "conversation_stop_notification"
	TriggerConversationDelete           Trigger = "CONVERSATION_DELETE"                          // "conversation_delete_notification"
	TriggerContactCreate                Trigger = "CONTACT_CREATE"                               // "contact_create_notification"
	TriggerContactDelete                Trigger = "CONTACT_DELETE"                               // "contact_delete_notification"
	TriggerContactMerge                 Trigger = "CONTACT_MERGE"                                // "contact_merge_notification"
	TriggerContactUpdate                Trigger = "CONTACT_UPDATE"                               // "contact_update_notification"
	TriggerContactIdentitiesDuplication Trigger = "CONTACT_IDENTITIES_DUPLICATION"               // "duplicated_contact_identities_notification" or "duplicated_identities"
	TriggerCapability                   Trigger = "CAPABILITY"                                   // "capability_notification"
	TriggerOptIn                        Trigger = "OPT_IN"                                       // "opt_in_notification"
	TriggerOptOut                       Trigger = "OPT_OUT"                                      // "opt_out_notification"
	TriggerChannelEvent                 Trigger = "CHANNEL_EVENT"                                // "channel_event_notification"
	TriggerUnsupported                  Trigger = "UNSUPPORTED"                                  // "unsupported_callback"
	TriggerSmartConversations           Trigger = "SMART_CONVERSATIONS"                          // "smart_conversation_notification"
	TriggerMessageRedaction             Trigger = "MESSAGE_INBOUND_SMART_CONVERSATION_REDACTION" // "message_redaction"
	TriggerRecordNotification           Trigger = "RECORD_NOTIFICATION"                          // "record_notification"

	// TriggerUnknown is set when no known trigger key is present. It is not
	// an error: Sinch adds triggers, and a 4xx would only make it retry.
	TriggerUnknown Trigger = "UNKNOWN"
)

// triggerKeys maps body keys to triggers. When a body holds more than one
// key (it should not), the first one in this order wins.
var triggerKeys = []struct {
	key     string
	trigger Trigger
}{
	{"message", TriggerMessageInbound},
	{"message_delivery_report", TriggerMessageDelivery},
	{"message_submit_notification", TriggerMessageSubmit},
	{"event", TriggerEventInbound},
	{"event_delivery_report", TriggerEventDelivery},
	{"conversation_start_notification", TriggerConversationStart},
	{"conversation_stop_notification", TriggerConversationStop},
	{"conversation_delete_notification", TriggerConversationDelete},
	{"contact_create_notification", TriggerContactCreate},
	{"contact_delete_notification", TriggerContactDelete},
	{"contact_merge_notification", TriggerContactMerge},
	{"contact_update_notification", TriggerContactUpdate},
	// The Java SDK fixture uses the long key; the Node SDK names
	// "duplicated_identities". Accept both.
	{"duplicated_contact_identities_notification", TriggerContactIdentitiesDuplication},
	{"duplicated_identities", TriggerContactIdentitiesDuplication},
	{"capability_notification", TriggerCapability},
	{"opt_in_notification", TriggerOptIn},
	{"opt_out_notification", TriggerOptOut},
	{"channel_event_notification", TriggerChannelEvent},
	{"unsupported_callback", TriggerUnsupported},
	{"smart_conversation_notification", TriggerSmartConversations},
	{"message_redaction", TriggerMessageRedaction},
	{"record_notification", TriggerRecordNotification},
}

// ChannelIdentity is a contact's address on one channel. For WhatsApp,
// Identity is the MSISDN without "+" and AppID is empty.
type ChannelIdentity struct {
	Channel  string `json:"channel"`
	Identity string `json:"identity"`
	AppID    string `json:"app_id,omitempty"`
}

// Reason explains a failed or switched delivery. ChannelCode is the raw code
// of the channel (Meta's error code on WhatsApp).
type Reason struct {
	Code        string `json:"code"`
	Description string `json:"description"`
	SubCode     string `json:"sub_code"`
	ChannelCode string `json:"channel_code,omitempty"`
}

// ReplyTo names the message a contact replied to.
type ReplyTo struct {
	MessageID string `json:"message_id"`
}

// TextMessage is a plain text message.
type TextMessage struct {
	Text string `json:"text"`
}

// MediaMessage is a file sent by URL (Sinch-hosted for inbound media).
type MediaMessage struct {
	URL              string `json:"url"`
	ThumbnailURL     string `json:"thumbnail_url,omitempty"`
	FilenameOverride string `json:"filename_override,omitempty"`
}

// MediaCardMessage is a media file with a caption.
type MediaCardMessage struct {
	URL     string `json:"url"`
	Caption string `json:"caption,omitempty"`
}

// Coordinates is a point in decimal degrees.
type Coordinates struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// LocationMessage is a shared location; on WhatsApp Title is the place name
// and Label its address, when the contact picked a place.
type LocationMessage struct {
	Coordinates Coordinates `json:"coordinates"`
	Title       string      `json:"title"`
	Label       string      `json:"label,omitempty"`
}

// ChoiceResponseMessage is the contact's pick among the choices of an app
// message (MessageID).
type ChoiceResponseMessage struct {
	MessageID    string `json:"message_id"`
	PostbackData string `json:"postback_data"`
}

// FallbackMessage stands for a contact message Sinch could not map to any
// other type.
type FallbackMessage struct {
	RawMessage string  `json:"raw_message,omitempty"`
	Reason     *Reason `json:"reason,omitempty"`
}

// ContactMessage is the content of an inbound message: exactly one of the
// message fields is set (see Kind), plus an optional ReplyTo.
type ContactMessage struct {
	TextMessage            *TextMessage           `json:"text_message,omitempty"`
	MediaMessage           *MediaMessage          `json:"media_message,omitempty"`
	MediaCardMessage       *MediaCardMessage      `json:"media_card_message,omitempty"`
	LocationMessage        *LocationMessage       `json:"location_message,omitempty"`
	ChoiceResponseMessage  *ChoiceResponseMessage `json:"choice_response_message,omitempty"`
	FallbackMessage        *FallbackMessage       `json:"fallback_message,omitempty"`
	ProductResponseMessage json.RawMessage        `json:"product_response_message,omitempty"`
	ChannelSpecificMessage json.RawMessage        `json:"channel_specific_message,omitempty"`
	ReplyTo                *ReplyTo               `json:"reply_to,omitempty"`
}

// UnmarshalJSON decodes a contact message, leaving the raw fields nil when
// the wire holds null so that Kind does not mistake null for content.
func (m *ContactMessage) UnmarshalJSON(b []byte) error {
	type plain ContactMessage
	if err := json.Unmarshal(b, (*plain)(m)); err != nil {
		return err
	}
	m.ProductResponseMessage = nilIfNull(m.ProductResponseMessage)
	m.ChannelSpecificMessage = nilIfNull(m.ChannelSpecificMessage)
	return nil
}

// InboundMessage is the "message" object of MESSAGE_INBOUND (and the
// "message_redaction" object). ConversationID and ContactID are empty in
// DISPATCH processing mode.
type InboundMessage struct {
	ID              string          `json:"id"`
	Direction       string          `json:"direction"`
	ChannelIdentity ChannelIdentity `json:"channel_identity"`
	ConversationID  string          `json:"conversation_id"`
	ContactID       string          `json:"contact_id"`
	Metadata        string          `json:"metadata"`
	AcceptTime      time.Time       `json:"accept_time"`
	SenderID        string          `json:"sender_id"`
	ProcessingMode  string          `json:"processing_mode"`
	Injected        bool            `json:"injected"`
	ContactMessage  ContactMessage  `json:"contact_message"`
}

// UnmarshalJSON decodes an inbound message with a lenient accept_time.
func (m *InboundMessage) UnmarshalJSON(b []byte) error {
	type plain InboundMessage
	aux := struct {
		*plain
		AcceptTime wireTime `json:"accept_time"` // shadows plain.AcceptTime
	}{plain: (*plain)(m)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	m.AcceptTime = aux.AcceptTime.t
	return nil
}

// MessageDeliveryReport is the "message_delivery_report" object of
// MESSAGE_DELIVERY. Metadata is the message_metadata of the send request.
type MessageDeliveryReport struct {
	MessageID       string          `json:"message_id"`
	ConversationID  string          `json:"conversation_id"`
	Status          string          `json:"status"`
	ChannelIdentity ChannelIdentity `json:"channel_identity"`
	ContactID       string          `json:"contact_id"`
	Reason          *Reason         `json:"reason,omitempty"`
	Metadata        string          `json:"metadata"`
	ProcessingMode  string          `json:"processing_mode"`
}

// EventDeliveryReport is the "event_delivery_report" object of
// EVENT_DELIVERY.
type EventDeliveryReport struct {
	EventID         string          `json:"event_id"`
	Status          string          `json:"status"`
	ChannelIdentity ChannelIdentity `json:"channel_identity"`
	ContactID       string          `json:"contact_id"`
	Reason          *Reason         `json:"reason,omitempty"`
	Metadata        string          `json:"metadata"`
	ProcessingMode  string          `json:"processing_mode"`
}

// InboundEvent is the "event" object of EVENT_INBOUND. One of ContactEvent
// (composing, comment, ...) or ContactMessageEvent (reaction, payment, ...)
// is set, kept raw.
type InboundEvent struct {
	ID                  string          `json:"id"`
	Direction           string          `json:"direction"`
	ChannelIdentity     ChannelIdentity `json:"channel_identity"`
	ContactID           string          `json:"contact_id"`
	ConversationID      string          `json:"conversation_id"`
	AcceptTime          time.Time       `json:"accept_time"`
	ProcessingMode      string          `json:"processing_mode"`
	ContactEvent        json.RawMessage `json:"contact_event,omitempty"`
	ContactMessageEvent json.RawMessage `json:"contact_message_event,omitempty"`
}

// UnmarshalJSON decodes an inbound event with a lenient accept_time.
func (e *InboundEvent) UnmarshalJSON(b []byte) error {
	type plain InboundEvent
	aux := struct {
		*plain
		AcceptTime wireTime `json:"accept_time"` // shadows plain.AcceptTime
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	e.AcceptTime = aux.AcceptTime.t
	e.ContactEvent = nilIfNull(e.ContactEvent)
	e.ContactMessageEvent = nilIfNull(e.ContactMessageEvent)
	return nil
}

// ChannelEvent is a channel-level event, such as
// WHATS_APP_QUALITY_RATING_CHANGED with additional_data.quality_rating.
type ChannelEvent struct {
	Channel        string          `json:"channel"`
	EventType      string          `json:"event_type"`
	AdditionalData json.RawMessage `json:"additional_data,omitempty"`
}

// ChannelEventNotification is the "channel_event_notification" object of
// CHANNEL_EVENT.
type ChannelEventNotification struct {
	ChannelEvent ChannelEvent `json:"channel_event"`
}

// Callback is one decoded webhook body. Trigger says which of the typed
// fields is set; triggers without a typed field are only in Payload.
//
// Decode wire bodies with DecodeCallback. A Callback itself marshals and
// unmarshals losslessly with encoding/json (for example as a workflow
// payload).
type Callback struct {
	AppID           string    `json:"app_id"`
	ProjectID       string    `json:"project_id"`
	AcceptedTime    time.Time `json:"accepted_time"`
	EventTime       time.Time `json:"event_time"`
	MessageMetadata string    `json:"message_metadata"`
	CorrelationID   string    `json:"correlation_id"`

	Trigger Trigger `json:"trigger"`

	Message                  *InboundMessage           `json:"message,omitempty"`
	MessageDeliveryReport    *MessageDeliveryReport    `json:"message_delivery_report,omitempty"`
	Event                    *InboundEvent             `json:"event,omitempty"`
	EventDeliveryReport      *EventDeliveryReport      `json:"event_delivery_report,omitempty"`
	ChannelEventNotification *ChannelEventNotification `json:"channel_event_notification,omitempty"`
	MessageRedaction         *InboundMessage           `json:"message_redaction,omitempty"`

	// Payload is the raw JSON object under the trigger key, for every
	// trigger including the typed ones; nil for TriggerUnknown.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// envelope is the part of the body common to every trigger.
type envelope struct {
	AppID        string   `json:"app_id"`
	ProjectID    string   `json:"project_id"`
	AcceptedTime wireTime `json:"accepted_time"`
	EventTime    wireTime `json:"event_time"`
	// message_metadata echoes what the app sent (a JSON object for
	// conversation_metadata), so it is taken as text whatever its type.
	MessageMetadata wireText `json:"message_metadata"`
	CorrelationID   string   `json:"correlation_id"`
}

// DecodeCallback decodes a webhook body. The trigger is the first key of a
// fixed order (message, message_delivery_report, message_submit_notification,
// event, event_delivery_report, conversation_*, contact_*, duplicated
// identities, capability, opt in/out, channel event, unsupported, smart
// conversations, message_redaction, record_notification) whose value is not
// null; without one, the trigger is TriggerUnknown and the error nil.
//
// Errors wrap ErrMalformedCallback: the body is not a JSON object, the
// trigger value is not an object, or a field decoded here has the wrong type.
func DecodeCallback(body []byte) (*Callback, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedCallback, err)
	}
	if fields == nil { // the body was the literal null
		return nil, fmt.Errorf("%w: body is not a JSON object", ErrMalformedCallback)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %w", ErrMalformedCallback, err)
	}
	cb := &Callback{
		AppID:           env.AppID,
		ProjectID:       env.ProjectID,
		AcceptedTime:    env.AcceptedTime.t,
		EventTime:       env.EventTime.t,
		MessageMetadata: env.MessageMetadata.s,
		CorrelationID:   env.CorrelationID,
		Trigger:         TriggerUnknown,
	}

	var key string
	for _, tk := range triggerKeys {
		raw, ok := fields[tk.key]
		if ok && !isNull(raw) {
			key, cb.Trigger, cb.Payload = tk.key, tk.trigger, raw
			break
		}
	}
	if cb.Trigger == TriggerUnknown {
		return cb, nil
	}
	if cb.Payload[0] != '{' { // json.Unmarshal hands over trimmed, valid values
		return nil, fmt.Errorf("%w: %q is not a JSON object", ErrMalformedCallback, key)
	}

	var target any
	switch cb.Trigger {
	case TriggerMessageInbound:
		cb.Message = new(InboundMessage)
		target = cb.Message
	case TriggerMessageDelivery:
		cb.MessageDeliveryReport = new(MessageDeliveryReport)
		target = cb.MessageDeliveryReport
	case TriggerEventInbound:
		cb.Event = new(InboundEvent)
		target = cb.Event
	case TriggerEventDelivery:
		cb.EventDeliveryReport = new(EventDeliveryReport)
		target = cb.EventDeliveryReport
	case TriggerChannelEvent:
		cb.ChannelEventNotification = new(ChannelEventNotification)
		target = cb.ChannelEventNotification
	case TriggerMessageRedaction:
		cb.MessageRedaction = new(InboundMessage)
		target = cb.MessageRedaction
	default:
		return cb, nil
	}
	if err := json.Unmarshal(cb.Payload, target); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformedCallback, key, err)
	}
	if n := cb.ChannelEventNotification; n != nil {
		n.ChannelEvent.AdditionalData = nilIfNull(n.ChannelEvent.AdditionalData)
	}
	return cb, nil
}

// ChannelIdentity returns the contact's channel identity carried by the
// trigger object: the inbound message or event, a delivery report, a
// redaction, and also the raw MESSAGE_SUBMIT, UNSUPPORTED and
// RECORD_NOTIFICATION objects. ok is false when the trigger has none or it
// is empty.
func (c *Callback) ChannelIdentity() (ChannelIdentity, bool) {
	var id ChannelIdentity
	switch {
	case c.Message != nil:
		id = c.Message.ChannelIdentity
	case c.MessageDeliveryReport != nil:
		id = c.MessageDeliveryReport.ChannelIdentity
	case c.Event != nil:
		id = c.Event.ChannelIdentity
	case c.EventDeliveryReport != nil:
		id = c.EventDeliveryReport.ChannelIdentity
	case c.MessageRedaction != nil:
		id = c.MessageRedaction.ChannelIdentity
	case c.Trigger == TriggerMessageSubmit, c.Trigger == TriggerUnsupported,
		c.Trigger == TriggerRecordNotification:
		var obj struct {
			ChannelIdentity ChannelIdentity `json:"channel_identity"`
		}
		if json.Unmarshal(c.Payload, &obj) != nil {
			return ChannelIdentity{}, false
		}
		id = obj.ChannelIdentity
	}
	return id, id != ChannelIdentity{}
}

// wireTime decodes Sinch's ISO-8601 timestamps: any fractional precision, an
// optional zone (UTC when missing), and "" or null as the zero time.
type wireTime struct{ t time.Time }

// wireTimeLayouts are tried in order; Go accepts a fractional second after
// the seconds field even when the layout has none.
var wireTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
}

// UnmarshalJSON implements json.Unmarshaler.
func (w *wireTime) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp %s is not a string", b)
	}
	if s == "" {
		w.t = time.Time{}
		return nil
	}
	for _, layout := range wireTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			w.t = t
			return nil
		}
	}
	return fmt.Errorf("timestamp %q is not ISO-8601", s)
}

// wireText decodes a JSON string as its value and any other JSON value as
// its compact text, for fields that echo app-provided metadata.
type wireText struct{ s string }

// UnmarshalJSON implements json.Unmarshaler.
func (w *wireText) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	if b[0] == '"' {
		return json.Unmarshal(b, &w.s)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	w.s = buf.String()
	return nil
}

// isNull reports whether a raw JSON value is the literal null.
func isNull(raw []byte) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// nilIfNull drops a raw value that is the literal null.
func nilIfNull(raw json.RawMessage) json.RawMessage {
	if isNull(raw) {
		return nil
	}
	return raw
}
