package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

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
	// MediaURL is the media URL of media and media_card messages.
	MediaURL string
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
}

// IngestInboundResult tells the workflow what was stored.
type IngestInboundResult struct {
	ContactID     uint64
	InteractionID uint64
	// Opened is true when this call opened InteractionID.
	Opened bool
	// Stored lists the Sinch ids that were new; the others were known.
	Stored []string
}

// IngestInbound upserts the contact, opens an interaction when none is open
// and stores the messages that are not stored yet, in one transaction. It is
// idempotent: messages are unique per account and Sinch id, and the
// interaction is keyed by the workflow and its opening message, so a retry
// (or a redelivery reaching a new workflow run) stores nothing twice.
func (a *Activities) IngestInbound(ctx context.Context, in IngestInboundInput) (IngestInboundResult, error) {
	var res IngestInboundResult
	msgs := append([]InboundMessage(nil), in.Messages...)
	sort.SliceStable(msgs, func(i, j int) bool {
		if !msgs[i].AcceptTime.Equal(msgs[j].AcceptTime) {
			return msgs[i].AcceptTime.Before(msgs[j].AcceptTime)
		}
		return msgs[i].MessageID < msgs[j].MessageID
	})
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
		var known []string
		if err := tx.Model(&models.Message{}).Where("account_id = ? AND provider_message_id IN ?", in.AccountID, ids).
			Pluck("provider_message_id", &known).Error; err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, k := range known {
			seen[k] = true
		}
		var fresh []InboundMessage
		for _, m := range msgs {
			if !seen[m.MessageID] {
				seen[m.MessageID] = true
				fresh = append(fresh, m)
			}
		}
		res.InteractionID = in.InteractionID
		if len(fresh) == 0 {
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
					res.InteractionID, res.Opened = open.ID, true
				}
			}
			return nil
		}
		if res.InteractionID == 0 {
			if res.InteractionID, err = openInteraction(tx, in, contactID, fresh[0]); err != nil {
				return err
			}
			res.Opened = true
		}
		var inter models.Interaction
		if err := tx.First(&inter, res.InteractionID).Error; err != nil {
			return fmt.Errorf("load interaction %d: %w", res.InteractionID, err)
		}
		for _, m := range fresh {
			row := models.Message{
				AccountID: in.AccountID, InteractionID: inter.ID, ContactID: contactID,
				Direction: models.DirectionInbound, Kind: m.Kind, Text: m.Text,
				ProviderMessageID: ptr(m.MessageID), Status: models.StatusReceived, StatusRank: models.StatusReceived.Rank(),
				ReplyToProviderID: m.ReplyTo, Payload: m.Payload, ProviderTime: ptr(m.AcceptTime.UTC()),
			}
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
				return fmt.Errorf("store message %s: %w", m.MessageID, err)
			}
			res.Stored = append(res.Stored, m.MessageID)
			if row.ID != 0 && inter.AgentID != nil && inter.Status == models.InteractionAssigned {
				if err := insertAgentEvent(tx, *inter.AgentID, "message.inbound", inter.ID,
					fmt.Sprintf("inbound:%d", row.ID), messageEventData(inter, row)); err != nil {
					return err
				}
			}
		}
		last := fresh[len(fresh)-1].AcceptTime.UTC()
		return tx.Model(&models.Interaction{}).Where("id = ? AND (last_message_at IS NULL OR last_message_at < ?)", inter.ID, last).
			Update("last_message_at", last).Error
	})
	if err != nil {
		return IngestInboundResult{}, fmt.Errorf("ingest inbound: %w", err)
	}
	return res, nil
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
		"providerMessageId": deref(m.ProviderMessageID), "kind": m.Kind, "text": m.Text,
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
		var inter models.Interaction
		if err := tx.First(&inter, in.InteractionID).Error; err != nil {
			return fmt.Errorf("load interaction %d: %w", in.InteractionID, err)
		}
		if inter.Status == models.InteractionClosed {
			return nil
		}
		now := time.Now().UTC()
		if err := tx.Model(&inter).Updates(map[string]any{
			"status": models.InteractionClosed, "closed_at": now, "disposition": in.Disposition, "close_reason": in.Reason,
		}).Error; err != nil {
			return err
		}
		if inter.AgentID == nil {
			return nil
		}
		return insertAgentEvent(tx, *inter.AgentID, "interaction.closed", inter.ID, fmt.Sprintf("closed:%d", inter.ID),
			map[string]any{"interactionId": inter.ID, "reason": in.Reason, "disposition": in.Disposition})
	})
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

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
