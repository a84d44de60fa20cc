package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xcally-connector/connector/internal/sleep"
	"github.com/xcally-connector/connector/sinch"
)

// Limits of a send request (Sinch's messages:send reference).
const (
	maxMessageMetadata      = 1024
	maxCorrelationID        = 128
	maxConversationMetadata = 2048
	maxChannelProperty      = 1024
	minTTLSeconds           = 3
	maxTTLSeconds           = 315_576_000_000
)

// Delivery statuses of MESSAGE_DELIVERY callbacks; StatusQueued is the
// outbox status before any callback (Sinch sends none for it).
const (
	StatusQueued          = "QUEUED"
	StatusQueuedOnChannel = "QUEUED_ON_CHANNEL"
	StatusDelivered       = "DELIVERED"
	StatusRead            = "READ"
	StatusFailed          = "FAILED"
)

// outMessage is an accepted send.
type outMessage struct {
	id, appID, projectID      string
	channel, identity         string
	contactID, conversationID string
	processingMode            string
	message                   sinch.AppMessage // as sent
	metadata, correlationID   string
	accepted                  time.Time // s.now() at acceptance
	acceptedMono              time.Time // real clock, for the delivery delays
	mediaKind, status, reason string    // guarded by Server.mu
	// restored messages were loaded from the state file; their delivery,
	// cut short by the restart, is not resumed.
	restored bool
}

// OutboxItem is a message the emulator accepted, with the status of the
// last delivery callback it generated.
type OutboxItem struct {
	MessageID string `json:"messageId"`
	// To is the recipient's channel identity (resolved for contact_id sends).
	To      string `json:"to"`
	Channel string `json:"channel"`
	Text    string `json:"text"`
	// MediaURL is the media_message URL; MediaKind is the WhatsApp type it
	// was delivered as (image, audio, video or document), "" otherwise.
	MediaURL  string `json:"mediaUrl"`
	MediaKind string `json:"mediaKind"`
	// Status is QUEUED until the first callback, then that of the latest one.
	Status string `json:"status"`
	// ReasonCode is set once a FAILED callback was generated.
	ReasonCode    string    `json:"reasonCode"`
	Metadata      string    `json:"metadata"`
	CorrelationID string    `json:"correlationId"`
	AcceptedTime  time.Time `json:"acceptedTime"`
}

// Outbox lists the messages accepted for an app in send order, only those
// to identity when it is not empty.
func (s *Server) Outbox(appID, identity string) ([]OutboxItem, error) {
	identity = normalizeIdentity(identity)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[appID]; !ok {
		return nil, ErrAppNotFound
	}
	items := []OutboxItem{}
	for _, m := range s.outbox[appID] {
		if identity != "" && m.identity != identity {
			continue
		}
		item := OutboxItem{
			MessageID: m.id, To: m.identity, Channel: m.channel,
			MediaKind: m.mediaKind, Status: m.status, ReasonCode: m.reason,
			Metadata: m.metadata, CorrelationID: m.correlationID, AcceptedTime: m.accepted.UTC(),
		}
		if t := m.message.TextMessage; t != nil {
			item.Text = t.Text
		}
		if mm := m.message.MediaMessage; mm != nil {
			item.MediaURL = mm.URL
		}
		items = append(items, item)
	}
	return items, nil
}

func (s *Server) handleOutbox(w http.ResponseWriter, r *http.Request) {
	items, err := s.Outbox(r.PathValue("appId"), r.URL.Query().Get("to"))
	if err != nil {
		writeEmulatorError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// requestRegion is the region a send names: the path prefix, else a Host
// starting with eu./us./br., else "" (not checked). ok is false for a path
// prefix that is no region.
func requestRegion(r *http.Request) (region string, ok bool) {
	if p := r.PathValue("region"); p != "" {
		switch p {
		case "eu", "us", "br":
			return p, true
		}
		return "", false
	}
	host := strings.ToLower(r.Host)
	for _, reg := range []string{"eu", "us", "br"} {
		if strings.HasPrefix(host, reg+".") {
			return reg, true
		}
	}
	return "", true
}

// handleSend is POST [/{region}]/v1/projects/{projectId}/messages:send.
func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	projectID := r.PathValue("projectId")
	region, ok := requestRegion(r)
	if !ok {
		writeSinchError(w, http.StatusNotFound, "Not found: "+r.URL.Path)
		return
	}
	if !s.authorize(w, r, projectID) {
		return
	}
	var req sinch.SendMessageRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody)).Decode(&req); err != nil {
		writeSinchError(w, http.StatusBadRequest, "Invalid JSON payload received: "+err.Error())
		return
	}
	if req.AppID == "" {
		writeSinchError(w, http.StatusBadRequest, "Invalid argument: app_id is required.")
		return
	}
	app, ok := s.projectApp(w, req.AppID, projectID, region)
	if !ok {
		return
	}

	channel, identity := s.recipientIdentity(req)
	if f := s.takeFault(app.AppID, identity, faultLatency); f != nil {
		if !s.holdRequest(r, time.Duration(f.LatencyMs)*time.Millisecond) {
			// The client went away (the answer is lost) or Close was called.
			writeSinchError(w, http.StatusServiceUnavailable, "The service is shutting down.")
			return
		}
	}
	if f := s.takeFault(app.AppID, identity, faultHTTP); f != nil {
		if f.RetryAfterSeconds > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfterSeconds))
		}
		writeSinchError(w, f.HTTPStatus, faultMessages[f.HTTPStatus])
		return
	}

	mode := app.ProcessingMode
	if req.ProcessingStrategy == "DISPATCH_ONLY" {
		mode = ModeDispatch
	}
	if msg := validateSend(req, mode, app); msg != "" {
		writeSinchError(w, http.StatusBadRequest, "Invalid argument: "+msg)
		return
	}
	m, err := s.accept(app, req, mode, channel, identity)
	if err != nil {
		writeSinchError(w, http.StatusBadRequest, "Invalid argument: "+err.Error())
		return
	}
	if f := s.takeFault(app.AppID, identity, faultHang); f != nil {
		s.log.Debug("emulator: send accepted, answer withheld", "app", app.AppID, "message", m.id)
		s.holdRequest(r, maxHang)
		// net/http closes the connection without writing a response.
		panic(http.ErrAbortHandler)
	}
	writeJSON(w, http.StatusOK, sinch.SendMessageResponse{MessageID: m.id, AcceptedTime: m.accepted.UTC()})
}

