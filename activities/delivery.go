package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/models"
)

// DeliveryReport is a Sinch MESSAGE_DELIVERY report of one message.
type DeliveryReport struct {
	// MessageID is Sinch's id of the message the report is about.
	MessageID string
	// Status is Sinch's: QUEUED_ON_CHANNEL, DELIVERED, READ, FAILED or
	// SWITCHING_CHANNEL.
	Status            string
	ReasonCode        string
	ReasonSubCode     string
	ReasonChannelCode string
	ReasonDescription string
	At                time.Time
	// RefMessageID and RefAttempt come from the report's metadata (the
	// SendMetadata of the send): our message and which send of it. They let
	// a report that overtakes the send's result find its message, and mark
	// a report of an earlier attempt as stale. Zero when absent.
	RefMessageID uint64
	RefAttempt   int
}

// ApplyDeliveryInput is a delivery report for a message of an account.
type ApplyDeliveryInput struct {
	AccountID uint64
	DeliveryReport
}

// ApplyDeliveryResult says what the report did.
type ApplyDeliveryResult struct {
	// Applied is true when the message's status moved.
	Applied bool
	Status  string
	// MessageID is our message (0 when the report matches none).
	MessageID uint64
	// Stale is true for a report of an earlier send attempt.
	Stale bool
	// Failure is set for a FAILED report of an outbound message not yet
	// delivered: the status is not written, the workflow decides between
	// a resend, a split and RecordOutboundFailure. Attempt is the
	// message's attempt.
	Failure *Failure
	Attempt int
}

// deliveryStatus maps Sinch delivery statuses to ours. SWITCHING_CHANNEL
// (this channel failed, another is tried) leaves the message queued.
var deliveryStatus = map[string]models.MessageStatus{
	"QUEUED_ON_CHANNEL": models.StatusQueued,
	"DELIVERED":         models.StatusDelivered,
	"READ":              models.StatusRead,
	"FAILED":            models.StatusFailed,
	"SWITCHING_CHANNEL": models.StatusQueued,
}

// KnownDeliveryStatus reports whether status is one of Sinch's delivery
// statuses (deliveryStatus); ApplyDelivery refuses any other.
func KnownDeliveryStatus(status string) bool {
	_, ok := deliveryStatus[status]
	return ok
}

// ApplyDelivery moves a message's status forward, never back: Sinch
// delivery callbacks may arrive out of order, more than once, and before
// the send's own result is recorded (then the report's metadata finds the
// message and its Sinch id is stored from the report). A FAILED report of
// an outbound message not yet delivered is classified and returned, not
// written: the workflow decides. A FAILED report of a message already
// delivered decides nothing (there is nothing left to resend) and is
// recorded as the message's failure here, as RecordOutboundFailure would.
func (a *Activities) ApplyDelivery(ctx context.Context, in ApplyDeliveryInput) (ApplyDeliveryResult, error) {
	st, ok := deliveryStatus[in.Status]
	if !ok {
		return ApplyDeliveryResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("unknown delivery status %q", in.Status), ErrTypeBadInput, nil)
	}
	var out reportOutcome
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		out, err = applyReport(tx, in.AccountID, in.DeliveryReport, st, false)
		return err
	})
	if err != nil {
		return ApplyDeliveryResult{}, fmt.Errorf("apply delivery %s: %w", in.MessageID, err)
	}
	out.count(a.Metrics, st)
	if f := out.failed; f != nil {
		a.log(ctx, in.AccountID).Info("reply failed after delivery", "message_id", out.res.MessageID, "error_class", f.Class, "reason_code", f.Code)
	}
	a.log(ctx, in.AccountID).Debug("delivery report", "message_id", out.res.MessageID, "status", in.Status, "applied", out.res.Applied, "stale", out.res.Stale)
	return out.res, nil
}

// DirectDeliveryResult says what ApplyDeliveryDirect did with a report.
type DirectDeliveryResult struct {
	ApplyDeliveryResult
	// NeedsWorkflow is true when nothing was written: the report is for
	// the conversation workflow to apply and act on (signal it).
	NeedsWorkflow bool
	// Failed is the failure recorded for a message already delivered.
	Failed *Failure
}

// ApplyDeliveryDirect is the API's fast path for a delivery report
// (decisions §22): a report the conversation workflow would not act on is
// applied where it arrives, with ApplyDelivery's writes (status moved
// forward only, message.status on the agent's stream, the policy-failure
// streak, a split message's roll-up, the sends metric), and the workflow
// is not woken. The workflow still gets (NeedsWorkflow) a report whose
// message is not found, whose send is not recorded yet (in flight, or the
// report overtook its result: the workflow applies it as before), and a
// FAILED report of a message not yet delivered (resend, split or fail is
// its decision). Reports of an earlier attempt change nothing here either.
func ApplyDeliveryDirect(ctx context.Context, db *gorm.DB, m *metrics.Metrics, accountID uint64, in DeliveryReport) (DirectDeliveryResult, error) {
	st, ok := deliveryStatus[in.Status]
	if !ok {
		return DirectDeliveryResult{}, fmt.Errorf("unknown delivery status %q", in.Status)
	}
	var out reportOutcome
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		out, err = applyReport(tx, accountID, in, st, true)
		return err
	})
	if err != nil {
		return DirectDeliveryResult{}, fmt.Errorf("apply delivery %s: %w", in.MessageID, err)
	}
	out.count(m, st)
	return DirectDeliveryResult{ApplyDeliveryResult: out.res, NeedsWorkflow: out.toWorkflow, Failed: out.failed}, nil
}

