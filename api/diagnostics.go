package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/xcally-connector/connector/workflows"
)

// diagnosticsTimeout is how long GET /api/diagnostics waits for a worker.
const diagnosticsTimeout = 10 * time.Second

// diagnostics runs DiagnosticsWorkflow on the task queue and reports what the
// worker saw; 503 when no worker answers in time.
func (s *Server) diagnostics(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), diagnosticsTimeout)
	defer cancel()
	start := time.Now()
	id := workflows.DiagnosticsWorkflowID(start)
	run, err := s.deps.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: s.deps.TaskQueue,
		// The run is abandoned by the engine if no worker picks it up.
		WorkflowExecutionTimeout: diagnosticsTimeout + 5*time.Second,
	}, workflows.DiagnosticsWorkflowName, workflows.DiagnosticsInput{})
	if err != nil {
		return errUnavailable("engine_unavailable", "cannot start the diagnostics workflow: the workflow engine is unreachable", err)
	}
	var res workflows.DiagnosticsResult
	if err := run.Get(ctx, &res); err != nil {
		var appErr *temporal.ApplicationError
		switch {
		case errors.As(err, &appErr):
			return &Error{Status: http.StatusServiceUnavailable, Code: "worker_check_failed", Message: appErr.Message(), Err: err}
		case ctx.Err() != nil:
			return errUnavailable("no_worker", fmt.Sprintf("no worker answered on task queue %q within %s", s.deps.TaskQueue, diagnosticsTimeout), err)
		default:
			return errUnavailable("worker_check_failed", "the diagnostics workflow failed: "+err.Error(), err)
		}
	}
	db := res.Database
	return c.JSON(http.StatusOK, DiagnosticsResponse{
		WorkflowID:     id,
		Engine:         db.Engine,
		SchemaVersion:  db.SchemaVersion,
		ExpectedSchema: db.ExpectedSchema,
		DBLatencyMs:    float64(db.Latency.Microseconds()) / 1000,
		WorkerIdentity: db.WorkerIdentity,
		CheckedAt:      db.CheckedAt,
		RoundTripMs:    float64(time.Since(start).Microseconds()) / 1000,
	})
}
