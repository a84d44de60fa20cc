package workflows

import (
	"errors"
	"fmt"
	"math"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
)

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

// rootCause is the message of an activity error: the application error's
// own text without the SDK's wrapping.
func rootCause(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}
