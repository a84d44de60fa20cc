package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
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
}

// NewMigrationSteps is the list of steps of a migration, all pending.
func NewMigrationSteps() []MigrationStep {
	titles := []struct{ name, title string }{
		{StepCreateAccount, "create the new account with the source's settings"},
		{StepVerifyCredentials, "verify the new Sinch credentials (OAuth2 token)"},
		{StepCopyAccess, "link the new account to the source's queues and agents"},
		{StepBridgeQueue, "create or reuse a queue with both accounts"},
		{StepAwaitConfirmation, "wait for the Sinch account manager's confirmation"},
		{StepAwaitFirstMessage, "wait for the first customer message on the new account"},
		{StepMarkMigrated, "mark the source account migrated"},
	}
	steps := make([]MigrationStep, len(titles))
	for i, t := range titles {
		steps[i] = MigrationStep{Name: t.name, Title: t.title, Status: StepPending}
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

// MigrationTargetResult is the new account: what the admin needs to tell
// Sinch (app, project, number, webhook) and nothing secret.
type MigrationTargetResult struct {
	AccountID  uint64
	Name       string
	AppID      string
	ProjectID  string
	Phone      string
	ReceiveURL string
	// SourceName is the name of the account being migrated.
	SourceName string
	// Dispositions and CannedAnswers count the rows the new account has.
	Dispositions  int
	CannedAnswers int
}

// CreateMigrationTarget creates the migration's new account (step 1): the
// target's fields with every setting of the source account (list,
// notification template, transfer options, routing parameters, action
// flow, debug, send rate, dispositions, canned answers), and its secrets
// opened from the migration row and sealed again for the new row. The row
// and the migration's TargetAccountID are written in one transaction, so a
// repeat returns the account already created (and re-copies missing
// dispositions and canned answers). A taken key is a non-retryable
// ErrTypeMigrationConflict.
func (a *Activities) CreateMigrationTarget(ctx context.Context, in MigrationInput) (MigrationTargetResult, error) {
	var res MigrationTargetResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		mig, err := lockMigration(tx, in.MigrationID)
		if err != nil {
			return err
		}
		var src models.Account
		if err := tx.Take(&src, mig.SourceAccountID).Error; err != nil {
			if isNotFound(err) {
				return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the source account %d no longer exists", mig.SourceAccountID), ErrTypeMigrationConflict, err)
			}
			return err
		}
		var acc models.Account
		if mig.TargetAccountID != nil {
			if err := tx.Take(&acc, *mig.TargetAccountID).Error; err != nil {
				if isNotFound(err) {
					return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the new account %d was deleted", *mig.TargetAccountID), ErrTypeMigrationConflict, err)
				}
				return err
			}
		} else {
			if acc, err = a.createTarget(tx, mig, src); err != nil {
				return err
			}
		}
		if res.Dispositions, res.CannedAnswers, err = copyAccountRows(tx, src.ID, acc.ID); err != nil {
			return err
		}
		res.AccountID, res.Name, res.AppID, res.ProjectID, res.Phone = acc.ID, acc.Name, acc.AppID, acc.ProjectID, acc.Phone
		res.ReceiveURL, res.SourceName = ReceiveURL(acc.PublicURL, acc.ID), src.Name
		return nil
	})
	if err != nil {
		return MigrationTargetResult{}, migrationError("create the new account of migration", in.MigrationID, err)
	}
	a.log(ctx, res.AccountID).Info("migration target ready", "migration_id", in.MigrationID)
	return res, nil
}

