package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/xcally-connector/connector/workflows"
)

// maxReconcileRange bounds a reconciliation: Sinch keeps CONVERSATION-mode
// messages 180 days by default.
const maxReconcileRange = 180 * 24 * time.Hour

// ReconcileRequest is the body of POST /api/whatsapp/accounts/{id}/reconcile.
type ReconcileRequest struct {
	// From and To bound Sinch's accept_time of the messages to recover
	// (RFC 3339); To defaults to now.
	From *time.Time `json:"from"`
	To   *time.Time `json:"to"`
}

// ReconcileResponse is a reconciliation and, once done, its counts.
type ReconcileResponse struct {
	ID         string `json:"id"`
	AccountID  uint64 `json:"accountId"`
	WorkflowID string `json:"workflowId"`
	// From and To are returned by POST.
	From *time.Time `json:"from,omitempty"`
	To   *time.Time `json:"to,omitempty"`
	// Status is running, completed, failed, canceled, terminated or timed_out.
	Status string `json:"status"`
	// Result is set once completed.
	Result *workflows.ReconcileResult `json:"result,omitempty"`
	// Error is set when it failed.
	Error string `json:"error,omitempty"`
}

var reconcileIDRe = regexp.MustCompile(`^[0-9]{1,20}$`)

func (s *Server) registerReconcileRoutes(e *echo.Echo) {
	e.POST("/api/whatsapp/accounts/:id/reconcile", s.startReconcile, s.requireAdmin)
	e.GET("/api/whatsapp/accounts/:id/reconcile/:rid", s.getReconcile, s.requireAdmin)
}

// startReconcile starts a ReconcileWorkflow for the account and answers
// 202 with its id.
func (s *Server) startReconcile(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	acc, err := loadAccount(s.deps.DB.WithContext(ctx), id)
	if err != nil {
		return err
	}
	var req ReconcileRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	now := time.Now().UTC()
	if req.From == nil {
		return errBadRequest("invalid_range", "from: required, the RFC 3339 time from which to recover messages")
	}
	from, to := req.From.UTC(), now
	if req.To != nil {
		to = req.To.UTC()
	}
	switch {
	case !from.Before(to):
		return errBadRequest("invalid_range", fmt.Sprintf("from (%s) must be before to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339)))
	case to.Sub(from) > maxReconcileRange:
		return errBadRequest("invalid_range", fmt.Sprintf("the range is %s, more than the 180 days Sinch keeps messages", to.Sub(from).Round(time.Hour)))
	case from.After(now):
		return errBadRequest("invalid_range", "from is in the future")
	}
	rid := strconv.FormatInt(now.UnixNano(), 10)
	wfID := workflows.ReconcileWorkflowID(id, rid)
	sctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	if _, err := s.deps.Temporal.ExecuteWorkflow(sctx, client.StartWorkflowOptions{ID: wfID, TaskQueue: s.deps.TaskQueue, Memo: workflows.AccountMemo(acc.Name)},
		workflows.ReconcileWorkflowName, workflows.ReconcileInput{AccountID: id, From: from, To: to}); err != nil {
		return errUnavailable("engine_unavailable", "the workflow engine did not start the reconciliation; retry", err)
	}
	s.log.Info("reconciliation started", "account_id", id, "workflow_id", wfID, "from", from, "to", to)
	return c.JSON(http.StatusAccepted, ReconcileResponse{ID: rid, AccountID: id, WorkflowID: wfID, From: &from, To: &to, Status: "running"})
}

// getReconcile reports a reconciliation's state and counts.
func (s *Server) getReconcile(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	rid := c.Param("rid")
	if !reconcileIDRe.MatchString(rid) {
		return errBadRequest("invalid_id", fmt.Sprintf("rid: want the id returned by POST …/reconcile, got %q", rid))
	}
	wfID := workflows.ReconcileWorkflowID(id, rid)
	ctx, cancel := context.WithTimeout(c.Request().Context(), engineTimeout)
	defer cancel()
	desc, err := s.deps.Temporal.DescribeWorkflowExecution(ctx, wfID, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("no reconciliation %s of account %d", rid, id)}
	}
	if err != nil {
		return errUnavailable("engine_unavailable", "the workflow engine is unreachable; retry later", err)
	}
	resp := ReconcileResponse{ID: rid, AccountID: id, WorkflowID: wfID}
	info := desc.GetWorkflowExecutionInfo()
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		resp.Status = "running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		resp.Status = "completed"
		var res workflows.ReconcileResult
		if err := s.deps.Temporal.GetWorkflow(ctx, wfID, "").Get(ctx, &res); err != nil {
			return errUnavailable("engine_unavailable", "cannot read the reconciliation's result; retry", err)
		}
		resp.Result = &res
	default:
		resp.Status = map[enumspb.WorkflowExecutionStatus]string{
			enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:   "canceled",
			enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED: "terminated",
			enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:  "timed_out",
		}[info.GetStatus()]
		if resp.Status == "" {
			resp.Status = "failed"
		}
		if err := s.deps.Temporal.GetWorkflow(ctx, wfID, "").Get(ctx, nil); err != nil {
			resp.Error = rootMessage(err)
		}
	}
	return c.JSON(http.StatusOK, resp)
}
