package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
)

// MigrationWorkflowName moves an account to a new Sinch app (Motion's Sinch
// V2 guide, "Migration from WhatsApp API to Conversation API").
const MigrationWorkflowName = "MigrationWorkflow"

// Signal names of MigrationWorkflow; each carries a MigrationSignal. The
// state query is StateQueryName (MigrationProgress).
const (
	// MigrationConfirmSignalName: the Sinch account manager confirmed the
	// number moved to the new app. A confirm received before the wait
	// (during steps 1-4) counts.
	MigrationConfirmSignalName = "migration-confirm"
	// MigrationCancelSignalName cancels the migration: what was done is
	// compensated and the source account is left as it was.
	MigrationCancelSignalName = "migration-cancel"
	// MigrationRetrySignalName runs the failed credentials or webhook step
	// again (after the admin corrected the new account's key, or the Sinch
	// side).
	MigrationRetrySignalName = "migration-retry"
)

// MigrationSignal is the payload of the migration's signals.
type MigrationSignal struct {
	// By is who asked ("admin").
	By string `json:",omitempty"`
}

// Defaults of MigrationSettings.
const (
	DefaultMigrationConfirmTimeout      = 30 * 24 * time.Hour
	DefaultMigrationReminderEvery       = 24 * time.Hour
	DefaultMigrationFirstMessageTimeout = 7 * 24 * time.Hour
	// DefaultMigrationPoll and DefaultMigrationPollMax are the first and
	// the longest wait between two looks for the first message.
	DefaultMigrationPoll    = 2 * time.Second
	DefaultMigrationPollMax = time.Minute
)

// MigrationSettings are the timeouts migrations start with
// (MIGRATION_CONFIRM_TIMEOUT, MIGRATION_REMINDER_EVERY,
// MIGRATION_FIRST_MESSAGE_TIMEOUT); zero values take the defaults.
type MigrationSettings struct {
	ConfirmTimeout      time.Duration
	ReminderEvery       time.Duration
	FirstMessageTimeout time.Duration
	// FirstMessagePoll and FirstMessagePollMax pace the poll of step 6
	// (0: DefaultMigrationPoll and DefaultMigrationPollMax, shortened for a
	// short FirstMessageTimeout so it is polled at least 20 times).
	FirstMessagePoll    time.Duration
	FirstMessagePollMax time.Duration
}

// Input is the start input of migration id of a source account.
func (s MigrationSettings) Input(migrationID, sourceAccountID uint64) MigrationInput {
	return MigrationInput{MigrationID: migrationID, SourceAccountID: sourceAccountID, MigrationSettings: s}
}

// MigrationInput starts the migration recorded in row MigrationID. The
// target's settings and secrets are on the row, never in the input.
type MigrationInput struct {
	MigrationID     uint64
	SourceAccountID uint64
	MigrationSettings
}

// MigrationProgress is the migration's whole state: returned by the state
// query and written to the migration row (RecordMigration).
type MigrationProgress struct {
	MigrationID     uint64
	SourceAccountID uint64
	State           models.MigrationState
	Steps           []activities.MigrationStep
	NextAction      string
	Error           string
	// Target is the new account once step 1 created it.
	Target *activities.MigrationTargetResult `json:",omitempty"`
	// BridgeQueueID is the queue linked to both accounts (step 4).
	BridgeQueueID uint64 `json:",omitempty"`
	BridgeCreated bool   `json:",omitempty"`
	Reminders     int
	// Deadline is when the current wait (step 5 or 6) expires.
	Deadline    *time.Time `json:",omitempty"`
	ConfirmedAt *time.Time `json:",omitempty"`
	FinishedAt  *time.Time `json:",omitempty"`
	// CancelRequested is set by the cancel signal until it is handled.
	CancelRequested bool `json:",omitempty"`
	// RetryRequested is set by the retry signal while step 2 waits.
	RetryRequested bool `json:",omitempty"`
}

// TargetAccountID is the new account's id, 0 before step 1.
func (p MigrationProgress) TargetAccountID() uint64 {
	if p.Target == nil {
		return 0
	}
	return p.Target.AccountID
}

// migrationVersionChange names the workflow.GetVersion change id read once
// at the start of every run; m.version is its value. Versions:
//
//	1: the first shipped command order.
//	2: step 3 sets up the new app's webhook (SetUpSinchApp) after the
//	   credentials; the step list has eight steps.
//
// A change to the order of activities, timers or markers raises the
// maximum to 2 here, branches on m.version >= 2 where it changes (runs in
// flight keep the old order), records a new history in workflows/testdata
// and adds a line above.
const migrationVersionChange = "migration"

// migrationVersion is the newest version of the command order.
const migrationVersion = 2

