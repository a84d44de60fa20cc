package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/workflows"
)

// The workflow turns retentions into cutoffs from its own start time,
// retries a failed prune and answers its state query with the counts.
func TestRetentionWorkflow(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	start := time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	var a *activities.Activities
	var got []activities.PruneInput
	env.OnActivity(a.Prune, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PruneInput) (activities.PruneResult, error) {
			got = append(got, in)
			if len(got) == 1 {
				return activities.PruneResult{}, errors.New("database unavailable")
			}
			return activities.PruneResult{AgentEvents: 1200, AccountEvents: 3, Nonces: 40, MediaExpired: 12, MediaFiles: 9}, nil
		})
	env.ExecuteWorkflow(workflows.RetentionWorkflow, workflows.RetentionInput{
		AgentEvents: 720 * time.Hour, AccountEvents: 0, Nonces: 49 * time.Hour, Media: 2160 * time.Hour, BatchSize: 500,
	})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.RetentionResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, workflows.RetentionResult{AgentEvents: 1200, AccountEvents: 3, Nonces: 40, MediaExpired: 12, MediaFiles: 9}, res)

	require.Len(t, got, 2, "a failed attempt is retried")
	want := activities.PruneInput{
		AgentEventsBefore: start.Add(-720 * time.Hour), NoncesBefore: start.Add(-49 * time.Hour),
		MediaBefore: start.Add(-2160 * time.Hour), BatchSize: 500,
	}
	assert.Equal(t, want, got[0])
	assert.Equal(t, got[0], got[1], "the retry deletes against the same cutoffs")
	assert.True(t, got[0].AccountEventsBefore.IsZero(), "0 keeps account events")

	v, err := env.QueryWorkflow(workflows.StateQueryName)
	require.NoError(t, err)
	var state workflows.RetentionState
	require.NoError(t, v.Get(&state))
	assert.True(t, state.Done)
	assert.Equal(t, res, state.Result)
	assert.Equal(t, want, state.Cutoffs)
}

func TestRetentionWorkflowID(t *testing.T) {
	at := time.Date(2026, 12, 1, 23, 0, 0, 500, time.FixedZone("CET", 3600))
	assert.Equal(t, "retention-2026-12-01T22:00:00Z", workflows.RetentionWorkflowID(at))
}

// RETENTION_MEDIA off (0), as in every history recorded before it
// existed, hands the prune no media cutoff: no file is touched.
func TestRetentionWorkflowMediaOff(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	var a *activities.Activities
	var got activities.PruneInput
	env.OnActivity(a.Prune, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PruneInput) (activities.PruneResult, error) {
			got = in
			return activities.PruneResult{}, nil
		})
	env.ExecuteWorkflow(workflows.RetentionWorkflow, workflows.RetentionInput{AgentEvents: time.Hour})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	assert.False(t, got.AgentEventsBefore.IsZero())
	assert.True(t, got.MediaBefore.IsZero(), "off keeps every file")
}
