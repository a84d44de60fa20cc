package workflows

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
)

// MigrationWorkflowName moves an account to a new Sinch app (seeds:
// migration from the WhatsApp API to the Conversation API).
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
	// MigrationRetrySignalName runs the failed credentials step again
	// (after the admin corrected the new account's key).
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
//	1: the first shipped command order (this file).
//
// A change to the order of activities, timers or markers raises the
// maximum to 2 here, branches on m.version >= 2 where it changes (runs in
// flight keep the old order), records a new history in workflows/testdata
// and adds a line above.
const migrationVersionChange = "migration"

// migrationVersion is the newest version of the command order.
const migrationVersion = 1

// MigrationWorkflow moves a WhatsApp account to a new Sinch app in seven
// visible steps: create the new account with the source's settings, verify
// its credentials (a refused key waits for the admin to correct it and
// retry), copy queue links and agent permissions, create or reuse a bridge
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
	var a *activities.Activities
	m.upsertSearchAttributes(ctx)
	m.st.NextAction = m.nextAction()
	if err := m.record(ctx); err != nil {
		return *m.st, err
	}

	// Step 1: the new account.
	var target activities.MigrationTargetResult
	if err := m.step(ctx, 0, func(sctx workflow.Context) error {
		return execute(stepCtx(sctx), a.CreateMigrationTarget, activities.MigrationInput{MigrationID: m.in.MigrationID}).Get(sctx, &target)
	}); err != nil {
		return m.fail(ctx, 0, err)
	}
	m.st.Target = &target
	if m.cancelled(ctx) {
		return m.finishCancelled(ctx, 1)
	}

	// Step 2: the new credentials, retried on the admin's request.
	if err := m.verifyCredentials(ctx); err != nil {
		if errors.Is(err, errMigrationCancelled) {
			return m.finishCancelled(ctx, 1)
		}
		return m.fail(ctx, 1, err)
	}
	if m.cancelled(ctx) {
		return m.finishCancelled(ctx, 2)
	}

	// Step 3: queue links and agent permissions.
	pair := activities.MigrationPairInput{MigrationID: m.in.MigrationID, SourceAccountID: m.in.SourceAccountID, TargetAccountID: target.AccountID}
	if err := m.step(ctx, 2, func(sctx workflow.Context) error {
		return execute(stepCtx(sctx), a.CopyMigrationAccess, pair).Get(sctx, nil)
	}); err != nil {
		return m.fail(ctx, 2, err)
	}
	if m.cancelled(ctx) {
		return m.finishCancelled(ctx, 3)
	}

	// Step 4: the bridge queue.
	var bridge activities.BridgeResult
	if err := m.step(ctx, 3, func(sctx workflow.Context) error {
		return execute(stepCtx(sctx), a.EnsureMigrationBridge, pair).Get(sctx, &bridge)
	}); err != nil {
		return m.fail(ctx, 3, err)
	}
	m.st.BridgeQueueID, m.st.BridgeCreated = bridge.QueueID, bridge.Created
	if m.cancelled(ctx) {
		return m.finishCancelled(ctx, 4)
	}

	// Step 5: the account manager's confirmation.
	switch err := m.awaitConfirmation(ctx); {
	case errors.Is(err, errMigrationCancelled):
		return m.finishCancelled(ctx, 4)
	case errors.Is(err, errMigrationExpired):
		return m.finishExpired(ctx, 4, fmt.Sprintf("no confirmation that the number moved within %s", m.in.ConfirmTimeout))
	case err != nil:
		return m.fail(ctx, 4, err)
	}

	// Step 6: the first customer message on the new account.
	switch err := m.awaitFirstMessage(ctx); {
	case errors.Is(err, errMigrationCancelled):
		return m.finishCancelled(ctx, 5)
	case errors.Is(err, errMigrationExpired):
		return m.finishExpired(ctx, 5, fmt.Sprintf("no customer message reached the new account within %s of the confirmation", m.in.FirstMessageTimeout))
	case err != nil:
		return m.fail(ctx, 5, err)
	}

	// Step 7: the source is migrated. The number has moved and customers
	// write to the new app: a cancel now is too late, and the step is
	// retried until the database takes it.
	if err := m.step(ctx, 6, func(sctx workflow.Context) error {
		return execute(dbCtx(sctx), a.MarkSourceMigrated, pair).Get(sctx, nil)
	}); err != nil {
		return m.fail(ctx, 6, err)
	}
	return m.finish(ctx, models.MigrationCompleted, "")
}