// createTarget inserts the new account of mig with src's settings.
func (a *Activities) createTarget(tx *gorm.DB, mig models.Migration, src models.Account) (models.Account, error) {
	var t MigrationTarget
	if err := json.Unmarshal([]byte(mig.Target), &t); err != nil {
		return models.Account{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("migration %d: unreadable target: %v", mig.ID, err), ErrTypeBadInput, err)
	}
	if a.Secrets == nil {
		return models.Account{}, temporal.NewNonRetryableApplicationError("the worker has no secret box: cannot seal the new account's secrets", ErrTypeBadInput, nil)
	}
	acc := models.Account{
		Name: t.Name, Key: t.Key, PublicURL: t.PublicURL, Type: models.AccountType(t.Type), Region: models.Region(t.Region),
		BaseURL: t.BaseURL, AuthURL: t.AuthURL, ProjectID: t.ProjectID, AppID: t.AppID, KeyID: t.KeyID, Phone: t.Phone,
		List: src.List, Description: src.Description, NotificationTemplate: src.NotificationTemplate,
		Channels: src.Channels, Debug: src.Debug, SendRatePerSecond: src.SendRatePerSecond,
		TransferOptions: src.TransferOptions, ActionFlow: src.ActionFlow, RoutingStrategy: src.RoutingStrategy,
		AgentNotifyTimeoutSeconds: src.AgentNotifyTimeoutSeconds, InactivityTimeoutSeconds: src.InactivityTimeoutSeconds,
		Status: models.AccountActive, AllowUnsignedWebhooks: t.AllowUnsignedWebhooks,
	}
	if t.List != nil {
		acc.List = *t.List
	}
	if t.Description != nil {
		acc.Description = *t.Description
	}
	if t.NotificationTemplate != nil {
		acc.NotificationTemplate = *t.NotificationTemplate
	}
	if t.Channels != nil {
		acc.Channels = strings.Join(t.Channels, ",")
	}
	if t.Debug != nil {
		acc.Debug = *t.Debug
	}
	if t.SendRatePerSecond != nil {
		acc.SendRatePerSecond = *t.SendRatePerSecond
	}
	if err := tx.Create(&acc).Error; err != nil {
		if models.IsDuplicate(err) {
			return acc, temporal.NewNonRetryableApplicationError(fmt.Sprintf("target.key: an account with key %q already exists", t.Key), ErrTypeMigrationConflict, err)
		}
		return acc, err
	}
	cols := map[string]any{}
	for _, f := range []struct {
		col, field string
		sealed     []byte
	}{{"key_secret_enc", "key_secret", mig.TargetKeySecretEnc}, {"webhook_secret_enc", "webhook_secret", mig.TargetWebhookSecretEnc}} {
		plain, err := a.Secrets.Open(f.sealed, secretbox.MigrationAAD(mig.ID, f.field))
		if err != nil {
			return acc, temporal.NewNonRetryableApplicationError(fmt.Sprintf("migration %d: open the target's %s: %v", mig.ID, f.field, err), ErrTypeBadInput, err)
		}
		if cols[f.col], err = a.Secrets.Seal(plain, secretbox.AccountAAD(acc.ID, f.field)); err != nil {
			return acc, fmt.Errorf("seal %s of account %d: %w", f.field, acc.ID, err)
		}
	}
	if err := tx.Model(&models.Account{ID: acc.ID}).Updates(cols).Error; err != nil {
		return acc, err
	}
	if err := tx.Model(&models.Migration{}).Where("id = ?", mig.ID).Update("target_account_id", acc.ID).Error; err != nil {
		return acc, err
	}
	return acc, tx.Take(&acc, acc.ID).Error
}

// copyAccountRows copies the source's dispositions and canned answers to
// the target (insert or ignore) and counts the target's rows.
func copyAccountRows(tx *gorm.DB, sourceID, targetID uint64) (dispositions, answers int, err error) {
	var ds []models.Disposition
	if err := tx.Where("account_id = ?", sourceID).Order("id").Find(&ds).Error; err != nil {
		return 0, 0, err
	}
	for _, d := range ds {
		row := models.Disposition{AccountID: targetID, Name: d.Name}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
			return 0, 0, fmt.Errorf("copy disposition %q: %w", d.Name, err)
		}
	}
	var cs []models.CannedAnswer
	if err := tx.Where("account_id = ?", sourceID).Order("id").Find(&cs).Error; err != nil {
		return 0, 0, err
	}
	for _, c := range cs {
		row := models.CannedAnswer{AccountID: targetID, Key: c.Key, Title: c.Title, Text: c.Text, Position: c.Position}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
			return 0, 0, fmt.Errorf("copy canned answer %q: %w", c.Key, err)
		}
	}
	var nd, nc int64
	if err := tx.Model(&models.Disposition{}).Where("account_id = ?", targetID).Count(&nd).Error; err != nil {
		return 0, 0, err
	}
	if err := tx.Model(&models.CannedAnswer{}).Where("account_id = ?", targetID).Count(&nc).Error; err != nil {
		return 0, 0, err
	}
	return int(nd), int(nc), nil
}

