package workflows

import (
	"errors"
	"fmt"
	"math"
	"strings"
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

// stepIndex is the index of the named step in this run's step list.
func (m *migration) stepIndex(name string) int {
	for i, s := range m.st.Steps {
		if s.Name == name {
			return i
		}
	}
	panic("migration has no step " + name)
}

// verifyCredentials runs the credentials step until it passes: a failure
// records the step failed and waits for the retry signal (after the admin
// corrected the key) or a cancel. A cancel also interrupts a running check.
func (m *migration) verifyCredentials(ctx workflow.Context) error {
	var a *activities.Activities
	in := activities.MigrationAccountInput{MigrationID: m.in.MigrationID, AccountID: m.st.TargetAccountID()}
	return m.retriedStep(ctx, m.stepIndex(activities.StepVerifyCredentials), func(actx workflow.Context) workflow.Future {
		return execute(workflow.WithActivityOptions(actx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 5,
				NonRetryableErrorTypes: []string{activities.ErrTypeBadInput, activities.ErrTypeMigrationConflict, activities.ErrTypeMigrationCredentials},
			},
		}), a.VerifyMigrationCredentials, in)
	}, nil)
}

// setUpWebhook runs the webhook step (version 2) until it passes: the new
// app gets a webhook to the new account's Receive URL with every trigger
// and the account's secret; stale webhooks of the connector on the new
// app (an earlier attempt's) are removed. A refusal of Sinch (the app
// already has 5 webhooks, a wrong project) waits for the admin's retry or
// cancel, as a refused key does. The step's detail lists the changes.
func (m *migration) setUpWebhook(ctx workflow.Context) error {
	var a *activities.Activities
	i := m.stepIndex(activities.StepSetUpWebhook)
	in := activities.SinchSetupInput{AccountID: m.st.TargetAccountID(), RemoveStale: true}
	var res activities.SinchSetupResult
	return m.retriedStep(ctx, i, func(actx workflow.Context) workflow.Future {
		return execute(workflow.WithActivityOptions(actx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 8,
				NonRetryableErrorTypes: []string{activities.ErrTypeBadInput, activities.ErrTypeMigrationConflict, activities.ErrTypeSinchSetup},
			},
		}), a.SetUpSinchApp, in)
	}, func(f workflow.Future, sctx workflow.Context) error {
		if err := f.Get(sctx, &res); err != nil {
			return err
		}
		m.st.Steps[i].Detail = setupDetail(res)
		return nil
	})
}

// setupDetail says what the webhook step changed on the Sinch side.
func setupDetail(res activities.SinchSetupResult) string {
	if len(res.Changes) == 0 {
		return "the new app's webhook was already right"
	}
	var parts []string
	for _, c := range res.Changes {
		p := strings.ReplaceAll(c.Action, "_", " ")
		if c.WebhookID != "" {
			p += " " + c.WebhookID
		}
		p += " (" + c.Target + ")"
		if len(c.Fields) > 0 && c.Action != "create_webhook" {
			p += ": " + strings.Join(c.Fields, ", ")
		}
		parts = append(parts, p)
	}
	if res.SecretGenerated {
		parts = append(parts, "a webhook secret was generated for the new account")
	}
	return strings.Join(parts, "; ")
}

// retriedStep runs step i (start schedules its activity; get reads its
// result, nil: f.Get(nil)) until it passes: a failure records the step
// failed and waits for the retry signal or a cancel; a cancel also
// interrupts a running activity. A MigrationConflict error ends it.
func (m *migration) retriedStep(ctx workflow.Context, i int, start func(workflow.Context) workflow.Future, get func(workflow.Future, workflow.Context) error) error {
	if get == nil {
		get = func(f workflow.Future, sctx workflow.Context) error { return f.Get(sctx, nil) }
	}
	for {
		err := m.step(ctx, i, func(sctx workflow.Context) error {
			actx, stop := workflow.WithCancel(sctx)
			defer stop()
			fut := start(actx)
			var ferr error
			done := false
			for !done && !m.st.CancelRequested {
				sel := workflow.NewSelector(ctx)
				sel.AddFuture(fut, func(f workflow.Future) { ferr, done = get(f, sctx), true })
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
		m.st.Error = m.st.Steps[i].Error
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
	s := &m.st.Steps[m.stepIndex(activities.StepAwaitConfirmation)]
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
	s := &m.st.Steps[m.stepIndex(activities.StepAwaitFirstMessage)]
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
