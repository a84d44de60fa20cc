package workflows_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/workflows"
)

func TestReconcileWalksEveryPage(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	var a *activities.Activities
	var tokens []string
	env.OnActivity(a.ReconcilePage, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ReconcilePageInput) (activities.ReconcilePageResult, error) {
			tokens = append(tokens, in.PageToken)
			n := len(tokens)
			res := activities.ReconcilePageResult{Listed: 1000, Missing: n, Skipped: 1}
			if n < 3 {
				res.NextPageToken = fmt.Sprintf("page-%d", n+1)
			}
			return res, nil
		})
	from := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	env.ExecuteWorkflow(workflows.ReconcileWorkflow, workflows.ReconcileInput{AccountID: 4, From: from, To: from.Add(time.Hour)})
	require.NoError(t, env.GetWorkflowError())
	var res workflows.ReconcileResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, []string{"", "page-2", "page-3"}, tokens, "follows next_page_token to the end")
	assert.Equal(t, workflows.ReconcileResult{Pages: 3, Listed: 3000, Missing: 6, Skipped: 3}, res)
}

func TestReconcileStopsOnAConfigError(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	var a *activities.Activities
	calls := 0
	env.OnActivity(a.ReconcilePage, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ReconcilePageInput) (activities.ReconcilePageResult, error) {
			calls++
			return activities.ReconcilePageResult{}, temporal.NewNonRetryableApplicationError("UNAUTHENTICATED: check the Sinch account settings",
				activities.ErrTypeSinchConfig, nil, activities.Failure{Code: "UNAUTHENTICATED", Class: models.ErrorClassConfig})
		})
	env.ExecuteWorkflow(workflows.ReconcileWorkflow, workflows.ReconcileInput{AccountID: 4})
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "check the Sinch account settings")
	assert.Equal(t, 1, calls, "a configuration error is not retried")
}

// The state query shows a reconciliation's progress while it pages and
// after it ended.
func TestReconcileStateQuery(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	var a *activities.Activities
	pages := 0
	env.OnActivity(a.ReconcilePage, mock.Anything, mock.Anything).After(time.Minute).Return(
		func(_ context.Context, in activities.ReconcilePageInput) (activities.ReconcilePageResult, error) {
			pages++
			res := activities.ReconcilePageResult{Listed: 10, Missing: 2}
			if pages == 1 {
				res.NextPageToken = "page-2"
			}
			return res, nil
		})
	state := func() workflows.ReconcileState {
		v, err := env.QueryWorkflow(workflows.StateQueryName)
		require.NoError(t, err)
		var st workflows.ReconcileState
		require.NoError(t, v.Get(&st))
		return st
	}
	from := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	env.RegisterDelayedCallback(func() {
		st := state()
		assert.EqualValues(t, 4, st.AccountID)
		assert.Equal(t, workflows.ReconcileResult{Pages: 1, Listed: 10, Missing: 2}, st.Totals, "after the first page")
		assert.Equal(t, "page-2", st.NextPageToken)
	}, 90*time.Second)
	env.ExecuteWorkflow(workflows.ReconcileWorkflow, workflows.ReconcileInput{AccountID: 4, From: from, To: from.Add(time.Hour)})
	require.NoError(t, env.GetWorkflowError())
	st := state()
	assert.Equal(t, workflows.ReconcileResult{Pages: 2, Listed: 20, Missing: 4}, st.Totals)
	assert.Empty(t, st.NextPageToken)
	assert.True(t, st.From.Equal(from))
}
