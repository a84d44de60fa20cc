// Package worker is the single place where the connector's workflows and
// activities are registered with a Temporal worker, and runs that worker.
// Registration names are the shipped ones and are never changed (running
// histories refer to them); it holds no business logic and serves no HTTP.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/workflows"
)

// Register adds every workflow and activity of the connector to r.
func Register(r sdkworker.Registry, acts *activities.Activities) {
	RegisterWorkflows(r)
	r.RegisterActivity(acts)
}

// RegisterWorkflows adds every workflow under its fixed name; the replayer
// uses it alone.
func RegisterWorkflows(r sdkworker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(workflows.DiagnosticsWorkflow, workflow.RegisterOptions{Name: workflows.DiagnosticsWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.ConversationWorkflow, workflow.RegisterOptions{Name: workflows.ConversationWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.ReconcileWorkflow, workflow.RegisterOptions{Name: workflows.ReconcileWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.MediaFetchWorkflow, workflow.RegisterOptions{Name: workflows.MediaFetchWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.MigrationWorkflow, workflow.RegisterOptions{Name: workflows.MigrationWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.RetentionWorkflow, workflow.RegisterOptions{Name: workflows.RetentionWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.AgentReleaseWorkflow, workflow.RegisterOptions{Name: workflows.AgentReleaseWorkflowName})
}

// New builds a worker on taskQueue with every workflow and activity
// registered. On Stop, running activities get stopTimeout to finish before
// they are cancelled (defaultStopTimeout when 0).
func New(c client.Client, taskQueue string, acts *activities.Activities, stopTimeout time.Duration) sdkworker.Worker {
	if stopTimeout <= 0 {
		stopTimeout = defaultStopTimeout
	}
	w := sdkworker.New(c, taskQueue, sdkworker.Options{
		WorkerStopTimeout: stopTimeout,
	})
	Register(w, acts)
	return w
}

// Run starts w and blocks until ctx is done, then stops it gracefully.
func Run(ctx context.Context, w sdkworker.Worker, log *slog.Logger) error {
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	log.Info("worker polling")
	<-ctx.Done()
	w.Stop()
	log.Info("worker stopped")
	return nil
}