// stepCtx runs a step activity: short attempts, retried for about 15
// minutes on transient errors; classified permanent errors end at once.
func stepCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    20,
			NonRetryableErrorTypes: []string{
				activities.ErrTypeBadInput, activities.ErrTypeMigrationConflict, activities.ErrTypeMigrationCredentials,
			},
		},
	})
}

// step runs step i: it records the step running, runs fn, and records the
// outcome (done, or failed with its error).
func (m *migration) step(ctx workflow.Context, i int, fn func(workflow.Context) error) error {
	s := &m.st.Steps[i]
	now := workflow.Now(ctx)
	s.Status, s.StartedAt, s.FinishedAt, s.Error = activities.StepRunning, &now, nil, ""
	s.Attempts++
	m.st.NextAction = m.nextAction()
	if err := m.record(ctx); err != nil {
		return err
	}
	err := fn(ctx)
	end := workflow.Now(ctx)
	s.FinishedAt = &end
	switch {
	case errors.Is(err, errMigrationCancelled):
		s.Status = activities.StepSkipped
		return err
	case err != nil:
		s.Status, s.Error = activities.StepFailed, rootCause(err)
		return err
	}
	s.Status = activities.StepDone
	return nil
}

// verifyCredentials runs step 2 until it passes: a failure records the
// step failed and waits for the retry signal (after the admin corrected
// the key) or a cancel. A cancel also interrupts a running check.
func (m *migration) verifyCredentials(ctx workflow.Context) error {
	var a *activities.Activities
	in := activities.MigrationAccountInput{MigrationID: m.in.MigrationID, AccountID: m.st.TargetAccountID()}
	for {
		err := m.step(ctx, 1, func(sctx workflow.Context) error {
			actx, stop := workflow.WithCancel(sctx)
			defer stop()
			fut := execute(workflow.WithActivityOptions(actx, workflow.ActivityOptions{
				StartToCloseTimeout: time.Minute,
				RetryPolicy: &temporal.RetryPolicy{
					InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 5,
					NonRetryableErrorTypes: []string{activities.ErrTypeBadInput, activities.ErrTypeMigrationConflict, activities.ErrTypeMigrationCredentials},
				},
			}), a.VerifyMigrationCredentials, in)
			var ferr error
			done := false
			for !done && !m.st.CancelRequested {
				sel := workflow.NewSelector(ctx)
				sel.AddFuture(fut, func(f workflow.Future) { ferr, done = f.Get(sctx, nil), true })
				m.addSignals(ctx, sel)
				sel.Select(ctx)
			}
			if !done {
				return errMigrationCancelled
			}
			return ferr
		})
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errMigrationCancelled):
			return err
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeMigrationConflict {
			return err
		}
		// Wait for the admin: the state stays running, the step failed.
		m.st.Error = m.st.Steps[1].Error
		m.st.RetryRequested = false
		m.st.NextAction = m.nextAction()
		if err := m.record(ctx); err != nil {
			return err
		}
		for !m.st.RetryRequested && !m.st.CancelRequested {
			sel := workflow.NewSelector(ctx)
			m.addSignals(ctx, sel)
			sel.Select(ctx)
		}
		if m.st.CancelRequested {
			return errMigrationCancelled
		}
		m.st.RetryRequested = false
		m.st.Error = ""
	}
}

// errMigrationExpired ends a wait whose limit passed.
var errMigrationExpired = errors.New("expired")

