package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
)

// reconcileSlack widens the accept_time window searched for a send whose
// outcome is unknown: clocks of the worker and Sinch differ.
const reconcileSlack = 2 * time.Minute

// ErrTypeSinchRetryable marks a send Sinch answered with 429 or 5xx: the
// retry policy repeats it, after Retry-After when Sinch gave one.
const ErrTypeSinchRetryable = "SinchRetryable"

// SendMetadata is the message_metadata the connector sets on every send.
// Sinch returns it on the delivery reports of that send (and on the listed
// message), which routes a report to its workflow, message and attempt.
type SendMetadata struct {
	WorkflowID string `json:"workflowId"`
	MessageID  uint64 `json:"messageId"`
	Attempt    int    `json:"attempt"`
}

// SendOutboundInput sends attempt Attempt of an outbound message.
type SendOutboundInput struct {
	WorkflowID string
	AccountID  uint64
	MessageID  uint64
	Attempt    int
}

// SendOutboundResult is Sinch's accepted message.
type SendOutboundResult struct {
	ProviderMessageID string
	// Reconciled is true when the attempt had already reached Sinch (found
	// in Sinch's message list or through an early delivery report) and was
	// not sent again.
	Reconciled bool
}

// SendOutbound sends one attempt of an outbound message to Sinch, at most
// once per attempt as far as Sinch lets it be known:
//
//   - the attempt is recorded (send_started_at, committed) before the HTTP
//     call and cleared once Sinch answered;
//   - a retry that finds it still set (the worker died or the answer was
//     lost) first looks for the attempt at Sinch: its id, if a delivery
//     report already brought it, else Sinch's list of the contact's
//     messages, matched by our message_metadata; it resends only when
//     neither shows the message;
//   - the app's send rate is shared by every worker (reserveSendSlot).
//
// 429 and 5xx are retried by the retry policy (after Retry-After); other
// failures are non-retryable and classified (Failure).
func (a *Activities) SendOutbound(ctx context.Context, in SendOutboundInput) (SendOutboundResult, error) {
	db := a.DB.WithContext(ctx)
	var m models.Message
	if err := db.Take(&m, in.MessageID).Error; err != nil {
		return SendOutboundResult{}, fmt.Errorf("load message %d: %w", in.MessageID, err)
	}
	if m.Status == models.StatusFailed {
		return SendOutboundResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("message %d already failed", m.ID), ErrTypeBadInput, nil)
	}
	if m.SendAttempt == in.Attempt && m.ProviderMessageID != nil {
		// Accepted by an earlier try of this activity, or known from an
		// early delivery report: do not send again.
		return a.recordAccepted(ctx, m, *m.ProviderMessageID, true)
	}
	if in.Attempt > m.SendAttempt && alreadyDelivered(m) {
		// A resend of a message whose earlier attempt was delivered
		// meanwhile: the API applied that report without waking the
		// workflow (ApplyDeliveryDirect). Nothing to resend.
		return SendOutboundResult{ProviderMessageID: *m.ProviderMessageID, Reconciled: true}, nil
	}
	var acc models.Account
	if err := db.Unscoped().Take(&acc, m.AccountID).Error; err != nil {
		return SendOutboundResult{}, fmt.Errorf("load account %d: %w", m.AccountID, err)
	}
	if acc.DeletedAt.Valid {
		return SendOutboundResult{}, failureError(Failure{Code: "ACCOUNT_DELETED", Class: models.ErrorClassConfig,
			Message: fmt.Sprintf("ACCOUNT_DELETED: WhatsApp account %d was deleted: %s", acc.ID, adviceConfig)}, nil)
	}
	var contact models.Contact
	if err := db.Take(&contact, m.ContactID).Error; err != nil {
		return SendOutboundResult{}, fmt.Errorf("load contact %d: %w", m.ContactID, err)
	}
	var inter models.Interaction
	if err := db.Take(&inter, m.InteractionID).Error; err != nil {
		return SendOutboundResult{}, fmt.Errorf("load interaction %d: %w", m.InteractionID, err)
	}
	client, err := a.sinchClient(acc)
	if err != nil {
		return SendOutboundResult{}, failureError(Failure{Code: "ACCOUNT_CONFIG", Class: models.ErrorClassConfig,
			Message: "ACCOUNT_CONFIG: " + err.Error() + ": " + adviceConfig}, err)
	}
	meta := SendMetadata{WorkflowID: in.WorkflowID, MessageID: m.ID, Attempt: in.Attempt}
	recipient := sendRecipient(inter, contact)

	if m.SendAttempt == in.Attempt && m.SendStartedAt != nil {
		id, err := a.findSent(ctx, client, acc, inter, recipient, contact, meta, *m.SendStartedAt)
		if err != nil {
			return SendOutboundResult{}, err
		}
		if id != "" {
			return a.recordAccepted(ctx, m, id, true)
		}
		a.log(ctx, acc.ID).Info("send outcome unknown and not found at Sinch: sending again", "message_id", m.ID, "attempt", in.Attempt)
	}

	req := sinch.TextRequest(recipient, m.Text)
	if m.Kind == "media" {
		if req, err = a.mediaRequest(ctx, acc, m, recipient); err != nil {
			return SendOutboundResult{}, err
		}
	}
	if err := a.reserveSendSlot(ctx, acc); err != nil {
		return SendOutboundResult{}, err
	}
	started := time.Now().UTC()
	mark := map[string]any{"send_attempt": in.Attempt, "send_started_at": started}
	if m.SendAttempt != in.Attempt {
		// A resend: the previous attempt's Sinch id must not pass for
		// this one's if this attempt's outcome is lost.
		mark["provider_message_id"] = nil
	}
	q := db.Model(&models.Message{}).Where("id = ? AND status <> ?", m.ID, models.StatusFailed)
	if m.SendAttempt != in.Attempt {
		// Not over a delivered status a report wrote since m was read.
		q = q.Where("status_rank < ?", models.StatusDelivered.Rank())
	}
	r := q.Updates(mark)
	if r.Error != nil {
		return SendOutboundResult{}, fmt.Errorf("record send attempt: %w", r.Error)
	}
	if r.RowsAffected == 0 {
		var cur models.Message
		if err := db.Take(&cur, m.ID).Error; err != nil {
			return SendOutboundResult{}, fmt.Errorf("load message %d: %w", m.ID, err)
		}
		if cur.Status == models.StatusFailed {
			return SendOutboundResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("message %d already failed", m.ID), ErrTypeBadInput, nil)
		}
		if alreadyDelivered(cur) {
			return SendOutboundResult{ProviderMessageID: *cur.ProviderMessageID, Reconciled: true}, nil
		}
	}
	metaJSON, _ := json.Marshal(meta)
	req.MessageMetadata = string(metaJSON)
	if len(in.WorkflowID) <= 128 {
		req.CorrelationID = in.WorkflowID
	}
	a.log(ctx, acc.ID).Debug("sending to Sinch", "message_id", m.ID, "kind", m.Kind, "attempt", in.Attempt, "channel", inter.Channel)
	resp, err := client.SendMessage(ctx, req)
	if err == nil {
		return a.recordAccepted(ctx, m, resp.MessageID, false)
	}
	return SendOutboundResult{}, a.sendFailure(ctx, m.ID, err)
}

