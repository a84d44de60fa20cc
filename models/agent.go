package models

import (
	"time"

	"gorm.io/gorm"
)

// Agent is a contact-center operator who handles interactions.
type Agent struct {
	ID   uint64 `gorm:"primaryKey"`
	Name string `gorm:"size:255;not null"`
	// Capacity is the most interactions the agent handles at once.
	Capacity int `gorm:"not null;default:1"`
	// TokenHash is the SHA-256 of the agent's API token (shown once).
	TokenHash  string   `gorm:"size:64;not null;uniqueIndex"`
	Presence   Presence `gorm:"size:16;not null;default:away"`
	PresenceAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	DeletedAt  gorm.DeletedAt `gorm:"index"`
}

// AgentAccount records that an agent enabled an account: only then does the
// agent receive the account's interactions (seeds).
type AgentAccount struct {
	AgentID   uint64 `gorm:"primaryKey"`
	AccountID uint64 `gorm:"primaryKey;index"`
	Agent     Agent
	Account   Account
	CreatedAt time.Time
}
