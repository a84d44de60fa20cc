package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/xcally-connector/connector/internal/sleep"
	"github.com/xcally-connector/connector/sinch"
)

// Attempt is one POST of a callback to a webhook of an app.
type Attempt struct {
	AppID   string        `json:"appId"`
	Trigger sinch.Trigger `json:"trigger"`
	// WebhookID and Target name the webhook posted to ("" for a dropped
	// callback).
	WebhookID string `json:"webhookId,omitempty"`
	Target    string `json:"target,omitempty"`
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

// CallbackAttempts returns every callback attempt made for an app, to any
// of its webhooks, in the order they ended.
func (s *Server) CallbackAttempts(appID string) []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.attempts[appID])
}

// DroppedCallbacks returns the callbacks of an app that no webhook
// received: none of its webhooks has the callback's trigger, or the one
// that has it is a DISMISS webhook. Number is 0 and Err says why.
func (s *Server) DroppedCallbacks(appID string) []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dropped[appID])
}

// callbackJob is one callback body to deliver to one webhook.
type callbackJob struct {
	appID, webhookID, target, secret string
	trigger                          sinch.Trigger
	messageID, status                string
	body                             []byte
}

// triggerKeys maps the top-level key of a callback body to its trigger
// (the body has no trigger field; Sinch's SDKs dispatch on the key).
var triggerKeys = map[string]sinch.Trigger{
	"message":                                    sinch.TriggerMessageInbound,
	"message_delivery_report":                    sinch.TriggerMessageDelivery,
	"message_submit_notification":                sinch.TriggerMessageSubmit,
	"event":                                      sinch.TriggerEventInbound,
	"event_delivery_report":                      sinch.TriggerEventDelivery,
	"conversation_start_notification":            sinch.TriggerConversationStart,
	"conversation_stop_notification":             sinch.TriggerConversationStop,
	"conversation_delete_notification":           sinch.TriggerConversationDelete,
	"contact_create_notification":                sinch.TriggerContactCreate,
	"contact_delete_notification":                sinch.TriggerContactDelete,
	"contact_merge_notification":                 sinch.TriggerContactMerge,
	"contact_update_notification":                sinch.TriggerContactUpdate,
	"duplicated_identities":                      sinch.TriggerContactIdentitiesDuplication,
	"duplicated_contact_identities_notification": sinch.TriggerContactIdentitiesDuplication,
	"capability_notification":                    sinch.TriggerCapability,
	"opt_in_notification":                        sinch.TriggerOptIn,
	"opt_out_notification":                       sinch.TriggerOptOut,
	"channel_event_notification":                 sinch.TriggerChannelEvent,
	"unsupported_callback":                       sinch.TriggerUnsupported,
	"smart_conversation_notification":            sinch.TriggerSmartConversations,
	"message_redaction":                          sinch.TriggerMessageRedaction,
	"record_notification":                        sinch.TriggerRecordNotification,
}

// callbackTrigger is the trigger of a callback body: that of its first
// top-level key (in the body's order) naming one; "" when none does.
func callbackTrigger(body []byte) sinch.Trigger {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return ""
		}
		if trig, ok := triggerKeys[key]; ok && string(v) != "null" {
			return trig
		}
	}
	return ""
}

// callbackJobs fans a callback body out to the webhooks of the app whose
// triggers include the body's: one job each, signed with that webhook's
// secret. With no such webhook the callback is recorded as dropped.
// messageID and status only label the attempts.
func (s *Server) callbackJobs(appID string, body []byte, messageID, status string) []callbackJob {
	trigger := callbackTrigger(body)
	s.mu.Lock()
	defer s.mu.Unlock()
	var jobs []callbackJob
	dismissed := ""
	for _, h := range s.webhooks[appID] {
		if !h.has(trigger) {
			continue
		}
		if h.TargetType == WebhookTargetTypeDismiss {
			dismissed = h.ID
			continue
		}
		jobs = append(jobs, callbackJob{appID: appID, webhookID: h.ID, target: h.Target, secret: h.Secret,
			trigger: trigger, messageID: messageID, status: status, body: body})
	}
	if len(jobs) == 0 {
		why := "no webhook of the app has trigger " + string(trigger)
		if dismissed != "" {
			why = "webhook " + dismissed + " is a DISMISS webhook"
		}
		s.dropped[appID] = append(s.dropped[appID], Attempt{AppID: appID, Trigger: trigger, MessageID: messageID,
			Status: status, At: s.now(), Err: why})
		s.log.Debug("sinch emulator: callback dropped", "app", appID, "trigger", trigger,
			"message", messageID, "status", status, "why", why)
	}
	return jobs
}

// orderedPoster posts the callbacks of one message in order to each
// webhook, every webhook at its own pace (a failing one delays only its
// own copies).
type orderedPoster struct {
	s      *Server
	queues map[string]chan callbackJob
	size   int
}

func newOrderedPoster(s *Server, size int) *orderedPoster {
	return &orderedPoster{s: s, queues: map[string]chan callbackJob{}, size: size}
}

// post queues job behind the earlier jobs of its webhook; size bounds the
// jobs per webhook, so it never blocks.
func (p *orderedPoster) post(job callbackJob) {
	q, ok := p.queues[job.webhookID]
	if !ok {
		q = make(chan callbackJob, p.size)
		if !p.s.spawn(func() {
			for j := range q {
				p.s.deliver(j)
			}
		}) {
			return
		}
		p.queues[job.webhookID] = q
	}
	q <- job
}

// close lets every queue drain and end.
func (p *orderedPoster) close() {
	for _, q := range p.queues {
		close(q)
	}
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
		a := Attempt{AppID: job.appID, Trigger: job.trigger, WebhookID: job.webhookID, Target: job.target,
			MessageID: job.messageID, Status: job.status, Number: n, At: at, StatusCode: code}
		if err != nil {
			a.Err = err.Error()
		}
		s.mu.Lock()
		s.attempts[job.appID] = append(s.attempts[job.appID], a)
		s.mu.Unlock()
		s.log.Debug("sinch emulator: callback", "app", job.appID, "webhook", job.webhookID, "trigger", job.trigger,
			"message", job.messageID, "status", job.status, "attempt", n, "code", code, "err", a.Err)
		if err == nil && code >= 200 && code < 300 {
			return
		}
		if n > len(schedule) {
			s.log.Warn("sinch emulator: callback dropped after retries", "app", job.appID, "webhook", job.webhookID,
				"trigger", job.trigger, "message", job.messageID, "attempts", n)
			return
		}
		if !sleep.For(s.ctx, schedule[n-1]) {
			return
		}
	}
}

// post makes one attempt, signed afresh (new nonce, current timestamp) when
// the webhook has a secret.
func (s *Server) post(job callbackJob) (int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.CallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.target, bytes.NewReader(job.body))
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
