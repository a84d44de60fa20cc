package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
)

// DefaultSendRate is Sinch's default drain rate of an app's outbound queue
// (doc §8), used for accounts without their own sendRatePerSecond.
const DefaultSendRate = 20.0

// defaultMaxRateWait is how long a send waits in the activity for its rate
// slot; a longer queue is waited out by a retry (NextRetryDelay), so a
// burst never holds an activity slot for long.
const defaultMaxRateWait = 5 * time.Second

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

// CreateOutboundInput stores an agent's reply before it is sent.
type CreateOutboundInput struct {
	AccountID     uint64
	InteractionID uint64
	ContactID     uint64
	// AgentID is the replying agent, 0 for an admin.
	AgentID uint64
	Text    string
	// ClientRef is the idempotency key (the update id): a retried create
	// returns the row already stored.
	ClientRef string
	// Attachment, when set, is the file to send; Text then follows it as
	// a separate message when not empty.
	Attachment *OutboundAttachment `json:",omitempty"`
}

// CreateOutboundResult is the stored reply.
type CreateOutboundResult struct {
	MessageID uint64
	Status    string
	// Created is false when the ClientRef was already stored: the reply
	// exists (and is being sent) already.
	Created bool
	// TextMessageID is the text sent after a file, 0 when none.
	TextMessageID uint64 `json:",omitempty"`
}

// CreateOutbound stores an outbound reply as pending: a text, or a file
// (Attachment) followed by its text as a message of its own (WhatsApp's
// media messages have no caption). Repeating it with the same ClientRef
// returns the same messages.
func (a *Activities) CreateOutbound(ctx context.Context, in CreateOutboundInput) (CreateOutboundResult, error) {
	var res CreateOutboundResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		first := in
		kind := "text"
		if in.Attachment != nil {
			first.Text, kind = in.Attachment.Filename, "media"
		}
		m, created, err := createOutbound(tx, first, kind, nil, 0)
		if err != nil {
			return err
		}
		res = CreateOutboundResult{MessageID: m.ID, Status: string(m.Status), Created: created}
		if created {
			if in.Attachment != nil {
				if err := addOutboundAttachment(tx, m, *in.Attachment); err != nil {
					return err
				}
			}
			if err := publishStatus(tx, m, models.StatusPending, nil); err != nil {
				return err
			}
		}
		if in.Attachment == nil || strings.TrimSpace(in.Text) == "" {
			return nil
		}
		text := in
		text.ClientRef = in.ClientRef + "#text"
		t, created, err := createOutbound(tx, text, "text", nil, 0)
		if err != nil {
			return err
		}
		res.TextMessageID = t.ID
		if !created {
			return nil
		}
		return publishStatus(tx, t, models.StatusPending, nil)
	})
	if err != nil {
		return CreateOutboundResult{}, fmt.Errorf("create outbound: %w", err)
	}
	return res, nil
}

func createOutbound(tx *gorm.DB, in CreateOutboundInput, kind string, parentID *uint64, part int) (models.Message, bool, error) {
	if in.ClientRef == "" {
		return models.Message{}, false, temporal.NewNonRetryableApplicationError("outbound message needs a client ref", ErrTypeBadInput, nil)
	}
	now := time.Now().UTC()
	m := models.Message{
		AccountID: in.AccountID, InteractionID: in.InteractionID, ContactID: in.ContactID,
		Direction: models.DirectionOutbound, Kind: kind, Text: in.Text,
		ClientRef: ptr(in.ClientRef), Status: models.StatusPending, StatusRank: models.StatusPending.Rank(),
		ProviderTime: &now, ParentID: parentID, Part: part,
	}
	if in.AgentID != 0 {
		m.AgentID = ptr(in.AgentID)
	}
	r := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&m)
	if r.Error != nil {
		return models.Message{}, false, r.Error
	}
	var stored models.Message
	if err := tx.Where("client_ref = ?", in.ClientRef).Take(&stored).Error; err != nil {
		return models.Message{}, false, err
	}
	return stored, r.RowsAffected > 0, nil
}

// SplitOutboundInput resends a text refused with MESSAGE_SPLIT_REQUIRED as
// parts linked to it.
type SplitOutboundInput struct {
	MessageID uint64
	Parts     []string
}

// SplitOutboundResult lists the part messages in order.
type SplitOutboundResult struct {
	PartIDs []uint64
}

