package models

import "time"

// Migration is the move of an account to a new Sinch app (Motion's Sinch V2
// guide: migration from Sinch's standalone WhatsApp API, retired on 30
// September 2023, to the Conversation API), run by MigrationWorkflow.
// The workflow is the source of truth; this row is its last recorded view,
// for the API and reports, written by the workflow's activities.
type Migration struct {
	ID              uint64 `gorm:"primaryKey"`
	SourceAccountID uint64 `gorm:"not null;index"`
	// TargetAccountID is set by the first step, which creates the account.
	TargetAccountID *uint64 `gorm:"index"`
	// ActiveSourceID is SourceAccountID while the migration runs and NULL
	// once it ended: its unique index allows one active migration per
	// source account.
	ActiveSourceID *uint64        `gorm:"uniqueIndex"`
	WorkflowID     string         `gorm:"size:512;not null;uniqueIndex"`
	State          MigrationState `gorm:"size:32;not null;index"`
	// Target is the new account's settings as given (JSON, secrets
	// removed); the secrets are sealed in TargetKeySecretEnc and
	// TargetWebhookSecretEnc, so no secret travels through Temporal.
	Target                 string `gorm:"type:text;not null"`
	TargetKeySecretEnc     []byte
	TargetWebhookSecretEnc []byte
	// Steps is the JSON list of steps with status and times; NextAction
	// what the admin must do now; Error the latest failure.
	Steps      string `gorm:"type:text"`
	NextAction string `gorm:"type:text"`
	Error      string `gorm:"type:text"`
	// BridgeQueueID is the queue linked to both accounts; BridgeCreated is
	// set when the migration created it (a cancel deletes it).
	BridgeQueueID *uint64
	BridgeCreated bool `gorm:"not null;default:false"`
	Reminders     int  `gorm:"not null;default:0"`
	StartedAt     time.Time
	ConfirmedAt   *time.Time
	FinishedAt    *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}
