package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/ptr"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/workflows"
)

// MigrationRequest is the body of POST /api/migrations: the account to
// migrate and the new Sinch V2 account, with the fields of POST
// /api/whatsapp/accounts. Settings the target omits (list, description,
// notificationTemplate, channels, debug, sendRatePerSecond) are copied
// from the source with the rest of its settings.
type MigrationRequest struct {
	SourceAccountID uint64          `json:"sourceAccountId"`
	Target          *AccountRequest `json:"target"`
}

// MigrationResponse is a migration as its workflow last recorded it.
type MigrationResponse struct {
	ID              uint64  `json:"id"`
	WorkflowID      string  `json:"workflowId"`
	SourceAccountID uint64  `json:"sourceAccountId"`
	TargetAccountID *uint64 `json:"targetAccountId"`
	// State is running, awaiting_confirmation, awaiting_first_message,
	// completed, cancelled, expired or failed.
	State string `json:"state"`
	// Steps are the seven steps with status and times; never null.
	Steps []activities.MigrationStep `json:"steps"`
	// NextAction is what the admin must do now.
	NextAction string `json:"nextAction"`
	Error      string `json:"error,omitempty"`
	// TargetWebhookSecret is present only in the answer to a start with
	// target.generateWebhookSecret: the new account's generated webhook
	// secret, shown this once, to paste into the new Sinch app's webhook.
	TargetWebhookSecret string `json:"targetWebhookSecret,omitempty"`
	// Target is the new account as requested (no secrets).
	Target        activities.MigrationTarget `json:"target"`
	BridgeQueueID *uint64                    `json:"bridgeQueueId"`
	BridgeCreated bool                       `json:"bridgeCreated"`
	Reminders     int                        `json:"reminders"`
	StartedAt     time.Time                  `json:"startedAt"`
	ConfirmedAt   *time.Time                 `json:"confirmedAt"`
	FinishedAt    *time.Time                 `json:"finishedAt"`
	UpdatedAt     time.Time                  `json:"updatedAt"`
}

// MigrationList is the answer of GET /api/migrations.
type MigrationList struct {
	Items []MigrationResponse `json:"items"`
}

func (s *Server) registerMigrationRoutes(e *echo.Echo) {
	e.POST("/api/migrations", s.startMigration, s.requireAdmin)
	e.GET("/api/migrations", s.listMigrations, s.requireAdmin)
	e.GET("/api/migrations/:id", s.getMigration, s.requireAdmin)
	e.POST("/api/migrations/:id/confirm", s.confirmMigration, s.requireAdmin)
	e.POST("/api/migrations/:id/cancel", s.cancelMigration, s.requireAdmin)
	e.POST("/api/migrations/:id/retry", s.retryMigration, s.requireAdmin)
}

