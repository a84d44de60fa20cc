package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/internal/ptr"
	"github.com/xcally-connector/connector/models"
)

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
	// Outstanding are earlier replies the workflow still waits on (sent,
	// outcome unknown to it): the result names those the database shows
	// settled, since their delivered and read reports no longer reach the
	// workflow (ApplyDeliveryDirect).
	Outstanding []uint64 `json:",omitempty"`
}

// CreateOutboundResult is the stored reply.
type CreateOutboundResult struct {
	MessageID uint64
	Status    string
	// Created is false when the ClientRef was already stored: the reply
	// exists (and is being sent) already.
	Created bool
	// TextMessageID is the text sent after a file, 0 when none;
	// TextStatus its status.
	TextMessageID uint64 `json:",omitempty"`
	TextStatus    string `json:",omitempty"`
	// Settled are the Outstanding replies delivered, read or failed.
	Settled []uint64 `json:",omitempty"`
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
		if len(in.Outstanding) > 0 {
			if err := tx.Model(&models.Message{}).Where("id IN ? AND status_rank >= ?", in.Outstanding, models.StatusDelivered.Rank()).
				Order("id").Pluck("id", &res.Settled).Error; err != nil {
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
		res.TextMessageID, res.TextStatus = t.ID, string(t.Status)
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
		ClientRef: ptr.To(in.ClientRef), Status: models.StatusPending, StatusRank: models.StatusPending.Rank(),
		ProviderTime: &now, ParentID: parentID, Part: part,
	}
	if in.AgentID != 0 {
		m.AgentID = ptr.To(in.AgentID)
	}
	r := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&m)
	if r.Error != nil {
		return models.Message{}, false, r.Error
	}
	var stored models.Message
	if err := tx.Where("client_ref = ?", in.ClientRef).Take(&stored).Error; err != nil {
		return models.Message{}, false, err
	}
	created := r.RowsAffected > 0
	if created && stored.AgentID != nil && stored.ParentID == nil {
		if err := noteAgentReply(tx, stored); err != nil {
			return models.Message{}, false, err
		}
		if err := countMessages(tx, stored.InteractionID, "messages_out", 1); err != nil {
			return models.Message{}, false, err
		}
	}
	return stored, created, nil
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
				AgentID: ptr.Value(orig.AgentID), Text: text, ClientRef: fmt.Sprintf("%s#part%d", ptr.Value(orig.ClientRef), i+1),
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
		"interactionId": inter.ID, "messageId": m.ID, "providerMessageId": ptr.Value(m.ProviderMessageID), "status": st,
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
		Direction: models.DirectionSystem, Kind: "system", Text: text, ClientRef: ptr.To("system:" + ref),
		Status: models.StatusReceived, StatusRank: models.StatusReceived.Rank(), ProviderTime: &now, ParentID: parentID,
	}
	err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&sys).Error
	return sys, err
}
