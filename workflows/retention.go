package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
)

// RetentionWorkflowName prunes old agent events, account events and webhook
// nonces, and expires old media files; the Temporal schedule
// RetentionScheduleID runs it.
const RetentionWorkflowName = "RetentionWorkflow"

// RetentionInput is how long each table keeps its rows (0: forever). The
// schedule's action carries it, so a worker started with other RETENTION_*
// values updates it.
type RetentionInput struct {
	AgentEvents   time.Duration
	AccountEvents time.Duration
	// Nonces is WEBHOOK_TIMESTAMP_TOLERANCE plus a margin: an older nonce
	// can never be replayed, since its request fails the timestamp check.
	Nonces time.Duration
	// Media is how long a stored media file is kept (RETENTION_MEDIA),
	// counted from when it was stored. Histories started before it existed
	// decode it as 0: their files are kept.
	Media time.Duration
	// BatchSize bounds each DELETE (activities.DefaultPruneBatch when 0).
	BatchSize int
}

// RetentionResult counts the rows deleted per table and the media expired.
type RetentionResult = activities.PruneResult

// RetentionState is a retention run's state query: its cutoffs, whether
// the prune is done and what it deleted.
type RetentionState struct {
	Cutoffs activities.PruneInput
	Done    bool
	Result  RetentionResult
	Error   string `json:",omitempty"`
}

// RetentionWorkflow computes the cutoffs from its start time and runs the
// batched Prune activity once. It is safe to run at any time and any
// number of times: each run deletes what is older than its cutoffs.
func RetentionWorkflow(ctx workflow.Context, in RetentionInput) (RetentionResult, error) {
	now := workflow.Now(ctx)
	cutoff := func(keep time.Duration) time.Time {
		if keep <= 0 {
			return time.Time{}
		}
		return now.Add(-keep).UTC()
	}
	state := RetentionState{Cutoffs: activities.PruneInput{
		AgentEventsBefore: cutoff(in.AgentEvents), AccountEventsBefore: cutoff(in.AccountEvents),
		NoncesBefore: cutoff(in.Nonces), MediaBefore: cutoff(in.Media), BatchSize: in.BatchSize,
	}}
	if err := workflow.SetQueryHandler(ctx, StateQueryName, func() (RetentionState, error) { return state, nil }); err != nil {
		return state.Result, err
	}
	var a *activities.Activities
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// Millions of rows in batches of 1000 take minutes; a batch that
		// hangs is noticed by the heartbeat timeout and retried, resuming
		// from the counts of its last heartbeat.
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			// The next scheduled run tries again anyway.
			MaximumAttempts: 10,
		},
	})
	err := execute(ctx, a.Prune, state.Cutoffs).Get(ctx, &state.Result)
	state.Done = err == nil
	if err != nil {
		state.Error = err.Error()
	}
	return state.Result, err
}
