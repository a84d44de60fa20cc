package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cbroglie/mustache"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// DefaultNotificationTemplate is the agent notification of an account
// without its own template. It shows the contact's phone (Motion's Sinch
// V2 setup guide: from v3.46.0 the phone appears without a template update).
const DefaultNotificationTemplate = "Account: {{account.name}}\n{{#queue}}Queue: {{queue.name}}\n{{/queue}}From : {{contact.mobile}}"

// NotifyInput names an interaction whose agent(s) must be told.
type NotifyInput struct {
	InteractionID uint64
	// AgentIDs are the agents offered a ring_all interaction; empty means
	// "the assigned agent" (interaction.assigned).
	AgentIDs []uint64
	// Attempt distinguishes successive offers of the same interaction.
	Attempt int
	// Withdrawn are agents whose offer of the interaction is void (another
	// agent accepted it): they get interaction.withdrawn.
	Withdrawn []uint64
	// AcceptBy, on a transfer the target must accept, is when it goes back
	// to its queue unless accepted: interaction.assigned carries it.
	AcceptBy time.Time `json:",omitempty"`
}

// NotifyResult returns the rendered text, for the workflow's history.
type NotifyResult struct {
	Text string
}

// NotifyAgents renders the account's notification template for the
// interaction and puts interaction.assigned on the assigned agent's stream
// (or interaction.offered on each offered agent's stream, and
// interaction.withdrawn on the streams of agents whose offer is void). Variables:
// account.name, account.key, queue.name (a section: absent without a
// queue), contact.mobile, contact.name, contact.identity, message.text (the
// latest inbound message). A template that does not render is a permanent
// error naming the account.
func (a *Activities) NotifyAgents(ctx context.Context, in NotifyInput) (NotifyResult, error) {
	var res NotifyResult
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var inter models.Interaction
		if err := tx.Preload("Account").Preload("Contact").Preload("Queue").First(&inter, in.InteractionID).Error; err != nil {
			return fmt.Errorf("load interaction %d: %w", in.InteractionID, err)
		}
		var last models.Message
		err := tx.Where("interaction_id = ? AND direction = ?", inter.ID, models.DirectionInbound).
			Order("provider_time DESC, id DESC").Limit(1).Find(&last).Error
		if err != nil {
			return err
		}
		text, err := RenderNotification(inter.Account, inter.Queue, inter.Contact, last.Text)
		if err != nil {
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("account %d notification template: %v", inter.AccountID, err), ErrTypeBadInput, err)
		}
		res.Text = text
		data := map[string]any{
			"interactionId": inter.ID, "accountId": inter.AccountID, "accountName": inter.Account.Name,
			"contact": map[string]any{"identity": inter.Contact.Identity, "mobile": inter.Contact.Mobile, "name": inter.Contact.DisplayName},
			"channel": inter.Channel, "text": text,
		}
		if inter.QueueID != nil {
			data["queueId"] = *inter.QueueID
		}
		if !in.AcceptBy.IsZero() {
			data["acceptBy"] = in.AcceptBy.UTC().Format(time.RFC3339)
		}
		for _, agentID := range in.Withdrawn {
			if err := insertAgentEvent(tx, agentID, "interaction.withdrawn", inter.ID,
				fmt.Sprintf("withdrawn:%d:%d:%d", inter.ID, agentID, in.Attempt),
				map[string]any{"interactionId": inter.ID, "accountId": inter.AccountID}); err != nil {
				return err
			}
		}
		if len(in.AgentIDs) == 0 {
			if inter.AgentID == nil || inter.Status != models.InteractionAssigned {
				return nil // moved on since; nothing to announce
			}
			stamp := int64(0)
			if inter.AssignedAt != nil {
				stamp = inter.AssignedAt.UnixNano()
			}
			return insertAgentEvent(tx, *inter.AgentID, "interaction.assigned", inter.ID,
				fmt.Sprintf("assigned:%d:%d:%d", inter.ID, *inter.AgentID, stamp), data)
		}
		for _, agentID := range in.AgentIDs {
			if err := insertAgentEvent(tx, agentID, "interaction.offered", inter.ID,
				fmt.Sprintf("offered:%d:%d:%d", inter.ID, agentID, in.Attempt), data); err != nil {
				return err
			}
		}
		return nil
	})
	return res, err
}

// RenderNotification renders an account's notification template.
func RenderNotification(acc models.Account, queue *models.Queue, contact models.Contact, lastText string) (string, error) {
	tpl := acc.NotificationTemplate
	if strings.TrimSpace(tpl) == "" {
		tpl = DefaultNotificationTemplate
	}
	ctx := map[string]any{
		"account": map[string]any{"name": acc.Name, "key": acc.Key, "id": acc.ID, "phone": acc.Phone},
		"contact": map[string]any{"mobile": contact.Mobile, "name": contact.DisplayName, "identity": contact.Identity},
		"message": map[string]any{"text": lastText},
	}
	if queue != nil {
		ctx["queue"] = map[string]any{"name": queue.Name, "id": queue.ID}
	}
	// Notifications are plain text: no HTML escaping of names or messages.
	// An empty partial provider: {{> name}} must never read files.
	return mustache.RenderPartialsRaw(tpl, &mustache.StaticProvider{}, true, ctx)
}