// startMigration validates the request, records the migration (its
// secrets sealed on the row, never in Temporal) and starts
// MigrationWorkflow; 202 with its id and workflow id.
func (s *Server) startMigration(c echo.Context) error {
	var req MigrationRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := checkBodyID("sourceAccountId", req.SourceAccountID); err != nil {
		return err
	}
	if req.Target == nil {
		return fieldError("target", "required: the new Sinch V2 account, with the fields of POST /api/whatsapp/accounts")
	}
	target, err := migrationTarget(req.Target, s.deps.SinchAllowCustomURLs)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	db := s.deps.DB.WithContext(ctx)
	src, err := loadAccount(db, req.SourceAccountID)
	var nf *Error
	if errors.As(err, &nf) && nf.Status == http.StatusNotFound {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("sourceAccountId: account %d does not exist", req.SourceAccountID)}
	}
	if err != nil {
		return err
	}
	switch {
	case src.Status == models.AccountMigrated:
		to := ""
		if src.MigratedToAccountID != nil {
			to = fmt.Sprintf(" to account %d", *src.MigratedToAccountID)
		}
		return &Error{Status: http.StatusConflict, Code: "account_migrated", Message: fmt.Sprintf("sourceAccountId: account %d was already migrated%s", src.ID, to)}
	case !src.OpensInteractions():
		return &Error{Status: http.StatusConflict, Code: "account_disabled", Message: fmt.Sprintf("sourceAccountId: account %d is %s: only an active account can be migrated", src.ID, src.Status)}
	case target.AppID == src.AppID:
		return fieldError("target.appId", "%q is the source account's Sinch app: a migration moves the number to a new app", target.AppID)
	}
	var holder []models.Account
	if err := db.Where(map[string]any{"key": target.Key}).Limit(1).Find(&holder).Error; err != nil {
		return err
	}
	if len(holder) > 0 {
		msg := fmt.Sprintf("target.key: account %d already has key %q", holder[0].ID, target.Key)
		if holder[0].Status == models.AccountDisabled {
			// Most often the new account of a cancelled migration.
			msg += fmt.Sprintf(" (disabled: %s); delete it (DELETE /api/whatsapp/accounts/%d) to reuse the key, or choose another", holder[0].StatusReason, holder[0].ID)
		}
		return conflict(msg, nil)
	}
	if s.deps.Secrets == nil {
		return errors.New("no secret box configured: cannot store the new account's secrets")
	}
	generated, err := req.Target.generatedSecret()
	if err != nil {
		return err
	}
	mig, err := s.insertMigration(db, src.ID, target, *req.Target.KeySecret, ptr.Value(req.Target.WebhookSecret))
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	_, err = s.deps.Temporal.ExecuteWorkflow(sctx, client.StartWorkflowOptions{
		ID: mig.WorkflowID, TaskQueue: s.deps.TaskQueue, Memo: workflows.AccountMemo(src.Name),
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.MigrationWorkflowName, s.deps.Migrations.Input(mig.ID, src.ID))
	if err != nil {
		// The row must not block the next attempt: it ends failed.
		now := time.Now().UTC()
		_ = s.deps.DB.Model(&models.Migration{}).Where("id = ?", mig.ID).Updates(map[string]any{
			"state": models.MigrationFailed, "active_source_id": nil, "finished_at": now,
			"error": "the workflow engine did not start the migration", "next_action": "start the migration again with POST /api/migrations",
		}).Error
		return errUnavailable("engine_unavailable", "the workflow engine did not start the migration; retry", err)
	}
	s.log.InfoContext(ctx, "migration started", "migration_id", mig.ID, "source_account_id", src.ID, "workflow_id", mig.WorkflowID, "request_id", requestID(c))
	resp := toMigrationResponse(mig)
	resp.TargetWebhookSecret = generated
	return c.JSON(http.StatusAccepted, resp)
}

// migrationTarget validates the target like POST /api/whatsapp/accounts
// (field names prefixed with "target.") and keeps which optional settings
// were given: the others come from the source.
func migrationTarget(r *AccountRequest, allowCustomURLs bool) (activities.MigrationTarget, error) {
	given := struct{ list, description, template, channels, debug, rate bool }{
		r.List != nil, r.Description != nil, r.NotificationTemplate != nil, r.Channels != nil, r.Debug != nil, r.SendRatePerSecond != nil,
	}
	err := r.normalize(true)
	if err == nil {
		err = r.checkSinchHosts(allowCustomURLs)
	}
	if err != nil {
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest {
			return activities.MigrationTarget{}, &Error{Status: apiErr.Status, Code: apiErr.Code, Message: "target." + apiErr.Message}
		}
		return activities.MigrationTarget{}, err
	}
	t := activities.MigrationTarget{
		Name: ptr.Value(r.Name), Key: ptr.Value(r.Key), PublicURL: ptr.Value(r.PublicURL), Type: ptr.Value(r.Type), Region: ptr.Value(r.Region),
		BaseURL: ptr.Value(r.BaseURL), AuthURL: ptr.Value(r.AuthURL), ProjectID: ptr.Value(r.ProjectID), AppID: ptr.Value(r.AppID),
		KeyID: ptr.Value(r.KeyID), Phone: ptr.Value(r.Phone),
		AllowUnsignedWebhooks: r.AllowUnsignedWebhooks != nil && *r.AllowUnsignedWebhooks,
	}
	if given.list {
		t.List = r.List
	}
	if given.description {
		t.Description = r.Description
	}
	if given.template {
		t.NotificationTemplate = r.NotificationTemplate
	}
	if given.channels {
		t.Channels = *r.Channels
	}
	if given.debug {
		t.Debug = r.Debug
	}
	if given.rate {
		t.SendRatePerSecond = r.SendRatePerSecond
	}
	return t, nil
}

