package workflows

// Workflow type names are fixed here and in every stored history: never
// rename a registered workflow.
const (
	// DiagnosticsWorkflowName runs the worker-side health checks.
	DiagnosticsWorkflowName = "DiagnosticsWorkflow"
)
