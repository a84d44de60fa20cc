package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
)

// InboundSink hands an inbound Sinch message to its conversation, as the
// webhook does (signal-with-start; the conversation dedupes). The worker's
// wiring provides it: activities cannot name workflows.
type InboundSink interface {
	DeliverInbound(ctx context.Context, accountID uint64, accountName string, m sinch.InboundMessage, rawContactMessage string) error
}

// reconcilePageSize is Sinch's largest page of listed messages.
const reconcilePageSize = sinch.MaxListPageSize

// ReconcilePageInput is one page of an account's inbound messages at Sinch.
type ReconcilePageInput struct {
	AccountID uint64
	From, To  time.Time
	PageToken string
}

// ReconcilePageResult counts what the page held.
type ReconcilePageResult struct {
	// Listed is how many inbound messages Sinch listed on the page.
	Listed int
	// Missing were not stored by the connector and were handed to their
	// conversations; Skipped are on channels the account does not serve.
	Missing int
	Skipped int
	// NextPageToken is "" after the last page.
	NextPageToken string
}

// ReconcilePage lists one page of the account's inbound (TO_APP) messages
// that Sinch accepted between From and To and hands every one the
// connector has not stored to its conversation workflow, through the same
// dedup path as the webhook. Repeating a page hands over again only what
// is still not stored; the conversations drop what they already have.
func (a *Activities) ReconcilePage(ctx context.Context, in ReconcilePageInput) (ReconcilePageResult, error) {
	if a.Inbound == nil {
		return ReconcilePageResult{}, failureError(Failure{Code: "NO_INBOUND_SINK", Class: models.ErrorClassSupport,
			Message: "NO_INBOUND_SINK: this worker cannot hand messages to conversations: " + adviceSupport}, nil)
	}
	var acc models.Account
	if err := a.DB.WithContext(ctx).Take(&acc, in.AccountID).Error; err != nil {
		return ReconcilePageResult{}, fmt.Errorf("load account %d: %w", in.AccountID, err)
	}
	client, err := a.sinchClient(acc)
	if err != nil {
		return ReconcilePageResult{}, failureError(Failure{Code: "ACCOUNT_CONFIG", Class: models.ErrorClassConfig,
			Message: "ACCOUNT_CONFIG: " + err.Error() + ": " + adviceConfig}, err)
	}
	req := sinch.ListMessagesRequest{
		Direction: sinch.DirectionToApp, StartTime: in.From, EndTime: in.To,
		PageSize: reconcilePageSize, PageToken: in.PageToken,
	}
	if acc.LastProcessingMode == models.ProcessingDispatch {
		// Listed only when the app has a DISPATCH retention policy.
		req.MessagesSource = sinch.MessagesSourceDispatch
	}
	page, err := client.ListMessages(ctx, req)
	if err != nil {
		if apiErr, ok := sinch.AsAPIError(err); ok && !apiErr.Retryable() {
			return ReconcilePageResult{}, failureError(classifyAPIError(apiErr), err)
		}
		return ReconcilePageResult{}, fmt.Errorf("list inbound messages of account %d: %w", acc.ID, err)
	}
	res := ReconcilePageResult{NextPageToken: page.NextPageToken}
	var inbound []sinch.InboundMessage
	var ids []string
	for _, cm := range page.Messages {
		if m, ok := cm.Inbound(); ok {
			inbound = append(inbound, m)
			ids = append(ids, m.ID)
		}
	}
	res.Listed = len(inbound)
	known := map[string]bool{}
	if len(ids) > 0 {
		var stored []string
		if err := a.DB.WithContext(ctx).Model(&models.Message{}).Where("account_id = ? AND provider_message_id IN ?", acc.ID, ids).
			Pluck("provider_message_id", &stored).Error; err != nil {
			return ReconcilePageResult{}, err
		}
		for _, id := range stored {
			known[id] = true
		}
	}
	for _, m := range inbound {
		if known[m.ID] {
			continue
		}
		if m.ChannelIdentity.Identity == "" || !acc.ServesChannel(m.ChannelIdentity.Channel) {
			res.Skipped++
			continue
		}
		raw, err := json.Marshal(m.ContactMessage)
		if err != nil {
			return ReconcilePageResult{}, fmt.Errorf("encode contact message %s: %w", m.ID, err)
		}
		if err := a.Inbound.DeliverInbound(ctx, acc.ID, acc.Name, m, string(raw)); err != nil {
			return ReconcilePageResult{}, fmt.Errorf("hand message %s to its conversation: %w", m.ID, err)
		}
		res.Missing++
	}
	return res, nil
}
