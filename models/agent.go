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

// AgentAccount is an admin's permission for an agent to work on an
// account (the row) and the agent's own choice to enable it (Enabled):
// agents enable an account to receive its interactions, and only the
// accounts an admin permitted can be enabled. The agent reaches an
// account's interactions, files, canned answers and events only while both
// hold (ReachableAccountIDs). Revoking the permission deletes the row.
type AgentAccount struct {
	AgentID   uint64 `gorm:"primaryKey"`
	AccountID uint64 `gorm:"primaryKey;index"`
	Agent     Agent
	Account   Account
	// Enabled is the agent's choice; EnabledAt when it last became true.
	Enabled   bool `gorm:"not null;default:false"`
	EnabledAt *time.Time
	// CreatedAt is when the permission was given.
	CreatedAt time.Time
}

// ReachableAccountIDs is the subquery of the accounts an agent may reach:
// permitted by an admin and enabled by the agent. Every agent-facing read
// and action is scoped by it (and routing picks agents by the same rule).
func ReachableAccountIDs(db *gorm.DB, agentID uint64) *gorm.DB {
	return db.Model(&AgentAccount{}).Select("account_id").Where("agent_id = ? AND enabled = ?", agentID, true)
}
