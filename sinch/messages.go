package sinch

import (
	"encoding/json"
	"fmt"
	"time"
)

// DefaultAuthURL is Sinch's OAuth2 token endpoint; it serves every region.
const DefaultAuthURL = "https://auth.sinch.com/oauth2/token"

// AuthURLOf is an account's OAuth2 token endpoint: authURL, or
// DefaultAuthURL when it is empty.
func AuthURLOf(authURL string) string {
	if authURL == "" {
		return DefaultAuthURL
	}
	return authURL
}

// MaxTextLength is the longest text_message WhatsApp accepts.
const MaxTextLength = 4096

// regionBaseURLs are the Conversation API origins per region. The base URL
// must match the app's region, else Sinch answers 404.
var regionBaseURLs = map[string]string{
	"eu": "https://eu.conversation.api.sinch.com",
	"us": "https://us.conversation.api.sinch.com",
	"br": "https://br.conversation.api.sinch.com",
}

// RegionBaseURL returns the Conversation API origin of a region (eu, us, br).
func RegionBaseURL(region string) (string, error) {
	u, ok := regionBaseURLs[region]
	if !ok {
		return "", fmt.Errorf("sinch: unknown region %q: want eu, us or br", region)
	}
	return u, nil
}

// IdentifiedBy names a recipient by channel identities; it is the only
// recipient form DISPATCH-mode apps accept.
type IdentifiedBy struct {
	ChannelIdentities []ChannelIdentity `json:"channel_identities"`
}

// Recipient is either a Sinch contact id or a list of channel identities.
type Recipient struct {
	ContactID    string        `json:"contact_id,omitempty"`
	IdentifiedBy *IdentifiedBy `json:"identified_by,omitempty"`
}

// AppMessage is the message of a send request. Exactly one kind must be set;
// the connector sends text and media, the other kinds are kept raw so the
// emulator can validate requests like Sinch does.
type AppMessage struct {
	TextMessage        *TextMessage    `json:"text_message,omitempty"`
	MediaMessage       *MediaMessage   `json:"media_message,omitempty"`
	CardMessage        json.RawMessage `json:"card_message,omitempty"`
	ChoiceMessage      json.RawMessage `json:"choice_message,omitempty"`
	CarouselMessage    json.RawMessage `json:"carousel_message,omitempty"`
	ListMessage        json.RawMessage `json:"list_message,omitempty"`
	LocationMessage    json.RawMessage `json:"location_message,omitempty"`
	TemplateMessage    json.RawMessage `json:"template_message,omitempty"`
	ContactInfoMessage json.RawMessage `json:"contact_info_message,omitempty"`
	// Channel overrides and the agent shown to the contact.
	ExplicitChannelMessage     map[string]string          `json:"explicit_channel_message,omitempty"`
	ExplicitChannelOmniMessage map[string]json.RawMessage `json:"explicit_channel_omni_message,omitempty"`
	ChannelSpecificMessage     map[string]json.RawMessage `json:"channel_specific_message,omitempty"`
	Agent                      json.RawMessage            `json:"agent,omitempty"`
}

// Kinds lists the message kinds set on m (a valid message has exactly one).
func (m AppMessage) Kinds() []string {
	var kinds []string
	add := func(set bool, name string) {
		if set {
			kinds = append(kinds, name)
		}
	}
	add(m.TextMessage != nil, "text_message")
	add(m.MediaMessage != nil, "media_message")
	add(len(m.CardMessage) > 0, "card_message")
	add(len(m.ChoiceMessage) > 0, "choice_message")
	add(len(m.CarouselMessage) > 0, "carousel_message")
	add(len(m.ListMessage) > 0, "list_message")
	add(len(m.LocationMessage) > 0, "location_message")
	add(len(m.TemplateMessage) > 0, "template_message")
	add(len(m.ContactInfoMessage) > 0, "contact_info_message")
	return kinds
}

// SendMessageRequest is the body of POST /v1/projects/{project}/messages:send.
type SendMessageRequest struct {
	AppID                string            `json:"app_id"`
	Recipient            Recipient         `json:"recipient"`
	Message              AppMessage        `json:"message"`
	ChannelPriorityOrder []string          `json:"channel_priority_order,omitempty"`
	ChannelProperties    map[string]string `json:"channel_properties,omitempty"`
	// MessageMetadata (≤ 1024 chars) comes back as `metadata` on the
	// MESSAGE_DELIVERY callbacks of this message.
	MessageMetadata      string          `json:"message_metadata,omitempty"`
	ConversationMetadata json.RawMessage `json:"conversation_metadata,omitempty"`
	// ConversationMetadataUpdateStrategy is REPLACE or MERGE_PATCH.
	ConversationMetadataUpdateStrategy string `json:"conversation_metadata_update_strategy,omitempty"`
	// CorrelationID (≤ 128 chars) is propagated to the callbacks.
	CorrelationID      string `json:"correlation_id,omitempty"`
	CallbackURL        string `json:"callback_url,omitempty"`
	ProcessingStrategy string `json:"processing_strategy,omitempty"`
	MessageContentType string `json:"message_content_type,omitempty"`
	Queue              string `json:"queue,omitempty"`
	// TTL is "<n>s".
	TTL string `json:"ttl,omitempty"`
}

// SendMessageResponse is Sinch's answer to an accepted send.
type SendMessageResponse struct {
	MessageID    string    `json:"message_id"`
	AcceptedTime time.Time `json:"accepted_time"`
}

// TokenResponse is the OAuth2 client-credentials answer of the auth URL.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// UnmarshalJSON decodes an app message, leaving the raw kinds nil when the
// wire holds null so that Kinds does not count null as a kind.
func (m *AppMessage) UnmarshalJSON(b []byte) error {
	type plain AppMessage
	if err := json.Unmarshal(b, (*plain)(m)); err != nil {
		return err
	}
	for _, raw := range []*json.RawMessage{
		&m.CardMessage, &m.ChoiceMessage, &m.CarouselMessage, &m.ListMessage,
		&m.LocationMessage, &m.TemplateMessage, &m.ContactInfoMessage, &m.Agent,
	} {
		*raw = nilIfNull(*raw)
	}
	return nil
}
