package sinch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Message directions.
const (
	DirectionToApp     = "TO_APP"
	DirectionToContact = "TO_CONTACT"
)

// Message sources of a listing: CONVERSATION_SOURCE (Sinch's default) holds
// the messages of CONVERSATION processing mode, DISPATCH_SOURCE those of
// DISPATCH mode, kept only when the app has a dispatch retention policy.
const (
	MessagesSourceConversation = "CONVERSATION_SOURCE"
	MessagesSourceDispatch     = "DISPATCH_SOURCE"
)

const (
	// MaxListPageSize is the largest page_size Sinch accepts.
	MaxListPageSize = 1000
	// MaxListPages bounds the pages ListAllMessages follows, so a server
	// that keeps answering with a next_page_token cannot loop it forever.
	MaxListPages = 10_000
)

// DefaultMaxListPageBytes bounds one listed page: a full page of long
// messages (4096-character texts, 1024-character metadata) stays below it.
const DefaultMaxListPageBytes int64 = 64 << 20

// ListMessagesRequest filters GET /v1/projects/{project}/messages. Zero
// fields are left out of the query.
type ListMessagesRequest struct {
	// AppID defaults to the client's app.
	AppID string
	// Channel (WHATSAPP, ...) and ChannelIdentity (the contact's identity,
	// an MSISDN without "+" on WhatsApp) filter on channel_identity.
	Channel         string
	ChannelIdentity string
	// ContactID and ConversationID work only with the conversation source.
	ContactID      string
	ConversationID string
	// StartTime and EndTime bound accept_time; a zero time is unbounded.
	StartTime time.Time
	EndTime   time.Time
	// Direction is DirectionToApp, DirectionToContact or "" for both.
	Direction string
	// PageSize is 1 to MaxListPageSize; 0 leaves Sinch's default of 10.
	PageSize int
	// PageToken is the NextPageToken of the previous page.
	PageToken string
	// MessagesSource is MessagesSourceConversation, MessagesSourceDispatch
	// or "" (Sinch's default, the conversation source).
	MessagesSource string
	// OnlyRecipientOriginated lists only the messages contacts sent; it
	// needs MessagesSourceDispatch.
	OnlyRecipientOriginated bool
}

// ConversationMessage is a stored message as Sinch lists it: a contact
// message (Direction TO_APP, ContactMessage set) or an app message
// (TO_CONTACT, AppMessage set). It has the fields of a MESSAGE_INBOUND
// callback's message, whose wire names it shares; its own ContactMessage,
// nil for an app message, takes the place of InboundMessage.ContactMessage,
// which stays zero. ConversationID and ContactID are empty in DISPATCH
// processing mode. Metadata of an app message is the message_metadata of its
// send request.
type ConversationMessage struct {
	InboundMessage
	ContactMessage *ContactMessage `json:"contact_message,omitempty"` // shadows InboundMessage.ContactMessage
	AppMessage     *AppMessage     `json:"app_message,omitempty"`
}

