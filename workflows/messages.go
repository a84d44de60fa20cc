package workflows

import (
	"time"

	"github.com/xcally-connector/connector/activities"
)

// Workflow type names are fixed here and in every stored history: never
// rename a registered workflow.
const (
	// DiagnosticsWorkflowName runs the worker-side health checks.
	DiagnosticsWorkflowName = "DiagnosticsWorkflow"
	// ConversationWorkflowName is the entity workflow of one conversation.
	ConversationWorkflowName = "ConversationWorkflow"
	// ReconcileWorkflowName recovers inbound messages Sinch gave up on.
	ReconcileWorkflowName = "ReconcileWorkflow"
	// MediaFetchWorkflowName fetches a customer's files into the media store.
	MediaFetchWorkflowName = "MediaFetchWorkflow"
)

// Signal, update and query names of ConversationWorkflow.
const (
	// RoutingNudgeSignalName tells a conversation whose interaction waits in
	// a queue that an agent may have become eligible (presence, capacity,
	// queue or account links changed): it re-runs routing at once instead of
	// at its next periodic check.
	RoutingNudgeSignalName = "routing-nudge"
	// TakeBackSignalName takes the open interaction back from an agent who
	// may no longer work on it (its permission on the account revoked, the
	// account disabled, the agent deleted): it goes back to its queue and
	// is routed again, as after a timeout (TakeBackSignal).
	TakeBackSignalName = "take-back"
	// InboundSignalName carries a contact's message (InboundSignal).
	InboundSignalName = "inbound"
	// EventSignalName carries a contact event such as composing (ContactEventSignal).
	EventSignalName = "contact-event"
	// DeliverySignalName carries a Sinch delivery report (DeliverySignal).
	DeliverySignalName = "delivery"
	// CloseUpdateName closes the open interaction (CloseRequest → InteractionView).
	CloseUpdateName = "close"
	// TransferUpdateName moves the open interaction to an agent or a queue
	// (TransferRequest → InteractionView).
	TransferUpdateName = "transfer"
	// AcceptUpdateName lets an agent take an interaction offered by a
	// ring_all queue (AcceptRequest → InteractionView).
	AcceptUpdateName = "accept"
	// ReplyUpdateName sends an agent's reply to the contact (ReplyRequest →
	// ReplyResult). It returns once the reply is stored as pending; the
	// conversation then sends it in order with its other replies.
	ReplyUpdateName = "reply"
	// StateQueryName returns a workflow's whole state: ConversationState,
	// MigrationProgress, ReconcileState, MediaFetchState or, for
	// diagnostics, the DiagnosticsResult so far.
	StateQueryName = "state"
)

// InboundSignal is one contact message as Sinch delivered it: the message
// (stored as is by the IngestInbound activity) and the conversation facts
// of its callback.
type InboundSignal struct {
	activities.InboundMessage
	SinchContactID      string
	SinchConversationID string
	ProcessingMode      string
	// StoredIn is the interaction the API already stored the message in
	// (activities.StoreInOpenInteraction); 0 when the workflow stores it.
	StoredIn uint64 `json:",omitempty"`
}

// ContactEventSignal is a contact event (composing, reaction, …).
type ContactEventSignal struct {
	EventID    string
	Kind       string
	AcceptTime time.Time
	Payload    string
}

// TakeBackSignal names the agent to take the interaction back from. An
// interaction assigned to that agent goes back to its queue; an offer to
// it is withdrawn. Anything else (closed, another agent's) is left alone,
// so a repeated or late signal does nothing.
type TakeBackSignal struct {
	AgentID       uint64
	InteractionID uint64
	// Reason is logged: permission_revoked, account_disabled, agent_deleted.
	Reason string
}

// DeliverySignal is a MESSAGE_DELIVERY report of a message this
// conversation sent.
type DeliverySignal struct {
	activities.DeliveryReport
}

// CloseRequest asks to close the open interaction.
type CloseRequest struct {
	InteractionID uint64
	Disposition   string
	// By is who asks: "admin" or "agent:<id>".
	By string
}

// TransferRequest moves the open interaction to one agent or one queue.
type TransferRequest struct {
	InteractionID uint64
	AgentID       uint64
	QueueID       uint64
	By            string
	// ReturnAfter, for a transfer to an agent, is how long that agent has
	// to accept it (POST …/accept, or a reply) before the interaction goes
	// back to its queue (the account's transfer options); 0: at once.
	ReturnAfter time.Duration `json:",omitempty"`
}

// AcceptRequest is an agent taking an offered (ring_all) interaction.
type AcceptRequest struct {
	InteractionID uint64
	AgentID       uint64
}

// InteractionView is the result of an update: the interaction afterwards.
type InteractionView struct {
	InteractionID uint64
	Status        string
	QueueID       uint64
	AgentID       uint64
	Disposition   string
}

// ReplyRequest is an agent's (or an admin's) reply: a text, or a file with
// an optional text.
type ReplyRequest struct {
	InteractionID uint64
	// AgentID is the replying agent; 0 for an admin, who may reply to any
	// open interaction.
	AgentID uint64
	Text    string
	// Attachment is a file already stored and checked by the API; the text,
	// if any, is sent as its own message right after it.
	Attachment *activities.OutboundAttachment `json:",omitempty"`
	// IdempotencyKey, when set, makes a repeated request return the reply
	// it already created instead of sending a second one.
	IdempotencyKey string
}

// ReplyResult is the stored reply.
type ReplyResult struct {
	MessageID uint64
	Status    string
	// TextMessageID is the text sent after a file, 0 when none.
	TextMessageID uint64 `json:",omitempty"`
}
