package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
)

// DiagnosticsInput configures a diagnostics run.
type DiagnosticsInput struct{}

// DiagnosticsResult reports what a worker polling the task queue saw.
type DiagnosticsResult struct {
	Database activities.CheckDatabaseResult
}

// DiagnosticsWorkflow proves end to end that a worker polls the task queue
// and reaches its database with an up-to-date schema. The API runs it for
// GET /api/diagnostics; operators can also start it from the Temporal UI.
func DiagnosticsWorkflow(ctx workflow.Context, _ DiagnosticsInput) (DiagnosticsResult, error) {
	var a *activities.Activities
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A healthy worker answers in milliseconds; the caller waits ~10s.
		StartToCloseTimeout: 5 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 2},
	})
	var res DiagnosticsResult
	if err := workflow.SetQueryHandler(ctx, StateQueryName, func() (DiagnosticsResult, error) { return res, nil }); err != nil {
		return res, err
	}
	err := execute(ctx, a.CheckDatabase, activities.CheckDatabaseInput{}).Get(ctx, &res.Database)
	return res, err
}
