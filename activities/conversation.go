package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/internal/ptr"
	"github.com/xcally-connector/connector/models"
)

// InboundMessage is one contact message handed to IngestInbound.
type InboundMessage struct {
	// MessageID is Sinch's message id: the dedup key.
	MessageID string
	// AcceptTime is Sinch's accept_time: messages are ordered by it.
	AcceptTime time.Time
	// Kind is the contact_message kind (text, media, location, …).
	Kind string
	// Text is what an agent reads (the text, a caption, a summary).
	Text string
	// MediaURL is the media URL of media and media_card messages;
	// Filename is a media message's filename_override.
	MediaURL string
	Filename string `json:",omitempty"`
	// ReplyTo is the Sinch id of the message this one answers.
	ReplyTo string
	// Payload is the raw contact_message JSON.
	Payload string
}

// IngestInboundInput stores a batch of contact messages of one conversation.
type IngestInboundInput struct {
	WorkflowID     string
	AccountID      uint64
	Channel        string
	Identity       string
	SinchContactID string
	// InteractionID is the conversation's open interaction, 0 when none: then
	// the first new message opens one.
	InteractionID       uint64
	ProcessingMode      string
	SinchConversationID string
	Messages            []InboundMessage
	// Reclaim lists messages of Messages that the API stored straight into
	// an interaction (StoreInOpenInteraction) which the workflow had closed
	// by the time it learnt of them: they move to the open (or a new)
	// interaction, so a message that raced a close is never left unanswered
	// in a closed one.
	Reclaim []string
}

// knownMessage is a stored message found by IngestInbound.
type knownMessage struct {
	ProviderMessageID string
	InteractionID     uint64
	Status            models.InteractionStatus
}

// IngestInboundResult tells the workflow what was stored.
type IngestInboundResult struct {
	ContactID     uint64
	InteractionID uint64
	// Opened is true when this call opened InteractionID.
	Opened bool
	// Stored lists the Sinch ids that were new; the others were known.
	Stored []string
	// Settings are the account's routing settings, given when Opened: the
	// interaction follows them to its end, whatever changes later.
	Settings *InteractionSettings `json:",omitempty"`
	// NotOpened says why no interaction was opened for new messages (the
	// account was migrated or disabled); they are kept as account events.
	NotOpened string `json:",omitempty"`
}

// InteractionSettings are an account's settings an interaction is routed
// by (the account settings API), taken when it opens.
type InteractionSettings struct {
	// Flow is the action flow (nil: the account's queues with overflow).
	Flow []models.FlowStep `json:",omitempty"`
	// Strategy overrides the queues' strategies ("": each queue's own).
	Strategy string `json:",omitempty"`
	// NotifyTimeout is how long an offer waits for an agent to accept.
	NotifyTimeout time.Duration `json:",omitempty"`
	// InactivityTimeout overrides the conversation's (0: unchanged).
	InactivityTimeout time.Duration `json:",omitempty"`
}

// interactionSettings snapshots the settings of acc; a flow that does not
// decode (never written by the API) is ignored with today's routing.
func interactionSettings(acc models.Account) *InteractionSettings {
	flow, _ := acc.Flow()
	return &InteractionSettings{
		Flow: flow, Strategy: string(acc.RoutingStrategy),
		NotifyTimeout:     time.Duration(acc.AgentNotifyTimeoutSeconds) * time.Second,
		InactivityTimeout: time.Duration(acc.InactivityTimeoutSeconds) * time.Second,
	}
}

// HeldMessageKind is the AccountEvent kind of a contact message that
// reached an account which opens no interaction (migrated, disabled).
const HeldMessageKind = "MESSAGE_NOT_OPENED"

// holdMessage keeps a contact message that opened no interaction as an
// event of its account, once per Sinch message id.
func holdMessage(tx *gorm.DB, in IngestInboundInput, m InboundMessage) error {
	var n int64
	if err := tx.Model(&models.AccountEvent{}).Where("account_id = ? AND kind = ? AND type = ?", in.AccountID, HeldMessageKind, m.MessageID).
		Count(&n).Error; err != nil || n > 0 {
		return err
	}
	var raw any = m.Payload
	if json.Valid([]byte(m.Payload)) {
		raw = json.RawMessage(m.Payload)
	}
	payload, err := json.Marshal(map[string]any{
		"channel": in.Channel, "identity": in.Identity, "messageId": m.MessageID,
		"kind": m.Kind, "text": m.Text, "contactMessage": raw,
	})
	if err != nil {
		return err
	}
	return tx.Create(&models.AccountEvent{
		AccountID: in.AccountID, Kind: HeldMessageKind, Type: m.MessageID, Payload: string(payload), OccurredAt: m.AcceptTime.UTC(),
	}).Error
}