// projectApp returns the app a Sinch call names, or writes the 404 Sinch
// answers for an unknown app and for an app of another project or region
// alike.
func (s *Server) projectApp(w http.ResponseWriter, appID, projectID, region string) (App, bool) {
	app, ok := s.app(appID)
	if !ok || app.ProjectID != projectID || (region != "" && region != app.Region) {
		writeSinchError(w, http.StatusNotFound, fmt.Sprintf("App %s not found in project %s in this region.", appID, projectID))
		return App{}, false
	}
	return app, true
}

// holdRequest waits d, less when the client goes away or Close is called;
// it reports whether the full delay passed.
func (s *Server) holdRequest(r *http.Request, d time.Duration) bool {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	return sleep.For(ctx, d)
}

// recipientIdentity picks the channel identity a send goes to: the
// contact's, or the first identified_by identity in channel_priority_order.
// It is "" for an unknown contact or an empty recipient.
func (s *Server) recipientIdentity(req sinch.SendMessageRequest) (channel, identity string) {
	if id := req.Recipient.ContactID; id != "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		if c, ok := s.contactsByID[id]; ok {
			return c.channel, c.identity
		}
		return "", ""
	}
	if req.Recipient.IdentifiedBy == nil || len(req.Recipient.IdentifiedBy.ChannelIdentities) == 0 {
		return "", ""
	}
	ids := req.Recipient.IdentifiedBy.ChannelIdentities
	for _, ch := range req.ChannelPriorityOrder {
		for _, ci := range ids {
			if ci.Channel == ch {
				return ci.Channel, normalizeIdentity(ci.Identity)
			}
		}
	}
	return ids[0].Channel, normalizeIdentity(ids[0].Identity)
}

