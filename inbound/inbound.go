// Package inbound owns the hand-over of a customer's message to its
// conversation: store it straight into the open interaction when there is
// one, then signal-with-start the conversation workflow. The Sinch webhook
// (api) and the reconciliation of missed callbacks (app's sink for the
// ReconcilePage activity) both go through Inbox.Deliver, so both follow
// the same rules: the workflow dedupes by Sinch message id, and a message
// is acknowledged only once it is durable (in the database, in the
// workflow's history, or both). Delivery reports follow the same idea
// (Reports.Deliver): applied in the database where they arrive when the
// workflow would not act on them, signalled otherwise. It does not decode
// callbacks (sinch, api) and does not route or reply (the conversation
// workflow does).
package inbound

import (
	"context"

	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/workflows"
)

// Inbox hands contact messages to their conversations.
type Inbox struct {
	// DB, when set, lets Deliver store a message in the open interaction
	// before the signal (nil: the workflow stores every message).
	DB        *gorm.DB
	Temporal  client.Client
	TaskQueue string
	Settings  workflows.ConversationSettings
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
func (b Inbox) Deliver(ctx context.Context, accountID uint64, accountName string, m sinch.InboundMessage, sig workflows.InboundSignal) error {
	wfID := b.Settings.Identities.ConversationWorkflowID(accountID, m.ChannelIdentity.Channel, m.ChannelIdentity.Identity)
	if b.DB != nil {
		in, err := activities.StoreInOpenInteraction(ctx, b.DB, wfID, accountID, sig.InboundMessage)
		if err != nil {
			return &DeliverError{Step: "store", Err: err}
		}
		sig.StoredIn = in
	}
	if err := b.signal(ctx, accountID, accountName, m, sig); err != nil {
		return &DeliverError{Step: "signal", Err: err}
	}
	return nil
}

// signal hands an inbound message to its conversation workflow, starting
// it if needed (signal-with-start). The workflow dedupes by Sinch id, so
// handing the same message over twice stores it once. A workflow it starts
// has the account's name in its memo.
func (b Inbox) signal(ctx context.Context, accountID uint64, accountName string, m sinch.InboundMessage, sig workflows.InboundSignal) error {
	channel, identity := m.ChannelIdentity.Channel, m.ChannelIdentity.Identity
	wfID := b.Settings.Identities.ConversationWorkflowID(accountID, channel, identity)
	_, err := b.Temporal.SignalWithStartWorkflow(ctx, wfID, workflows.InboundSignalName, sig,
		client.StartWorkflowOptions{ID: wfID, TaskQueue: b.TaskQueue, Memo: workflows.AccountMemo(accountName)},
		workflows.ConversationWorkflowName, b.Settings.Input(accountID, channel, identity))
	return err
}
