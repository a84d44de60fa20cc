package emulator

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/xcally-connector/connector/internal/sleep"
	"github.com/xcally-connector/connector/sinch"
)

// Attempt is one POST of a callback to an app's webhook.
type Attempt struct {
	AppID   string        `json:"appId"`
	Trigger sinch.Trigger `json:"trigger"`
	// MessageID is the sent message of MESSAGE_DELIVERY or the inbound
	// message of MESSAGE_INBOUND; Status is the delivery status ("" inbound).
	MessageID string `json:"messageId"`
	Status    string `json:"status,omitempty"`
	// Number counts the attempts of one callback from 1.
	Number int       `json:"number"`
	At     time.Time `json:"at"`
	// StatusCode is the webhook's answer, 0 when Err says why there was none
	// (timeout, connection refused).
	StatusCode int    `json:"statusCode"`
	Err        string `json:"err,omitempty"`
}

// CallbackAttempts returns every callback attempt made for an app, in the
// order they ended.
func (s *Server) CallbackAttempts(appID string) []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.attempts[appID])
}

// callbackJob is one callback body to deliver.
type callbackJob struct {
	appID, url, secret string
	trigger            sinch.Trigger
	messageID, status  string
	body               []byte
}

// callbackBody is the wire body of the callbacks the emulator sends. The
// envelope keys are always present, like Sinch's.
type callbackBody struct {
	AppID                 string               `json:"app_id"`
	ProjectID             string               `json:"project_id"`
	AcceptedTime          string               `json:"accepted_time"`
	EventTime             string               `json:"event_time"`
	MessageMetadata       string               `json:"message_metadata"`
	CorrelationID         string               `json:"correlation_id"`
	Message               *conversationMessage `json:"message,omitempty"`
	MessageDeliveryReport *deliveryReport      `json:"message_delivery_report,omitempty"`
}

// channelIdentity always carries app_id ("" on WhatsApp), unlike
// sinch.ChannelIdentity, which omits it when empty.
type channelIdentity struct {
	Channel  string `json:"channel"`
	Identity string `json:"identity"`
	AppID    string `json:"app_id"`
}

// conversationMessage is a message as Sinch shows it: the "message" of a
// MESSAGE_INBOUND callback and an item of a message listing. ContactMessage
// is set on TO_APP messages, AppMessage on TO_CONTACT ones.
type conversationMessage struct {
	ID              string                `json:"id"`
	Direction       string                `json:"direction"`
	ContactMessage  *sinch.ContactMessage `json:"contact_message,omitempty"`
	AppMessage      *sinch.AppMessage     `json:"app_message,omitempty"`
	ChannelIdentity channelIdentity       `json:"channel_identity"`
	ConversationID  string                `json:"conversation_id"`
	ContactID       string                `json:"contact_id"`
	Metadata        string                `json:"metadata"`
	AcceptTime      string                `json:"accept_time"`
	SenderID        string                `json:"sender_id"`
	ProcessingMode  string                `json:"processing_mode"`
	Injected        bool                  `json:"injected"`
}

type deliveryReport struct {
	MessageID       string          `json:"message_id"`
	ConversationID  string          `json:"conversation_id"`
	Status          string          `json:"status"`
	ChannelIdentity channelIdentity `json:"channel_identity"`
	ContactID       string          `json:"contact_id"`
	Reason          *sinch.Reason   `json:"reason,omitempty"`
	Metadata        string          `json:"metadata"`
	ProcessingMode  string          `json:"processing_mode"`
}

// deliver posts a callback until the webhook answers 2xx, the retry
// schedule is exhausted or the server closes.
func (s *Server) deliver(job callbackJob) {
	schedule := s.opts.RetrySchedule
	for n := 1; ; n++ {
		at := s.now()
		code, err := s.post(job)
		if s.ctx.Err() != nil {
			return // cut short by Close: not an answer of the webhook
		}
		a := Attempt{AppID: job.appID, Trigger: job.trigger, MessageID: job.messageID, Status: job.status,
			Number: n, At: at, StatusCode: code}
		if err != nil {
			a.Err = err.Error()
		}
		s.mu.Lock()
		s.attempts[job.appID] = append(s.attempts[job.appID], a)
		s.mu.Unlock()
		s.log.Debug("sinch emulator: callback", "app", job.appID, "trigger", job.trigger,
			"message", job.messageID, "status", job.status, "attempt", n, "code", code, "err", a.Err)
		if err == nil && code >= 200 && code < 300 {
			return
		}
		if n > len(schedule) {
			s.log.Warn("sinch emulator: callback dropped after retries", "app", job.appID,
				"trigger", job.trigger, "message", job.messageID, "attempts", n)
			return
		}
		if !sleep.For(s.ctx, schedule[n-1]) {
			return
		}
	}
}

// post makes one attempt, signed afresh (new nonce, current timestamp) when
// the app has a webhook secret.
func (s *Server) post(job callbackJob) (int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.CallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.url, bytes.NewReader(job.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sinch-conversation-emulator/1")
	if job.secret != "" {
		sinch.SetSignatureHeaders(req.Header, job.secret, job.body, newULID(s.now()), s.now())
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
