package logctx

import (
	"context"
	"log/slog"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
)

// ClientInterceptor adds workflow_id to the log fields of the calling
// context (see With) whenever the Temporal client starts, signals, updates,
// cancels or terminates a workflow: an API request's log line then names
// the workflow it acted on, with no code in the handlers.
func ClientInterceptor() interceptor.ClientInterceptor { return &clientInterceptor{} }

type clientInterceptor struct {
	interceptor.ClientInterceptorBase
}

func (*clientInterceptor) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	return &clientOutbound{ClientOutboundInterceptorBase: interceptor.ClientOutboundInterceptorBase{Next: next}}
}

type clientOutbound struct {
	interceptor.ClientOutboundInterceptorBase
}

func noteWorkflow(ctx context.Context, id string) {
	if id != "" {
		Add(ctx, slog.String("workflow_id", id))
	}
}

func (c *clientOutbound) ExecuteWorkflow(ctx context.Context, in *interceptor.ClientExecuteWorkflowInput) (client.WorkflowRun, error) {
	if in.Options != nil {
		noteWorkflow(ctx, in.Options.ID)
	}
	return c.Next.ExecuteWorkflow(ctx, in)
}

func (c *clientOutbound) SignalWorkflow(ctx context.Context, in *interceptor.ClientSignalWorkflowInput) error {
	noteWorkflow(ctx, in.WorkflowID)
	return c.Next.SignalWorkflow(ctx, in)
}

func (c *clientOutbound) SignalWithStartWorkflow(ctx context.Context, in *interceptor.ClientSignalWithStartWorkflowInput) (client.WorkflowRun, error) {
	if in.Options != nil {
		noteWorkflow(ctx, in.Options.ID)
	}
	return c.Next.SignalWithStartWorkflow(ctx, in)
}

func (c *clientOutbound) UpdateWorkflow(ctx context.Context, in *interceptor.ClientUpdateWorkflowInput) (client.WorkflowUpdateHandle, error) {
	noteWorkflow(ctx, in.WorkflowID)
	return c.Next.UpdateWorkflow(ctx, in)
}

func (c *clientOutbound) CancelWorkflow(ctx context.Context, in *interceptor.ClientCancelWorkflowInput) error {
	noteWorkflow(ctx, in.WorkflowID)
	return c.Next.CancelWorkflow(ctx, in)
}

func (c *clientOutbound) TerminateWorkflow(ctx context.Context, in *interceptor.ClientTerminateWorkflowInput) error {
	noteWorkflow(ctx, in.WorkflowID)
	return c.Next.TerminateWorkflow(ctx, in)
}
