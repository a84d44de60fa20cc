package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/workflows"
)

// mediaEnv runs MediaFetchWorkflow with fetch standing in for FetchMedia
// and records what FailMediaFetch was asked.
func mediaEnv(t *testing.T, fetch func(context.Context, activities.FetchMediaInput) (activities.FetchMediaResult, error)) (*testsuite.TestWorkflowEnvironment, *[]activities.FailMediaFetchInput) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *activities.Activities
	env.RegisterActivity(a)
	env.OnActivity(a.FetchMedia, mock.Anything, mock.Anything).Return(fetch)
	var failed []activities.FailMediaFetchInput
	env.OnActivity(a.FailMediaFetch, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FailMediaFetchInput) error {
		failed = append(failed, in)
		return nil
	})
	return env, &failed
}

func TestMediaFetchStores(t *testing.T) {
	calls := 0
	env, failed := mediaEnv(t, func(_ context.Context, in activities.FetchMediaInput) (activities.FetchMediaResult, error) {
		calls++
		if calls < 3 {
			return activities.FetchMediaResult{}, errors.New("connection reset") // transient: retried
		}
		return activities.FetchMediaResult{Stored: []activities.StoredAttachment{{AttachmentID: 9, ContentType: "image/jpeg", Size: 10}}}, nil
	})
	env.ExecuteWorkflow(workflows.MediaFetchWorkflow, workflows.MediaFetchInput{AccountID: 1, ProviderMessageID: "m1"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.MediaFetchResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, 3, calls)
	assert.Equal(t, uint64(9), res.Stored[0].AttachmentID)
	assert.Empty(t, *failed)
}

func TestMediaFetchPermanentFailureIsRecorded(t *testing.T) {
	calls := 0
	env, failed := mediaEnv(t, func(context.Context, activities.FetchMediaInput) (activities.FetchMediaResult, error) {
		calls++
		return activities.FetchMediaResult{}, temporal.NewNonRetryableApplicationError("the media URL resolves to a private address: refused", activities.ErrTypeMediaFetch, nil)
	})
	env.ExecuteWorkflow(workflows.MediaFetchWorkflow, workflows.MediaFetchInput{AccountID: 1, ProviderMessageID: "m2"})
	require.True(t, env.IsWorkflowCompleted())
	require.Error(t, env.GetWorkflowError(), "a failed fetch fails the workflow, for operators")
	assert.Equal(t, 1, calls, "a permanent failure is not retried")
	require.Len(t, *failed, 1)
	assert.Equal(t, "m2", (*failed)[0].ProviderMessageID)
	assert.Equal(t, "the media URL resolves to a private address: refused", (*failed)[0].Reason)
	assert.Zero(t, (*failed)[0].RetriedFor)
}

func TestMediaFetchGivesUpAfterRetryFor(t *testing.T) {
	calls := 0
	env, failed := mediaEnv(t, func(context.Context, activities.FetchMediaInput) (activities.FetchMediaResult, error) {
		calls++
		return activities.FetchMediaResult{}, temporal.NewApplicationError("disk space low on the connector", activities.ErrTypeMediaDiskLow)
	})
	env.ExecuteWorkflow(workflows.MediaFetchWorkflow, workflows.MediaFetchInput{AccountID: 1, ProviderMessageID: "m3", RetryFor: 10 * time.Minute})
	require.True(t, env.IsWorkflowCompleted())
	require.Error(t, env.GetWorkflowError())
	assert.Greater(t, calls, 3, "a full disk is retried until RetryFor")
	require.Len(t, *failed, 1)
	assert.Equal(t, 10*time.Minute, (*failed)[0].RetriedFor)
	assert.Equal(t, "disk space low on the connector", (*failed)[0].Reason, "the last attempt's error")
}

// A media message makes the conversation start its fetch as a child,
// once per message (a redelivery is deduped), and the conversation still
// ends on its own: the child is abandoned, not awaited.
func (s *ConversationSuite) TestMediaMessageStartsItsFetch() {
	s.db.routeResults = []activities.RouteResult{assignedTo(5, 2)}
	var fetched []workflows.MediaFetchInput
	s.env.RegisterWorkflowWithOptions(workflows.MediaFetchWorkflow, workflow.RegisterOptions{Name: workflows.MediaFetchWorkflowName})
	s.env.OnWorkflow(workflows.MediaFetchWorkflowName, mock.Anything, mock.Anything).Return(
		func(_ workflow.Context, in workflows.MediaFetchInput) (workflows.MediaFetchResult, error) {
			fetched = append(fetched, in)
			return workflows.MediaFetchResult{}, nil
		})
	photo := msg("m1", 0)
	photo.Kind, photo.MediaURL, photo.Text = "media", "https://media.sinch.example/photo.jpg", "photo.jpg"
	s.signalAt(time.Second, workflows.InboundSignalName, photo)
	s.signalAt(2*time.Second, workflows.InboundSignalName, msg("m2", time.Second))
	s.signalAt(3*time.Second, workflows.InboundSignalName, photo)
	in := input()
	in.MediaFetchRetry = 5 * time.Minute
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, in)
	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(fetched, 1, "one fetch for the one media message")
	s.Equal(workflows.MediaFetchInput{AccountID: 1, ProviderMessageID: "m1", RetryFor: 5 * time.Minute}, fetched[0])
}

// The state query says where a fetch is: fetching, then failed with why.
func TestMediaFetchStateQuery(t *testing.T) {
	env, _ := mediaEnv(t, func(context.Context, activities.FetchMediaInput) (activities.FetchMediaResult, error) {
		return activities.FetchMediaResult{}, temporal.NewApplicationError("Sinch's media host answered 503", "MediaUnavailable")
	})
	state := func() workflows.MediaFetchState {
		v, err := env.QueryWorkflow(workflows.StateQueryName)
		require.NoError(t, err)
		var st workflows.MediaFetchState
		require.NoError(t, v.Get(&st))
		return st
	}
	env.RegisterDelayedCallback(func() {
		st := state()
		assert.Equal(t, "fetching", st.Phase, "retrying")
		assert.Equal(t, "m4", st.ProviderMessageID)
	}, time.Minute)
	env.ExecuteWorkflow(workflows.MediaFetchWorkflow, workflows.MediaFetchInput{AccountID: 1, ProviderMessageID: "m4", RetryFor: 10 * time.Minute})
	require.Error(t, env.GetWorkflowError())
	st := state()
	assert.Equal(t, "failed", st.Phase)
	assert.Contains(t, st.Error, "Sinch's media host answered 503")
}
