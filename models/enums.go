package models

// AccountType is the provider flavour of a WhatsApp account.
type AccountType string

// Supported account types.
const (
	AccountTypeSinchV2 AccountType = "sinch_v2"
)

// Region is the Sinch Conversation API region of an app.
type Region string

// Sinch regions (Motion's Sinch V2 guide names EU and USA; Sinch also runs BR).
const (
	RegionEU Region = "eu"
	RegionUS Region = "us"
	RegionBR Region = "br"
)

// Channel is a Sinch channel the connector serves.
type Channel string

// Channels the connector serves on Sinch (Motion's Sinch V2 guide: "On
// SINCH we support only Instagram and Whatsapp").
const (
	ChannelWhatsApp  Channel = "WHATSAPP"
	ChannelInstagram Channel = "INSTAGRAM"
)

// ProcessingMode is the Sinch app processing mode seen on callbacks.
type ProcessingMode string

// Sinch processing modes.
const (
	ProcessingConversation ProcessingMode = "CONVERSATION"
	ProcessingDispatch     ProcessingMode = "DISPATCH"
)

// QueueStrategy chooses an agent among the eligible members of a queue.
type QueueStrategy string

// Routing strategies.
const (
	StrategyRoundRobin QueueStrategy = "round_robin"
	StrategyLeastBusy  QueueStrategy = "least_busy"
	StrategyRingAll    QueueStrategy = "ring_all"
)

// Presence is an agent's availability.
type Presence string

// Agent presences.
const (
	PresenceAvailable Presence = "available"
	PresenceAway      Presence = "away"
)

// InteractionStatus is the lifecycle state of an interaction.
type InteractionStatus string

// Interaction states: queued (waiting for an agent), assigned, closed.
const (
	InteractionQueued   InteractionStatus = "queued"
	InteractionAssigned InteractionStatus = "assigned"
	InteractionClosed   InteractionStatus = "closed"
)

// Direction says who wrote a message.
type Direction string

// Message directions; system messages are the connector's own notes shown in
// the interaction (e.g. "attachment refused by WhatsApp").
const (
	DirectionInbound  Direction = "inbound"
	DirectionOutbound Direction = "outbound"
	DirectionSystem   Direction = "system"
)

// MessageStatus is the delivery state of a message. Outbound statuses only move
// forward (see Rank), because Sinch delivery callbacks may arrive out of order.
type MessageStatus string

// Message statuses.
const (
	StatusReceived  MessageStatus = "received"  // inbound, stored
	StatusPending   MessageStatus = "pending"   // outbound, not yet accepted by Sinch
	StatusAccepted  MessageStatus = "accepted"  // Sinch answered messages:send with a message_id
	StatusQueued    MessageStatus = "queued"    // QUEUED_ON_CHANNEL
	StatusSwitching MessageStatus = "switching" // SWITCHING_CHANNEL
	StatusDelivered MessageStatus = "delivered"
	StatusRead      MessageStatus = "read"
	StatusFailed    MessageStatus = "failed"
)

// Rank orders statuses so an update is applied only when it moves forward.
// FAILED and READ are both terminal per Sinch.
func (s MessageStatus) Rank() int {
	switch s {
	case StatusPending:
		return 1
	case StatusAccepted:
		return 2
	case StatusQueued:
		return 3
	case StatusSwitching:
		return 4
	case StatusDelivered:
		return 5
	case StatusRead, StatusFailed:
		return 6
	case StatusReceived:
		return 6
	}
	return 0
}

// ErrorClass groups Sinch failure codes by what the agent or admin can do
// about them (the error lists of Motion's Sinch V2 guide: Meta policy,
// network, Sinch configuration, XCALLY code errors).
type ErrorClass string

// Failure classes of outbound messages.
const (
	// ErrorClassNetwork: transient; resent automatically, bounded.
	ErrorClassNetwork ErrorClass = "network"
	// ErrorClassPolicy: Meta refused it; the account may be blocked.
	ErrorClassPolicy ErrorClass = "policy"
	// ErrorClassConfig: the Sinch app or account settings are wrong.
	ErrorClassConfig ErrorClass = "config"
	// ErrorClassSupport: a defect or an unknown error; contact support.
	ErrorClassSupport ErrorClass = "support"
	// ErrorClassMedia: the attachment was refused.
	ErrorClassMedia ErrorClass = "media"
)

// AttachmentStatus is the storage state of an attachment.
type AttachmentStatus string

// Attachment states.
const (
	AttachmentPending AttachmentStatus = "pending"
	AttachmentStored  AttachmentStatus = "stored"
	AttachmentFailed  AttachmentStatus = "failed"
	// AttachmentDeleted: the file was removed (DELETE /api/attachments/{id});
	// its signed URLs answer 404, which Sinch reports as MEDIA_NOT_REACHABLE.
	AttachmentDeleted AttachmentStatus = "deleted"
)

// MigrationState is the state of an account migration.
type MigrationState string

// Migration states: running covers steps 1 to 4 (and a step waiting for
// the admin to fix it); the last four are final.
const (
	MigrationRunning              MigrationState = "running"
	MigrationAwaitingConfirmation MigrationState = "awaiting_confirmation"
	MigrationAwaitingFirstMessage MigrationState = "awaiting_first_message"
	MigrationCompleted            MigrationState = "completed"
	MigrationCancelled            MigrationState = "cancelled"
	MigrationExpired              MigrationState = "expired"
	MigrationFailed               MigrationState = "failed"
)

// Final reports whether the migration has ended.
func (s MigrationState) Final() bool {
	switch s {
	case MigrationCompleted, MigrationCancelled, MigrationExpired, MigrationFailed:
		return true
	}
	return false
}

// AccountStatus tells whether an account opens new interactions.
type AccountStatus string

// Account statuses.
const (
	AccountActive   AccountStatus = "active"
	AccountMigrated AccountStatus = "migrated"
	AccountDisabled AccountStatus = "disabled"
)