// reportOutcome is what applyReport did.
type reportOutcome struct {
	res      ApplyDeliveryResult
	outbound bool
	// toWorkflow: nothing written, the workflow must take the report
	// (direct mode only).
	toWorkflow bool
	// failed is the failure recorded for a message already delivered.
	failed *Failure
}

// count records the sends metric of what the report changed.
func (o reportOutcome) count(m *metrics.Metrics, st models.MessageStatus) {
	switch {
	case o.failed != nil:
		m.Send(string(models.StatusFailed), string(o.failed.Class))
	case o.res.Applied && o.outbound && (st == models.StatusDelivered || st == models.StatusRead):
		m.Send(string(st), "")
	}
}

// applyReport applies one delivery report in tx; ApplyDelivery (direct
// false) and ApplyDeliveryDirect (direct true) differ only in what they
// leave to the workflow. The message row is locked (Postgres) so a resend
// that marks its attempt (SendOutbound) either waits for a delivered
// status and does not send, or is seen and makes the report stale.
func applyReport(tx *gorm.DB, accountID uint64, in DeliveryReport, st models.MessageStatus, direct bool) (reportOutcome, error) {
	var out reportOutcome
	res := &out.res
	at := in.At.UTC()
	if at.IsZero() {
		at = time.Now().UTC()
	}
	var found []models.Message
	q := forUpdate(tx).Where("account_id = ?", accountID)
	if in.RefMessageID != 0 {
		q = q.Where("id = ?", in.RefMessageID)
	} else {
		q = q.Where("provider_message_id = ?", in.MessageID)
	}
	if err := q.Limit(1).Find(&found).Error; err != nil {
		return out, err
	}
	if len(found) == 0 {
		// The send may not have stored Sinch's id yet: the workflow
		// looks again when it gets the report.
		out.toWorkflow = direct
		return out, nil
	}
	m := found[0]
	res.MessageID, res.Attempt, res.Status = m.ID, m.SendAttempt, string(m.Status)
	outbound := m.Direction == models.DirectionOutbound
	out.outbound = outbound
	if outbound {
		stale := (in.RefAttempt != 0 && in.RefAttempt < m.SendAttempt) ||
			(in.RefAttempt == 0 && m.ProviderMessageID != nil && *m.ProviderMessageID != in.MessageID)
		if stale {
			res.Stale = true
			return out, nil
		}
		if direct && !sendRecorded(m, in) {
			out.toWorkflow = true
			return out, nil
		}
		if m.ProviderMessageID == nil && in.MessageID != "" {
			// The report overtook the send's result.
			if err := tx.Model(&models.Message{}).Where("id = ? AND provider_message_id IS NULL", m.ID).
				Update("provider_message_id", in.MessageID).Error; err != nil {
				return out, err
			}
			m.ProviderMessageID = &in.MessageID
		}
	}
	reason := map[string]any{}
	if in.ReasonCode != "" {
		reason = map[string]any{
			"reason_code": in.ReasonCode, "reason_sub_code": in.ReasonSubCode,
			"reason_channel_code": in.ReasonChannelCode, "reason_description": in.ReasonDescription,
		}
	}
	if st == models.StatusFailed && outbound {
		f := ClassifyReason(in.ReasonCode, in.ReasonSubCode, in.ReasonDescription)
		undelivered := m.StatusRank < models.StatusDelivered.Rank()
		if undelivered && direct {
			out.toWorkflow = true
			return out, nil
		}
		if len(reason) > 0 {
			if err := tx.Model(&models.Message{}).Where("id = ?", m.ID).Updates(reason).Error; err != nil {
				return out, err
			}
		}
		if undelivered {
			res.Failure = &f
			return out, nil
		}
		// Delivered, read or failed already: a failure after delivery is
		// recorded (the workflow did so too, its outbox having forgotten
		// the message); a final message does not move.
		failed, err := recordFailure(tx, m, f, m.SendAttempt, at)
		if err != nil || !failed {
			return out, err
		}
		out.failed, res.Applied, res.Status = &f, true, string(models.StatusFailed)
		return out, nil
	}
	extra := reason
	switch st {
	case models.StatusDelivered:
		extra["delivered_at"] = at
	case models.StatusRead:
		extra["read_at"] = at
	case models.StatusFailed:
		extra["failed_at"] = at
	}
	applied, err := moveStatus(tx, m.ID, st, extra)
	if err != nil || !applied {
		return out, err
	}
	res.Applied, res.Status = true, string(st)
	if err := publishStatus(tx, m, st, nil); err != nil {
		return out, err
	}
	if outbound && (st == models.StatusDelivered || st == models.StatusRead) {
		// The account reaches customers: end a policy-failure streak.
		if err := tx.Model(&models.Account{}).Where("id = ? AND policy_failure_streak > 0", m.AccountID).
			Update("policy_failure_streak", 0).Error; err != nil {
			return out, err
		}
	}
	if m.ParentID != nil && outbound {
		return out, rollUpParent(tx, *m.ParentID)
	}
	return out, nil
}

// sendRecorded reports whether the send of the attempt a report is about
// has written its own result (SendOutbound's recordAccepted: Sinch's id,
// sent_at, no attempt in flight). Until then the workflow applies the
// report, as it did before the API could.
func sendRecorded(m models.Message, in DeliveryReport) bool {
	return m.SendAttempt > 0 && in.RefAttempt <= m.SendAttempt && m.SendStartedAt == nil &&
		m.ProviderMessageID != nil && m.SentAt != nil
}