// IngestInbound upserts the contact, opens an interaction when none is open
// and stores the messages that are not stored yet, in one transaction. It is
// idempotent: messages are unique per account and Sinch id, and the
// interaction is keyed by the workflow and its opening message, so a retry
// (or a redelivery reaching a new workflow run) stores nothing twice.
func (a *Activities) IngestInbound(ctx context.Context, in IngestInboundInput) (IngestInboundResult, error) {
	var res IngestInboundResult
	msgs := append([]InboundMessage(nil), in.Messages...)
	sortInbound(msgs)
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		contactID, err := upsertContact(tx, in)
		if err != nil {
			return err
		}
		res.ContactID = contactID

		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.MessageID
		}
		var rows []knownMessage
		if err := tx.Model(&models.Message{}).Select("messages.provider_message_id, messages.interaction_id, interactions.status").
			Joins("JOIN interactions ON interactions.id = messages.interaction_id").
			Where("messages.account_id = ? AND messages.provider_message_id IN ?", in.AccountID, ids).
			Scan(&rows).Error; err != nil {
			return err
		}
		toReclaim := map[string]bool{}
		for _, id := range in.Reclaim {
			toReclaim[id] = true
		}
		seen := map[string]bool{}
		var known []string
		reclaimable := map[string]bool{}
		for _, k := range rows {
			seen[k.ProviderMessageID] = true
			if toReclaim[k.ProviderMessageID] && k.Status == models.InteractionClosed && k.InteractionID != in.InteractionID {
				reclaimable[k.ProviderMessageID] = true
				continue
			}
			known = append(known, k.ProviderMessageID)
		}
		var fresh, reclaimed []InboundMessage
		for _, m := range msgs {
			switch {
			case reclaimable[m.MessageID]:
				delete(reclaimable, m.MessageID)
				reclaimed = append(reclaimed, m)
			case !seen[m.MessageID]:
				seen[m.MessageID] = true
				fresh = append(fresh, m)
			}
		}
		res.InteractionID = in.InteractionID
		if len(fresh) == 0 && len(reclaimed) == 0 {
			if in.InteractionID == 0 && len(known) > 0 {
				// A retry of an attempt that committed but whose result was
				// lost: hand back the interaction those messages opened, if
				// it is still open, so the workflow adopts and routes it.
				var open models.Interaction
				err := tx.Where("workflow_id = ? AND status <> ? AND id IN (?)", in.WorkflowID, models.InteractionClosed,
					tx.Model(&models.Message{}).Select("interaction_id").Where("account_id = ? AND provider_message_id IN ?", in.AccountID, known)).
					Order("id DESC").Limit(1).Find(&open).Error
				if err != nil {
					return err
				}
				if open.ID != 0 {
					var acc models.Account
					if err := tx.Unscoped().Take(&acc, in.AccountID).Error; err != nil {
						return fmt.Errorf("load account %d: %w", in.AccountID, err)
					}
					res.InteractionID, res.Opened, res.Settings = open.ID, true, interactionSettings(acc)
				}
			}
			return nil
		}
		if res.InteractionID == 0 {
			var acc models.Account
			if err := tx.Unscoped().Take(&acc, in.AccountID).Error; err != nil {
				return fmt.Errorf("load account %d: %w", in.AccountID, err)
			}
			if !acc.OpensInteractions() {
				// A migrated (or disabled) account opens no interaction:
				// the messages are kept on the account, not lost.
				res.NotOpened = fmt.Sprintf("account %d is %s: %s", acc.ID, acc.Status, acc.StatusReason)
				for _, m := range fresh {
					if err := holdMessage(tx, in, m); err != nil {
						return err
					}
					res.Stored = append(res.Stored, m.MessageID)
				}
				return nil
			}
			first := append(append([]InboundMessage(nil), reclaimed...), fresh...)
			sortInbound(first)
			if res.InteractionID, err = openInteraction(tx, in, contactID, first[0]); err != nil {
				return err
			}
			res.Opened = true
			res.Settings = interactionSettings(acc)
		}
		var inter models.Interaction
		if err := tx.First(&inter, res.InteractionID).Error; err != nil {
			return fmt.Errorf("load interaction %d: %w", res.InteractionID, err)
		}
		if err := reclaim(tx, inter, reclaimed); err != nil {
			return err
		}
		if _, err := storeMessages(tx, inter, fresh); err != nil {
			return err
		}
		for _, m := range append(reclaimed, fresh...) {
			res.Stored = append(res.Stored, m.MessageID)
		}
		return nil
	})
	if err != nil {
		return IngestInboundResult{}, fmt.Errorf("ingest inbound: %w", err)
	}
	a.log(ctx, in.AccountID).Debug("inbound ingested", "interaction_id", res.InteractionID, "opened", res.Opened,
		"stored", len(res.Stored), "not_opened", res.NotOpened)
	return res, nil
}

