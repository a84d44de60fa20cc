package models

import (
	"time"

	"gorm.io/gorm"
)

// Queue distributes the interactions of its accounts to its agents.
type Queue struct {
	ID       uint64        `gorm:"primaryKey"`
	Name     string        `gorm:"size:255;not null;uniqueIndex:ux_queues_name,where:deleted_at IS NULL"`
	Strategy QueueStrategy `gorm:"size:32;not null"`
	// TimeoutSeconds is how long an interaction waits for an eligible agent
	// before it overflows (0: wait forever).
	TimeoutSeconds  int `gorm:"not null;default:0"`
	OverflowQueueID *uint64
	OverflowQueue   *Queue
	// LastAgentID is the round-robin cursor.
	LastAgentID *uint64
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeletedAt   gorm.DeletedAt `gorm:"index"`
}

// QueueAccount links an account to a queue: the account's new interactions
// are routed through it. One account may feed several queues and one queue
// may serve several accounts (Motion's Sinch V2 guide: a queue with both the
// old and the new account keeps continuity during a migration).
type QueueAccount struct {
	QueueID   uint64 `gorm:"primaryKey"`
	AccountID uint64 `gorm:"primaryKey;index"`
	Queue     Queue
	Account   Account
	CreatedAt time.Time
}

// QueueAgent makes an agent a member of a queue.
type QueueAgent struct {
	QueueID   uint64 `gorm:"primaryKey"`
	AgentID   uint64 `gorm:"primaryKey;index"`
	Queue     Queue
	Agent     Agent
	CreatedAt time.Time
}
