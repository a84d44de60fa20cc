package models

import "time"

// Interaction is one contact-center case: a span of a conversation from its
// first inbound message until it is closed, routed to a queue and an agent.
type Interaction struct {
	ID uint64 `gorm:"primaryKey"`
	// Key is set by the workflow that opens the interaction (workflow id and a
	// sequence number), so that a retried "open" activity creates one row.
	Key        string `gorm:"size:512;not null;uniqueIndex"`
	WorkflowID string `gorm:"size:512;not null;index"`
	AccountID  uint64 `gorm:"not null;index:ix_interactions_account_status"`
	Account    Account
	ContactID  uint64 `gorm:"not null;index"`
	Contact    Contact
	Channel    Channel           `gorm:"size:32;not null"`
	Status     InteractionStatus `gorm:"size:16;not null;index:ix_interactions_account_status"`
	QueueID    *uint64           `gorm:"index"`
	Queue      *Queue
	AgentID    *uint64 `gorm:"index"`
	Agent      *Agent
	// ProcessingMode is the Sinch mode of the callback that opened it.
	ProcessingMode      ProcessingMode `gorm:"size:16"`
	SinchConversationID string         `gorm:"size:128"`
	Disposition         string         `gorm:"size:255"`
	// CloseReason tells who closed it: agent, admin, inactivity, migration.
	CloseReason string `gorm:"size:32"`
	OpenedAt    time.Time
	AssignedAt  *time.Time
	// AcceptBy is set while a transfer waits for its target agent to
	// accept it (the account's returnToQueueAfterSeconds): past it, the
	// interaction goes back to its queue. Cleared by the acceptance (or a
	// reply of the target) and by any move.
	AcceptBy      *time.Time
	ClosedAt      *time.Time
	LastMessageAt *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time

	// Reporting figures, written when the event happens so that reports
	// are indexed reads (decisions §20). FirstAssignedAt is the first
	// assignment (AssignedAt is the current one); TimeToAssignMs is it
	// minus OpenedAt. FirstResponseAt is the first agent reply;
	// FirstResponseMs is it minus the first customer message. HandleMs is
	// the close minus the assignment then current (nil: closed
	// unassigned).
	FirstAssignedAt *time.Time
	TimeToAssignMs  *int64
	FirstResponseAt *time.Time
	FirstResponseMs *int64
	HandleMs        *int64
	// Transfers (by an agent or admin, to a queue or an agent) and
	// Overflows (a queue's timeout moving it on) count moves.
	Transfers int `gorm:"not null;default:0"`
	Overflows int `gorm:"not null;default:0"`
	// MessagesIn and MessagesOut count the customer's messages and the
	// agents' replies (flow replies and system messages apart).
	MessagesIn  int `gorm:"not null;default:0"`
	MessagesOut int `gorm:"not null;default:0"`
}