// validateSend is Sinch's first-stage (synchronous) validation; it returns
// the problem or "".
func validateSend(req sinch.SendMessageRequest, mode string, app App) string {
	rc := req.Recipient
	switch {
	case rc.ContactID == "" && rc.IdentifiedBy == nil:
		return "recipient must have contact_id or identified_by."
	case rc.ContactID != "" && rc.IdentifiedBy != nil:
		return "recipient must have only one of contact_id and identified_by."
	case rc.ContactID != "" && mode == ModeDispatch:
		return "recipient.contact_id is not allowed in DISPATCH processing mode; use identified_by."
	case rc.IdentifiedBy != nil && len(rc.IdentifiedBy.ChannelIdentities) == 0:
		return "recipient.identified_by.channel_identities must not be empty."
	}
	if rc.IdentifiedBy != nil {
		for i, ci := range rc.IdentifiedBy.ChannelIdentities {
			if normalizeIdentity(ci.Identity) == "" {
				return fmt.Sprintf("recipient.identified_by.channel_identities[%d].identity is required.", i)
			}
			if !app.hasChannel(ci.Channel) {
				return fmt.Sprintf("recipient.identified_by.channel_identities[%d].channel %q is not configured on the app.", i, ci.Channel)
			}
		}
	}
	for _, ch := range req.ChannelPriorityOrder {
		if !app.hasChannel(ch) {
			return fmt.Sprintf("channel_priority_order names %q, which is not configured on the app.", ch)
		}
	}

	kinds := req.Message.Kinds()
	if len(kinds) != 1 {
		return fmt.Sprintf("message must have exactly one message type, got %d (%s).", len(kinds), strings.Join(kinds, ", "))
	}
	if t := req.Message.TextMessage; t != nil {
		if t.Text == "" {
			return "message.text_message.text is required."
		}
		if n := utf8.RuneCountInString(t.Text); n > sinch.MaxTextLength {
			return fmt.Sprintf("message.text_message.text is %d characters long, more than %d.", n, sinch.MaxTextLength)
		}
	}
	if mm := req.Message.MediaMessage; mm != nil {
		if u, err := url.Parse(mm.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "message.media_message.url must be an absolute http(s) URL."
		}
	}

	if n := utf8.RuneCountInString(req.MessageMetadata); n > maxMessageMetadata {
		return fmt.Sprintf("message_metadata is %d characters long, more than %d.", n, maxMessageMetadata)
	}
	if n := utf8.RuneCountInString(req.CorrelationID); n > maxCorrelationID {
		return fmt.Sprintf("correlation_id is %d characters long, more than %d.", n, maxCorrelationID)
	}
	if cm := bytes.TrimSpace(req.ConversationMetadata); len(cm) > 0 && string(cm) != "null" {
		if cm[0] != '{' {
			return "conversation_metadata must be a JSON object."
		}
		if n := utf8.RuneCount(cm); n > maxConversationMetadata {
			return fmt.Sprintf("conversation_metadata is %d characters long, more than %d.", n, maxConversationMetadata)
		}
	}
	switch req.ConversationMetadataUpdateStrategy {
	case "", "REPLACE", "MERGE_PATCH":
	default:
		return "conversation_metadata_update_strategy must be REPLACE or MERGE_PATCH."
	}
	for k, v := range req.ChannelProperties {
		if utf8.RuneCountInString(v) > maxChannelProperty {
			return fmt.Sprintf("channel_properties[%s] is longer than %d characters.", k, maxChannelProperty)
		}
	}
	switch req.ProcessingStrategy {
	case "", "DEFAULT", "DISPATCH_ONLY":
	default:
		return "processing_strategy must be DEFAULT or DISPATCH_ONLY."
	}
	if req.TTL != "" {
		n, err := strconv.ParseInt(strings.TrimSuffix(req.TTL, "s"), 10, 64)
		if !strings.HasSuffix(req.TTL, "s") || err != nil || n < minTTLSeconds || n > maxTTLSeconds {
			return fmt.Sprintf("ttl %q must be \"<n>s\" with n from %d to %d.", req.TTL, minTTLSeconds, int64(maxTTLSeconds))
		}
	}
	return ""
}

// accept records a validated send in the outbox and starts its delivery.
// The error is a second-stage validation failure (unknown contact).
func (s *Server) accept(app App, req sinch.SendMessageRequest, mode, channel, identity string) (*outMessage, error) {
	now := s.now()
	m := &outMessage{
		id: newULID(now), appID: app.AppID, projectID: app.ProjectID,
		channel: channel, identity: identity, processingMode: mode, message: req.Message,
		metadata: req.MessageMetadata, correlationID: req.CorrelationID,
		accepted: now, acceptedMono: time.Now(), status: StatusQueued,
	}

	s.mu.Lock()
	if id := req.Recipient.ContactID; id != "" {
		c, ok := s.contactsByID[id]
		if !ok || c.projectID != app.ProjectID {
			s.mu.Unlock()
			return nil, fmt.Errorf("contact not found: %s", id)
		}
	}
	if mode == ModeConversation {
		var c *contact
		var conv *conversation
		if id := req.Recipient.ContactID; id != "" {
			c = s.contactsByID[id]
			conv = s.conversationFor(app, c)
		} else {
			// Sinch creates contacts and conversations on send too
			// (Sinch's processing-modes page, CONVERSATION mode).
			c, conv = s.contactFor(app, channel, identity)
		}
		m.contactID, m.conversationID = c.id, conv.id
		if req.CorrelationID != "" {
			conv.correlationID = req.CorrelationID
		}
		if cm := bytes.TrimSpace(req.ConversationMetadata); len(cm) > 0 && string(cm) != "null" {
			conv.metadata = updateMetadata(conv.metadata, cm, req.ConversationMetadataUpdateStrategy)
		}
	}
	s.outbox[app.AppID] = append(s.outbox[app.AppID], m)
	gen := s.changed()
	s.mu.Unlock()
	s.commit(gen)

	// A reasonCode fault is consumed by an accepted send only.
	var forced string
	if f := s.takeFault(app.AppID, identity, faultReason); f != nil {
		forced = f.ReasonCode
	}
	s.spawn(func() { s.deliverOutcome(app, m, forced) })
	return m, nil
}

// updateMetadata applies REPLACE (default) or MERGE_PATCH (RFC 7386) to the
// conversation metadata.
func updateMetadata(old, patch json.RawMessage, strategy string) json.RawMessage {
	if strategy != "MERGE_PATCH" || len(old) == 0 {
		return append(json.RawMessage(nil), patch...)
	}
	var target, p any
	if json.Unmarshal(old, &target) != nil || json.Unmarshal(patch, &p) != nil {
		return append(json.RawMessage(nil), patch...)
	}
	merged, _ := json.Marshal(mergePatch(target, p))
	return merged
}

func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
		} else {
			tm[k] = mergePatch(tm[k], v)
		}
	}
	return tm
}
