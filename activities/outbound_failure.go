package activities

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// RecordOutboundFailureInput fails an outbound message visibly.
type RecordOutboundFailureInput struct {
	MessageID uint64
	Failure   Failure
	// Attempts is how many times it was sent.
	Attempts int
}

// RecordOutboundFailure marks the message failed with its error, adds a
// system message with the advice to the interaction, tells the agent
// (message.status) and, for a Meta policy code, extends the account's
// policy-failure streak. Repeating it changes nothing.
func (a *Activities) RecordOutboundFailure(ctx context.Context, in RecordOutboundFailureInput) error {
	f := in.Failure
	var failed bool
	var accountID uint64
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var m models.Message
		if err := tx.Take(&m, in.MessageID).Error; err != nil {
			return err
		}
		var err error
		failed, err = recordFailure(tx, m, f, in.Attempts, time.Now().UTC())
		accountID = m.AccountID
		return err
	})
	if err != nil {
		return fmt.Errorf("record failure of message %d: %w", in.MessageID, err)
	}
	if failed {
		a.Metrics.Send(string(models.StatusFailed), string(f.Class))
		a.log(ctx, accountID).Info("reply failed", "message_id", in.MessageID, "error_class", f.Class, "reason_code", f.Code, "attempts", in.Attempts)
	}
	return nil
}

// recordFailure is RecordOutboundFailure's write in tx: it reports whether
// the message moved to failed (false: it was read or failed already).
func recordFailure(tx *gorm.DB, m models.Message, f Failure, attempts int, at time.Time) (bool, error) {
	applied, err := moveStatus(tx, m.ID, models.StatusFailed, map[string]any{
		"error_class": f.Class, "error_message": f.Message, "reason_code": f.Code,
		"reason_description": f.Description, "failed_at": at, "send_started_at": nil,
	})
	if err != nil || !applied {
		return false, err
	}
	text := "Message not delivered"
	if attempts > 1 {
		text += fmt.Sprintf(" after %d attempts", attempts)
	}
	if err := addSystemMessage(tx, m, fmt.Sprintf("failure:%d", m.ID), text+" ("+string(f.Class)+" error) "+f.Message); err != nil {
		return false, err
	}
	if err := publishStatus(tx, m, models.StatusFailed, &f); err != nil {
		return false, err
	}
	if f.Class == models.ErrorClassPolicy {
		if err := tx.Model(&models.Account{}).Where("id = ?", m.AccountID).Updates(map[string]any{
			"policy_failure_streak": gorm.Expr("policy_failure_streak + 1"), "policy_failure_last_code": f.Code, "policy_failure_at": at,
		}).Error; err != nil {
			return false, err
		}
	}
	if m.ParentID != nil {
		return true, rollUpParent(tx, *m.ParentID)
	}
	return true, nil
}

// rollUpParent gives a split message the status of its slowest part, or
// the failure of a failed part, never moving it back.
func rollUpParent(tx *gorm.DB, parentID uint64) error {
	var parts []models.Message
	if err := tx.Where("parent_id = ? AND direction = ?", parentID, models.DirectionOutbound).Order("part").Find(&parts).Error; err != nil {
		return err
	}
	if len(parts) == 0 {
		return nil
	}
	var parent models.Message
	if err := tx.Take(&parent, parentID).Error; err != nil {
		return err
	}
	lowest := parts[0]
	for _, p := range parts {
		if p.Status == models.StatusFailed {
			applied, err := moveStatus(tx, parentID, models.StatusFailed, map[string]any{
				"error_class": p.ErrorClass, "error_message": fmt.Sprintf("part %d of %d: %s", p.Part, len(parts), p.ErrorMessage),
				"failed_at": time.Now().UTC(),
			})
			if err != nil || !applied {
				return err
			}
			f := Failure{Code: p.ReasonCode, Class: p.ErrorClass, Message: p.ErrorMessage}
			return publishStatus(tx, parent, models.StatusFailed, &f)
		}
		if p.StatusRank < lowest.StatusRank {
			lowest = p
		}
	}
	if lowest.Status == models.StatusPending {
		return nil
	}
	applied, err := moveStatus(tx, parentID, lowest.Status, nil)
	if err != nil || !applied {
		return err
	}
	return publishStatus(tx, parent, lowest.Status, nil)
}