// MigrationWorkflow moves a WhatsApp account to a new Sinch app in eight
// visible steps: create the new account with the source's settings, verify
// its credentials (a refused key waits for the admin to correct it and
// retry), set up the new app's webhook (a refusal of Sinch waits for the
// admin likewise), copy queue links and agent permissions, create or reuse a bridge
// queue linked to both accounts, wait (with reminders) for the account
// manager's confirmation that the number moved, wait for the first
// customer message on the new account, and mark the source migrated. A
// cancel, an expired wait or a failure compensates what was done and
// leaves the source untouched. The migration row is kept in step with the
// state after each change; search attributes AccountId (the source) and
// MigrationState let operators filter migrations in the Temporal UI.
func MigrationWorkflow(ctx workflow.Context, in MigrationInput) (MigrationProgress, error) {
	m := newMigration(ctx, in)
	if err := m.setup(ctx); err != nil {
		return MigrationProgress{}, err
	}
	return m.run(ctx)
}

type migration struct {
	in      MigrationInput
	st      *MigrationProgress
	confirm workflow.ReceiveChannel
	cancel  workflow.ReceiveChannel
	retry   workflow.ReceiveChannel
	logger  log.Logger
	version workflow.Version
}

// errMigrationCancelled ends a step when the admin cancelled.
var errMigrationCancelled = errors.New("cancelled by the admin")

func newMigration(ctx workflow.Context, in MigrationInput) *migration {
	s := &in.MigrationSettings
	if s.ConfirmTimeout <= 0 {
		s.ConfirmTimeout = DefaultMigrationConfirmTimeout
	}
	if s.ReminderEvery <= 0 {
		s.ReminderEvery = DefaultMigrationReminderEvery
	}
	if s.FirstMessageTimeout <= 0 {
		s.FirstMessageTimeout = DefaultMigrationFirstMessageTimeout
	}
	if s.FirstMessagePoll <= 0 {
		s.FirstMessagePoll = min(DefaultMigrationPoll, s.FirstMessageTimeout/50)
	}
	if s.FirstMessagePollMax <= 0 {
		s.FirstMessagePollMax = min(DefaultMigrationPollMax, s.FirstMessageTimeout/20)
	}
	s.FirstMessagePollMax = max(s.FirstMessagePollMax, s.FirstMessagePoll)
	st := &MigrationProgress{
		MigrationID: in.MigrationID, SourceAccountID: in.SourceAccountID,
		State: models.MigrationRunning, Steps: activities.NewMigrationSteps(),
	}
	return &migration{in: in, st: st, logger: workflow.GetLogger(ctx)}
}

// setup registers the query and the signal channels before the first
// blocking call.
func (m *migration) setup(ctx workflow.Context) error {
	m.confirm = workflow.GetSignalChannel(ctx, MigrationConfirmSignalName)
	m.cancel = workflow.GetSignalChannel(ctx, MigrationCancelSignalName)
	m.retry = workflow.GetSignalChannel(ctx, MigrationRetrySignalName)
	return workflow.SetQueryHandler(ctx, StateQueryName, func() (MigrationProgress, error) {
		return *m.st, nil
	})
}