// SplitOutbound stores the parts of a message (idempotent: each part's
// client ref derives from the original's) and notes the split in the
// interaction as a system message.
func (a *Activities) SplitOutbound(ctx context.Context, in SplitOutboundInput) (SplitOutboundResult, error) {
	var res SplitOutboundResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var orig models.Message
		if err := tx.Take(&orig, in.MessageID).Error; err != nil {
			return err
		}
		for i, text := range in.Parts {
			part, _, err := createOutbound(tx, CreateOutboundInput{
				AccountID: orig.AccountID, InteractionID: orig.InteractionID, ContactID: orig.ContactID,
				AgentID: deref0(orig.AgentID), Text: text, ClientRef: fmt.Sprintf("%s#part%d", deref(orig.ClientRef), i+1),
			}, "text", &orig.ID, i+1)
			if err != nil {
				return err
			}
			res.PartIDs = append(res.PartIDs, part.ID)
		}
		note := fmt.Sprintf("The message was too long for the channel (%s): it was sent again in %d parts.", ReasonSplitRequired, len(in.Parts))
		return addSystemMessage(tx, orig, fmt.Sprintf("split:%d", orig.ID), note)
	})
	if err != nil {
		return SplitOutboundResult{}, fmt.Errorf("split outbound %d: %w", in.MessageID, err)
	}
	return res, nil
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
	r := db.Model(&models.Message{}).Where("id = ? AND status <> ?", m.ID, models.StatusFailed).Updates(mark)
	if r.Error != nil {
		return SendOutboundResult{}, fmt.Errorf("record send attempt: %w", r.Error)
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

// moveStatus applies a status if it ranks higher than the current one.
func moveStatus(tx *gorm.DB, id uint64, st models.MessageStatus, extra map[string]any) (bool, error) {
	updates := map[string]any{"status": st, "status_rank": st.Rank(), "updated_at": time.Now().UTC()}
	for k, v := range extra {
		updates[k] = v
	}
	r := tx.Model(&models.Message{}).Where("id = ? AND status_rank < ?", id, st.Rank()).Updates(updates)
	return r.RowsAffected > 0, r.Error
}

// publishStatus puts a message.status event on the stream of the
// interaction's agent (ticks). The dedup key makes it once per status.
func publishStatus(tx *gorm.DB, m models.Message, st models.MessageStatus, f *Failure) error {
	var inter models.Interaction
	if err := tx.Take(&inter, m.InteractionID).Error; err != nil {
		return err
	}
	if inter.AgentID == nil {
		return nil
	}
	data := map[string]any{
		"interactionId": inter.ID, "messageId": m.ID, "providerMessageId": deref(m.ProviderMessageID), "status": st,
	}
	if m.ParentID != nil {
		data["parentId"] = *m.ParentID
	}
	if f != nil {
		data["error"] = map[string]any{"code": f.Code, "class": f.Class, "message": f.Message}
		data["reasonCode"] = f.Code
	}
	return insertAgentEvent(tx, *inter.AgentID, "message.status", inter.ID, fmt.Sprintf("status:%d:%s", m.ID, st), data)
}

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
		now := time.Now().UTC()
		applied, err := moveStatus(tx, m.ID, models.StatusFailed, map[string]any{
			"error_class": f.Class, "error_message": f.Message, "reason_code": f.Code,
			"reason_description": f.Description, "failed_at": now, "send_started_at": nil,
		})
		if err != nil || !applied {
			return err
		}
		failed, accountID = true, m.AccountID
		text := "Message not delivered"
		if in.Attempts > 1 {
			text += fmt.Sprintf(" after %d attempts", in.Attempts)
		}
		if err := addSystemMessage(tx, m, fmt.Sprintf("failure:%d", m.ID), text+" ("+string(f.Class)+" error) "+f.Message); err != nil {
			return err
		}
		if err := publishStatus(tx, m, models.StatusFailed, &f); err != nil {
			return err
		}
		if f.Class == models.ErrorClassPolicy {
			if err := tx.Model(&models.Account{}).Where("id = ?", m.AccountID).Updates(map[string]any{
				"policy_failure_streak": gorm.Expr("policy_failure_streak + 1"), "policy_failure_last_code": f.Code, "policy_failure_at": now,
			}).Error; err != nil {
				return err
			}
		}
		if m.ParentID != nil {
			return rollUpParent(tx, *m.ParentID)
		}
		return nil
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

// addSystemMessage adds the connector's own note to an interaction, once
// per ref.
func addSystemMessage(tx *gorm.DB, about models.Message, ref, text string) error {
	_, err := insertSystemMessage(tx, about.AccountID, about.InteractionID, about.ContactID, &about.ID, ref, text)
	return err
}

// insertSystemMessage stores a system note once per ref; the returned
// message has ID 0 when the ref was already stored.
func insertSystemMessage(tx *gorm.DB, accountID, interactionID, contactID uint64, parentID *uint64, ref, text string) (models.Message, error) {
	now := time.Now().UTC()
	sys := models.Message{
		AccountID: accountID, InteractionID: interactionID, ContactID: contactID,
		Direction: models.DirectionSystem, Kind: "system", Text: text, ClientRef: ptr("system:" + ref),
		Status: models.StatusReceived, StatusRank: models.StatusReceived.Rank(), ProviderTime: &now, ParentID: parentID,
	}
	err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&sys).Error
	return sys, err
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

// reserveSendSlot waits for the account's app to have send capacity. The
// schedule lives in one database row per app (send_rate_slots) that every
// worker updates under a row lock: each send takes the slot NextAt and
// pushes it 1/rate later, so N workers together never exceed the rate. A
// slot further away than the wait bound is not taken: the activity is
// retried when the queue ahead of it has drained.
func (a *Activities) reserveSendSlot(ctx context.Context, acc models.Account) error {
	rate := acc.SendRatePerSecond
	if rate <= 0 {
		rate = a.defaultSendRate()
	}
	interval := time.Duration(float64(time.Second) / rate)
	maxWait := a.MaxRateWait
	if maxWait <= 0 {
		maxWait = defaultMaxRateWait
	}
	var start time.Time
	var tooFar time.Duration
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.SendRateSlot{AppID: acc.AppID, NextAt: time.Unix(0, 0).UTC()}).Error; err != nil {
			return err
		}
		var slot models.SendRateSlot
		if err := forUpdate(tx).Model(&models.SendRateSlot{}).Where("app_id = ?", acc.AppID).Take(&slot).Error; err != nil {
			return err
		}
		now := time.Now().UTC()
		start = slot.NextAt
		if start.Before(now) {
			start = now
		}
		if wait := start.Sub(now); wait > maxWait {
			tooFar = wait - maxWait
			return nil
		}
		return tx.Model(&models.SendRateSlot{}).Where("app_id = ?", acc.AppID).
			Updates(map[string]any{"next_at": start.Add(interval), "updated_at": now}).Error
	})
	if err != nil {
		return fmt.Errorf("reserve send slot of app %s: %w", acc.AppID, err)
	}
	if tooFar > 0 {
		return temporal.NewApplicationErrorWithOptions(
			fmt.Sprintf("app %s send queue is %s long at %.1f/s: waiting", acc.AppID, (tooFar+maxWait).Round(time.Millisecond), rate),
			ErrTypeSinchRetryable, temporal.ApplicationErrorOptions{NextRetryDelay: tooFar})
	}
	wait := time.Until(start)
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Activities) defaultSendRate() float64 {
	if a.DefaultSendRate > 0 {
		return a.DefaultSendRate
	}
	return DefaultSendRate
}

