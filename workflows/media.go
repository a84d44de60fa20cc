package workflows

import (
	"errors"
	"fmt"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
)

// Defaults of MediaFetchInput.
const (
	// DefaultMediaFetchRetry is how long transient failures (network, a
	// full disk) are retried before the attachment fails visibly.
	DefaultMediaFetchRetry = time.Hour
	// DefaultMediaFetchAttempt bounds one download attempt.
	DefaultMediaFetchAttempt = 3 * time.Minute
)

// MediaFetchInput names the inbound message whose files to fetch.
type MediaFetchInput struct {
	AccountID         uint64
	ProviderMessageID string
	// RetryFor and AttemptTimeout override the defaults above (MEDIA_*).
	RetryFor       time.Duration `json:",omitempty"`
	AttemptTimeout time.Duration `json:",omitempty"`
}

// MediaFetchResult is what the fetch stored.
type MediaFetchResult struct {
	Stored []activities.StoredAttachment
}

// MediaFetchState is a fetch's progress, answered by its state query.
type MediaFetchState struct {
	AccountID         uint64
	ProviderMessageID string
	// Phase is fetching, recording_failure, stored or failed.
	Phase string
	// Error is why the fetch failed, once it did.
	Error  string                        `json:",omitempty"`
	Stored []activities.StoredAttachment `json:",omitempty"`
}

// MediaFetchWorkflow keeps a customer's files on the connector: it runs
// FetchMedia, retrying transient failures for RetryFor, and when the fetch
// fails for good it records the failure (FailMediaFetch: the attachment is
// failed and the interaction gets a system message) and fails itself, so
// operators find failed fetches in the Temporal UI. The conversation starts
// it for every stored media message; POST /api/attachments/{id}/retry
// starts it again under the same id.
func MediaFetchWorkflow(ctx workflow.Context, in MediaFetchInput) (MediaFetchResult, error) {
	if in.RetryFor <= 0 {
		in.RetryFor = DefaultMediaFetchRetry
	}
	if in.AttemptTimeout <= 0 {
		in.AttemptTimeout = DefaultMediaFetchAttempt
	}
	fetchCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    in.AttemptTimeout,
		ScheduleToCloseTimeout: in.RetryFor,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        2 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeMediaFetch, activities.ErrTypeBadInput},
		},
	})
	st := MediaFetchState{AccountID: in.AccountID, ProviderMessageID: in.ProviderMessageID, Phase: "fetching"}
	if err := workflow.SetQueryHandler(ctx, StateQueryName, func() (MediaFetchState, error) { return st, nil }); err != nil {
		return MediaFetchResult{}, err
	}
	var a *activities.Activities
	var res activities.FetchMediaResult
	err := execute(fetchCtx, a.FetchMedia, activities.FetchMediaInput{
		AccountID: in.AccountID, ProviderMessageID: in.ProviderMessageID,
	}).Get(ctx, &res)
	if err == nil {
		st.Phase, st.Stored = "stored", res.Stored
		return MediaFetchResult{Stored: res.Stored}, nil
	}
	st.Phase, st.Error = "recording_failure", err.Error()
	failed := activities.FailMediaFetchInput{AccountID: in.AccountID, ProviderMessageID: in.ProviderMessageID}
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr) && !appErr.NonRetryable() && appErr.Type() != activities.ErrTypeMediaFetch && appErr.Type() != activities.ErrTypeBadInput:
		// Transient failures until RetryFor ran out (the SDK hands back
		// the last attempt's error).
		failed.Reason, failed.RetriedFor = appErr.Message(), in.RetryFor
	case appErr != nil:
		failed.Reason = appErr.Message()
	default:
		// A timeout without an application error: the attachment keeps
		// the last attempt's error.
		failed.RetriedFor = in.RetryFor
	}
	if ferr := execute(dbCtx(ctx), a.FailMediaFetch, failed).Get(ctx, nil); ferr != nil {
		return MediaFetchResult{}, ferr
	}
	st.Phase = "failed"
	return MediaFetchResult{}, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("attachments of message %s not stored: %v", in.ProviderMessageID, err), activities.ErrTypeMediaFetch, err)
}

// mediaFetchChange names the workflow.GetVersion change that made the
// conversation start MediaFetchWorkflow for its media messages.
const mediaFetchChange = "media-fetch"

// fetchMedia starts the fetch of every media message of a stored batch as
// an abandoned child (it outlives a continue-as-new or the end of the
// conversation). The start is awaited before the run ends (awaitMediaStarts).
func (c *conversation) fetchMedia(ctx workflow.Context, msgs []InboundSignal) {
	started := c.mediaStarts[:0]
	for _, f := range c.mediaStarts {
		if !f.IsReady() {
			started = append(started, f)
		}
	}
	c.mediaStarts = started
	for _, m := range msgs {
		if m.MediaURL == "" {
			continue
		}
		if workflow.GetVersion(ctx, mediaFetchChange, workflow.DefaultVersion, 1) < 1 {
			return
		}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:        MediaFetchWorkflowID(c.st.AccountID, m.MessageID),
			ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON,
		})
		fut := workflow.ExecuteChildWorkflow(cctx, MediaFetchWorkflowName, MediaFetchInput{
			AccountID: c.st.AccountID, ProviderMessageID: m.MessageID,
			RetryFor: c.in.MediaFetchRetry, AttemptTimeout: c.in.MediaFetchAttempt,
		})
		c.mediaStarts = append(c.mediaStarts, fut.GetChildWorkflowExecution())
	}
}

// awaitMediaStarts waits until every child fetch has started (or failed to
// start, e.g. a retry already runs under its id): a run must not end
// before its children exist.
func (c *conversation) awaitMediaStarts(ctx workflow.Context) {
	for _, f := range c.mediaStarts {
		if err := f.Get(ctx, nil); err != nil {
			c.logger.Warn("media fetch did not start", "err", err)
		}
	}
	c.mediaStarts = nil
}
