package models

import "time"

// Migration is the move of an account to a new Sinch app (seeds: migration
// from the WhatsApp API to the Conversation API), run by a long workflow.
type Migration struct {
	ID            uint64 `gorm:"primaryKey"`
	FromAccountID uint64 `gorm:"not null;index"`
	FromAccount   Account
	ToAccountID   uint64 `gorm:"not null;index"`
	ToAccount     Account
	WorkflowID    string          `gorm:"size:512;not null;uniqueIndex"`
	Status        MigrationStatus `gorm:"size:16;not null"`
	// Step is the last completed step, for operators.
	Step       string `gorm:"size:64"`
	Error      string `gorm:"type:text"`
	StartedAt  time.Time
	FinishedAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}