// storeMessages adds fresh contact messages to an interaction, tells its
// agent, and moves its last_message_at forward. It returns how many were
// new: one already stored (a concurrent delivery) is left where it is.
func storeMessages(tx *gorm.DB, inter models.Interaction, fresh []InboundMessage) (int, error) {
	var stored []InboundMessage
	for _, m := range fresh {
		row := models.Message{
			AccountID: inter.AccountID, InteractionID: inter.ID, ContactID: inter.ContactID,
			Direction: models.DirectionInbound, Kind: m.Kind, Text: m.Text,
			ProviderMessageID: ptr.To(m.MessageID), Status: models.StatusReceived, StatusRank: models.StatusReceived.Rank(),
			ReplyToProviderID: m.ReplyTo, Payload: m.Payload, ProviderTime: ptr.To(m.AcceptTime.UTC()),
		}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
			return 0, fmt.Errorf("store message %s: %w", m.MessageID, err)
		}
		if row.ID == 0 {
			continue
		}
		if err := addInboundAttachment(tx, row, m); err != nil {
			return 0, err
		}
		stored = append(stored, m)
		if err := announceInbound(tx, inter, row); err != nil {
			return 0, err
		}
	}
	if err := countMessages(tx, inter.ID, "messages_in", len(stored)); err != nil {
		return 0, err
	}
	return len(stored), touchInteraction(tx, inter.ID, stored)
}

// reclaim moves messages stored in a closed interaction into inter.
func reclaim(tx *gorm.DB, inter models.Interaction, msgs []InboundMessage) error {
	for _, m := range msgs {
		var row models.Message
		if err := tx.Where("account_id = ? AND provider_message_id = ?", inter.AccountID, m.MessageID).First(&row).Error; err != nil {
			return fmt.Errorf("reclaim message %s: %w", m.MessageID, err)
		}
		from := row.InteractionID
		if err := tx.Model(&row).Update("interaction_id", inter.ID).Error; err != nil {
			return fmt.Errorf("reclaim message %s: %w", m.MessageID, err)
		}
		if err := recountMessages(tx, from, inter.ID); err != nil {
			return err
		}
		row.InteractionID = inter.ID
		if err := announceInbound(tx, inter, row); err != nil {
			return err
		}
	}
	return touchInteraction(tx, inter.ID, msgs)
}

// announceInbound puts message.inbound on the stream of the interaction's
// agent, when it is assigned.
func announceInbound(tx *gorm.DB, inter models.Interaction, row models.Message) error {
	if inter.AgentID == nil || inter.Status != models.InteractionAssigned {
		return nil
	}
	return insertAgentEvent(tx, *inter.AgentID, "message.inbound", inter.ID,
		fmt.Sprintf("inbound:%d", row.ID), messageEventData(inter, row))
}

// touchInteraction moves an interaction's last_message_at to the newest
// accept_time of msgs (never back).
func touchInteraction(tx *gorm.DB, interactionID uint64, msgs []InboundMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	var last time.Time
	for _, m := range msgs {
		if m.AcceptTime.After(last) {
			last = m.AcceptTime
		}
	}
	last = last.UTC()
	return tx.Model(&models.Interaction{}).Where("id = ? AND (last_message_at IS NULL OR last_message_at < ?)", interactionID, last).
		Update("last_message_at", last).Error
}

// sortInbound orders messages by accept_time, then Sinch id.
func sortInbound(msgs []InboundMessage) {
	sort.SliceStable(msgs, func(i, j int) bool {
		if !msgs[i].AcceptTime.Equal(msgs[j].AcceptTime) {
			return msgs[i].AcceptTime.Before(msgs[j].AcceptTime)
		}
		return msgs[i].MessageID < msgs[j].MessageID
	})
}

