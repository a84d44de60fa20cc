package workflows

import (
	"time"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/sinch"
)

// ConversationSettings are what new conversation workflows start with
// (INTERACTION_INACTIVITY_TIMEOUT, ROUTING_RECHECK_INTERVAL, REPLY_*). The
// webhook and the reconciliation hand messages over with the same ones.
type ConversationSettings struct {
	InactivityTimeout time.Duration
	RoutingRecheck    time.Duration
	// MaxResends 0 means no resends here (REPLY_MAX_RESENDS=0).
	MaxResends    int
	ResendBackoff time.Duration
	SendTimeout   time.Duration
	// MediaFetchRetry and MediaFetchAttempt configure the fetch of the
	// customer's files (MEDIA_FETCH_RETRY_FOR, MEDIA_FETCH_TIMEOUT).
	MediaFetchRetry   time.Duration
	MediaFetchAttempt time.Duration
	// Identities hashes contact identities in workflow ids and search
	// attributes when PII_HASH_IDENTITIES is on.
	Identities Identities
}

// Input is the start input of the conversation of one channel identity.
func (s ConversationSettings) Input(accountID uint64, channel, identity string) ConversationInput {
	in := ConversationInput{
		AccountID: accountID, Channel: channel, Identity: identity,
		InactivityTimeout: s.InactivityTimeout, RoutingRecheck: s.RoutingRecheck,
		MaxResends: s.MaxResends, ResendBackoff: s.ResendBackoff, SendTimeout: s.SendTimeout,
		MediaFetchRetry: s.MediaFetchRetry, MediaFetchAttempt: s.MediaFetchAttempt,
	}
	if s.Identities.HashKey != nil {
		in.ContactKey = s.Identities.Key(identity)
	}
	if in.MaxResends == 0 {
		in.MaxResends = -1 // the workflow reads 0 as its default
	}
	return in
}

// InboundSignalOf is the signal of a Sinch inbound message, from a
// callback or from Sinch's message list. rawContactMessage is the message's
// contact_message JSON as received; fallback is used when the message has
// no accept_time.
func InboundSignalOf(m sinch.InboundMessage, rawContactMessage string, fallback time.Time) InboundSignal {
	sig := InboundSignal{
		InboundMessage: activities.InboundMessage{
			MessageID: m.ID, AcceptTime: m.AcceptTime, Kind: m.ContactMessage.Kind(), Text: m.ContactMessage.Summary(),
			Payload: rawContactMessage,
		},
		SinchContactID: m.ContactID, SinchConversationID: m.ConversationID, ProcessingMode: m.ProcessingMode,
	}
	if sig.AcceptTime.IsZero() {
		sig.AcceptTime = fallback
	}
	if mm := m.ContactMessage.MediaMessage; mm != nil {
		sig.MediaURL, sig.Filename = mm.URL, mm.FilenameOverride
	} else if mc := m.ContactMessage.MediaCardMessage; mc != nil {
		sig.MediaURL = mc.URL
	}
	if m.ContactMessage.ReplyTo != nil {
		sig.ReplyTo = m.ContactMessage.ReplyTo.MessageID
	}
	return sig
}
