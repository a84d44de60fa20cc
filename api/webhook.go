package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/inbound"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/workflows"
)

// Webhook defaults.
const (
	// webhookFutureSkew tolerates a Sinch clock ahead of ours.
	webhookFutureSkew = 5 * time.Minute
	// engineTimeout bounds the Temporal call of one callback; past it the
	// callback is answered 503 and Sinch retries it.
	engineTimeout = 5 * time.Second
)

// WebhookResponse is the body of a 200 answer to Sinch.
type WebhookResponse struct {
	// Status is "accepted" (handed to a workflow or stored) or "ignored".
	Status  string `json:"status"`
	Trigger string `json:"trigger"`
	// Reason says why a callback was ignored.
	Reason string `json:"reason,omitempty"`
}

// notify is POST /api/whatsapp/accounts/{id}/notify, Sinch's webhook. It
// verifies first (signature, timestamp, nonce), then decodes the trigger and
// hands the callback on. It answers 200 only when the callback is durable
// (accepted by Temporal, or written to the database), 503 otherwise so that
// Sinch retries it: nothing is acknowledged and then lost.
func (s *Server) notify(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err // 413 when over the body limit
	}
	ctx := c.Request().Context()
	var acc models.Account
	if err := s.deps.DB.WithContext(ctx).First(&acc, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return &Error{Status: http.StatusNotFound, Code: "account_not_found", Message: fmt.Sprintf("no WhatsApp account %d: check the webhook target URL", id)}
		}
		return errUnavailable("database_unavailable", "cannot read the account", err)
	}
	s.traceCallback(c, acc, body)
	nonce, err := s.verifyCallback(c, acc, body)
	// Decoded once, after the signature: the app check and the handlers
	// read the same Callback.
	var cb *sinch.Callback
	var decodeErr error
	if err == nil {
		if cb, decodeErr = sinch.DecodeCallback(body); decodeErr == nil {
			err = checkCallbackApp(acc, cb.AppID)
		}
	}
	s.recordWebhookHealth(acc.ID, err) // for the account diagnostics
	if err == nil && decodeErr != nil {
		err = errBadRequest("malformed_callback", decodeErr.Error())
	}
	if err != nil {
		if nonce != "" {
			// Not acknowledged: Sinch's retry may carry the same nonce.
			s.releaseNonce(acc.ID, nonce)
		}
		return err
	}
	resp, err := s.handleCallback(c, acc, cb)
	if err != nil && nonce != "" {
		// Not acknowledged: Sinch's retry may carry the same nonce.
		s.releaseNonce(acc.ID, nonce)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

// verifyCallback checks the HMAC signature, the timestamp window and the
// nonce of an account that has a webhook secret; an account without one
// takes unsigned callbacks only when it allows them explicitly. It returns the claimed
// nonce ("" when the account has no secret).
func (s *Server) verifyCallback(c echo.Context, acc models.Account, body []byte) (string, error) {
	secret, err := s.deps.Secrets.Open(acc.WebhookSecretEnc, secretbox.AccountAAD(acc.ID, "webhook_secret"))
	if err != nil {
		return "", &Error{Status: http.StatusInternalServerError, Code: "secret_unreadable",
			Message: "the account's webhook secret cannot be decrypted: do SECRET_KEYS hold the key it was stored with?", Err: err}
	}
	if secret == "" {
		if acc.AllowUnsignedWebhooks {
			return "", nil // the admin's explicit choice; the account warns
		}
		return "", &Error{Status: http.StatusUnauthorized, Code: "webhook_secret_missing",
			Message: fmt.Sprintf("account %d has no webhook secret and does not accept unsigned callbacks: set webhookSecret on the account and on the Sinch webhook", acc.ID)}
	}
	sh := sinch.SignatureHeadersFrom(c.Request().Header)
	switch err := sinch.VerifySignature(secret, sh, body); {
	case errors.Is(err, sinch.ErrSignatureMissing):
		return "", &Error{Status: http.StatusUnauthorized, Code: "signature_missing", Message: "missing x-sinch-webhook-signature, -nonce or -timestamp header"}
	case errors.Is(err, sinch.ErrSignatureAlgorithm):
		return "", &Error{Status: http.StatusUnauthorized, Code: "signature_algorithm", Message: "unsupported x-sinch-webhook-signature-algorithm: want HmacSHA256"}
	case err != nil:
		s.log.Warn("webhook signature mismatch", "account_id", acc.ID, "request_id", requestID(c))
		return "", &Error{Status: http.StatusUnauthorized, Code: "signature_invalid", Message: "the webhook signature does not match: check the webhook secret of the account and of the Sinch app"}
	}
	ts, err := sh.Time()
	if err != nil {
		return "", &Error{Status: http.StatusUnauthorized, Code: "timestamp_invalid", Message: "x-sinch-webhook-signature-timestamp is not unix seconds"}
	}
	now := time.Now()
	if age := now.Sub(ts); age > s.deps.WebhookTolerance || age < -webhookFutureSkew {
		return "", &Error{Status: http.StatusUnauthorized, Code: "timestamp_out_of_window",
			Message: fmt.Sprintf("signature timestamp %s is outside the accepted window (%s old to %s ahead)", ts.UTC().Format(time.RFC3339), s.deps.WebhookTolerance, webhookFutureSkew)}
	}
	replayed, err := models.ClaimWebhookNonce(c.Request().Context(), s.deps.DB, acc.ID, sh.Nonce, now)
	switch {
	case err != nil:
		return "", errUnavailable("database_unavailable", "cannot record the signature nonce", err)
	case replayed:
		return "", &Error{Status: http.StatusUnauthorized, Code: "nonce_replayed", Message: "this signature nonce was already accepted: replayed request"}
	}
	return sh.Nonce, nil
}

// checkCallbackApp refuses a callback of another Sinch app than the
// account's (every Sinch callback carries app_id): a webhook of one app
// pointed at another account's URL, or a forged callback. A 403 (Sinch
// does not retry it as it retries 5xx) recorded in the account's
// diagnostics.
func checkCallbackApp(acc models.Account, appID string) error {
	if acc.AppID == "" || appID == acc.AppID {
		return nil
	}
	got := "none"
	if appID != "" {
		got = strconv.Quote(appID)
	}
	return &Error{Status: http.StatusForbidden, Code: "app_id_mismatch",
		Message: fmt.Sprintf("callback app_id %s is not the Sinch app of account %d (%q): point each app's webhook at its own account's receive URL", got, acc.ID, acc.AppID)}
}

func (s *Server) releaseNonce(accountID uint64, nonce string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := models.ReleaseWebhookNonce(ctx, s.deps.DB, accountID, nonce); err != nil {
		s.log.Warn("release webhook nonce", "account_id", accountID, "err", err)
	}
}

// handleCallback hands a verified, decoded callback on by trigger.
func (s *Server) handleCallback(c echo.Context, acc models.Account, cb *sinch.Callback) (WebhookResponse, error) {
	var err error
	c.Set(webhookTriggerKey, string(cb.Trigger))
	ctx := c.Request().Context()
	log := s.log.With("account_id", acc.ID, "trigger", cb.Trigger, "request_id", requestID(c))
	resp := WebhookResponse{Status: "accepted", Trigger: string(cb.Trigger)}
	switch cb.Trigger {
	case sinch.TriggerMessageInbound:
		resp, err = s.onInboundMessage(ctx, acc, cb, resp)
	case sinch.TriggerEventInbound:
		resp, err = s.onInboundEvent(ctx, acc, cb, resp)
	case sinch.TriggerMessageDelivery:
		resp, err = s.onDelivery(ctx, acc, cb, resp)
	case sinch.TriggerContactCreate, sinch.TriggerContactUpdate:
		resp, err = s.onContactChange(ctx, acc, cb, resp)
	case sinch.TriggerChannelEvent, sinch.TriggerOptIn, sinch.TriggerOptOut, sinch.TriggerCapability,
		sinch.TriggerUnsupported, sinch.TriggerContactIdentitiesDuplication:
		err = s.recordAccountEvent(ctx, acc, cb)
	default:
		log.Info("callback trigger not handled", "app_id", cb.AppID)
		resp.Status, resp.Reason = "ignored", "trigger not handled by the connector"
	}
	if err != nil {
		return WebhookResponse{}, err
	}
	if resp.Status == "ignored" && resp.Reason != "" {
		log.Info("callback ignored", "reason", resp.Reason)
	}
	c.Set(webhookStatusKey, resp.Status)
	log.DebugContext(ctx, "callback handled", "status", resp.Status, "reason", resp.Reason)
	return resp, nil
}

// onInboundMessage hands the message to its conversation (inbound.Inbox:
// stored in the open interaction if there is one, then signalled).
func (s *Server) onInboundMessage(ctx context.Context, acc models.Account, cb *sinch.Callback, resp WebhookResponse) (WebhookResponse, error) {
	m := cb.Message
	channel, identity := m.ChannelIdentity.Channel, m.ChannelIdentity.Identity
	if m.ID == "" || identity == "" || channel == "" {
		return resp, errBadRequest("malformed_callback", "message.id and message.channel_identity {channel, identity} are required")
	}
	if !acc.ServesChannel(channel) {
		// The Sinch app has a channel the account does not serve: a retry
		// would not change that, so answer 200 and say why.
		resp.Status, resp.Reason = "ignored", fmt.Sprintf("channel %s is not enabled on account %d (channels: %s)", channel, acc.ID, acc.Channels)
		return resp, nil
	}
	s.recordProcessingMode(ctx, acc, m.ProcessingMode)
	sig := workflows.InboundSignalOf(*m, rawField(cb.Payload, "contact_message"), cb.AcceptedTime)
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	inbox := inbound.Inbox{DB: s.deps.DB, Temporal: s.deps.Temporal, TaskQueue: s.deps.TaskQueue, Settings: s.conversationSettings()}
	err := inbox.Deliver(ctx, acc.ID, acc.Name, *m, sig)
	var de *inbound.DeliverError
	switch {
	case err == nil:
		s.deps.Metrics.MessageIn(acc.ID, string(channel))
		return resp, nil
	case errors.As(err, &de) && de.Step == "store":
		return resp, errUnavailable("database_unavailable", "cannot store the message; Sinch will retry", err)
	default:
		return resp, errUnavailable("engine_unavailable", "the workflow engine did not accept the message; Sinch will retry", err)
	}
}

// conversationSettings are the settings new conversations start with.
func (s *Server) conversationSettings() workflows.ConversationSettings {
	return s.deps.Conversations
}

// onInboundEvent forwards a contact event to a running conversation; an
// event for a conversation that does not exist starts nothing.
func (s *Server) onInboundEvent(ctx context.Context, acc models.Account, cb *sinch.Callback, resp WebhookResponse) (WebhookResponse, error) {
	ev := cb.Event
	ci := ev.ChannelIdentity
	if ci.Identity == "" || ci.Channel == "" {
		return resp, errBadRequest("malformed_callback", "event.channel_identity {channel, identity} is required")
	}
	kind := "contact_event"
	if len(ev.ContactMessageEvent) > 0 {
		kind = "contact_message_event"
	}
	payload := ev.ContactEvent
	if len(payload) == 0 {
		payload = ev.ContactMessageEvent
	}
	sig := workflows.ContactEventSignal{EventID: ev.ID, Kind: kind, AcceptTime: ev.AcceptTime, Payload: string(payload)}
	return s.signalExisting(ctx, s.deps.Conversations.Identities.ConversationWorkflowID(acc.ID, ci.Channel, ci.Identity), workflows.EventSignalName, sig, resp)
}

// onDelivery hands a delivery report on (inbound.Reports): applied in the
// database when the workflow that sent the message would not act on it,
// else signalled to that workflow, named in the message metadata, else the
// conversation of the recipient.
func (s *Server) onDelivery(ctx context.Context, acc models.Account, cb *sinch.Callback, resp WebhookResponse) (WebhookResponse, error) {
	r := cb.MessageDeliveryReport
	if r.MessageID == "" || r.Status == "" {
		return resp, errBadRequest("malformed_callback", "message_delivery_report.message_id and status are required")
	}
	s.recordProcessingMode(ctx, acc, r.ProcessingMode)
	var meta activities.SendMetadata
	wfID := ""
	// A workflow id read from the body is used only when it is one of this
	// account's conversations: a report on one account's URL never reaches
	// another account's workflow, signed or not.
	if json.Unmarshal([]byte(r.Metadata), &meta) == nil && meta.WorkflowID != "" {
		wfID = meta.WorkflowID
		if !workflows.IsConversationOf(wfID, acc.ID) {
			return s.foreignID(ctx, acc, cb, "message_delivery_report.metadata.workflowId", wfID, resp)
		}
	} else if strings.HasPrefix(cb.CorrelationID, "conversation/") {
		wfID = cb.CorrelationID
		if !workflows.IsConversationOf(wfID, acc.ID) {
			return s.foreignID(ctx, acc, cb, "correlation_id", wfID, resp)
		}
	} else if r.ChannelIdentity.Identity != "" {
		wfID = s.deps.Conversations.Identities.ConversationWorkflowID(acc.ID, r.ChannelIdentity.Channel, r.ChannelIdentity.Identity)
	} else {
		resp.Status, resp.Reason = "ignored", "delivery report names no workflow and no recipient"
		return resp, nil
	}
	sig := workflows.DeliverySignal{DeliveryReport: activities.DeliveryReport{MessageID: r.MessageID, Status: r.Status, At: cb.EventTime,
		RefMessageID: meta.MessageID, RefAttempt: meta.Attempt}}
	if sig.At.IsZero() {
		sig.At = cb.AcceptedTime
	}
	if r.Reason != nil {
		sig.ReasonCode, sig.ReasonSubCode, sig.ReasonChannelCode, sig.ReasonDescription = r.Reason.Code, r.Reason.SubCode, r.Reason.ChannelCode, r.Reason.Description
	}
	if !activities.KnownDeliveryStatus(r.Status) {
		resp.Status, resp.Reason = "ignored", fmt.Sprintf("unknown delivery status %q", r.Status)
		return resp, nil
	}
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	reports := inbound.Reports{DB: s.deps.DB, Temporal: s.deps.Temporal, Metrics: s.deps.Metrics}
	res, err := reports.Deliver(ctx, acc.ID, wfID, sig)
	var de *inbound.DeliverError
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &de) && de.Step == "store":
		return resp, errUnavailable("database_unavailable", "cannot apply the delivery report; Sinch will retry", err)
	case errors.As(err, &notFound):
		resp.Status, resp.Reason = "ignored", "no running conversation "+wfID
	case err != nil:
		return resp, errUnavailable("engine_unavailable", "the workflow engine did not accept the callback; Sinch will retry", err)
	case res.Failed != nil:
		s.log.Info("reply failed after delivery", "account_id", acc.ID, "message_id", res.MessageID, "error_class", res.Failed.Class, "reason_code", res.Failed.Code)
	}
	return resp, nil
}

