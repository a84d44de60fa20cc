package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
)

// AgentReleaseWorkflowName takes an agent's open interactions back after it
// lost access to them; never rename it.
const AgentReleaseWorkflowName = "AgentReleaseWorkflow"

// Reasons of a take back.
const (
	ReleasePermissionRevoked = "permission_revoked"
	ReleaseAccountDisabled   = "account_disabled"
	ReleaseAgentDeleted      = "agent_deleted"
)

// AgentReleaseInput names the agent and the account it lost (0: every
// account, the agent was deleted).
type AgentReleaseInput struct {
	AgentID   uint64
	AccountID uint64
	Reason    string
}

// AgentReleaseResult counts what the release did.
type AgentReleaseResult struct {
	// Signalled conversations took the interaction back (or found nothing
	// to do); NotRunning ones had ended in the meantime.
	Signalled  int
	NotRunning int
}

// AgentReleaseWorkflow takes back what an agent held on an account it may
// no longer reach: the API starts it after the access change is committed,
// so routing no longer picks the agent. It lists the open interactions the
// agent holds or was offered and signals each conversation (TakeBackSignal);
// a conversation takes it back like a timeout. Durable: an API crash after
// the commit or an engine outage does not leave interactions with an agent
// who cannot see them, and running it twice is harmless.
func AgentReleaseWorkflow(ctx workflow.Context, in AgentReleaseInput) (AgentReleaseResult, error) {
	var res AgentReleaseResult
	if err := workflow.SetQueryHandler(ctx, StateQueryName, func() (AgentReleaseResult, error) { return res, nil }); err != nil {
		return res, err
	}
	var a *activities.Activities
	var held activities.HeldInteractionsResult
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         dbRetryPolicy(),
	})
	if err := execute(actx, a.HeldInteractions, activities.HeldInteractionsInput{AgentID: in.AgentID, AccountID: in.AccountID}).Get(ctx, &held); err != nil {
		return res, err
	}
	logger := workflow.GetLogger(ctx)
	for _, h := range held.Items {
		sig := TakeBackSignal{AgentID: in.AgentID, InteractionID: h.InteractionID, Reason: in.Reason}
		err := workflow.SignalExternalWorkflow(ctx, h.WorkflowID, "", TakeBackSignalName, sig).Get(ctx, nil)
		var gone *temporal.UnknownExternalWorkflowExecutionError
		switch {
		case err == nil:
			res.Signalled++
		case errors.As(err, &gone):
			// The conversation ended (closed and idle): nothing to take back.
			logger.Info("conversation not running", "workflow", h.WorkflowID, "interaction", h.InteractionID)
			res.NotRunning++
		default:
			return res, err
		}
	}
	return res, nil
}
