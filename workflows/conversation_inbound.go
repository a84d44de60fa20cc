package workflows

import (
	"sort"

	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
)

// handleInbound dedupes a batch, stores it in accept_time order, opens and
// routes an interaction when needed.
func (c *conversation) handleInbound(ctx workflow.Context, batch []InboundSignal) {
	var fresh []InboundSignal
	for _, m := range batch {
		if m.MessageID == "" || c.seen[m.MessageID] {
			c.st.Duplicates++
			continue
		}
		c.seen[m.MessageID] = true
		fresh = append(fresh, m)
	}
	if len(fresh) == 0 {
		return
	}
	sort.SliceStable(fresh, func(i, j int) bool {
		if !fresh[i].AcceptTime.Equal(fresh[j].AcceptTime) {
			return fresh[i].AcceptTime.Before(fresh[j].AcceptTime)
		}
		return fresh[i].MessageID < fresh[j].MessageID
	})
	last := fresh[len(fresh)-1]
	if last.SinchContactID != "" {
		c.st.SinchContactID = last.SinchContactID
	}
	if last.ProcessingMode != "" {
		c.st.ProcessingMode = last.ProcessingMode
	}
	in := activities.IngestInboundInput{
		WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		AccountID:  c.st.AccountID, Channel: c.st.Channel, Identity: c.st.Identity,
		SinchContactID: c.st.SinchContactID, ProcessingMode: c.st.ProcessingMode,
		SinchConversationID: last.SinchConversationID,
	}
	if c.st.Interaction != nil {
		in.InteractionID = c.st.Interaction.ID
	}
	noted := 0
	for _, m := range fresh {
		switch {
		case m.StoredIn != 0 && m.StoredIn == in.InteractionID:
			// Already in the open interaction: nothing to write.
			noted++
			continue
		case m.StoredIn != 0:
			// Stored in an interaction this workflow closed since.
			in.Reclaim = append(in.Reclaim, m.MessageID)
		}
		in.Messages = append(in.Messages, m.InboundMessage)
	}
	var res activities.IngestInboundResult
	if len(in.Messages) > 0 {
		var a *activities.Activities
		if err := c.db(ctx, a.IngestInbound, in).Get(ctx, &res); err != nil {
			// Storage retries without limit, so only a permanent error or
			// the workflow's cancellation gets here. Keep the messages:
			// cheap runs retry them after RoutingRecheck, every run at its
			// start.
			c.logger.Warn("storing inbound messages failed", "err", err)
			for _, m := range fresh {
				delete(c.seen, m.MessageID)
			}
			c.st.Pending = append(c.st.Pending, fresh...)
			return
		}
		c.st.ContactID = res.ContactID
	}
	for _, m := range fresh {
		c.remember(m.MessageID)
	}
	c.fetchMedia(ctx, fresh)
	c.st.MessagesTotal += len(res.Stored) + noted
	if last.AcceptTime.After(c.st.LastInboundAt) {
		c.st.LastInboundAt = last.AcceptTime
	}
	now := workflow.Now(ctx)
	c.st.LastActivity = now
	if res.NotOpened != "" {
		c.logger.Warn("no interaction opened", "reason", res.NotOpened, "messages", len(res.Stored))
	}
	if res.Opened {
		c.st.Interactions++
		c.st.Interaction = &InteractionState{ID: res.InteractionID, Status: "queued", LastMessageAt: now, Settings: res.Settings}
		c.upsertSearchAttributes(ctx)
		if len(c.st.Interaction.flow()) > 0 {
			c.nextFlowStep(ctx)
		} else {
			c.route(ctx)
		}
	} else if c.st.Interaction != nil {
		c.st.Interaction.LastMessageAt = now
	}
}

// remember adds a message id to the dedup window, evicting the oldest.
func (c *conversation) remember(id string) {
	c.st.Seen = append(c.st.Seen, id)
	if over := len(c.st.Seen) - c.in.DedupWindow; over > 0 {
		for _, old := range c.st.Seen[:over] {
			delete(c.seen, old)
		}
		c.st.Seen = append([]string(nil), c.st.Seen[over:]...)
	}
	c.seen[id] = true
}

func (c *conversation) handleEvent(ctx workflow.Context, ev ContactEventSignal) {
	if c.st.Interaction == nil {
		return
	}
	// A composing or reacting contact is active: push the auto-close back.
	c.st.Interaction.LastMessageAt = workflow.Now(ctx)
	var a *activities.Activities
	err := c.db(ctx, a.PublishContactEvent, activities.PublishContactEventInput{
		InteractionID: c.st.Interaction.ID, EventID: ev.EventID, Kind: ev.Kind, Payload: ev.Payload,
	}).Get(ctx, nil)
	if err != nil {
		c.logger.Warn("publish contact event failed", "err", err)
	}
}