// foreignID ignores a callback that names another account's workflow (200,
// Sinch must not retry it) and records it as an account event for the
// admin: a misrouted webhook or a forged callback.
func (s *Server) foreignID(ctx context.Context, acc models.Account, cb *sinch.Callback, field, id string, resp WebhookResponse) (WebhookResponse, error) {
	s.log.Warn("callback names a workflow of another account: ignored", "account_id", acc.ID, "field", field, "workflow_id", id, "trigger", cb.Trigger)
	if err := inbound.RecordForeignID(ctx, s.deps.DB, acc.ID, cb, field, id); err != nil {
		return resp, errUnavailable("database_unavailable", "cannot record the account event; Sinch will retry", err)
	}
	resp.Status, resp.Reason = "ignored", field+" names a workflow of another account"
	return resp, nil
}

// signalExisting signals a workflow that should exist; if it does not, the
// callback is ignored (200), since there is nothing to update.
func (s *Server) signalExisting(ctx context.Context, wfID, name string, arg any, resp WebhookResponse) (WebhookResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	err := s.deps.Temporal.SignalWorkflow(ctx, wfID, "", name, arg)
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		resp.Status, resp.Reason = "ignored", "no running conversation "+wfID
		return resp, nil
	case err != nil:
		return resp, errUnavailable("engine_unavailable", "the workflow engine did not accept the callback; Sinch will retry", err)
	}
	return resp, nil
}