// sinchClient builds the Sinch client of an account.
func (a *Activities) sinchClient(acc models.Account) (*sinch.Client, error) {
	if a.Tokens == nil {
		return nil, errors.New("the worker has no Sinch token cache")
	}
	if err := a.checkSinchHosts(acc); err != nil {
		return nil, err
	}
	secret := ""
	if len(acc.KeySecretEnc) > 0 {
		s, err := a.Secrets.Open(acc.KeySecretEnc, secretbox.AccountAAD(acc.ID, "key_secret"))
		if err != nil {
			return nil, fmt.Errorf("decrypt the key secret of account %d: %w", acc.ID, err)
		}
		secret = s
	}
	return sinch.NewClient(sinch.ClientConfig{
		Region: string(acc.Region), BaseURL: acc.BaseURL, AuthURL: acc.AuthURL,
		ProjectID: acc.ProjectID, AppID: acc.AppID, KeyID: acc.KeyID, KeySecret: secret,
	}, a.Tokens, a.HTTP)
}

// checkSinchHosts refuses to send an account's key secret or messages to
// a host that is not Sinch's, unless custom URLs are allowed: the API
// checks this when an account is saved, and the worker again before using
// one saved while they were allowed.
func (a *Activities) checkSinchHosts(acc models.Account) error {
	if a.AllowCustomURLs {
		return nil
	}
	if acc.BaseURL != "" {
		if err := sinch.CheckBaseURL(acc.BaseURL); err != nil {
			return fmt.Errorf("account %d baseUrl: %w", acc.ID, err)
		}
	}
	if acc.AuthURL != "" {
		if err := sinch.CheckAuthURL(acc.AuthURL); err != nil {
			return fmt.Errorf("account %d authUrl: %w", acc.ID, err)
		}
	}
	return nil
}

// logger is the worker's logger (discarding when none was given).
func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func deref0(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}