// MigrationAccountInput names a migration and one of its accounts.
type MigrationAccountInput struct {
	MigrationID uint64
	AccountID   uint64
}

// VerifyCredentialsResult is where the new key obtained a token.
type VerifyCredentialsResult struct {
	AuthURL string
	KeyID   string
}

// VerifyMigrationCredentials checks the new account's Sinch key by
// fetching an OAuth2 token with it (step 2). A refusal (401, or any
// permanent token error) is a non-retryable ErrTypeMigrationCredentials
// whose message says how to correct the key; network trouble and 5xx are
// retried by the policy.
func (a *Activities) VerifyMigrationCredentials(ctx context.Context, in MigrationAccountInput) (VerifyCredentialsResult, error) {
	var acc models.Account
	if err := a.DB.WithContext(ctx).Take(&acc, in.AccountID).Error; err != nil {
		if isNotFound(err) {
			return VerifyCredentialsResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the new account %d was deleted", in.AccountID), ErrTypeMigrationConflict, err)
		}
		return VerifyCredentialsResult{}, err
	}
	if a.Tokens == nil || a.Secrets == nil {
		return VerifyCredentialsResult{}, temporal.NewNonRetryableApplicationError("the worker has no Sinch token cache or secret box", ErrTypeBadInput, nil)
	}
	if err := a.checkSinchHosts(acc); err != nil {
		return VerifyCredentialsResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeMigrationCredentials, err)
	}
	secret, err := a.Secrets.Open(acc.KeySecretEnc, secretbox.AccountAAD(acc.ID, "key_secret"))
	if err != nil {
		return VerifyCredentialsResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the key secret of account %d cannot be decrypted: %v", acc.ID, err), ErrTypeMigrationCredentials, err)
	}
	authURL := sinch.AuthURLOf(acc.AuthURL)
	res := VerifyCredentialsResult{AuthURL: authURL, KeyID: acc.KeyID}
	if _, err := a.Tokens.Token(ctx, authURL, acc.KeyID, secret); err != nil {
		if apiErr, ok := sinch.AsAPIError(err); ok && !apiErr.Retryable() {
			return res, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("Sinch refused the key of account %d at %s: %v", acc.ID, authURL, apiErr), ErrTypeMigrationCredentials, err)
		}
		return res, fmt.Errorf("fetch a Sinch token for account %d at %s: %w", acc.ID, authURL, err)
	}
	a.log(ctx, acc.ID).Info("migration credentials verified", "migration_id", in.MigrationID, "key_id", acc.KeyID)
	return res, nil
}

// MigrationPairInput names a migration, its source and its target.
type MigrationPairInput struct {
	MigrationID     uint64
	SourceAccountID uint64
	TargetAccountID uint64
}

// CopyAccessResult lists the queues and agents the target now shares with
// the source, and how many links this run added.
type CopyAccessResult struct {
	QueueIDs    []uint64
	AgentIDs    []uint64
	QueuesAdded int
	AgentsAdded int
}