// StoreInOpenInteraction is the API's fast path for a contact message whose
// conversation already has an open interaction: it stores the message there
// (and tells the assigned agent) before the workflow is signalled, so the
// workflow only takes note of it and writes nothing to its history but the
// signal. It returns the interaction that holds the message: the open one,
// or for a message stored before (a redelivery) the one it is in; 0 when
// the conversation has no open interaction, in which case nothing is
// written and the workflow stores the message and opens one. The open
// interaction is locked (Postgres) so a concurrent close either waits for
// the message or is seen.
func StoreInOpenInteraction(ctx context.Context, db *gorm.DB, workflowID string, accountID uint64, m InboundMessage) (uint64, error) {
	var holder uint64
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var inter models.Interaction
		if err := forUpdate(tx).Where("workflow_id = ? AND status <> ?", workflowID, models.InteractionClosed).
			Order("id DESC").Limit(1).Find(&inter).Error; err != nil {
			return err
		}
		if inter.ID != 0 && inter.AccountID == accountID {
			n, err := storeMessages(tx, inter, []InboundMessage{m})
			if err != nil || n == 1 {
				holder = inter.ID
				return err
			}
		}
		// No open interaction, or the message was stored before (a
		// redelivery): name the interaction that holds it, if any.
		var existing []uint64
		if err := tx.Model(&models.Message{}).Where("account_id = ? AND provider_message_id = ?", accountID, m.MessageID).
			Limit(1).Pluck("interaction_id", &existing).Error; err != nil {
			return err
		}
		if len(existing) > 0 {
			holder = existing[0]
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store inbound %s: %w", m.MessageID, err)
	}
	return holder, nil
}

func upsertContact(tx *gorm.DB, in IngestInboundInput) (uint64, error) {
	c := models.Contact{AccountID: in.AccountID, Channel: models.Channel(in.Channel), Identity: in.Identity, SinchContactID: in.SinchContactID}
	if in.Channel == string(models.ChannelWhatsApp) {
		// WhatsApp identities are MSISDNs without "+".
		c.Mobile = "+" + in.Identity
	}
	updates := []string{"updated_at"}
	if in.SinchContactID != "" {
		// DISPATCH-mode callbacks carry no contact_id: never erase one.
		updates = append(updates, "sinch_contact_id")
	}
	if err := tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "account_id"}, {Name: "channel"}, {Name: "identity"}},
		DoUpdates: clause.AssignmentColumns(updates),
	}).Create(&c).Error; err != nil {
		return 0, fmt.Errorf("upsert contact: %w", err)
	}
	var id uint64
	err := tx.Model(&models.Contact{}).Where("account_id = ? AND channel = ? AND identity = ?", in.AccountID, in.Channel, in.Identity).
		Pluck("id", &id).Error
	return id, err
}

func openInteraction(tx *gorm.DB, in IngestInboundInput, contactID uint64, first InboundMessage) (uint64, error) {
	key := in.WorkflowID + "#" + first.MessageID
	row := models.Interaction{
		Key: key, WorkflowID: in.WorkflowID, AccountID: in.AccountID, ContactID: contactID,
		Channel: models.Channel(in.Channel), Status: models.InteractionQueued,
		ProcessingMode: models.ProcessingMode(in.ProcessingMode), SinchConversationID: in.SinchConversationID,
		OpenedAt: first.AcceptTime.UTC(),
	}
	if row.OpenedAt.IsZero() {
		row.OpenedAt = time.Now().UTC()
	}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return 0, fmt.Errorf("open interaction: %w", err)
	}
	var id uint64
	if err := tx.Model(&models.Interaction{}).Where(&models.Interaction{Key: key}).Pluck("id", &id).Error; err != nil {
		return 0, err
	}
	return id, nil
}

// messageEventData is the JSON of a message.inbound event.
func messageEventData(inter models.Interaction, m models.Message) map[string]any {
	return map[string]any{
		"interactionId": inter.ID, "accountId": inter.AccountID, "messageId": m.ID,
		"providerMessageId": ptr.Value(m.ProviderMessageID), "kind": m.Kind, "text": m.Text,
		"acceptTime": m.ProviderTime,
	}
}

// CloseInteractionInput closes an interaction.
type CloseInteractionInput struct {
	InteractionID uint64
	Disposition   string
	// Reason is agent, admin or inactivity.
	Reason string
}

