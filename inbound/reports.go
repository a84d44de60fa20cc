package inbound

import (
	"context"

	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/workflows"
)

// Reports hands Sinch delivery reports on: to the database where they
// arrive when the conversation workflow would not act on them, else to
// the workflow (decisions §22).
type Reports struct {
	DB       *gorm.DB
	Temporal client.Client
	// Metrics counts the sends the reports settle (nil: none).
	Metrics *metrics.Metrics
}

// ReportResult says where a report went.
type ReportResult struct {
	// Signalled is true when the report was signalled to its workflow;
	// false when it was applied in the database (or changed nothing).
	Signalled bool
	activities.DirectDeliveryResult
}

// Deliver applies a delivery report of one of the account's messages in
// the database (activities.ApplyDeliveryDirect): queued, delivered and
// read of a message whose send is recorded, a report of an earlier
// attempt, any report of a message delivered already. Those change no
// decision of the workflow, so it is not woken, and the report costs no
// history event. Any other report (a FAILED one before delivery, one
// whose message is not found or whose send is not recorded yet) is
// signalled to the workflow wfID as before, which applies it and decides.
// The report is durable when Deliver returns nil. A DeliverError names
// the step that failed; a workflow that does not exist is the signal's
// NotFound error.
func (r Reports) Deliver(ctx context.Context, accountID uint64, wfID string, sig workflows.DeliverySignal) (ReportResult, error) {
	if r.DB != nil {
		res, err := activities.ApplyDeliveryDirect(ctx, r.DB, r.Metrics, accountID, sig.DeliveryReport)
		if err != nil {
			return ReportResult{}, &DeliverError{Step: "store", Err: err}
		}
		if !res.NeedsWorkflow {
			return ReportResult{DirectDeliveryResult: res}, nil
		}
	}
	if err := r.Temporal.SignalWorkflow(ctx, wfID, "", workflows.DeliverySignalName, sig); err != nil {
		return ReportResult{}, &DeliverError{Step: "signal", Err: err}
	}
	return ReportResult{Signalled: true}, nil
}