// UnmarshalJSON decodes a listed message with a lenient accept_time and a
// metadata that may be any JSON value.
func (m *ConversationMessage) UnmarshalJSON(b []byte) error {
	type plain InboundMessage // without InboundMessage's UnmarshalJSON
	aux := struct {
		*plain
		AcceptTime     wireTime        `json:"accept_time"` // shadows plain.AcceptTime
		Metadata       wireText        `json:"metadata"`    // shadows plain.Metadata
		ContactMessage *ContactMessage `json:"contact_message"`
		AppMessage     *AppMessage     `json:"app_message"`
	}{plain: (*plain)(&m.InboundMessage)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	m.AcceptTime, m.Metadata = aux.AcceptTime.t, aux.Metadata.s
	m.ContactMessage, m.AppMessage = aux.ContactMessage, aux.AppMessage
	return nil
}

// Inbound is a listed contact message in the form of a MESSAGE_INBOUND
// callback's message; ok is false for an app message or one without content.
func (m ConversationMessage) Inbound() (msg InboundMessage, ok bool) {
	if m.Direction != DirectionToApp || m.ID == "" || m.ContactMessage == nil {
		return InboundMessage{}, false
	}
	msg = m.InboundMessage
	msg.ContactMessage = *m.ContactMessage
	return msg, true
}

// ListMessagesResponse is one page of a listing, newest accept_time first.
// An empty NextPageToken means it is the last page.
type ListMessagesResponse struct {
	Messages      []ConversationMessage `json:"messages"`
	NextPageToken string                `json:"next_page_token"`
}

// ListMessages fetches one page of the stored messages that match req, for
// reconciliation. Errors are those of SendMessage, with Op OpList: an
// invalid request is rejected locally, a 401 for an expired token is
// retried once, and the caller's own ctx ending returns ctx.Err().
func (c *Client) ListMessages(ctx context.Context, req ListMessagesRequest) (ListMessagesResponse, error) {
	if req.AppID == "" {
		req.AppID = c.cfg.AppID
	}
	if err := validateListRequest(req); err != nil {
		return ListMessagesResponse{}, err
	}
	target := c.listURL + "?" + listQuery(req).Encode()
	var out ListMessagesResponse
	err := c.call(ctx, OpList, http.MethodGet, target, nil, c.maxPageBytes, func(code int, body []byte, readErr error) *APIError {
		switch {
		case errors.Is(readErr, errBodyTooLarge):
			return &APIError{Op: OpList, HTTPStatus: code, Class: ErrorClassPermanent,
				Message: fmt.Sprintf("page is larger than %d bytes; ask for a smaller page_size", c.maxPageBytes)}
		case readErr != nil:
			e := networkError(OpList, readErr)
			e.HTTPStatus = code
			return e
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return &APIError{Op: OpList, HTTPStatus: code, Class: ErrorClassPermanent, Message: "malformed list response", Err: err}
		}
		return nil
	})
	if err != nil {
		return ListMessagesResponse{}, err
	}
	return out, nil
}

// ListAllMessages calls fn with every message that matches req, page after
// page (from req.PageToken), newest first. It stops when a page has no
// next_page_token, when fn returns false or an error (returned as is), or
// with a permanent *APIError when the server repeats a page token or
// MaxListPages pages did not end the listing.
func (c *Client) ListAllMessages(ctx context.Context, req ListMessagesRequest, fn func(ConversationMessage) (bool, error)) error {
	for range MaxListPages {
		page, err := c.ListMessages(ctx, req)
		if err != nil {
			return err
		}
		for _, m := range page.Messages {
			more, err := fn(m)
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
		}
		switch page.NextPageToken {
		case "":
			return nil
		case req.PageToken:
			return &APIError{Op: OpList, Class: ErrorClassPermanent, Message: "next_page_token repeats the token of its own page"}
		}
		req.PageToken = page.NextPageToken
	}
	return &APIError{Op: OpList, Class: ErrorClassPermanent, Message: fmt.Sprintf("listing did not end after %d pages", MaxListPages)}
}

// validateListRequest checks the constraints Sinch documents for a listing.
func validateListRequest(req ListMessagesRequest) error {
	invalid := func(format string, args ...any) error { return invalidRequest(OpList, format, args...) }
	dispatch := req.MessagesSource == MessagesSourceDispatch
	switch {
	case req.AppID == "":
		return invalid("app_id is empty")
	case req.PageSize < 0 || req.PageSize > MaxListPageSize:
		return invalid("page_size is %d, want 1 to %d", req.PageSize, MaxListPageSize)
	case req.Direction != "" && req.Direction != DirectionToApp && req.Direction != DirectionToContact:
		return invalid("direction is %q, want %s or %s", req.Direction, DirectionToApp, DirectionToContact)
	case req.MessagesSource != "" && req.MessagesSource != MessagesSourceConversation && !dispatch:
		return invalid("messages_source is %q, want %s or %s", req.MessagesSource, MessagesSourceConversation, MessagesSourceDispatch)
	case dispatch && (req.ContactID != "" || req.ConversationID != ""):
		return invalid("contact_id and conversation_id filters need %s", MessagesSourceConversation)
	case req.OnlyRecipientOriginated && !dispatch:
		return invalid("only_recipient_originated needs %s", MessagesSourceDispatch)
	case !req.StartTime.IsZero() && !req.EndTime.IsZero() && req.EndTime.Before(req.StartTime):
		return invalid("end_time is before start_time")
	}
	return nil
}

// listQuery is the query string of a listing, without the zero fields.
func listQuery(req ListMessagesRequest) url.Values {
	q := url.Values{}
	set := func(key, value string) {
		if value != "" {
			q.Set(key, value)
		}
	}
	set("app_id", req.AppID)
	set("channel", req.Channel)
	set("channel_identity", req.ChannelIdentity)
	set("contact_id", req.ContactID)
	set("conversation_id", req.ConversationID)
	setTime := func(key string, t time.Time) {
		if !t.IsZero() {
			q.Set(key, t.UTC().Format(time.RFC3339Nano))
		}
	}
	setTime("start_time", req.StartTime)
	setTime("end_time", req.EndTime)
	set("direction", req.Direction)
	if req.PageSize > 0 {
		q.Set("page_size", strconv.Itoa(req.PageSize))
	}
	set("page_token", req.PageToken)
	set("messages_source", req.MessagesSource)
	if req.OnlyRecipientOriginated {
		q.Set("only_recipient_originated", "true")
	}
	return q
}