// recordAccountEvent stores an account-level notification
// (inbound.RecordAccountEvent) and logs a WhatsApp quality rating change.
func (s *Server) recordAccountEvent(ctx context.Context, acc models.Account, cb *sinch.Callback) error {
	rating, err := inbound.RecordAccountEvent(ctx, s.deps.DB, acc.ID, cb)
	if err != nil {
		return errUnavailable("database_unavailable", "cannot record the account event; Sinch will retry", err)
	}
	if rating != "" {
		s.log.Warn("WhatsApp quality rating changed", "account_id", acc.ID, "quality_rating", rating)
	}
	return nil
}

// onContactChange keeps the display name Sinch knows for a contact
// (CONVERSATION mode), so notifications can show {{contact.name}}.
func (s *Server) onContactChange(ctx context.Context, acc models.Account, cb *sinch.Callback, resp WebhookResponse) (WebhookResponse, error) {
	var n struct {
		Contact struct {
			ID          string `json:"id"`
			DisplayName string `json:"display_name"`
		} `json:"contact"`
	}
	if err := json.Unmarshal(cb.Payload, &n); err != nil || n.Contact.ID == "" || n.Contact.DisplayName == "" {
		resp.Status, resp.Reason = "ignored", "no contact id or display name"
		return resp, nil
	}
	if err := inbound.RenameContact(ctx, s.deps.DB, acc.ID, n.Contact.ID, n.Contact.DisplayName); err != nil {
		return resp, errUnavailable("database_unavailable", "cannot update the contact; Sinch will retry", err)
	}
	return resp, nil
}

// recordProcessingMode keeps the latest Sinch processing mode on the
// account (inbound.RecordProcessingMode). A failure is logged, not
// answered: the mode is a diagnostic, the callback is handed on anyway.
func (s *Server) recordProcessingMode(ctx context.Context, acc models.Account, mode string) {
	changed, err := inbound.RecordProcessingMode(ctx, s.deps.DB, acc, mode)
	if err != nil {
		s.log.Warn("record processing mode", "account_id", acc.ID, "err", err)
		return
	}
	if changed && mode == string(models.ProcessingDispatch) {
		s.log.Warn("Sinch app is in DISPATCH mode: set it to CONVERSATION mode so agents can reply", "account_id", acc.ID, "app_id", acc.AppID)
	}
}

// rawField returns the raw JSON of one field of a JSON object, or "".
func rawField(obj json.RawMessage, name string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return ""
	}
	return string(m[name])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
