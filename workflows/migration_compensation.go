package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
)

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