// awaitConfirmation is step 5: it waits durably for the confirm signal,
// with a reminder every ReminderEvery, until ConfirmTimeout.
func (m *migration) awaitConfirmation(ctx workflow.Context) error {
	var a *activities.Activities
	s := &m.st.Steps[4]
	start := workflow.Now(ctx)
	s.Status, s.StartedAt, s.Attempts = activities.StepRunning, &start, s.Attempts+1
	deadline := start.Add(m.in.ConfirmTimeout)
	if m.st.ConfirmedAt == nil {
		m.st.State, m.st.Deadline = models.MigrationAwaitingConfirmation, &deadline
		m.upsertSearchAttributes(ctx)
		m.st.NextAction = m.nextAction()
		if err := m.record(ctx); err != nil {
			return err
		}
	}
	nextReminder := start.Add(m.in.ReminderEvery)
	for m.st.ConfirmedAt == nil {
		if m.st.CancelRequested {
			return errMigrationCancelled
		}
		now := workflow.Now(ctx)
		if !now.Before(deadline) {
			s.Status, s.Error = activities.StepFailed, fmt.Sprintf("no confirmation within %s", m.in.ConfirmTimeout)
			return errMigrationExpired
		}
		if !now.Before(nextReminder) {
			m.st.Reminders++
			nextReminder = nextReminder.Add(m.in.ReminderEvery)
			m.st.NextAction = m.nextAction()
			if err := execute(dbCtx(ctx), a.RemindMigration, activities.RemindMigrationInput{
				MigrationID: m.in.MigrationID, SourceAccountID: m.in.SourceAccountID,
				Reminder: m.st.Reminders, NextAction: m.st.NextAction, Deadline: deadline,
			}).Get(ctx, nil); err != nil {
				return err
			}
			continue
		}
		wake := nextReminder
		if deadline.Before(wake) {
			wake = deadline
		}
		tctx, stop := workflow.WithCancel(ctx)
		timer := workflow.NewTimer(tctx, wake.Sub(now))
		fired := false
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(timer, func(workflow.Future) { fired = true })
		m.addSignals(ctx, sel)
		sel.Select(ctx)
		if !fired {
			stop() // a signal woke the wait: drop the timer
		}
	}
	end := workflow.Now(ctx)
	s.Status, s.FinishedAt, m.st.Deadline = activities.StepDone, &end, nil
	return nil
}

// awaitFirstMessage is step 6: one AwaitFirstInbound activity polls the
// database through its retry policy (retries write no history) until
// FirstMessageTimeout (ScheduleToClose); a cancel cancels it.
func (m *migration) awaitFirstMessage(ctx workflow.Context) error {
	var a *activities.Activities
	s := &m.st.Steps[5]
	start := workflow.Now(ctx)
	deadline := start.Add(m.in.FirstMessageTimeout)
	s.Status, s.StartedAt, s.Attempts = activities.StepRunning, &start, s.Attempts+1
	m.st.State, m.st.Deadline = models.MigrationAwaitingFirstMessage, &deadline
	m.upsertSearchAttributes(ctx)
	m.st.NextAction = m.nextAction()
	if err := m.record(ctx); err != nil {
		return err
	}
	if m.st.CancelRequested {
		return errMigrationCancelled
	}
	actx, stop := workflow.WithCancel(ctx)
	defer stop()
	fut := execute(workflow.WithActivityOptions(actx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: m.in.FirstMessageTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    m.in.FirstMessagePoll,
			BackoffCoefficient: 2,
			MaximumInterval:    m.in.FirstMessagePollMax,
			// More attempts than fit in the timeout: ScheduleToClose is
			// the limit (an explicit count, as the SDK's test
			// environment caps "unlimited" at 10).
			MaximumAttempts:        int32(min(m.in.FirstMessageTimeout/m.in.FirstMessagePollMax+64, math.MaxInt32)),
			NonRetryableErrorTypes: []string{activities.ErrTypeBadInput},
		},
	}), a.AwaitFirstInbound, activities.MigrationAccountInput{MigrationID: m.in.MigrationID, AccountID: m.st.TargetAccountID()})
	var ferr error
	done := false
	for !done && !m.st.CancelRequested {
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(fut, func(f workflow.Future) { ferr, done = f.Get(ctx, nil), true })
		m.addSignals(ctx, sel)
		sel.Select(ctx)
	}
	end := workflow.Now(ctx)
	if !done {
		stop()
		return errMigrationCancelled
	}
	s.FinishedAt = &end
	var timeoutErr *temporal.TimeoutError
	var appErr *temporal.ApplicationError
	switch {
	case ferr == nil:
		s.Status, m.st.Deadline = activities.StepDone, nil
		return nil
	case errors.As(ferr, &timeoutErr),
		// Out of time between two polls: the last poll's answer.
		errors.As(ferr, &appErr) && appErr.Type() == activities.ErrTypeMigrationNoMessageYet:
		s.Status, s.Error = activities.StepFailed, fmt.Sprintf("no customer message within %s", m.in.FirstMessageTimeout)
		return errMigrationExpired
	}
	s.Status, s.Error = activities.StepFailed, rootCause(ferr)
	return ferr
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