// CopyMigrationAccess links the target to every live queue of the source
// (QueueAccount) and copies every live agent's permission on the source to
// the target, enabled where the agent enabled the source (AgentAccount),
// step 3. Insert or ignore: a repeat adds nothing.
func (a *Activities) CopyMigrationAccess(ctx context.Context, in MigrationPairInput) (CopyAccessResult, error) {
	var res CopyAccessResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if res.QueueIDs, err = sourceQueues(tx, in.SourceAccountID); err != nil {
			return err
		}
		links, err := sourceAgentLinks(tx, in.SourceAccountID)
		if err != nil {
			return err
		}
		for _, l := range links {
			res.AgentIDs = append(res.AgentIDs, l.AgentID)
		}
		for _, q := range res.QueueIDs {
			r := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.QueueAccount{QueueID: q, AccountID: in.TargetAccountID})
			if r.Error != nil {
				return fmt.Errorf("link queue %d: %w", q, r.Error)
			}
			res.QueuesAdded += int(r.RowsAffected)
		}
		for _, link := range links {
			ag := link.AgentID
			r := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.AgentAccount{
				AgentID: ag, AccountID: in.TargetAccountID, Enabled: link.Enabled, EnabledAt: link.EnabledAt,
			})
			if r.Error != nil {
				return fmt.Errorf("enable account for agent %d: %w", ag, r.Error)
			}
			res.AgentsAdded += int(r.RowsAffected)
		}
		return nil
	})
	if err != nil {
		return CopyAccessResult{}, migrationError("copy queues and agents of migration", in.MigrationID, err)
	}
	return res, nil
}

// sourceQueues are the ids of the live queues an account is linked to.
func sourceQueues(tx *gorm.DB, accountID uint64) ([]uint64, error) {
	var ids []uint64
	err := tx.Table("queue_accounts").Select("queue_accounts.queue_id").
		Joins("JOIN queues ON queues.id = queue_accounts.queue_id AND queues.deleted_at IS NULL").
		Where("queue_accounts.account_id = ?", accountID).Order("queue_accounts.queue_id").Pluck("queue_accounts.queue_id", &ids).Error
	return ids, err
}

// sourceAgentLinks are the permissions of the live agents on an account.
func sourceAgentLinks(tx *gorm.DB, accountID uint64) ([]models.AgentAccount, error) {
	var links []models.AgentAccount
	err := tx.Model(&models.AgentAccount{}).Omit(clause.Associations).
		Joins("JOIN agents ON agents.id = agent_accounts.agent_id AND agents.deleted_at IS NULL").
		Where("agent_accounts.account_id = ?", accountID).Order("agent_accounts.agent_id").
		Select("agent_accounts.agent_id", "agent_accounts.account_id", "agent_accounts.enabled", "agent_accounts.enabled_at").
		Find(&links).Error
	return links, err
}

// sourceAgents are the ids of the live agents who enabled an account.
func sourceAgents(tx *gorm.DB, accountID uint64) ([]uint64, error) {
	var ids []uint64
	err := tx.Table("agent_accounts").Select("agent_accounts.agent_id").
		Joins("JOIN agents ON agents.id = agent_accounts.agent_id AND agents.deleted_at IS NULL").
		Where("agent_accounts.account_id = ? AND agent_accounts.enabled = ?", accountID, true).Order("agent_accounts.agent_id").Pluck("agent_accounts.agent_id", &ids).Error
	return ids, err
}

// BridgeResult is the queue linked to both accounts.
type BridgeResult struct {
	QueueID uint64
	Name    string
	// Created is set when the migration created the queue (a cancel
	// deletes it); a reused queue is left alone.
	Created bool
}

// maxQueueNameLen is the size of queues.name.
const maxQueueNameLen = 255

// EnsureMigrationBridge gives the migration a queue linked to both
// accounts (step 4): the one it recorded, else the lowest-id live queue
// already linked to both, else a new round_robin queue "Migration bridge:
// <source> → <target>" linked to both whose members are the agents who
// enabled the source. The queue is recorded on the migration row in the
// same transaction, so a repeat returns it.
func (a *Activities) EnsureMigrationBridge(ctx context.Context, in MigrationPairInput) (BridgeResult, error) {
	var res BridgeResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		mig, err := lockMigration(tx, in.MigrationID)
		if err != nil {
			return err
		}
		if mig.BridgeQueueID != nil {
			var q models.Queue
			if err := tx.Take(&q, *mig.BridgeQueueID).Error; err == nil {
				res = BridgeResult{QueueID: q.ID, Name: q.Name, Created: mig.BridgeCreated}
				return nil
			} else if !isNotFound(err) {
				return err
			}
			// The recorded queue was deleted meanwhile: choose again.
		}
		var shared []models.Queue
		if err := tx.Model(&models.Queue{}).
			Joins("JOIN queue_accounts s ON s.queue_id = queues.id AND s.account_id = ?", in.SourceAccountID).
			Joins("JOIN queue_accounts t ON t.queue_id = queues.id AND t.account_id = ?", in.TargetAccountID).
			Order("queues.id").Limit(1).Find(&shared).Error; err != nil {
			return err
		}
		if len(shared) == 1 {
			res = BridgeResult{QueueID: shared[0].ID, Name: shared[0].Name}
		} else if res, err = createBridge(tx, mig.ID, in); err != nil {
			return err
		}
		return tx.Model(&models.Migration{}).Where("id = ?", mig.ID).
			Updates(map[string]any{"bridge_queue_id": res.QueueID, "bridge_created": res.Created}).Error
	})
	if err != nil {
		return BridgeResult{}, migrationError("set up the bridge queue of migration", in.MigrationID, err)
	}
	return res, nil
}