// insertMigration records a running migration of source. The row holds
// the source as ActiveSourceID (unique: a second active migration is a
// 409) and the target's secrets sealed to the row.
func (s *Server) insertMigration(db *gorm.DB, sourceID uint64, target activities.MigrationTarget, keySecret, webhookSecret string) (models.Migration, error) {
	raw, err := json.Marshal(target)
	if err != nil {
		return models.Migration{}, err
	}
	initial := activities.NewMigrationSteps()
	steps, err := json.Marshal(initial)
	if err != nil {
		return models.Migration{}, err
	}
	now := time.Now().UTC()
	mig := models.Migration{
		SourceAccountID: sourceID, ActiveSourceID: &sourceID, State: models.MigrationRunning,
		// A placeholder until the id is known, unique like the final one.
		WorkflowID: "migration/pending/" + strconv.FormatInt(now.UnixNano(), 10),
		Target:     string(raw), Steps: string(steps), StartedAt: now,
		NextAction: fmt.Sprintf("wait: the migration is starting (step 1 of %d: create the new account)", len(initial)),
	}
	err = db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&mig).Error; err != nil {
			return err
		}
		mig.WorkflowID = workflows.MigrationWorkflowID(sourceID, mig.ID)
		cols := map[string]any{"workflow_id": mig.WorkflowID}
		for _, f := range []struct{ col, field, v string }{
			{"target_key_secret_enc", "key_secret", keySecret}, {"target_webhook_secret_enc", "webhook_secret", webhookSecret},
		} {
			sealed, err := s.deps.Secrets.Seal(f.v, secretbox.MigrationAAD(mig.ID, f.field))
			if err != nil {
				return fmt.Errorf("seal %s of migration %d: %w", f.field, mig.ID, err)
			}
			cols[f.col] = sealed
		}
		return tx.Model(&models.Migration{}).Where("id = ?", mig.ID).Updates(cols).Error
	})
	if models.IsDuplicate(err) {
		var active models.Migration
		if e := db.Where("active_source_id = ?", sourceID).Take(&active).Error; e == nil {
			return mig, &Error{Status: http.StatusConflict, Code: "migration_active", Message: fmt.Sprintf(
				"sourceAccountId: account %d already has an active migration (%d, state %s): cancel it first (POST /api/migrations/%d/cancel)",
				sourceID, active.ID, active.State, active.ID)}
		}
		return mig, &Error{Status: http.StatusConflict, Code: "migration_active", Message: fmt.Sprintf("sourceAccountId: account %d already has an active migration", sourceID), Err: err}
	}
	return mig, err
}

// listMigrations handles GET /api/migrations (?sourceAccountId=, ?state=).
func (s *Server) listMigrations(c echo.Context) error {
	q := s.deps.DB.WithContext(c.Request().Context()).Order("id")
	if raw := c.QueryParam("sourceAccountId"); raw != "" {
		id, err := strconv.ParseUint(raw, 10, 63)
		if err != nil || id == 0 {
			return errBadRequest("invalid_query", fmt.Sprintf("sourceAccountId: want a positive integer, got %q", raw))
		}
		q = q.Where("source_account_id = ?", id)
	}
	if st := c.QueryParam("state"); st != "" {
		if err := checkOneOf("state", st, migrationStates...); err != nil {
			return err
		}
		q = q.Where("state = ?", st)
	}
	var rows []models.Migration
	if err := q.Find(&rows).Error; err != nil {
		return err
	}
	out := MigrationList{Items: make([]MigrationResponse, 0, len(rows))}
	for _, m := range rows {
		out.Items = append(out.Items, toMigrationResponse(m))
	}
	return c.JSON(http.StatusOK, out)
}

// migrationStates are the values of MigrationResponse.State.
var migrationStates = []string{
	string(models.MigrationRunning), string(models.MigrationAwaitingConfirmation), string(models.MigrationAwaitingFirstMessage),
	string(models.MigrationCompleted), string(models.MigrationCancelled), string(models.MigrationExpired), string(models.MigrationFailed),
}

// getMigration handles GET /api/migrations/:id.
func (s *Server) getMigration(c echo.Context) error {
	mig, err := s.loadMigration(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toMigrationResponse(mig))
}