// finishCancelled ends a cancelled migration: the step at index current
// (interrupted, or next to run) and the later ones are skipped, and what
// was done is compensated.
func (m *migration) finishCancelled(ctx workflow.Context, current int) (MigrationProgress, error) {
	reason := fmt.Sprintf("migration %d was cancelled by the admin", m.in.MigrationID)
	return m.compensate(ctx, current, models.MigrationCancelled, reason, "")
}

// finishExpired ends a migration whose wait at index current expired.
func (m *migration) finishExpired(ctx workflow.Context, current int, why string) (MigrationProgress, error) {
	reason := fmt.Sprintf("migration %d expired: %s", m.in.MigrationID, why)
	return m.compensate(ctx, current, models.MigrationExpired, reason, why)
}

// fail ends a migration whose step at index failed for good: it is
// compensated and the workflow completes with state failed (the error is
// on the step and the row; the workflow itself does not fail, so its
// result keeps the state).
func (m *migration) fail(ctx workflow.Context, failed int, err error) (MigrationProgress, error) {
	msg := rootCause(err)
	if m.st.Steps[failed].Status != activities.StepFailed {
		m.st.Steps[failed].Status, m.st.Steps[failed].Error = activities.StepFailed, msg
	}
	reason := fmt.Sprintf("migration %d failed at step %d (%s): %s", m.in.MigrationID, failed+1, m.st.Steps[failed].Name, msg)
	m.logger.Error("migration failed", "migration_id", m.in.MigrationID, "step", m.st.Steps[failed].Name, "err", err)
	return m.compensate(ctx, failed+1, models.MigrationFailed, reason, msg)
}

// compensate undoes the steps done before index from, marks from and
// the later steps skipped, and finishes in state.
func (m *migration) compensate(ctx workflow.Context, from int, state models.MigrationState, reason, errText string) (MigrationProgress, error) {
	var a *activities.Activities
	now := workflow.Now(ctx)
	for i := range m.st.Steps {
		s := &m.st.Steps[i]
		switch {
		case i >= from && s.Status != activities.StepFailed:
			s.Status = activities.StepSkipped
			if s.StartedAt != nil && s.FinishedAt == nil {
				s.FinishedAt = &now
			}
		case i < from && s.Status == activities.StepDone && undoable(s.Name) && (s.Name != activities.StepBridgeQueue || m.st.BridgeCreated):
			// A reused bridge queue stays: only its link to the new
			// account goes, with the copied access.
			s.Status = activities.StepCompensated
		}
	}
	if err := execute(dbCtx(ctx), a.CompensateMigration, activities.CompensateMigrationInput{
		MigrationID: m.in.MigrationID, Reason: reason,
	}).Get(ctx, nil); err != nil {
		return *m.st, err
	}
	return m.finish(ctx, state, errText)
}

// undoable reports whether a step changed something a compensation undoes.
func undoable(step string) bool {
	switch step {
	case activities.StepCreateAccount, activities.StepCopyAccess, activities.StepBridgeQueue:
		return true
	}
	return false
}

// finish records the final state.
func (m *migration) finish(ctx workflow.Context, state models.MigrationState, errText string) (MigrationProgress, error) {
	now := workflow.Now(ctx)
	m.st.State, m.st.Error, m.st.FinishedAt, m.st.Deadline = state, errText, &now, nil
	m.st.CancelRequested, m.st.RetryRequested = false, false
	m.st.NextAction = m.nextAction()
	m.upsertSearchAttributes(ctx)
	if err := m.record(ctx); err != nil {
		return *m.st, err
	}
	return *m.st, nil
}