// alreadyDelivered reports whether a message was delivered (or read) with
// a known Sinch id.
func alreadyDelivered(m models.Message) bool {
	return m.StatusRank >= models.StatusDelivered.Rank() && m.Status != models.StatusFailed && m.ProviderMessageID != nil
}

// sendFailure turns a send error into the activity's error. An answer
// that proves Sinch did not take the message (any 4xx including 429, a
// token failure, a request refused locally) clears the attempt mark; no
// answer, or a 5xx (the message may have been taken), keeps it so the
// retry reconciles first.
func (a *Activities) sendFailure(ctx context.Context, messageID uint64, err error) error {
	apiErr, ok := sinch.AsAPIError(err)
	if !ok {
		return err // the activity's context ended: outcome unknown
	}
	if apiErr.HTTPStatus >= 200 && apiErr.HTTPStatus < 300 {
		// Sinch took the message but its answer was unreadable: the retry
		// finds it in Sinch's message list instead of failing it.
		return temporal.NewApplicationErrorWithOptions(apiErr.Error(), ErrTypeSinchRetryable, temporal.ApplicationErrorOptions{Cause: err})
	}
	definite := apiErr.Op == sinch.OpToken || (apiErr.HTTPStatus >= 400 && apiErr.HTTPStatus < 500) ||
		(apiErr.HTTPStatus == 0 && apiErr.Class == sinch.ErrorClassPermanent)
	if definite {
		if e := a.DB.WithContext(ctx).Model(&models.Message{}).Where("id = ?", messageID).Update("send_started_at", nil).Error; e != nil {
			return fmt.Errorf("clear send attempt: %w (after %v)", e, err)
		}
	}
	if apiErr.Retryable() {
		return temporal.NewApplicationErrorWithOptions(apiErr.Error(), ErrTypeSinchRetryable,
			temporal.ApplicationErrorOptions{Cause: err, NextRetryDelay: apiErr.RetryAfter})
	}
	return failureError(classifyAPIError(apiErr), err)
}

// classifyAPIError classifies a synchronous Sinch refusal: credentials,
// project, app, region or certificate problems are configuration; any other
// refused request is a support case.
func classifyAPIError(e *sinch.APIError) Failure {
	code := e.Status
	if code == "" {
		code = "HTTP_" + strconv.Itoa(e.HTTPStatus)
	}
	detail := " (Sinch answered " + e.Error() + ")"
	config := e.Op == sinch.OpToken || e.HTTPStatus == http.StatusUnauthorized || e.HTTPStatus == http.StatusForbidden ||
		e.HTTPStatus == http.StatusNotFound || (e.HTTPStatus == 0 && e.Err != nil)
	if config {
		return Failure{Code: code, Class: models.ErrorClassConfig, Message: code + ": " + adviceConfig + detail, Description: e.Message}
	}
	return Failure{Code: code, Class: models.ErrorClassSupport, Message: code + ": the request was refused: " + adviceSupport + detail, Description: e.Message}
}

