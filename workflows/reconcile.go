package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
)

// reconcilePagesPerRun bounds the pages one run handles before it
// continues as new (each page adds 6 history events).
const reconcilePagesPerRun = 500

// ReconcileInput asks to recover an account's inbound messages that Sinch
// accepted between From and To but the connector never stored (its
// callbacks were given up while the connector was unreachable).
type ReconcileInput struct {
	AccountID uint64
	From, To  time.Time
	// PageToken and Totals are carried by continue-as-new.
	PageToken string
	Totals    ReconcileResult
}

// ReconcileResult counts the messages of a reconciliation.
// The JSON names are the API's (camelCase); histories recorded before the
// tags decode the same, as encoding/json matches names without case.
type ReconcileResult struct {
	Pages int `json:"pages"`
	// Listed inbound messages at Sinch in the range; Missing of them were
	// not stored and were handed to their conversations; Skipped are on
	// channels the account does not serve.
	Listed  int `json:"listed"`
	Missing int `json:"missing"`
	Skipped int `json:"skipped"`
}

// ReconcileState is a reconciliation's progress, answered by its state
// query: the range, the counts so far and the next page to read.
type ReconcileState struct {
	AccountID     uint64
	From, To      time.Time
	Totals        ReconcileResult
	NextPageToken string `json:",omitempty"`
}

// ReconcileWorkflow pages through the account's inbound messages at Sinch
// (GET /v1/projects/{project}/messages, direction TO_APP) and hands each
// one the connector lacks to its conversation through the webhook's dedup
// path. It returns the counts.
func ReconcileWorkflow(ctx workflow.Context, in ReconcileInput) (ReconcileResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    20,
			NonRetryableErrorTypes: []string{
				activities.ErrTypeSinchConfig, activities.ErrTypeSupport, activities.ErrTypeBadInput,
			},
		},
	})
	var a *activities.Activities
	totals, token := in.Totals, in.PageToken
	if err := workflow.SetQueryHandler(ctx, StateQueryName, func() (ReconcileState, error) {
		return ReconcileState{AccountID: in.AccountID, From: in.From, To: in.To, Totals: totals, NextPageToken: token}, nil
	}); err != nil {
		return totals, err
	}
	for pages := 0; ; pages++ {
		if pages == reconcilePagesPerRun {
			next := in
			next.PageToken, next.Totals = token, totals
			return totals, workflow.NewContinueAsNewError(ctx, ReconcileWorkflow, next)
		}
		var page activities.ReconcilePageResult
		if err := execute(ctx, a.ReconcilePage, activities.ReconcilePageInput{
			AccountID: in.AccountID, From: in.From, To: in.To, PageToken: token,
		}).Get(ctx, &page); err != nil {
			return totals, err
		}
		totals.Pages++
		totals.Listed += page.Listed
		totals.Missing += page.Missing
		totals.Skipped += page.Skipped
		token = page.NextPageToken
		if token == "" {
			return totals, nil
		}
	}
}
