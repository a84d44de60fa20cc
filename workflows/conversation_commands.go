package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
)

type command struct {
	close    *CloseRequest
	transfer *TransferRequest
	accept   *AcceptRequest
	reply    *replyCommand
	done     workflow.Settable
}

// submit hands a command to the main loop and waits for its result.
func (c *conversation) submit(ctx workflow.Context, cmd command) (InteractionView, error) {
	fut, set := workflow.NewFuture(ctx)
	cmd.done = set
	c.commands.Send(ctx, cmd)
	var view InteractionView
	err := fut.Get(ctx, &view)
	return view, err
}

func (c *conversation) validateOpen(id uint64) error {
	if c.st.Interaction == nil || c.st.Interaction.ID != id {
		return fmt.Errorf("interaction %d is not open", id)
	}
	return nil
}

func (c *conversation) handleCommand(ctx workflow.Context, cmd command) {
	if cmd.reply != nil {
		res, err := c.runReply(ctx, *cmd.reply)
		cmd.done.Set(res, err)
		return
	}
	view, err := c.runCommand(ctx, cmd)
	cmd.done.Set(view, err)
}

func (c *conversation) runCommand(ctx workflow.Context, cmd command) (InteractionView, error) {
	it := c.st.Interaction
	var id uint64
	switch {
	case cmd.close != nil:
		id = cmd.close.InteractionID
	case cmd.transfer != nil:
		id = cmd.transfer.InteractionID
	case cmd.accept != nil:
		id = cmd.accept.InteractionID
	}
	if it == nil || it.ID != id {
		return InteractionView{}, temporal.NewApplicationError(fmt.Sprintf("interaction %d is not open", id), activities.ErrTypeNotOpen)
	}
	var a *activities.Activities
	switch {
	case cmd.close != nil:
		disposition := cmd.close.Disposition
		reason := "agent"
		if cmd.close.By == "admin" {
			reason = "admin"
		}
		view := InteractionView{InteractionID: it.ID, Status: "closed", QueueID: it.QueueID, AgentID: it.AgentID, Disposition: disposition}
		if err := c.closeInteraction(ctx, disposition, reason); err != nil {
			return InteractionView{}, err
		}
		return view, nil
	case cmd.transfer != nil && cmd.transfer.AgentID != 0:
		in := activities.AssignToAgentInput{InteractionID: it.ID, AccountID: c.st.AccountID, AgentID: cmd.transfer.AgentID, Transfer: true}
		if cmd.transfer.ReturnAfter > 0 {
			// Recorded for the agent's inbox; the timer below is the rule.
			in.AcceptBy = workflow.Now(ctx).Add(cmd.transfer.ReturnAfter)
		}
		err := c.db(ctx, a.AssignToAgent, in).Get(ctx, nil)
		if err != nil {
			return InteractionView{}, err
		}
		it.ReturnAt, it.ReturnQueueID = time.Time{}, 0
		if cmd.transfer.ReturnAfter > 0 {
			// The account's transfer options: the agent must accept it.
			it.ReturnAt, it.ReturnQueueID = workflow.Now(ctx).Add(cmd.transfer.ReturnAfter), it.QueueID
		}
		it.Status, it.AgentID, it.QueuedAt, it.Offered = "assigned", cmd.transfer.AgentID, time.Time{}, nil
		c.upsertSearchAttributes(ctx)
		c.notify(ctx, nil)
	case cmd.accept != nil && !it.ReturnAt.IsZero() && it.AgentID == cmd.accept.AgentID:
		// The transfer's target agent accepts it: it stays.
		it.ReturnAt, it.ReturnQueueID = time.Time{}, 0
	case cmd.transfer != nil:
		var info activities.QueueInfo
		err := c.db(ctx, a.MoveToQueue, activities.MoveToQueueInput{
			InteractionID: it.ID, QueueID: cmd.transfer.QueueID, Reason: activities.MoveTransfer,
		}).Get(ctx, &info)
		if err != nil {
			return InteractionView{}, err
		}
		it.Status, it.AgentID, it.QueueID, it.Queue = "queued", 0, info.ID, info
		it.QueuedAt, it.Visited, it.Offered, it.TimedOut = workflow.Now(ctx), nil, nil, false
		it.ReturnAt, it.ReturnQueueID = time.Time{}, 0
		if len(it.flow()) > 0 {
			// A transfer ends the action flow: the agent chose the queue.
			it.FlowNext, it.FlowSeconds = len(it.flow()), 0
		}
		c.route(ctx)
	case cmd.accept != nil:
		err := c.db(ctx, a.AssignToAgent, activities.AssignToAgentInput{
			InteractionID: it.ID, AccountID: c.st.AccountID, AgentID: cmd.accept.AgentID, QueueID: it.QueueID,
		}).Get(ctx, nil)
		if err != nil {
			return InteractionView{}, err
		}
		var others []uint64
		for _, id := range it.Offered {
			if id != cmd.accept.AgentID {
				others = append(others, id)
			}
		}
		it.Status, it.AgentID, it.QueuedAt, it.Offered = "assigned", cmd.accept.AgentID, time.Time{}, nil
		c.upsertSearchAttributes(ctx)
		c.notify(ctx, nil, others...)
	}
	it = c.st.Interaction
	return InteractionView{InteractionID: it.ID, Status: it.Status, QueueID: it.QueueID, AgentID: it.AgentID}, nil
}

func (c *conversation) closeInteraction(ctx workflow.Context, disposition, reason string) error {
	var a *activities.Activities
	err := c.db(ctx, a.CloseInteraction, activities.CloseInteractionInput{
		InteractionID: c.st.Interaction.ID, Disposition: disposition, Reason: reason,
	}).Get(ctx, nil)
	if err != nil {
		return err
	}
	c.st.Interaction = nil
	c.st.LastActivity = workflow.Now(ctx)
	c.upsertSearchAttributes(ctx)
	return nil
}
