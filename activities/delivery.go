package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

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
	// Failure is set for a FAILED report of an outbound message: the
	// status is not written, the workflow decides between a resend, a
	// split and RecordOutboundFailure. Attempt is the message's attempt.
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

// ApplyDelivery moves a message's status forward, never back: Sinch
// delivery callbacks may arrive out of order, more than once, and before
// the send's own result is recorded (then the report's metadata finds the
// message and its Sinch id is stored from the report). A FAILED report of
// an outbound message is classified and returned, not written.
func (a *Activities) ApplyDelivery(ctx context.Context, in ApplyDeliveryInput) (ApplyDeliveryResult, error) {
	st, ok := deliveryStatus[in.Status]
	if !ok {
		return ApplyDeliveryResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("unknown delivery status %q", in.Status), ErrTypeBadInput, nil)
	}
	at := in.At.UTC()
	if at.IsZero() {
		at = time.Now().UTC()
	}
	var res ApplyDeliveryResult
	var isOutbound bool
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var found []models.Message
		q := tx.Where("account_id = ?", in.AccountID)
		if in.RefMessageID != 0 {
			q = q.Where("id = ?", in.RefMessageID)
		} else {
			q = q.Where("provider_message_id = ?", in.MessageID)
		}
		if err := q.Limit(1).Find(&found).Error; err != nil {
			return err
		}
		if len(found) == 0 {
			return nil
		}
		m := found[0]
		res.MessageID, res.Attempt, res.Status = m.ID, m.SendAttempt, string(m.Status)
		outbound := m.Direction == models.DirectionOutbound
		isOutbound = outbound
		if outbound {
			stale := (in.RefAttempt != 0 && in.RefAttempt < m.SendAttempt) ||
				(in.RefAttempt == 0 && m.ProviderMessageID != nil && *m.ProviderMessageID != in.MessageID)
			if stale {
				res.Stale = true
				return nil
			}
			if m.ProviderMessageID == nil && in.MessageID != "" {
				// The report overtook the send's result.
				if err := tx.Model(&models.Message{}).Where("id = ? AND provider_message_id IS NULL", m.ID).
					Update("provider_message_id", in.MessageID).Error; err != nil {
					return err
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
			res.Failure = &f
			if len(reason) == 0 {
				return nil
			}
			return tx.Model(&models.Message{}).Where("id = ?", m.ID).Updates(reason).Error
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
		if err != nil {
			return err
		}
		res.Applied = applied
		if !applied {
			return nil
		}
		res.Status = string(st)
		if err := publishStatus(tx, m, st, nil); err != nil {
			return err
		}
		if outbound && (st == models.StatusDelivered || st == models.StatusRead) {
			// The account reaches customers: end a policy-failure streak.
			if err := tx.Model(&models.Account{}).Where("id = ? AND policy_failure_streak > 0", m.AccountID).
				Update("policy_failure_streak", 0).Error; err != nil {
				return err
			}
		}
		if m.ParentID != nil && outbound {
			return rollUpParent(tx, *m.ParentID)
		}
		return nil
	})
	if err != nil {
		return ApplyDeliveryResult{}, fmt.Errorf("apply delivery %s: %w", in.MessageID, err)
	}
	if res.Applied && isOutbound && (st == models.StatusDelivered || st == models.StatusRead) {
		a.Metrics.Send(string(st), "")
	}
	a.log(ctx, in.AccountID).Debug("delivery report", "message_id", res.MessageID, "status", in.Status, "applied", res.Applied, "stale", res.Stale)
	return res, nil
}
