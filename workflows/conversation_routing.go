package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
)

// route runs one routing attempt and records the outcome.
func (c *conversation) route(ctx workflow.Context) {
	it := c.st.Interaction
	if it == nil {
		return
	}
	it.RoutingAttempts++
	var a *activities.Activities
	var res activities.RouteResult
	err := c.db(ctx, a.RouteInteraction, activities.RouteInput{
		InteractionID: it.ID, AccountID: c.st.AccountID, QueueID: it.QueueID, Strategy: it.strategy(),
	}).Get(ctx, &res)
	if err != nil {
		c.handleActivityError(ctx, "route", err)
		return
	}
	if res.NoQueue && it.QueueID != 0 && it.FlowNext < len(it.flow()) {
		// The flow step's queue is gone: go on with the next step.
		c.logger.Warn("action flow queue missing, next step", "queue", it.QueueID, "interaction", it.ID)
		c.nextFlowStep(ctx)
		return
	}
	prevQueue := it.QueueID
	it.Queue, it.QueueID = res.Queue, res.Queue.ID
	if prevQueue != it.QueueID {
		it.TimedOut = false
	}
	switch {
	case res.Assigned:
		it.Status, it.AgentID, it.QueuedAt, it.Offered = "assigned", res.AgentID, time.Time{}, nil
		c.upsertSearchAttributes(ctx)
		c.notify(ctx, nil)
	case len(res.Offered) > 0:
		if it.QueuedAt.IsZero() || prevQueue != it.QueueID {
			it.QueuedAt = workflow.Now(ctx)
		}
		newOffer := !slices.Equal(it.Offered, res.Offered)
		it.Offered = res.Offered
		if newOffer {
			it.OfferedAt = workflow.Now(ctx)
			c.notify(ctx, res.Offered)
		}
		c.upsertSearchAttributes(ctx)
	default:
		if it.QueuedAt.IsZero() || prevQueue != it.QueueID {
			it.QueuedAt = workflow.Now(ctx)
		}
		it.Offered = nil
		c.upsertSearchAttributes(ctx)
	}
}

func (c *conversation) notify(ctx workflow.Context, offered []uint64, withdrawn ...uint64) {
	var a *activities.Activities
	err := c.db(ctx, a.NotifyAgents, activities.NotifyInput{
		InteractionID: c.st.Interaction.ID, AgentIDs: offered, Attempt: c.st.Interaction.RoutingAttempts, Withdrawn: withdrawn,
		AcceptBy: c.st.Interaction.ReturnAt,
	}).Get(ctx, nil)
	if err != nil {
		// The assignment stands; the agent also sees it through the API.
		c.logger.Warn("notify agent failed", "interaction", c.st.Interaction.ID, "err", err)
	}
}

// overflow moves a queued interaction whose queue timed out to the queue's
// overflow queue, or leaves it queued (and visible as unassigned).
func (c *conversation) overflow(ctx workflow.Context) {
	it := c.st.Interaction
	if it == nil || it.Status != "queued" {
		return
	}
	if len(it.flow()) > 0 {
		// An action flow replaces the queues' overflow.
		if it.FlowNext >= len(it.flow()) {
			it.TimedOut = true
			return
		}
		c.nextFlowStep(ctx)
		return
	}
	next := it.Queue.OverflowQueueID
	if !slices.Contains(it.Visited, it.QueueID) {
		it.Visited = append(it.Visited, it.QueueID)
	}
	if next == 0 || slices.Contains(it.Visited, next) {
		// No (further) overflow: stay queued, visible as unassigned.
		it.TimedOut = true
		return
	}
	var a *activities.Activities
	var info activities.QueueInfo
	if err := c.db(ctx, a.MoveToQueue, activities.MoveToQueueInput{InteractionID: it.ID, QueueID: next, Reason: activities.MoveOverflow}).Get(ctx, &info); err != nil {
		c.handleActivityError(ctx, "overflow", err)
		if c.st.Interaction != nil {
			c.st.Interaction.TimedOut = true
		}
		return
	}
	it.QueueID, it.Queue, it.QueuedAt, it.Offered, it.TimedOut = info.ID, info, workflow.Now(ctx), nil, false
	c.route(ctx)
}

