package workflows

import (
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
)

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
		webhook := fmt.Sprintf("set the new app's webhook to %s with all triggers and the secret; ", t.ReceiveURL)
		if m.hasStep(activities.StepSetUpWebhook) {
			webhook = "" // the migration set it up (its step's detail says how)
		}
		text := fmt.Sprintf("email your Sinch account manager App ID %s and Project ID %s to move %s to the new app; "+
			"%swhen the account manager confirms the number moved, POST /api/migrations/%d/confirm",
			t.AppID, t.ProjectID, t.Phone, webhook, id)
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
			"if none arrives, check the new app's webhook (%s, all triggers, the secret: GET /api/whatsapp/accounts/%d/sinch) and Sinch's analytics",
			until, t.AccountID, t.AppID, t.ReceiveURL, t.AccountID)
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
	if s := st.Steps[m.stepIndex(activities.StepVerifyCredentials)]; s.Status == activities.StepFailed && t != nil {
		return fmt.Sprintf("correct the new account's Sinch key (%s): PATCH /api/whatsapp/accounts/%d with the right keyId and keySecret, "+
			"then POST /api/migrations/%d/retry to verify it again (or POST /api/migrations/%d/cancel)", s.Error, t.AccountID, id, id)
	}
	if m.hasStep(activities.StepSetUpWebhook) && t != nil {
		if s := st.Steps[m.stepIndex(activities.StepSetUpWebhook)]; s.Status == activities.StepFailed {
			return fmt.Sprintf("correct the new Sinch app's side (%s): GET /api/whatsapp/accounts/%d/sinch shows each problem with its fix; "+
				"then POST /api/migrations/%d/retry to set up the webhook again (or POST /api/migrations/%d/cancel)", s.Error, t.AccountID, id, id)
		}
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

// hasStep reports whether this run's step list has the named step.
func (m *migration) hasStep(name string) bool {
	for _, s := range m.st.Steps {
		if s.Name == name {
			return true
		}
	}
	return false
}