// createBridge creates the bridge queue of a source without queues.
func createBridge(tx *gorm.DB, migrationID uint64, in MigrationPairInput) (BridgeResult, error) {
	var src, dst models.Account
	if err := tx.Unscoped().Take(&src, in.SourceAccountID).Error; err != nil {
		return BridgeResult{}, err
	}
	if err := tx.Unscoped().Take(&dst, in.TargetAccountID).Error; err != nil {
		return BridgeResult{}, err
	}
	name := truncateUTF8(fmt.Sprintf("Migration bridge: %s → %s", src.Name, dst.Name), maxQueueNameLen)
	var taken int64
	if err := tx.Model(&models.Queue{}).Where("name = ?", name).Count(&taken).Error; err != nil {
		return BridgeResult{}, err
	}
	if taken > 0 {
		suffix := fmt.Sprintf(" (migration %d)", migrationID)
		name = truncateUTF8(name, maxQueueNameLen-utf8.RuneCountInString(suffix)) + suffix
	}
	q := models.Queue{Name: name, Strategy: models.StrategyRoundRobin}
	if err := tx.Create(&q).Error; err != nil {
		return BridgeResult{}, fmt.Errorf("create bridge queue %q: %w", name, err)
	}
	for _, acc := range []uint64{in.SourceAccountID, in.TargetAccountID} {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.QueueAccount{QueueID: q.ID, AccountID: acc}).Error; err != nil {
			return BridgeResult{}, err
		}
	}
	agents, err := sourceAgents(tx, in.SourceAccountID)
	if err != nil {
		return BridgeResult{}, err
	}
	for _, ag := range agents {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.QueueAgent{QueueID: q.ID, AgentID: ag}).Error; err != nil {
			return BridgeResult{}, err
		}
	}
	return BridgeResult{QueueID: q.ID, Name: q.Name, Created: true}, nil
}

// RemindMigrationInput is reminder number Reminder of a migration waiting
// for confirmation.
type RemindMigrationInput struct {
	MigrationID     uint64
	SourceAccountID uint64
	Reminder        int
	NextAction      string
	// Deadline is when the wait expires.
	Deadline time.Time
}

// RemindMigration records a reminder (step 5): the migration row's
// Reminders count and next action, and a MIGRATION_REMINDER event on the
// source account. It is written once per reminder number, so a repeat adds
// no second event.
func (a *Activities) RemindMigration(ctx context.Context, in RemindMigrationInput) error {
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		r := tx.Model(&models.Migration{}).Where("id = ? AND reminders < ?", in.MigrationID, in.Reminder).
			Updates(map[string]any{"reminders": in.Reminder, "next_action": in.NextAction})
		if r.Error != nil || r.RowsAffected == 0 {
			return r.Error
		}
		payload, _ := json.Marshal(map[string]any{
			"migrationId": in.MigrationID, "reminder": in.Reminder, "nextAction": in.NextAction, "deadline": in.Deadline.UTC(),
		})
		return tx.Create(&models.AccountEvent{
			AccountID: in.SourceAccountID, Kind: MigrationReminderKind, Type: string(models.MigrationAwaitingConfirmation),
			Payload: string(payload), OccurredAt: time.Now().UTC(),
		}).Error
	})
	if err != nil {
		return migrationError("record a reminder of migration", in.MigrationID, err)
	}
	return nil
}