// sendRecipient addresses the contact by Sinch contact id in CONVERSATION
// mode, by channel identity in DISPATCH mode (the only form Sinch allows
// there) or when no contact id is known.
func sendRecipient(inter models.Interaction, c models.Contact) sinch.Recipient {
	if inter.ProcessingMode != models.ProcessingDispatch && c.SinchContactID != "" {
		return sinch.ContactRecipient(c.SinchContactID)
	}
	return sinch.IdentityRecipient(string(c.Channel), c.Identity)
}

// findSent looks for an attempt whose outcome is unknown: an id a delivery
// report brought meanwhile, else the attempt in Sinch's list of messages to
// the contact since it started. "" means Sinch does not show it.
func (a *Activities) findSent(ctx context.Context, client *sinch.Client, acc models.Account, inter models.Interaction,
	recipient sinch.Recipient, contact models.Contact, meta SendMetadata, startedAt time.Time) (string, error) {
	var cur models.Message
	if err := a.DB.WithContext(ctx).Select("id", "provider_message_id").Take(&cur, meta.MessageID).Error; err != nil {
		return "", err
	}
	if cur.ProviderMessageID != nil && *cur.ProviderMessageID != "" {
		return *cur.ProviderMessageID, nil
	}
	req := sinch.ListMessagesRequest{
		Direction: "TO_CONTACT", StartTime: startedAt.Add(-reconcileSlack), EndTime: time.Now().Add(reconcileSlack), PageSize: 100,
	}
	switch {
	case recipient.ContactID != "":
		req.ContactID = recipient.ContactID
	case inter.ProcessingMode == models.ProcessingDispatch:
		// Listed only when the app keeps DISPATCH messages (retention > 0).
		req.ChannelIdentity, req.Channel, req.MessagesSource = contact.Identity, string(contact.Channel), sinch.MessagesSourceDispatch
	default:
		req.ChannelIdentity, req.Channel = contact.Identity, string(contact.Channel)
	}
	found := ""
	err := client.ListAllMessages(ctx, req, func(cm sinch.ConversationMessage) (bool, error) {
		var got SendMetadata
		if json.Unmarshal([]byte(cm.Metadata), &got) == nil && got == meta {
			found = cm.ID
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		if apiErr, ok := sinch.AsAPIError(err); ok && !apiErr.Retryable() {
			// Sinch cannot list (e.g. a DISPATCH app without retention):
			// the outcome stays unknown and the message is sent again.
			a.log(ctx, acc.ID).Warn("cannot reconcile an unknown send outcome with Sinch's message list", "message_id", meta.MessageID, "err", err)
			return "", nil
		}
		return "", fmt.Errorf("reconcile message %d with Sinch: %w", meta.MessageID, err)
	}
	return found, nil
}

// recordAccepted stores Sinch's message id and moves the status to
// accepted unless a delivery report already moved it further.
func (a *Activities) recordAccepted(ctx context.Context, m models.Message, providerID string, reconciled bool) (SendOutboundResult, error) {
	// Counted once per message: only the attempt that moves the status.
	var counted struct {
		applied bool
		channel []string
		bytes   []int64
	}
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := time.Now().UTC()
		if err := tx.Model(&models.Message{}).Where("id = ?", m.ID).
			Updates(map[string]any{"provider_message_id": providerID, "send_started_at": nil, "sent_at": now}).Error; err != nil {
			return err
		}
		applied, err := moveStatus(tx, m.ID, models.StatusAccepted, nil)
		if err != nil || !applied {
			return err
		}
		counted.applied = true
		if a.Metrics != nil {
			if err := tx.Model(&models.Interaction{}).Where("id = ?", m.InteractionID).Pluck("channel", &counted.channel).Error; err != nil {
				return err
			}
			if m.Kind == "media" {
				if err := tx.Model(&models.Attachment{}).Where("message_id = ?", m.ID).Pluck("size", &counted.bytes).Error; err != nil {
					return err
				}
			}
		}
		m.ProviderMessageID = &providerID
		return publishStatus(tx, m, models.StatusAccepted, nil)
	})
	if err != nil {
		return SendOutboundResult{}, fmt.Errorf("record accepted message %d: %w", m.ID, err)
	}
	if counted.applied {
		a.Metrics.Send(string(models.StatusAccepted), "")
		if len(counted.channel) == 1 {
			a.Metrics.MessageOut(m.AccountID, counted.channel[0])
		}
		for _, n := range counted.bytes {
			a.Metrics.MediaBytes("out", n)
		}
	}
	a.log(ctx, m.AccountID).Debug("Sinch accepted the message", "message_id", m.ID, "provider_message_id", providerID, "reconciled", reconciled, "first", counted.applied)
	return SendOutboundResult{ProviderMessageID: providerID, Reconciled: reconciled}, nil
}