// record writes the state to the migration row.
func (m *migration) record(ctx workflow.Context) error {
	var a *activities.Activities
	return execute(dbCtx(ctx), a.RecordMigration, activities.MigrationRecord{
		MigrationID: m.in.MigrationID, State: m.st.State, Steps: m.st.Steps, NextAction: m.st.NextAction,
		Error: m.st.Error, TargetAccountID: m.st.TargetAccountID(), Reminders: m.st.Reminders,
		ConfirmedAt: m.st.ConfirmedAt, FinishedAt: m.st.FinishedAt,
	}).Get(ctx, nil)
}

func (m *migration) upsertSearchAttributes(ctx workflow.Context) {
	err := workflow.UpsertTypedSearchAttributes(ctx,
		AccountIDKey.ValueSet(strconv.FormatUint(m.in.SourceAccountID, 10)),
		MigrationStateKey.ValueSet(string(m.st.State)),
	)
	if err != nil {
		m.logger.Warn("upsert search attributes", "err", err)
	}
}

// nextAction is the exact text of what the admin must do now.
func (m *migration) nextAction() string {
	id, st := m.in.MigrationID, m.st
	t := st.Target
	switch st.State {
	case models.MigrationAwaitingConfirmation:
		text := fmt.Sprintf("email your Sinch account manager App ID %s and Project ID %s to move %s to the new app; "+
			"set the new app's webhook to %s with all triggers and the secret; "+
			"when the account manager confirms the number moved, POST /api/migrations/%d/confirm",
			t.AppID, t.ProjectID, t.Phone, t.ReceiveURL, id)
		if st.Reminders > 0 && st.Deadline != nil {
			text = fmt.Sprintf("reminder %d: still waiting for the confirmation, the migration expires at %s: %s",
				st.Reminders, st.Deadline.UTC().Format(time.RFC3339), text)
		}
		return text
	case models.MigrationAwaitingFirstMessage:
		until := ""
		if st.Deadline != nil {
			until = " until " + st.Deadline.UTC().Format(time.RFC3339)
		}
		return fmt.Sprintf("nothing to do: waiting%s for the first customer message on the new account %d (Sinch app %s); "+
			"if none arrives, check the new app's webhook (%s, all triggers, the secret) and Sinch's analytics",
			until, t.AccountID, t.AppID, t.ReceiveURL)
	case models.MigrationCompleted:
		return fmt.Sprintf("nothing to do: account %d is migrated and new interactions open on account %d; "+
			"check that agents and the action flow are set on the new account", st.SourceAccountID, t.AccountID)
	case models.MigrationCancelled:
		return fmt.Sprintf("nothing to do: the migration was cancelled%s and the source account %d is unchanged; "+
			"start again with POST /api/migrations", m.disabledNote(), st.SourceAccountID)
	case models.MigrationExpired:
		return fmt.Sprintf("nothing to do: the migration expired (%s)%s and the source account %d is unchanged; "+
			"start again with POST /api/migrations", st.Error, m.disabledNote(), st.SourceAccountID)
	case models.MigrationFailed:
		return fmt.Sprintf("fix the cause (%s) and start again with POST /api/migrations: the migration failed%s and the source account %d is unchanged",
			st.Error, m.disabledNote(), st.SourceAccountID)
	}
	if s := st.Steps[1]; s.Status == activities.StepFailed && t != nil {
		return fmt.Sprintf("correct the new account's Sinch key (%s): PATCH /api/whatsapp/accounts/%d with the right keyId and keySecret, "+
			"then POST /api/migrations/%d/retry to verify it again (or POST /api/migrations/%d/cancel)", s.Error, t.AccountID, id, id)
	}
	for i, s := range st.Steps {
		if s.Status == activities.StepPending || s.Status == activities.StepRunning {
			return fmt.Sprintf("wait: the migration is running step %d of %d (%s)", i+1, len(st.Steps), s.Title)
		}
	}
	return "wait: the migration is running"
}

// disabledNote names the disabled new account, if one was created.
func (m *migration) disabledNote() string {
	if m.st.Target == nil {
		return ""
	}
	return fmt.Sprintf(", the new account %d is disabled", m.st.Target.AccountID)
}

// rootCause is the message of an activity error: the application error's
// own text without the SDK's wrapping.
func rootCause(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}
