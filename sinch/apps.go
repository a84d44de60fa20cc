package sinch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Processing modes of an app. Agents can reply only to contacts of an app
// in CONVERSATION mode; DISPATCH keeps no contacts or conversations.
const (
	ProcessingModeConversation = "CONVERSATION"
	ProcessingModeDispatch     = "DISPATCH"
)

// Webhook limits Sinch enforces, checked before a request is sent.
const (
	// MaxWebhooksPerApp is how many webhooks one app may have.
	MaxWebhooksPerApp = 5
	// MaxWebhookTargetLength is the longest webhook target URL.
	MaxWebhookTargetLength = 742
)

// WebhookTargetTypeHTTP posts callbacks to the target URL.
const WebhookTargetTypeHTTP = "HTTP"

// Webhook triggers (Sinch's WebhookTrigger enum).
const (
	WebhookTriggerMessageDelivery                          = "MESSAGE_DELIVERY"
	WebhookTriggerMessageSubmit                            = "MESSAGE_SUBMIT"
	WebhookTriggerMessageInbound                           = "MESSAGE_INBOUND"
	WebhookTriggerEventDelivery                            = "EVENT_DELIVERY"
	WebhookTriggerEventInbound                             = "EVENT_INBOUND"
	WebhookTriggerSmartConversations                       = "SMART_CONVERSATIONS"
	WebhookTriggerConversationStart                        = "CONVERSATION_START"
	WebhookTriggerConversationStop                         = "CONVERSATION_STOP"
	WebhookTriggerConversationDelete                       = "CONVERSATION_DELETE"
	WebhookTriggerContactCreate                            = "CONTACT_CREATE"
	WebhookTriggerContactDelete                            = "CONTACT_DELETE"
	WebhookTriggerContactMerge                             = "CONTACT_MERGE"
	WebhookTriggerContactUpdate                            = "CONTACT_UPDATE"
	WebhookTriggerContactIdentitiesDuplication             = "CONTACT_IDENTITIES_DUPLICATION"
	WebhookTriggerUnsupported                              = "UNSUPPORTED"
	WebhookTriggerOptIn                                    = "OPT_IN"
	WebhookTriggerOptOut                                   = "OPT_OUT"
	WebhookTriggerChannelEvent                             = "CHANNEL_EVENT"
	WebhookTriggerCapability                               = "CAPABILITY"
	WebhookTriggerRecordNotification                       = "RECORD_NOTIFICATION"
	WebhookTriggerMessageInboundSmartConversationRedaction = "MESSAGE_INBOUND_SMART_CONVERSATION_REDACTION"
)

// ConnectorTriggers are the triggers the connector's webhook needs: every
// one it handles or records ("enable all available triggers", Motion's
// Sinch V2 setup guide). RECORD_NOTIFICATION and the smart-conversation
// redaction copy of inbound messages are left out: the connector receives
// each message once, unredacted.
var ConnectorTriggers = []string{
	WebhookTriggerMessageInbound, WebhookTriggerMessageDelivery, WebhookTriggerMessageSubmit,
	WebhookTriggerEventInbound, WebhookTriggerEventDelivery,
	WebhookTriggerConversationStart, WebhookTriggerConversationStop, WebhookTriggerConversationDelete,
	WebhookTriggerContactCreate, WebhookTriggerContactDelete, WebhookTriggerContactMerge, WebhookTriggerContactUpdate,
	WebhookTriggerContactIdentitiesDuplication,
	WebhookTriggerUnsupported, WebhookTriggerOptIn, WebhookTriggerOptOut,
	WebhookTriggerChannelEvent, WebhookTriggerCapability, WebhookTriggerSmartConversations,
}

// App is what GET /v1/projects/{project_id}/apps/{app_id} says about an
// app; the fields the connector does not read stay raw.
type App struct {
	ID                 string              `json:"id"`
	DisplayName        string              `json:"display_name"`
	ProcessingMode     string              `json:"processing_mode"`
	ChannelCredentials []ChannelCredential `json:"channel_credentials"`
	RateLimits         *AppRateLimits      `json:"rate_limits,omitempty"`
	QueueStats         *AppQueueStats      `json:"queue_stats,omitempty"`
	CallbackSettings   json.RawMessage     `json:"callback_settings,omitempty"`
}

// ChannelCredential is one channel of an app; its credentials are not
// read.
type ChannelCredential struct {
	Channel string `json:"channel"`
	// State is the channel's integration state when Sinch gives one
	// ({"status": "ACTIVE"|"PENDING"|"FAILING", "description"}).
	State *ChannelState `json:"state,omitempty"`
}

// ChannelState is the integration state of an app's channel.
type ChannelState struct {
	Status      string `json:"status"`
	Description string `json:"description,omitempty"`
}

// AppRateLimits are the app's rates in messages (or callbacks) per second.
type AppRateLimits struct {
	Inbound  int `json:"inbound"`
	Outbound int `json:"outbound"`
	Webhooks int `json:"webhooks"`
}

// AppQueueStats is the app's outbound queue: messages waiting to be sent
// and how many it can hold.
type AppQueueStats struct {
	OutboundSize  int `json:"outbound_size"`
	OutboundLimit int `json:"outbound_limit"`
}

// Channels lists the channels of the app.
func (a App) Channels() []string {
	out := make([]string, 0, len(a.ChannelCredentials))
	for _, c := range a.ChannelCredentials {
		out = append(out, c.Channel)
	}
	return out
}

// Webhook is a webhook of an app: where Sinch posts which callbacks, signed
// with Secret.
type Webhook struct {
	ID         string   `json:"id,omitempty"`
	AppID      string   `json:"app_id"`
	Target     string   `json:"target"`
	TargetType string   `json:"target_type,omitempty"`
	Secret     string   `json:"secret,omitempty"`
	Triggers   []string `json:"triggers"`
}