// FirstInboundResult is the first customer message on the new account.
type FirstInboundResult struct {
	MessageID  uint64
	ReceivedAt time.Time
}

// AwaitFirstInbound looks for an inbound message on the new account
// created since the migration started (step 6). None yet is the retryable
// ErrTypeMigrationNoMessageYet: the workflow polls through the activity's
// retry policy (retries write no history) until its ScheduleToClose.
func (a *Activities) AwaitFirstInbound(ctx context.Context, in MigrationAccountInput) (FirstInboundResult, error) {
	db := a.DB.WithContext(ctx)
	var mig models.Migration
	if err := db.Select("id", "started_at").Take(&mig, in.MigrationID).Error; err != nil {
		if isNotFound(err) {
			return FirstInboundResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no migration %d", in.MigrationID), ErrTypeBadInput, err)
		}
		return FirstInboundResult{}, err
	}
	var msgs []models.Message
	if err := db.Select("id", "created_at").
		Where("account_id = ? AND direction = ? AND created_at >= ?", in.AccountID, models.DirectionInbound, mig.StartedAt).
		Order("id").Limit(1).Find(&msgs).Error; err != nil {
		return FirstInboundResult{}, err
	}
	if len(msgs) == 0 {
		return FirstInboundResult{}, temporal.NewApplicationError(
			fmt.Sprintf("no customer message on account %d since %s yet", in.AccountID, mig.StartedAt.UTC().Format(time.RFC3339)), ErrTypeMigrationNoMessageYet)
	}
	return FirstInboundResult{MessageID: msgs[0].ID, ReceivedAt: msgs[0].CreatedAt}, nil
}

// MarkMigratedResult is when the source was marked migrated.
type MarkMigratedResult struct {
	MigratedAt time.Time
}

// MarkSourceMigrated marks the source account migrated to the target
// (step 7): it opens no new interaction from then on, its open ones finish
// where they are, and reports keep both accounts. A repeat keeps the
// first MigratedAt.
func (a *Activities) MarkSourceMigrated(ctx context.Context, in MigrationPairInput) (MarkMigratedResult, error) {
	var res MarkMigratedResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var dst models.Account
		if err := tx.Unscoped().Take(&dst, in.TargetAccountID).Error; err != nil {
			return err
		}
		reason := fmt.Sprintf("migrated to account %d (%s) by migration %d", dst.ID, dst.Name, in.MigrationID)
		if err := tx.Unscoped().Model(&models.Account{}).Where("id = ? AND (status <> ? OR migrated_at IS NULL)", in.SourceAccountID, models.AccountMigrated).
			Updates(map[string]any{
				"status": models.AccountMigrated, "status_reason": reason,
				"migrated_to_account_id": in.TargetAccountID, "migrated_at": time.Now().UTC(),
			}).Error; err != nil {
			return err
		}
		var src models.Account
		if err := tx.Unscoped().Select("id", "migrated_at").Take(&src, in.SourceAccountID).Error; err != nil {
			return err
		}
		if src.MigratedAt != nil {
			res.MigratedAt = *src.MigratedAt
		}
		return nil
	})
	if err != nil {
		return MarkMigratedResult{}, migrationError("mark the source account of migration", in.MigrationID, err)
	}
	a.log(ctx, 0).Info("account migrated", "migration_id", in.MigrationID, "source_account_id", in.SourceAccountID, "target_account_id", in.TargetAccountID)
	return res, nil
}

// CompensateMigrationInput undoes what a migration did; Reason becomes the
// disabled target's StatusReason.
type CompensateMigrationInput struct {
	MigrationID uint64
	Reason      string
}

// CompensateMigrationResult says what was undone.
type CompensateMigrationResult struct {
	// TargetAccountID is the disabled account, 0 when none was created.
	TargetAccountID uint64
	// BridgeQueueID is the deleted bridge queue, 0 when the migration
	// created none.
	BridgeQueueID uint64
}

