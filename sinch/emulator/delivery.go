package emulator

import (
	"encoding/json"
	"math/rand/v2"
	"time"

	"github.com/xcally-connector/connector/internal/sleep"
	"github.com/xcally-connector/connector/sinch"
)

// deliverOutcome decides how an accepted message ends (forced reason code,
// media check, else delivered and read) and generates its MESSAGE_DELIVERY
// callbacks at the configured offsets. The callbacks of one message are
// posted to each webhook one at a time, in generation order, by a companion
// goroutine per webhook, so a webhook that keeps failing delays only this
// message's callbacks to it.
func (s *Server) deliverOutcome(app App, m *outMessage, forcedReason string) {
	var reason *sinch.Reason
	switch {
	case forcedReason != "":
		reason = reasonFor(forcedReason, m.channel)
	case m.message.MediaMessage != nil:
		kind, code := s.checkMedia(s.ctx, m.message.MediaMessage.URL, m.message.MediaMessage.FilenameOverride)
		if s.ctx.Err() != nil {
			return
		}
		if code != "" {
			reason = reasonFor(code, m.channel)
		} else {
			s.mu.Lock()
			m.mediaKind = kind
			s.mu.Unlock()
		}
	}
	statuses := []string{StatusQueuedOnChannel, StatusDelivered, StatusRead}
	if reason != nil {
		statuses = []string{StatusQueuedOnChannel, StatusFailed}
	}
	if s.opts.OutOfOrder {
		shuffleNotIdentity(statuses)
	}

	poster := newOrderedPoster(s, len(statuses))
	defer poster.close()
	for i, status := range statuses {
		if !sleep.For(s.ctx, time.Until(m.acceptedMono.Add(s.opts.DeliveryDelays[i]))) {
			return
		}
		var r *sinch.Reason
		if status == StatusFailed {
			r = reason
		}
		s.mu.Lock()
		m.status = status
		if r != nil {
			m.reason = r.Code
		}
		s.changed()
		s.mu.Unlock()
		s.commitLater()
		for _, job := range s.deliveryJobs(app, m, status, r) {
			poster.post(job)
		}
	}
}

// deliveryJobs builds a MESSAGE_DELIVERY callback for each webhook that
// receives it. event_time is the channel's clock, which WhatsApp reports in
// whole seconds.
func (s *Server) deliveryJobs(app App, m *outMessage, status string, reason *sinch.Reason) []callbackJob {
	now := s.now()
	body, _ := json.Marshal(callbackBody{
		AppID: app.AppID, ProjectID: app.ProjectID,
		AcceptedTime: timestamp(now), EventTime: timestamp(now.Truncate(time.Second)),
		CorrelationID: m.correlationID,
		MessageDeliveryReport: &deliveryReport{
			MessageID: m.id, ConversationID: m.conversationID, Status: status,
			ChannelIdentity: channelIdentity{Channel: m.channel, Identity: m.identity},
			ContactID:       m.contactID, Reason: reason, Metadata: m.metadata,
			ProcessingMode: m.processingMode,
		},
	})
	return s.callbackJobs(app.AppID, body, m.id, status)
}

// shuffleNotIdentity permutes s randomly, never leaving it in its original
// order (when it has two or more elements).
func shuffleNotIdentity(s []string) {
	if len(s) < 2 {
		return
	}
	orig := append([]string(nil), s...)
	for {
		rand.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		for i := range s {
			if s[i] != orig[i] {
				return
			}
		}
	}
}
