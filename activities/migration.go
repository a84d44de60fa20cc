package activities

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// Application error types of the account migration's steps.
const (
	// ErrTypeMigrationCredentials: Sinch refused the new account's key
	// (a permanent token error): the admin corrects it and retries the step.
	ErrTypeMigrationCredentials = "MigrationCredentials"
	// ErrTypeMigrationConflict: a step can never succeed as asked (the
	// target key is taken, the source account is gone): the migration fails.
	ErrTypeMigrationConflict = "MigrationConflict"
	// ErrTypeMigrationNoMessageYet: the new account has no inbound message
	// yet; retried by the poll's retry policy until its timeout.
	ErrTypeMigrationNoMessageYet = "MigrationNoMessageYet"
)

// MigrationReminderKind is the AccountEvent kind of a reminder that a
// migration still waits for the account manager's confirmation.
const MigrationReminderKind = "MIGRATION_REMINDER"

// Names of the migration's steps, in order (MigrationStep.Name).
const (
	StepCreateAccount     = "create_account"
	StepVerifyCredentials = "verify_credentials"
	// StepSetUpWebhook sets up the new app's webhook (migrations started
	// since the connector sets up the Sinch side itself).
	StepSetUpWebhook      = "set_up_webhook"
	StepCopyAccess        = "copy_access"
	StepBridgeQueue       = "bridge_queue"
	StepAwaitConfirmation = "await_confirmation"
	StepAwaitFirstMessage = "await_first_message"
	StepMarkMigrated      = "mark_source_migrated"
)

// StepStatus is the status of one migration step.
type StepStatus string

// Step statuses: compensated steps were undone by a cancel, an expiry or a
// failure; skipped steps never ran (or were interrupted while waiting).
const (
	StepPending     StepStatus = "pending"
	StepRunning     StepStatus = "running"
	StepDone        StepStatus = "done"
	StepFailed      StepStatus = "failed"
	StepSkipped     StepStatus = "skipped"
	StepCompensated StepStatus = "compensated"
)

// MigrationStep is one step of a migration as recorded in Migration.Steps
// (JSON) and shown by the API.
type MigrationStep struct {
	Name       string     `json:"name"`
	Title      string     `json:"title"`
	Status     StepStatus `json:"status"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Error      string     `json:"error,omitempty"`
	// Attempts counts the runs of the step (a retried credentials check
	// runs more than once).
	Attempts int `json:"attempts"`
	// Detail says what a done step did when it is worth showing (the
	// webhook step's changes on the Sinch side).
	Detail string `json:"detail,omitempty"`
}

// NewMigrationSteps is the list of steps of a migration, all pending.
func NewMigrationSteps() []MigrationStep {
	return migrationSteps(true)
}

// MigrationStepsV1 is the list of steps of a migration started before the
// connector set up the new app's webhook itself (workflow version 1).
func MigrationStepsV1() []MigrationStep {
	return migrationSteps(false)
}

func migrationSteps(withWebhook bool) []MigrationStep {
	titles := []struct{ name, title string }{
		{StepCreateAccount, "create the new account with the source's settings"},
		{StepVerifyCredentials, "verify the new Sinch credentials (OAuth2 token)"},
		{StepSetUpWebhook, "set up the new Sinch app's webhook (Receive URL, every trigger, the secret)"},
		{StepCopyAccess, "link the new account to the source's queues and agents"},
		{StepBridgeQueue, "create or reuse a queue with both accounts"},
		{StepAwaitConfirmation, "wait for the Sinch account manager's confirmation"},
		{StepAwaitFirstMessage, "wait for the first customer message on the new account"},
		{StepMarkMigrated, "mark the source account migrated"},
	}
	steps := make([]MigrationStep, 0, len(titles))
	for _, t := range titles {
		if t.name == StepSetUpWebhook && !withWebhook {
			continue
		}
		steps = append(steps, MigrationStep{Name: t.name, Title: t.title, Status: StepPending})
	}
	return steps
}

// MigrationTarget is the new account as the admin gave it (normalized, the
// secrets removed: they are sealed on the migration row). Settings left
// nil are copied from the source account.
type MigrationTarget struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	PublicURL string `json:"publicUrl"`
	Type      string `json:"type"`
	Region    string `json:"region"`
	BaseURL   string `json:"baseUrl,omitempty"`
	AuthURL   string `json:"authUrl,omitempty"`
	ProjectID string `json:"projectId"`
	AppID     string `json:"appId"`
	KeyID     string `json:"keyId"`
	Phone     string `json:"phone"`
	// Optional settings: nil keeps the source's.
	List                 *string  `json:"list,omitempty"`
	Description          *string  `json:"description,omitempty"`
	NotificationTemplate *string  `json:"notificationTemplate,omitempty"`
	Channels             []string `json:"channels,omitempty"`
	Debug                *bool    `json:"debug,omitempty"`
	SendRatePerSecond    *float64 `json:"sendRatePerSecond,omitempty"`
	// AllowUnsignedWebhooks: the new account takes unsigned callbacks
	// (no webhook secret), as the admin chose explicitly.
	AllowUnsignedWebhooks bool `json:"allowUnsignedWebhooks,omitempty"`
}

// ReceiveURL is the webhook target of an account on its public URL.
func ReceiveURL(publicURL string, accountID uint64) string {
	return publicURL + "/api/whatsapp/accounts/" + strconv.FormatUint(accountID, 10) + "/notify"
}

// MigrationInput names the migration a step works on.
type MigrationInput struct {
	MigrationID uint64
}

// MigrationAccountInput names a migration and one of its accounts.
type MigrationAccountInput struct {
	MigrationID uint64
	AccountID   uint64
}

// MigrationPairInput names a migration, its source and its target.
type MigrationPairInput struct {
	MigrationID     uint64
	SourceAccountID uint64
	TargetAccountID uint64
}

// lockMigration reads a migration row for update (Postgres row lock; a
// SQLite transaction holds the database's write lock already).
func lockMigration(tx *gorm.DB, id uint64) (models.Migration, error) {
	var mig models.Migration
	if err := forUpdate(tx).Take(&mig, id).Error; err != nil {
		if isNotFound(err) {
			return mig, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no migration %d", id), ErrTypeBadInput, err)
		}
		return mig, err
	}
	return mig, nil
}

// migrationError wraps a step's error with what it was doing; application
// errors (already classified) keep their type, and a unique-key violation
// (a permanent DB error) becomes a non-retryable ErrTypeMigrationConflict.
func migrationError(what string, id uint64, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return err
	}
	if models.IsDuplicate(err) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s %d: %v", what, id, err), ErrTypeMigrationConflict, err)
	}
	return fmt.Errorf("%s %d: %w", what, id, err)
}