// confirmMigration tells the migration the account manager confirmed the
// number moved (it counts even while steps 1-4 still run).
func (s *Server) confirmMigration(c echo.Context) error {
	return s.signalMigration(c, workflows.MigrationConfirmSignalName, func(m models.Migration) error {
		if m.ConfirmedAt != nil || m.State == models.MigrationAwaitingFirstMessage {
			return &Error{Status: http.StatusConflict, Code: "already_confirmed", Message: fmt.Sprintf("migration %d is %s: the confirmation was already received", m.ID, m.State)}
		}
		return nil
	})
}

// cancelMigration cancels a migration that has not ended: the workflow
// undoes what it did and leaves the source account as it was.
func (s *Server) cancelMigration(c echo.Context) error {
	return s.signalMigration(c, workflows.MigrationCancelSignalName, func(models.Migration) error { return nil })
}

// retryMigration runs the failed credentials step again, after the admin
// corrected the new account's key with PATCH /api/whatsapp/accounts/{id}.
func (s *Server) retryMigration(c echo.Context) error {
	return s.signalMigration(c, workflows.MigrationRetrySignalName, func(m models.Migration) error {
		for _, st := range migrationSteps(m) {
			if st.Status == activities.StepFailed {
				return nil
			}
		}
		return &Error{Status: http.StatusConflict, Code: "nothing_to_retry", Message: fmt.Sprintf("migration %d is %s and has no failed step to retry", m.ID, m.State)}
	})
}

// signalMigration sends signal name to the migration's workflow after
// check accepted the row; a finished migration is a 409 naming its state.
func (s *Server) signalMigration(c echo.Context, name string, check func(models.Migration) error) error {
	mig, err := s.loadMigration(c)
	if err != nil {
		return err
	}
	if mig.State.Final() {
		return migrationEnded(mig)
	}
	if err := check(mig); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), engineTimeout)
	defer cancel()
	err = s.deps.Temporal.SignalWorkflow(ctx, mig.WorkflowID, "", name, workflows.MigrationSignal{By: "admin"})
	var gone *serviceerror.NotFound
	if errors.As(err, &gone) {
		// The workflow ended after the row was read: report its end.
		if e := s.deps.DB.WithContext(c.Request().Context()).Take(&mig, mig.ID).Error; e != nil {
			return e
		}
		return migrationEnded(mig)
	}
	if err != nil {
		return errUnavailable("engine_unavailable", "the workflow engine did not take the request; retry", err)
	}
	s.log.InfoContext(c.Request().Context(), "migration signalled", "migration_id", mig.ID, "signal", name, "request_id", requestID(c))
	return c.JSON(http.StatusAccepted, toMigrationResponse(mig))
}

// migrationEnded is the 409 of a request to a finished migration.
func migrationEnded(m models.Migration) *Error {
	return &Error{Status: http.StatusConflict, Code: "migration_finished", Message: fmt.Sprintf("migration %d is %s: it has ended", m.ID, m.State)}
}

// loadMigration reads the migration of the :id path parameter.
func (s *Server) loadMigration(c echo.Context) (models.Migration, error) {
	id, err := parseID(c, "id")
	if err != nil {
		return models.Migration{}, err
	}
	var mig models.Migration
	err = s.deps.DB.WithContext(c.Request().Context()).Take(&mig, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return mig, notFound("migration", id)
	}
	return mig, err
}

// migrationSteps decodes the row's steps (all pending before the workflow
// recorded any).
func migrationSteps(m models.Migration) []activities.MigrationStep {
	var steps []activities.MigrationStep
	if m.Steps == "" || json.Unmarshal([]byte(m.Steps), &steps) != nil || len(steps) == 0 {
		return activities.NewMigrationSteps()
	}
	return steps
}

// toMigrationResponse is the API view of a migration row.
func toMigrationResponse(m models.Migration) MigrationResponse {
	var target activities.MigrationTarget
	_ = json.Unmarshal([]byte(m.Target), &target)
	return MigrationResponse{
		ID: m.ID, WorkflowID: m.WorkflowID, SourceAccountID: m.SourceAccountID, TargetAccountID: m.TargetAccountID,
		State: string(m.State), Steps: migrationSteps(m), NextAction: m.NextAction, Error: m.Error, Target: target,
		BridgeQueueID: m.BridgeQueueID, BridgeCreated: m.BridgeCreated, Reminders: m.Reminders,
		StartedAt: m.StartedAt, ConfirmedAt: m.ConfirmedAt, FinishedAt: m.FinishedAt, UpdatedAt: m.UpdatedAt,
	}
}
