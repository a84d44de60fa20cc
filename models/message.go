package models

import "time"

// Message is one message of an interaction: inbound from the contact,
// outbound from an agent, or a system note.
type Message struct {
	ID            uint64 `gorm:"primaryKey"`
	AccountID     uint64 `gorm:"not null;uniqueIndex:ux_messages_provider_id"`
	Account       Account
	InteractionID uint64 `gorm:"not null;index:ix_messages_interaction_order"`
	Interaction   Interaction
	ContactID     uint64    `gorm:"not null;index"`
	Direction     Direction `gorm:"size:16;not null"`
	// Kind is the Sinch message kind: text, media, media_card, location,
	// choice_response, product_response, channel_specific, fallback, system.
	Kind string `gorm:"size:32;not null"`
	Text string `gorm:"type:text"`
	// ProviderMessageID is Sinch's message id; unique per account, which makes
	// storing a redelivered callback a no-op. Nil for outbound messages until
	// Sinch accepted them.
	ProviderMessageID *string `gorm:"size:128;uniqueIndex:ux_messages_provider_id"`
	// ClientRef is the connector's own idempotency key for an outbound send.
	ClientRef *string `gorm:"size:255;uniqueIndex"`
	AgentID   *uint64
	Status    MessageStatus `gorm:"size:16;not null"`
	// StatusRank mirrors Status.Rank() so that updates can be applied with a
	// conditional UPDATE … WHERE status_rank < ? (monotonic delivery ticks).
	StatusRank        int    `gorm:"not null;default:0"`
	ReasonCode        string `gorm:"size:64"`
	ReasonSubCode     string `gorm:"size:64"`
	ReasonChannelCode string `gorm:"size:64"`
	ReasonDescription string `gorm:"type:text"`
	// ReplyToProviderID is the Sinch id of the message this one answers.
	ReplyToProviderID string `gorm:"size:128"`
	// Payload is the raw Sinch contact_message / app message JSON.
	Payload string `gorm:"type:text"`
	// ProviderTime is Sinch's accept_time: inbound messages are ordered by it.
	ProviderTime *time.Time `gorm:"index:ix_messages_interaction_order"`
	// ErrorClass and ErrorMessage explain a failed outbound message: the
	// class (network, policy, config, support, media) and the advice shown
	// to the agent. ReasonCode holds Sinch's code.
	ErrorClass   ErrorClass `gorm:"size:16"`
	ErrorMessage string     `gorm:"type:text"`
	// SendAttempt numbers the sends of an outbound message: 1 for the first,
	// +1 for each automatic resend after a network-class failure. Delivery
	// reports carry it in their metadata, so a late report of an earlier
	// attempt is recognised as stale.
	SendAttempt int `gorm:"not null;default:0"`
	// SendStartedAt is set, and committed, just before the HTTP call of the
	// current attempt and cleared when Sinch answered. An activity retry
	// that finds it set does not know whether Sinch accepted the message and
	// reconciles with Sinch's message list before sending again.
	SendStartedAt *time.Time
	// ParentID links the parts of a text that Sinch refused with
	// MESSAGE_SPLIT_REQUIRED to the original message; Part numbers them
	// from 1.
	ParentID *uint64 `gorm:"index"`
	Part     int     `gorm:"not null;default:0"`
	// ReplyMs is, on an agent's reply, its creation minus the oldest
	// customer message it answers (the first one since the previous agent
	// reply); nil on other messages.
	ReplyMs     *int64
	SentAt      *time.Time
	DeliveredAt *time.Time
	ReadAt      *time.Time
	FailedAt    *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}