// CompensateMigration undoes a cancelled, expired or failed migration: the
// new account is disabled with Reason and loses its agent and queue links,
// and a bridge queue the migration created is soft-deleted with its links.
// The source account is not touched. Everything is read from the migration
// row (what the steps recorded), so it works whatever step was
// interrupted, and a repeat changes nothing more.
func (a *Activities) CompensateMigration(ctx context.Context, in CompensateMigrationInput) (CompensateMigrationResult, error) {
	var res CompensateMigrationResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		mig, err := lockMigration(tx, in.MigrationID)
		if err != nil {
			return err
		}
		if mig.TargetAccountID != nil {
			id := *mig.TargetAccountID
			res.TargetAccountID = id
			if err := tx.Unscoped().Model(&models.Account{}).Where("id = ?", id).
				Updates(map[string]any{"status": models.AccountDisabled, "status_reason": in.Reason}).Error; err != nil {
				return err
			}
			if err := tx.Where("account_id = ?", id).Delete(&models.AgentAccount{}).Error; err != nil {
				return err
			}
			if err := tx.Where("account_id = ?", id).Delete(&models.QueueAccount{}).Error; err != nil {
				return err
			}
		}
		if mig.BridgeCreated && mig.BridgeQueueID != nil {
			q := *mig.BridgeQueueID
			res.BridgeQueueID = q
			if err := tx.Delete(&models.Queue{}, q).Error; err != nil {
				return err
			}
			if err := tx.Where("queue_id = ?", q).Delete(&models.QueueAccount{}).Error; err != nil {
				return err
			}
			if err := tx.Where("queue_id = ?", q).Delete(&models.QueueAgent{}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return CompensateMigrationResult{}, migrationError("compensate migration", in.MigrationID, err)
	}
	a.log(ctx, 0).Info("migration compensated", "migration_id", in.MigrationID, "target_account_id", res.TargetAccountID, "bridge_queue_id", res.BridgeQueueID)
	return res, nil
}

// MigrationRecord is the workflow's view of a migration, written to its
// row for the API.
type MigrationRecord struct {
	MigrationID     uint64
	State           models.MigrationState
	Steps           []MigrationStep
	NextAction      string
	Error           string
	TargetAccountID uint64
	Reminders       int
	ConfirmedAt     *time.Time
	FinishedAt      *time.Time
}

// RecordMigration writes the workflow's view of a migration to its row;
// a final state also clears ActiveSourceID, so the source account may be
// migrated again. Repeating it writes the same values.
func (a *Activities) RecordMigration(ctx context.Context, in MigrationRecord) error {
	steps, err := json.Marshal(in.Steps)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("encode the steps of migration %d: %v", in.MigrationID, err), ErrTypeBadInput, err)
	}
	cols := map[string]any{
		"state": in.State, "steps": string(steps), "next_action": in.NextAction, "error": in.Error,
		"reminders": in.Reminders, "confirmed_at": in.ConfirmedAt, "finished_at": in.FinishedAt,
	}
	if in.TargetAccountID != 0 {
		cols["target_account_id"] = in.TargetAccountID
	}
	if in.State.Final() {
		cols["active_source_id"] = nil
	}
	// The state before, so that a repeated record (a reminder, a retry)
	// counts no transition.
	var before []models.MigrationState
	if err := a.DB.WithContext(ctx).Model(&models.Migration{}).Where("id = ?", in.MigrationID).Pluck("state", &before).Error; err != nil {
		return fmt.Errorf("read migration %d: %w", in.MigrationID, err)
	}
	r := a.DB.WithContext(ctx).Model(&models.Migration{}).Where("id = ?", in.MigrationID).Updates(cols)
	if r.Error != nil {
		return fmt.Errorf("record migration %d: %w", in.MigrationID, r.Error)
	}
	if r.RowsAffected == 0 {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("no migration %d", in.MigrationID), ErrTypeBadInput, nil)
	}
	if len(before) == 1 && before[0] != in.State {
		a.Metrics.Migration(string(in.State))
		a.log(ctx, 0).Info("migration state", "migration_id", in.MigrationID, "from", before[0], "to", in.State)
	}
	return nil
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