// nextFlowStep runs the interaction's action flow from FlowNext: reply
// steps send their text and go on, a queue step moves the interaction to
// its queue and routes it there (for FlowSeconds, or until an agent takes
// it). Past the last step the interaction stays where it is.
func (c *conversation) nextFlowStep(ctx workflow.Context) {
	it := c.st.Interaction
	for it != nil && it.Status == "queued" && it.FlowNext < len(it.flow()) {
		step := it.flow()[it.FlowNext]
		index := it.FlowNext
		it.FlowNext++
		if step.Reply != "" {
			c.flowReply(ctx, index, step.Reply)
			it = c.st.Interaction
			continue
		}
		if it.QueueID != 0 && it.QueueID != step.Queue {
			var a *activities.Activities
			var info activities.QueueInfo
			err := c.db(ctx, a.MoveToQueue, activities.MoveToQueueInput{InteractionID: it.ID, QueueID: step.Queue, Reason: activities.MoveFlow}).Get(ctx, &info)
			if err != nil {
				c.handleActivityError(ctx, "action flow", err)
				it = c.st.Interaction
				continue // the queue is gone (or the interaction closed)
			}
			it.Queue = info
		}
		it.QueueID, it.FlowSeconds = step.Queue, step.Seconds
		it.QueuedAt, it.Offered, it.OfferedAt, it.TimedOut = workflow.Now(ctx), nil, time.Time{}, false
		c.route(ctx)
		return
	}
}

// flowReply sends an action flow's reply step to the customer, once per
// interaction and step (its client ref), as an automatic message.
func (c *conversation) flowReply(ctx workflow.Context, index int, text string) {
	it := c.st.Interaction
	var a *activities.Activities
	var res activities.CreateOutboundResult
	err := c.db(ctx, a.CreateOutbound, activities.CreateOutboundInput{
		AccountID: c.st.AccountID, InteractionID: it.ID, ContactID: c.st.ContactID,
		Text: text, ClientRef: fmt.Sprintf("flow:%d:%d", it.ID, index),
	}).Get(ctx, &res)
	if err != nil {
		c.handleActivityError(ctx, "action flow reply", err)
		return
	}
	if res.Created {
		c.enqueue(ctx, OutboundState{MessageID: res.MessageID, Text: text, Phase: phaseQueued})
	}
}

// takeBack returns an interaction transferred to an agent who did not
// accept it in time to the queue it came from.
func (c *conversation) takeBack(ctx workflow.Context) {
	it := c.st.Interaction
	if it == nil || it.Status != "assigned" || it.ReturnAt.IsZero() {
		return
	}
	var a *activities.Activities
	var info activities.QueueInfo
	queueID := it.ReturnQueueID
	it.ReturnAt, it.ReturnQueueID = time.Time{}, 0
	if err := c.db(ctx, a.MoveToQueue, activities.MoveToQueueInput{InteractionID: it.ID, QueueID: queueID, Reason: activities.MoveTakeBack}).Get(ctx, &info); err != nil {
		c.handleActivityError(ctx, "transfer take back", err)
		return
	}
	c.logger.Info("transfer not accepted in time, back to the queue", "interaction", it.ID, "agent", it.AgentID, "queue", queueID)
	it.Status, it.AgentID, it.QueueID, it.Queue = "queued", 0, info.ID, info
	it.QueuedAt, it.Visited, it.Offered, it.TimedOut = workflow.Now(ctx), nil, nil, false
	c.upsertSearchAttributes(ctx)
	c.route(ctx)
}

// takeBackFrom takes the open interaction back from an agent who may no
// longer work on it: assigned to that agent, it goes back to the queue it
// was in (a pending transfer's queue when it came by transfer) and is
// routed again, as after a timeout; offered to that agent, the offer is
// withdrawn and the interaction routed again. Routing reads the agent's
// access from the database, so the agent is not picked again.
func (c *conversation) takeBackFrom(ctx workflow.Context, tb TakeBackSignal) {
	it := c.st.Interaction
	if it == nil || (tb.InteractionID != 0 && it.ID != tb.InteractionID) {
		return
	}
	switch {
	case it.Status == "assigned" && it.AgentID == tb.AgentID:
		queueID := it.QueueID
		if !it.ReturnAt.IsZero() {
			queueID = it.ReturnQueueID
		}
		var a *activities.Activities
		var info activities.QueueInfo
		if err := c.db(ctx, a.MoveToQueue, activities.MoveToQueueInput{InteractionID: it.ID, QueueID: queueID, Reason: activities.MoveTakeBack}).Get(ctx, &info); err != nil {
			c.handleActivityError(ctx, "take back", err)
			return
		}
		c.logger.Info("interaction taken back from its agent", "interaction", it.ID, "agent", tb.AgentID, "reason", tb.Reason, "queue", queueID)
		it.Status, it.AgentID, it.QueueID, it.Queue = "queued", 0, info.ID, info
		it.QueuedAt, it.Visited, it.Offered, it.TimedOut = workflow.Now(ctx), nil, nil, false
		it.ReturnAt, it.ReturnQueueID = time.Time{}, 0
		c.upsertSearchAttributes(ctx)
		c.route(ctx)
	case it.Status == "queued" && slices.Contains(it.Offered, tb.AgentID):
		it.Offered = slices.DeleteFunc(slices.Clone(it.Offered), func(id uint64) bool { return id == tb.AgentID })
		c.logger.Info("offer withdrawn from agent", "interaction", it.ID, "agent", tb.AgentID, "reason", tb.Reason)
		c.notify(ctx, nil, tb.AgentID)
		c.route(ctx)
	}
}