// CloseInteraction marks the interaction closed and tells its agent. Closing
// a closed interaction is a no-op.
func (a *Activities) CloseInteraction(ctx context.Context, in CloseInteractionInput) error {
	return a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		inter, err := lockInteraction(tx, in.InteractionID)
		if err != nil {
			return err
		}
		return closeInteraction(tx, inter, in.Disposition, in.Reason)
	})
}

// lockInteraction loads an interaction under a row lock (Postgres; SQLite's
// immediate transactions hold the write lock anyway), so a close and the
// API storing a message into it are serialised.
func lockInteraction(tx *gorm.DB, id uint64) (models.Interaction, error) {
	var inter models.Interaction
	if err := forUpdate(tx).First(&inter, id).Error; err != nil {
		return inter, fmt.Errorf("load interaction %d: %w", id, err)
	}
	return inter, nil
}

// forUpdate is models.ForUpdate.
var forUpdate = models.ForUpdate

func closeInteraction(tx *gorm.DB, inter models.Interaction, disposition, reason string) error {
	if inter.Status == models.InteractionClosed {
		return nil
	}
	now := time.Now().UTC()
	if err := tx.Model(&inter).Updates(map[string]any{
		"status": models.InteractionClosed, "closed_at": now, "disposition": disposition, "close_reason": reason,
		"handle_ms": handleMs(inter, now),
	}).Error; err != nil {
		return err
	}
	if inter.AgentID == nil {
		return nil
	}
	return insertAgentEvent(tx, *inter.AgentID, "interaction.closed", inter.ID, fmt.Sprintf("closed:%d", inter.ID),
		map[string]any{"interactionId": inter.ID, "reason": reason, "disposition": disposition})
}

// CloseIdleInput closes an interaction for inactivity.
type CloseIdleInput struct {
	InteractionID uint64
	// IdleFor is the inactivity timeout: the interaction is closed only if
	// its last stored message is at least that old.
	IdleFor time.Duration
}

// CloseIdleResult tells whether the interaction was closed.
type CloseIdleResult struct {
	Closed bool
	// LastMessageAt is the interaction's last message time when a newer
	// message kept it open.
	LastMessageAt time.Time
}

// CloseIdleInteraction closes an interaction for inactivity unless the
// database holds a message newer than the timeout (stored by the API for a
// signal the workflow has not seen yet). Closing a closed interaction is a
// no-op that reports it closed.
func (a *Activities) CloseIdleInteraction(ctx context.Context, in CloseIdleInput) (CloseIdleResult, error) {
	var res CloseIdleResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		inter, err := lockInteraction(tx, in.InteractionID)
		if err != nil {
			return err
		}
		if inter.Status != models.InteractionClosed && inter.LastMessageAt != nil && time.Since(*inter.LastMessageAt) < in.IdleFor {
			res.LastMessageAt = *inter.LastMessageAt
			return nil
		}
		res.Closed = true
		return closeInteraction(tx, inter, "", "inactivity")
	})
	return res, err
}

// PublishContactEventInput forwards a contact event to the assigned agent.
type PublishContactEventInput struct {
	InteractionID uint64
	EventID       string
	Kind          string
	Payload       string
}

// PublishContactEvent puts a contact event (composing, reaction…) on the
// stream of the interaction's agent, if it has one.
func (a *Activities) PublishContactEvent(ctx context.Context, in PublishContactEventInput) error {
	var inter models.Interaction
	if err := a.DB.WithContext(ctx).First(&inter, in.InteractionID).Error; err != nil {
		return fmt.Errorf("load interaction %d: %w", in.InteractionID, err)
	}
	if inter.AgentID == nil || inter.Status != models.InteractionAssigned {
		return nil
	}
	var payload any = in.Payload
	if json.Valid([]byte(in.Payload)) {
		payload = json.RawMessage(in.Payload)
	}
	return insertAgentEvent(a.DB.WithContext(ctx), *inter.AgentID, "contact.event", inter.ID, "event:"+in.EventID,
		map[string]any{"interactionId": inter.ID, "kind": in.Kind, "event": payload})
}

// insertAgentEvent appends to an agent's stream; a repeated dedupKey is a
// no-op, so retried activities publish once.
func insertAgentEvent(tx *gorm.DB, agentID uint64, typ string, interactionID uint64, dedupKey string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	ev := models.AgentEvent{AgentID: agentID, Type: typ, InteractionID: interactionID, Data: string(b), DedupKey: dedupKey}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&ev).Error; err != nil {
		return fmt.Errorf("publish %s to agent %d: %w", typ, agentID, err)
	}
	return nil
}
