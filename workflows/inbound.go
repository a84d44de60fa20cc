package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

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

// Inbox hands contact messages to their conversations; the webhook and the
// reconciliation both go through it.
type Inbox struct {
	DB        *gorm.DB
	Temporal  client.Client
	TaskQueue string
	Settings  ConversationSettings
}

// DeliverError says which step of Inbox.Deliver failed: the database
// ("store") or the engine ("signal"). Either way nothing is acknowledged.
type DeliverError struct {
	Step string
	Err  error
}

func (e *DeliverError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *DeliverError) Unwrap() error { return e.Err }

// Deliver stores the message straight into the conversation's open
// interaction when it has one (activities.StoreInOpenInteraction), so the
// workflow writes nothing but the signal to its history, then signals the
// workflow, starting it if needed. The message is durable when Deliver
// returns nil: in the database, in the workflow's history, or both.
// accountName goes to the memo of a conversation this starts.
func (b Inbox) Deliver(ctx context.Context, accountID uint64, accountName string, m sinch.InboundMessage, sig InboundSignal) error {
	wfID := b.Settings.Identities.ConversationWorkflowID(accountID, m.ChannelIdentity.Channel, m.ChannelIdentity.Identity)
	if b.DB != nil {
		in, err := activities.StoreInOpenInteraction(ctx, b.DB, wfID, accountID, sig.InboundMessage)
		if err != nil {
			return &DeliverError{Step: "store", Err: err}
		}
		sig.StoredIn = in
	}
	if err := SignalInbound(ctx, b.Temporal, b.TaskQueue, b.Settings, accountID, accountName, m, sig); err != nil {
		return &DeliverError{Step: "signal", Err: err}
	}
	return nil
}

// SignalInbound hands an inbound message to its conversation workflow,
// starting it if needed (signal-with-start). The workflow dedupes by Sinch
// id, so handing the same message over twice stores it once. A workflow
// it starts has the account's name in its memo.
func SignalInbound(ctx context.Context, c client.Client, taskQueue string, settings ConversationSettings, accountID uint64, accountName string, m sinch.InboundMessage, sig InboundSignal) error {
	channel, identity := m.ChannelIdentity.Channel, m.ChannelIdentity.Identity
	wfID := settings.Identities.ConversationWorkflowID(accountID, channel, identity)
	_, err := c.SignalWithStartWorkflow(ctx, wfID, InboundSignalName, sig,
		client.StartWorkflowOptions{ID: wfID, TaskQueue: taskQueue, Memo: AccountMemo(accountName)},
		ConversationWorkflowName, settings.Input(accountID, channel, identity))
	return err
}