func (m *migration) run(ctx workflow.Context) (MigrationProgress, error) {
	m.version = workflow.GetVersion(ctx, migrationVersionChange, workflow.DefaultVersion, migrationVersion)
	if m.version < 2 {
		m.st.Steps = activities.MigrationStepsV1()
	}
	var a *activities.Activities
	m.upsertSearchAttributes(ctx)
	m.st.NextAction = m.nextAction()
	if err := m.record(ctx); err != nil {
		return *m.st, err
	}

	// Steps are found by name: version 2 has one more than version 1.
	idx := m.stepIndex

	// The new account.
	var target activities.MigrationTargetResult
	if err := m.step(ctx, idx(activities.StepCreateAccount), func(sctx workflow.Context) error {
		return execute(stepCtx(sctx), a.CreateMigrationTarget, activities.MigrationInput{MigrationID: m.in.MigrationID}).Get(sctx, &target)
	}); err != nil {
		return m.fail(ctx, idx(activities.StepCreateAccount), err)
	}
	m.st.Target = &target
	if m.cancelled(ctx) {
		return m.finishCancelled(ctx, idx(activities.StepVerifyCredentials))
	}

	// The new credentials, retried on the admin's request.
	if err := m.verifyCredentials(ctx); err != nil {
		if errors.Is(err, errMigrationCancelled) {
			return m.finishCancelled(ctx, idx(activities.StepVerifyCredentials))
		}
		return m.fail(ctx, idx(activities.StepVerifyCredentials), err)
	}
	if m.cancelled(ctx) {
		return m.finishCancelled(ctx, idx(activities.StepVerifyCredentials)+1)
	}

	// The new app's webhook (version 2), retried on the admin's request.
	if m.version >= 2 {
		if err := m.setUpWebhook(ctx); err != nil {
			if errors.Is(err, errMigrationCancelled) {
				return m.finishCancelled(ctx, idx(activities.StepSetUpWebhook))
			}
			return m.fail(ctx, idx(activities.StepSetUpWebhook), err)
		}
		if m.cancelled(ctx) {
			return m.finishCancelled(ctx, idx(activities.StepCopyAccess))
		}
	}

	// Queue links and agent permissions.
	pair := activities.MigrationPairInput{MigrationID: m.in.MigrationID, SourceAccountID: m.in.SourceAccountID, TargetAccountID: target.AccountID}
	if err := m.step(ctx, idx(activities.StepCopyAccess), func(sctx workflow.Context) error {
		return execute(stepCtx(sctx), a.CopyMigrationAccess, pair).Get(sctx, nil)
	}); err != nil {
		return m.fail(ctx, idx(activities.StepCopyAccess), err)
	}
	if m.cancelled(ctx) {
		return m.finishCancelled(ctx, idx(activities.StepBridgeQueue))
	}

	// The bridge queue.
	var bridge activities.BridgeResult
	if err := m.step(ctx, idx(activities.StepBridgeQueue), func(sctx workflow.Context) error {
		return execute(stepCtx(sctx), a.EnsureMigrationBridge, pair).Get(sctx, &bridge)
	}); err != nil {
		return m.fail(ctx, idx(activities.StepBridgeQueue), err)
	}
	m.st.BridgeQueueID, m.st.BridgeCreated = bridge.QueueID, bridge.Created
	if m.cancelled(ctx) {
		return m.finishCancelled(ctx, idx(activities.StepAwaitConfirmation))
	}

	// The account manager's confirmation.
	switch err := m.awaitConfirmation(ctx); {
	case errors.Is(err, errMigrationCancelled):
		return m.finishCancelled(ctx, idx(activities.StepAwaitConfirmation))
	case errors.Is(err, errMigrationExpired):
		return m.finishExpired(ctx, idx(activities.StepAwaitConfirmation), fmt.Sprintf("no confirmation that the number moved within %s", m.in.ConfirmTimeout))
	case err != nil:
		return m.fail(ctx, idx(activities.StepAwaitConfirmation), err)
	}

	// The first customer message on the new account.
	switch err := m.awaitFirstMessage(ctx); {
	case errors.Is(err, errMigrationCancelled):
		return m.finishCancelled(ctx, idx(activities.StepAwaitFirstMessage))
	case errors.Is(err, errMigrationExpired):
		return m.finishExpired(ctx, idx(activities.StepAwaitFirstMessage), fmt.Sprintf("no customer message reached the new account within %s of the confirmation", m.in.FirstMessageTimeout))
	case err != nil:
		return m.fail(ctx, idx(activities.StepAwaitFirstMessage), err)
	}

	// The source is migrated. The number has moved and customers write to
	// the new app: a cancel now is too late, and the step is retried until
	// the database takes it.
	if err := m.step(ctx, idx(activities.StepMarkMigrated), func(sctx workflow.Context) error {
		return execute(dbCtx(sctx), a.MarkSourceMigrated, pair).Get(sctx, nil)
	}); err != nil {
		return m.fail(ctx, idx(activities.StepMarkMigrated), err)
	}
	return m.finish(ctx, models.MigrationCompleted, "")
}

// addSignals adds the three signal channels to sel; each handler only
// updates the state.
func (m *migration) addSignals(ctx workflow.Context, sel workflow.Selector) {
	sel.AddReceive(m.confirm, func(c workflow.ReceiveChannel, _ bool) {
		var sig MigrationSignal
		c.Receive(ctx, &sig)
		m.onConfirm(ctx)
	})
	sel.AddReceive(m.cancel, func(c workflow.ReceiveChannel, _ bool) {
		var sig MigrationSignal
		c.Receive(ctx, &sig)
		m.st.CancelRequested = true
	})
	sel.AddReceive(m.retry, func(c workflow.ReceiveChannel, _ bool) {
		var sig MigrationSignal
		c.Receive(ctx, &sig)
		m.st.RetryRequested = true
	})
}

func (m *migration) onConfirm(ctx workflow.Context) {
	if m.st.ConfirmedAt == nil {
		now := workflow.Now(ctx)
		m.st.ConfirmedAt = &now
	}
}

// cancelled takes in the signals received while a step ran and reports
// whether a cancel is among them. A retry outside step 2's wait is
// dropped.
func (m *migration) cancelled(ctx workflow.Context) bool {
	var sig MigrationSignal
	for m.confirm.ReceiveAsync(&sig) {
		m.onConfirm(ctx)
	}
	for m.cancel.ReceiveAsync(&sig) {
		m.st.CancelRequested = true
	}
	for m.retry.ReceiveAsync(&sig) {
		m.st.RetryRequested = false
	}
	return m.st.CancelRequested
}
