package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/xcally-connector/connector/sinch"
)

// Inbound is a message a contact sends to an app: exactly one of Text and
// MediaURL. A MediaURL that is not absolute names a file under
// /emulator/media of MediaBaseURL ("sample.jpg" or "/emulator/media/...").
type Inbound struct {
	// From is the contact's identity (an MSISDN without "+" on WhatsApp).
	From     string `json:"from"`
	Text     string `json:"text,omitempty"`
	MediaURL string `json:"mediaUrl,omitempty"`
	// Filename becomes the media message's filename_override.
	Filename string `json:"filename,omitempty"`
	// Channel is WHATSAPP (default) or INSTAGRAM.
	Channel string `json:"channel,omitempty"`
}

// SendInbound makes a contact write to an app, as POST
// /emulator/apps/{app}/inbound does, and returns the inbound message id.
// Errors wrap ErrInvalid or ErrAppNotFound.
func (s *Server) SendInbound(appID string, in Inbound) (string, error) {
	return s.sendInbound(appID, in, s.mediaBase(nil))
}

func (s *Server) handleInbound(w http.ResponseWriter, r *http.Request) {
	var in Inbound
	if err := decodeStrict(r, w, &in); err != nil {
		writeEmulatorError(w, err)
		return
	}
	id, err := s.sendInbound(r.PathValue("appId"), in, s.mediaBase(r))
	if err != nil {
		writeEmulatorError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"messageId": id})
}

func (s *Server) sendInbound(appID string, in Inbound, mediaBase string) (string, error) {
	app, ok := s.app(appID)
	if !ok {
		return "", ErrAppNotFound
	}
	from := normalizeIdentity(in.From)
	channel := strings.ToUpper(strings.TrimSpace(in.Channel))
	if channel == "" {
		channel = ChannelWhatsApp
	}
	switch {
	case from == "":
		return "", invalidf("from is required")
	case (in.Text == "") == (in.MediaURL == ""):
		return "", invalidf("exactly one of text and mediaUrl is required")
	case !app.hasChannel(channel):
		return "", invalidf("channel %s is not configured on app %s (channels: %s)", channel, app.AppID, strings.Join(app.Channels, ", "))
	}
	var cm sinch.ContactMessage
	if in.Text != "" {
		cm.TextMessage = &sinch.TextMessage{Text: in.Text}
	} else {
		u, err := resolveMediaURL(in.MediaURL, mediaBase)
		if err != nil {
			return "", err
		}
		cm.MediaMessage = &sinch.MediaMessage{URL: u, FilenameOverride: in.Filename}
	}

	now := s.now()
	msg := &conversationMessage{
		ID: newULID(now), Direction: sinch.DirectionToApp, ContactMessage: &cm,
		ChannelIdentity: channelIdentity{Channel: channel, Identity: from},
		AcceptTime:      timestampNano(now), SenderID: SenderID, ProcessingMode: app.ProcessingMode,
	}
	body := callbackBody{
		AppID: app.AppID, ProjectID: app.ProjectID,
		AcceptedTime: timestamp(now), EventTime: timestamp(now.Truncate(time.Second)),
		Message: msg,
	}
	s.mu.Lock()
	if app.ProcessingMode == ModeConversation {
		c, conv := s.contactFor(app, channel, from)
		msg.ContactID, msg.ConversationID = c.id, conv.id
		// Sinch carries the conversation's correlation_id and metadata of
		// earlier sends over to later inbound messages (Sinch's callbacks
		// and messages:send documentation).
		body.CorrelationID = conv.correlationID
		body.MessageMetadata = string(conv.metadata)
	}
	// Kept as the callback carries it, for the message listing; nothing
	// changes it afterwards.
	s.inbox[app.AppID] = append(s.inbox[app.AppID], &inMessage{msg: msg, accepted: now})
	gen := s.changed()
	s.mu.Unlock()
	s.commit(gen)
	raw, _ := json.Marshal(body)
	for _, job := range s.callbackJobs(app.AppID, raw, msg.ID, "") {
		s.spawn(func() { s.deliver(job) })
	}
	return msg.ID, nil
}

// inMessage is a contact message the emulator generated, kept for the
// message listing.
type inMessage struct {
	msg      *conversationMessage
	accepted time.Time // s.now() at generation
}

// resolveMediaURL makes an inbound media URL absolute against the origin of
// /emulator/media.
func resolveMediaURL(raw, base string) (string, error) {
	if u, err := url.Parse(raw); err == nil && u.IsAbs() {
		return raw, nil
	}
	if base == "" {
		return "", invalidf("mediaUrl %q is relative and the emulator has no MediaBaseURL", raw)
	}
	if strings.HasPrefix(raw, "/") {
		return base + raw, nil
	}
	return base + "/emulator/media/" + raw, nil
}