// ListWebhooksResponse is the answer of GET …/apps/{app_id}/webhooks.
type ListWebhooksResponse struct {
	Webhooks []Webhook `json:"webhooks"`
}

// maxAppBytes bounds an app or webhook answer.
const maxAppBytes = 1 << 20

// GetApp reads the client's app. Errors are those of SendMessage, with Op
// OpApp.
func (c *Client) GetApp(ctx context.Context) (App, error) {
	var out App
	err := c.call(ctx, OpApp, http.MethodGet, c.projectURL+"/apps/"+url.PathEscape(c.cfg.AppID), nil, maxAppBytes, decodeJSON(OpApp, &out))
	return out, err
}

// ListWebhooks lists the webhooks of the client's app.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	var out ListWebhooksResponse
	err := c.call(ctx, OpWebhooks, http.MethodGet, c.projectURL+"/apps/"+url.PathEscape(c.cfg.AppID)+"/webhooks", nil, maxAppBytes, decodeJSON(OpWebhooks, &out))
	return out.Webhooks, err
}

// CreateWebhook adds a webhook to the client's app (AppID is set to it).
// A target longer than MaxWebhookTargetLength, or without triggers, is
// refused before the call; Sinch refuses a sixth webhook and a target the
// app already has (400).
func (c *Client) CreateWebhook(ctx context.Context, w Webhook) (Webhook, error) {
	w.ID, w.AppID = "", c.cfg.AppID
	if w.TargetType == "" {
		w.TargetType = WebhookTargetTypeHTTP
	}
	if err := validateWebhook(w); err != nil {
		return Webhook{}, err
	}
	body, err := json.Marshal(w)
	if err != nil {
		return Webhook{}, invalidRequest(OpWebhooks, "encode webhook: %v", err)
	}
	var out Webhook
	err = c.call(ctx, OpWebhooks, http.MethodPost, c.projectURL+"/webhooks", body, maxAppBytes, decodeJSON(OpWebhooks, &out))
	return out, err
}

// UpdateWebhook changes the fields of webhook id named in mask (target,
// triggers, secret, target_type) to those of w, as Sinch's update_mask
// does; other fields are left as they are.
func (c *Client) UpdateWebhook(ctx context.Context, id string, w Webhook, mask []string) (Webhook, error) {
	if id == "" || len(mask) == 0 {
		return Webhook{}, invalidRequest(OpWebhooks, "update needs a webhook id and at least one field in the mask")
	}
	for _, f := range mask {
		switch f {
		case "target":
			if err := validateTarget(w.Target); err != nil {
				return Webhook{}, err
			}
		case "triggers":
			if len(w.Triggers) == 0 {
				return Webhook{}, invalidRequest(OpWebhooks, "triggers is empty")
			}
		case "secret", "target_type":
		default:
			return Webhook{}, invalidRequest(OpWebhooks, "update_mask field %q is not one the connector changes", f)
		}
	}
	w.ID, w.AppID = "", ""
	body, err := json.Marshal(w)
	if err != nil {
		return Webhook{}, invalidRequest(OpWebhooks, "encode webhook: %v", err)
	}
	q := url.Values{"update_mask.paths": mask}
	var out Webhook
	err = c.call(ctx, OpWebhooks, http.MethodPatch, c.projectURL+"/webhooks/"+url.PathEscape(id)+"?"+q.Encode(), body, maxAppBytes, decodeJSON(OpWebhooks, &out))
	return out, err
}

// DeleteWebhook removes webhook id.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	if id == "" {
		return invalidRequest(OpWebhooks, "delete needs a webhook id")
	}
	return c.call(ctx, OpWebhooks, http.MethodDelete, c.projectURL+"/webhooks/"+url.PathEscape(id), nil, maxAppBytes,
		func(int, []byte, error) *APIError { return nil })
}

// validateWebhook checks a webhook to create against Sinch's limits.
func validateWebhook(w Webhook) error {
	if err := validateTarget(w.Target); err != nil {
		return err
	}
	if len(w.Triggers) == 0 {
		return invalidRequest(OpWebhooks, "triggers is empty: a webhook without triggers receives nothing")
	}
	return nil
}

// validateTarget checks a webhook target URL: absolute http(s), at most
// MaxWebhookTargetLength characters.
func validateTarget(target string) error {
	if n := utf8.RuneCountInString(target); n > MaxWebhookTargetLength {
		return invalidRequest(OpWebhooks, "target is %d characters, Sinch allows at most %d", n, MaxWebhookTargetLength)
	}
	if err := checkHTTPURL(target); err != nil {
		return invalidRequest(OpWebhooks, "target: %v", err)
	}
	if u, _ := url.Parse(target); u != nil && strings.HasSuffix(strings.ToLower(u.Hostname()), ".sinch.com") &&
		strings.Contains(strings.ToLower(u.Hostname()), "conversation-api") {
		return invalidRequest(OpWebhooks, "target %s is a Sinch Conversation API host, which Sinch forbids", u.Hostname())
	}
	return nil
}

// decodeJSON reads a 2xx JSON answer into out.
func decodeJSON(op string, out any) decodeFunc {
	return func(code int, body []byte, readErr error) *APIError {
		if readErr != nil {
			e := networkError(op, readErr)
			e.HTTPStatus = code
			return e
		}
		if err := json.Unmarshal(body, out); err != nil {
			return &APIError{Op: op, HTTPStatus: code, Class: ErrorClassPermanent, Message: fmt.Sprintf("malformed %s response", op), Err: err}
		}
		return nil
	}
}
