package workflows

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
)

// Defaults of ConversationInput.
const (
	DefaultInactivityTimeout = 24 * time.Hour
	DefaultIdleTimeout       = 72 * time.Hour
	DefaultRoutingRecheck    = 30 * time.Second
	DefaultDedupWindow       = 2000
	DefaultMaxHistoryEvents  = 10000
)

// ConversationInput starts (or continues) the workflow of one conversation.
type ConversationInput struct {
	AccountID uint64
	Channel   string
	Identity  string
	// InactivityTimeout auto-closes an open interaction with no message for
	// that long.
	InactivityTimeout time.Duration
	// IdleTimeout ends the workflow after its interaction closed and nothing
	// happened for that long. It outlasts Sinch's callback retries (about
	// 45 h), so a late redelivery still meets the dedup window.
	IdleTimeout time.Duration
	// RoutingRecheck is how often a queued interaction retries routing
	// besides the nudges it gets when agents become available.
	RoutingRecheck time.Duration
	// DedupWindow is how many Sinch message ids are remembered.
	DedupWindow int
	// MaxHistoryEvents forces continue-as-new before the server suggests it.
	MaxHistoryEvents int
	// ReplyWindow is WhatsApp's customer service window: replies are
	// refused once the customer's last message is older.
	ReplyWindow time.Duration
	// MaxResends bounds the automatic resends of a reply after
	// network-class failures (0: DefaultMaxResends, negative: none);
	// ResendBackoff is the first wait, doubled for each further resend.
	MaxResends    int
	ResendBackoff time.Duration
	// SendTimeout bounds how long one send is retried (429, 5xx, network)
	// before the reply fails visibly.
	SendTimeout time.Duration
	// SplitLength is the part size of a text resent after
	// MESSAGE_SPLIT_REQUIRED.
	SplitLength int
	// MediaFetchRetry and MediaFetchAttempt configure the fetch of the
	// customer's files (MediaFetchInput; 0: its defaults).
	MediaFetchRetry   time.Duration `json:",omitempty"`
	MediaFetchAttempt time.Duration `json:",omitempty"`
	// ContactKey stands for Identity in the ContactIdentity search
	// attribute (and the workflow id): its keyed hash with
	// PII_HASH_IDENTITIES; empty (older histories too) means Identity.
	ContactKey string `json:",omitempty"`
	// State is carried over by continue-as-new.
	State *ConversationState
}

// ConversationState is the workflow's whole state: returned by the state
// query and carried across continue-as-new.
type ConversationState struct {
	AccountID      uint64
	Channel        string
	Identity       string
	ContactID      uint64
	SinchContactID string
	ProcessingMode string
	// Seen is the dedup window of Sinch message ids, oldest first.
	Seen []string
	// Interaction is the open interaction, nil when none.
	Interaction *InteractionState
	// Interactions counts the interactions this conversation opened.
	Interactions  int
	LastActivity  time.Time
	MessagesTotal int
	Duplicates    int
	// Pending holds messages received but not yet stored (carried over a
	// continue-as-new that happens between receipt and storage).
	Pending []InboundSignal
	// LastInboundAt is the accept_time of the contact's latest message: it
	// opens WhatsApp's 24 h customer service window.
	LastInboundAt time.Time
	// Outbox holds the replies not yet delivered, read or failed, in the
	// order they are sent.
	Outbox []OutboundState
}

// InteractionState is the open interaction as the workflow sees it.
type InteractionState struct {
	ID      uint64
	Status  string // queued or assigned
	QueueID uint64
	AgentID uint64
	// Queue is the queue's routing settings while queued.
	Queue activities.QueueInfo
	// QueuedAt starts the queue's timeout; zero when not waiting.
	QueuedAt time.Time
	// Visited lists the queues already overflowed from (cycle guard).
	Visited []uint64
	// TimedOut is set when the current queue's timeout passed with nowhere
	// to overflow: the interaction stays queued without a deadline.
	TimedOut bool
	// Offered are the agents a ring_all queue offered it to.
	Offered []uint64
	// RoutingAttempts counts routing attempts, for offer events.
	RoutingAttempts int
	LastMessageAt   time.Time
	// Settings are the account's settings when the interaction opened
	// (nil for interactions opened before settings existed: today's
	// routing, the conversation's inactivity timeout).
	Settings *activities.InteractionSettings `json:",omitempty"`
	// FlowNext is the index of the next action flow step; FlowSeconds the
	// current queue step's wait (0: until an agent takes it).
	FlowNext    int `json:",omitempty"`
	FlowSeconds int `json:",omitempty"`
	// OfferedAt starts the agent notify timeout of a ring_all offer.
	OfferedAt time.Time `json:",omitempty"`
	// ReturnAt is when an interaction transferred to an agent who has not
	// accepted it goes back to ReturnQueueID (0: the account's queues).
	ReturnAt      time.Time `json:",omitempty"`
	ReturnQueueID uint64    `json:",omitempty"`
}

// flow is the interaction's action flow, nil when it has none.
func (it *InteractionState) flow() []models.FlowStep {
	if it.Settings == nil {
		return nil
	}
	return it.Settings.Flow
}

// strategy is the account's strategy override, "" for the queues' own.
func (it *InteractionState) strategy() string {
	if it.Settings == nil {
		return ""
	}
	return it.Settings.Strategy
}

// queueTimeout is how long the interaction waits in its current queue
// before it moves on: the flow step's wait, else the queue's timeout.
func (it *InteractionState) queueTimeout() time.Duration {
	if len(it.flow()) > 0 {
		return time.Duration(it.FlowSeconds) * time.Second
	}
	return time.Duration(it.Queue.TimeoutSeconds) * time.Second
}

// ConversationWorkflow is the entity workflow of one conversation (account,
// channel, channel identity). It dedupes and stores the contact's messages,
// opens an interaction when none is open, routes it to a queue and an
// agent, waits (with durable timers) when nobody is eligible, overflows on
// the queue's timeout, and closes it on request, on transfer decisions or
// after inactivity. A message after the close opens a new interaction in the
// same workflow. Every state change is made by the main loop; signal and
// update handlers only enqueue.
func ConversationWorkflow(ctx workflow.Context, in ConversationInput) error {
	c := newConversation(ctx, in)
	if err := c.setup(ctx); err != nil {
		return err
	}
	return c.run(ctx)
}

type command struct {
	close    *CloseRequest
	transfer *TransferRequest
	accept   *AcceptRequest
	reply    *replyCommand
	done     workflow.Settable
}

type conversation struct {
	in       ConversationInput
	st       *ConversationState
	inbound  workflow.ReceiveChannel
	events   workflow.ReceiveChannel
	delivery workflow.ReceiveChannel
	nudges   workflow.ReceiveChannel
	// takeBacks carries TakeBackSignal (no command until one arrives, so
	// histories recorded before it replay unchanged).
	takeBacks workflow.ReceiveChannel
	commands  workflow.Channel
	seen      map[string]bool
	logger    log.Logger
	// timers, kept across loop iterations so an unchanged deadline does not
	// write a new timer to history on every event.
	inactivity deadline
	queueLimit deadline
	recheck    deadline
	idle       deadline
	// transferReturn takes back an unaccepted transfer (ReturnAt).
	transferReturn deadline
	// pendingRetry retries storing State.Pending (cheap runs).
	pendingRetry deadline
	// pauseSends parks the sender coroutine (before continue-as-new);
	// inFlight counts running send activities.
	pauseSends bool
	inFlight   int
	// cheap is the version of the run's command order (cheapInboundChange):
	// database activities run as local activities and the inactivity timer
	// is re-armed lazily. Runs started before it keep the old order.
	cheap bool
	// senderStarted is set once the sender coroutine runs.
	senderStarted bool
	// mediaStarts are the starts of child media fetches not yet confirmed.
	mediaStarts []workflow.Future
}

// cheapInboundChange names the workflow.GetVersion change that made an
// inbound message into an open conversation cost only its signal and one
// workflow task in history.
const cheapInboundChange = "cheap-inbound"

func newConversation(ctx workflow.Context, in ConversationInput) *conversation {
	if in.InactivityTimeout <= 0 {
		in.InactivityTimeout = DefaultInactivityTimeout
	}
	if in.IdleTimeout <= 0 {
		in.IdleTimeout = DefaultIdleTimeout
	}
	if in.RoutingRecheck <= 0 {
		in.RoutingRecheck = DefaultRoutingRecheck
	}
	if in.DedupWindow <= 0 {
		in.DedupWindow = DefaultDedupWindow
	}
	if in.MaxHistoryEvents <= 0 {
		in.MaxHistoryEvents = DefaultMaxHistoryEvents
	}
	if in.ReplyWindow <= 0 {
		in.ReplyWindow = DefaultReplyWindow
	}
	if in.MaxResends == 0 {
		in.MaxResends = DefaultMaxResends // negative: no resends
	}
	if in.ResendBackoff <= 0 {
		in.ResendBackoff = DefaultResendBackoff
	}
	if in.SendTimeout <= 0 {
		in.SendTimeout = DefaultSendTimeout
	}
	if in.SplitLength <= 0 {
		in.SplitLength = DefaultSplitLength
	}
	st := in.State
	if st == nil {
		st = &ConversationState{AccountID: in.AccountID, Channel: in.Channel, Identity: in.Identity}
	}
	in.State = nil
	c := &conversation{in: in, st: st, seen: map[string]bool{}, logger: workflow.GetLogger(ctx)}
	for _, id := range st.Seen {
		c.seen[id] = true
	}
	return c
}

// setup registers every handler before the first blocking call.
func (c *conversation) setup(ctx workflow.Context) error {
	c.inbound = workflow.GetSignalChannel(ctx, InboundSignalName)
	c.events = workflow.GetSignalChannel(ctx, EventSignalName)
	c.delivery = workflow.GetSignalChannel(ctx, DeliverySignalName)
	c.nudges = workflow.GetSignalChannel(ctx, RoutingNudgeSignalName)
	c.takeBacks = workflow.GetSignalChannel(ctx, TakeBackSignalName)
	c.commands = workflow.NewBufferedChannel(ctx, 64)
	if err := workflow.SetQueryHandler(ctx, StateQueryName, func() (ConversationState, error) {
		return *c.st, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, CloseUpdateName,
		func(ctx workflow.Context, req CloseRequest) (InteractionView, error) {
			return c.submit(ctx, command{close: &req})
		},
		workflow.UpdateHandlerOptions{Validator: func(req CloseRequest) error { return c.validateOpen(req.InteractionID) }},
	); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, TransferUpdateName,
		func(ctx workflow.Context, req TransferRequest) (InteractionView, error) {
			return c.submit(ctx, command{transfer: &req})
		},
		workflow.UpdateHandlerOptions{Validator: func(req TransferRequest) error {
			if (req.AgentID == 0) == (req.QueueID == 0) {
				return errors.New("transfer needs exactly one of agentId or queueId")
			}
			return c.validateOpen(req.InteractionID)
		}},
	); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, ReplyUpdateName,
		func(ctx workflow.Context, req ReplyRequest) (ReplyResult, error) {
			ref := req.IdempotencyKey
			if ref == "" {
				ref = workflow.GetCurrentUpdateInfo(ctx).ID
			}
			fut, set := workflow.NewFuture(ctx)
			c.commands.Send(ctx, command{reply: &replyCommand{req: req, ref: fmt.Sprintf("reply:%d:%s", req.InteractionID, ref)}, done: set})
			var res ReplyResult
			err := fut.Get(ctx, &res)
			return res, err
		},
		workflow.UpdateHandlerOptions{Validator: func(req ReplyRequest) error { return c.validateReply(ctx, req) }},
	); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, AcceptUpdateName,
		func(ctx workflow.Context, req AcceptRequest) (InteractionView, error) {
			return c.submit(ctx, command{accept: &req})
		},
		workflow.UpdateHandlerOptions{Validator: func(req AcceptRequest) error {
			if err := c.validateOpen(req.InteractionID); err != nil {
				return err
			}
			if it := c.st.Interaction; it.Status == "assigned" && !it.ReturnAt.IsZero() && it.AgentID == req.AgentID {
				return nil // a transfer waiting for this agent's acceptance
			}
			if c.st.Interaction.Status != "queued" {
				return fmt.Errorf("interaction %d is already assigned", req.InteractionID)
			}
			if !slices.Contains(c.st.Interaction.Offered, req.AgentID) {
				return fmt.Errorf("interaction %d was not offered to agent %d", req.InteractionID, req.AgentID)
			}
			return nil
		}},
	)
}

func (c *conversation) validateOpen(id uint64) error {
	if c.st.Interaction == nil || c.st.Interaction.ID != id {
		return fmt.Errorf("interaction %d is not open", id)
	}
	return nil
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

func (c *conversation) run(ctx workflow.Context) error {
	c.cheap = workflow.GetVersion(ctx, cheapInboundChange, workflow.DefaultVersion, 1) >= 1
	if c.st.LastActivity.IsZero() {
		c.st.LastActivity = workflow.Now(ctx)
	}
	c.upsertSearchAttributes(ctx)
	if !c.cheap || len(c.st.Outbox) > 0 {
		c.startSender(ctx)
	}
	if len(c.st.Pending) > 0 {
		pending := c.st.Pending
		c.st.Pending = nil
		c.handleInbound(ctx, pending)
	}
	for {
		c.armTimers(ctx)
		sel := workflow.NewSelector(ctx)
		var batch []InboundSignal
		sel.AddReceive(c.inbound, func(ch workflow.ReceiveChannel, _ bool) {
			batch = drain[InboundSignal](ctx, ch)
		})
		sel.AddReceive(c.events, func(ch workflow.ReceiveChannel, _ bool) {
			for _, ev := range drain[ContactEventSignal](ctx, ch) {
				c.handleEvent(ctx, ev)
			}
		})
		sel.AddReceive(c.delivery, func(ch workflow.ReceiveChannel, _ bool) {
			for _, d := range drain[DeliverySignal](ctx, ch) {
				c.handleDelivery(ctx, d)
			}
		})
		sel.AddReceive(c.nudges, func(ch workflow.ReceiveChannel, _ bool) {
			_ = drain[any](ctx, ch)
			if c.st.Interaction != nil && c.st.Interaction.Status == "queued" {
				c.route(ctx)
			}
		})
		sel.AddReceive(c.takeBacks, func(ch workflow.ReceiveChannel, _ bool) {
			for _, tb := range drain[TakeBackSignal](ctx, ch) {
				c.takeBackFrom(ctx, tb)
			}
		})
		sel.AddReceive(c.commands, func(ch workflow.ReceiveChannel, _ bool) {
			var cmd command
			ch.Receive(ctx, &cmd)
			c.handleCommand(ctx, cmd)
		})
		idleExpired := false
		c.inactivity.addTo(ctx, sel, func() { c.autoClose(ctx) })
		c.queueLimit.addTo(ctx, sel, func() { c.overflow(ctx) })
		c.recheck.addTo(ctx, sel, func() {
			if c.st.Interaction != nil && c.st.Interaction.Status == "queued" {
				c.route(ctx)
			}
		})
		c.idle.addTo(ctx, sel, func() { idleExpired = true })
		c.transferReturn.addTo(ctx, sel, func() { c.takeBack(ctx) })
		c.pendingRetry.addTo(ctx, sel, func() {
			// Messages whose storage failed: try again (with the new ones).
			batch = append(batch, c.st.Pending...)
			c.st.Pending = nil
		})
		sel.Select(ctx)
		if len(batch) > 0 {
			c.handleInbound(ctx, batch)
		}
		if idleExpired && c.st.Interaction == nil && len(c.st.Pending) == 0 && !c.hasWork() && !c.pendingSends() {
			// Quiet for IdleTimeout after the last interaction closed.
			c.settleHandlers(ctx)
			c.awaitMediaStarts(ctx)
			if !c.hasWork() {
				return nil
			}
		}
		if c.shouldContinueAsNew(ctx) {
			return c.continueAsNew(ctx)
		}
	}
}

// hasWork reports whether a signal or command is waiting.
func (c *conversation) hasWork() bool {
	return c.inbound.Len() > 0 || c.events.Len() > 0 || c.delivery.Len() > 0 || c.nudges.Len() > 0 || c.commands.Len() > 0 ||
		c.takeBacks.Len() > 0
}

func (c *conversation) shouldContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() >= c.in.MaxHistoryEvents
}

// continueAsNew waits for running update handlers, carries every message
// already received (including ones still in the signal channel) in the
// state, and starts the next run.
func (c *conversation) continueAsNew(ctx workflow.Context) error {
	// A running send's result must reach this run: park the sender first.
	c.pauseSends = true
	_ = workflow.Await(ctx, func() bool { return !c.sending() })
	c.settleHandlers(ctx)
	c.awaitMediaStarts(ctx)
	c.st.Pending = append(c.st.Pending, drain[InboundSignal](ctx, c.inbound)...)
	for _, ev := range drain[ContactEventSignal](ctx, c.events) {
		c.handleEvent(ctx, ev)
	}
	for _, d := range drain[DeliverySignal](ctx, c.delivery) {
		c.handleDelivery(ctx, d)
	}
	for _, tb := range drain[TakeBackSignal](ctx, c.takeBacks) {
		c.takeBackFrom(ctx, tb)
	}
	next := c.in
	next.State = c.st
	c.logger.Info("continuing as new", "history", workflow.GetInfo(ctx).GetCurrentHistoryLength(), "seen", len(c.st.Seen))
	return workflow.NewContinueAsNewError(ctx, ConversationWorkflow, next)
}

// settleHandlers runs queued commands until every update handler has
// returned. Handlers wait for the main loop, so the loop must keep serving
// commands while it waits for them.
func (c *conversation) settleHandlers(ctx workflow.Context) {
	for {
		for c.commands.Len() > 0 {
			var cmd command
			c.commands.Receive(ctx, &cmd)
			c.handleCommand(ctx, cmd)
		}
		_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) || c.commands.Len() > 0 })
		if c.commands.Len() == 0 && workflow.AllHandlersFinished(ctx) {
			return
		}
	}
}

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
	if err := c.db(ctx, a.MoveToQueue, activities.MoveToQueueInput{InteractionID: it.ID, QueueID: next}).Get(ctx, &info); err != nil {
		c.handleActivityError(ctx, "overflow", err)
		if c.st.Interaction != nil {
			c.st.Interaction.TimedOut = true
		}
		return
	}
	it.QueueID, it.Queue, it.QueuedAt, it.Offered, it.TimedOut = info.ID, info, workflow.Now(ctx), nil, false
	c.route(ctx)
}

// inactivityTimeout is the interaction's: the account's when it has one.
func (c *conversation) inactivityTimeout(it *InteractionState) time.Duration {
	if it.Settings != nil && it.Settings.InactivityTimeout > 0 {
		return it.Settings.InactivityTimeout
	}
	return c.in.InactivityTimeout
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
			err := c.db(ctx, a.MoveToQueue, activities.MoveToQueueInput{InteractionID: it.ID, QueueID: step.Queue}).Get(ctx, &info)
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
	if err := c.db(ctx, a.MoveToQueue, activities.MoveToQueueInput{InteractionID: it.ID, QueueID: queueID}).Get(ctx, &info); err != nil {
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
		if err := c.db(ctx, a.MoveToQueue, activities.MoveToQueueInput{InteractionID: it.ID, QueueID: queueID}).Get(ctx, &info); err != nil {
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

func (c *conversation) autoClose(ctx workflow.Context) {
	it := c.st.Interaction
	if it == nil {
		return
	}
	if !c.cheap {
		c.closeInteraction(ctx, "", "inactivity")
		return
	}
	// The timer is armed lazily: it may fire before the real deadline.
	if workflow.Now(ctx).Before(it.LastMessageAt.Add(c.inactivityTimeout(it))) {
		return // the loop re-arms it at LastMessageAt + timeout
	}
	// The database has the last word: the API may have stored a message
	// whose signal has not arrived (or never will, past Sinch's retries).
	var a *activities.Activities
	var res activities.CloseIdleResult
	err := c.db(ctx, a.CloseIdleInteraction, activities.CloseIdleInput{
		InteractionID: it.ID, IdleFor: c.inactivityTimeout(it),
	}).Get(ctx, &res)
	if err != nil {
		// Only a permanent error reaches here: try again one timeout later
		// rather than at once.
		c.handleActivityError(ctx, "inactivity close", err)
		if c.st.Interaction != nil {
			c.st.Interaction.LastMessageAt = workflow.Now(ctx)
		}
		return
	}
	if !res.Closed {
		if res.LastMessageAt.After(it.LastMessageAt) {
			it.LastMessageAt = res.LastMessageAt
		}
		return
	}
	c.st.Interaction = nil
	c.st.LastActivity = workflow.Now(ctx)
	c.upsertSearchAttributes(ctx)
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
		err := c.db(ctx, a.AssignToAgent, activities.AssignToAgentInput{
			InteractionID: it.ID, AccountID: c.st.AccountID, AgentID: cmd.transfer.AgentID,
		}).Get(ctx, nil)
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
			InteractionID: it.ID, QueueID: cmd.transfer.QueueID,
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

func (c *conversation) handleDelivery(ctx workflow.Context, d DeliverySignal) {
	var a *activities.Activities
	var res activities.ApplyDeliveryResult
	err := c.db(ctx, a.ApplyDelivery, activities.ApplyDeliveryInput{
		AccountID: c.st.AccountID, DeliveryReport: d.DeliveryReport,
	}).Get(ctx, &res)
	if err != nil {
		c.logger.Warn("apply delivery report failed", "message", d.MessageID, "err", err)
		return
	}
	switch {
	case res.Stale || res.MessageID == 0:
	case res.Failure != nil:
		c.onOutboundFailed(ctx, res)
	case res.Status == string(models.StatusDelivered) || res.Status == string(models.StatusRead):
		c.dropOutbound(res.MessageID)
	}
}

// handleActivityError reacts to a permanent activity failure: a closed
// interaction (closed elsewhere) is forgotten.
func (c *conversation) handleActivityError(ctx workflow.Context, what string, err error) {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeNotOpen {
		c.st.Interaction = nil
		c.upsertSearchAttributes(ctx)
		return
	}
	c.logger.Warn(what+" failed", "err", err)
}

// armTimers (re)starts the durable timers whose deadlines changed.
func (c *conversation) armTimers(ctx workflow.Context) {
	it := c.st.Interaction
	var inactivityAt, queueAt, recheckAt, idleAt time.Time
	if it != nil {
		inactivityAt = it.LastMessageAt.Add(c.inactivityTimeout(it))
		if it.Status == "queued" {
			if wait := it.queueTimeout(); wait > 0 && !it.QueuedAt.IsZero() && !it.TimedOut {
				queueAt = it.QueuedAt.Add(wait)
			}
			if it.Settings != nil && it.Settings.NotifyTimeout > 0 && len(it.Offered) > 0 && !it.OfferedAt.IsZero() && !it.TimedOut {
				// Nobody accepted the offer in time: move on as a timeout.
				if at := it.OfferedAt.Add(it.Settings.NotifyTimeout); queueAt.IsZero() || at.Before(queueAt) {
					queueAt = at
				}
			}
			recheckAt = c.recheck.at
			if recheckAt.IsZero() || !recheckAt.After(workflow.Now(ctx)) {
				recheckAt = workflow.Now(ctx).Add(c.in.RoutingRecheck)
			}
		}
	} else {
		idleAt = c.st.LastActivity.Add(c.in.IdleTimeout)
	}
	if c.cheap && c.inactivity.fut != nil && !c.inactivity.fired && !inactivityAt.IsZero() && c.inactivity.at.Before(inactivityAt) {
		// Lazy re-arm: a newer message does not replace the running timer
		// (two history events per message); autoClose re-checks when it fires.
		inactivityAt = c.inactivity.at
	}
	c.inactivity.set(ctx, inactivityAt)
	c.queueLimit.set(ctx, queueAt)
	c.recheck.set(ctx, recheckAt)
	c.idle.set(ctx, idleAt)
	var returnAt time.Time
	if it != nil && it.Status == "assigned" {
		returnAt = it.ReturnAt
	}
	c.transferReturn.set(ctx, returnAt)
	var retryAt time.Time
	if c.cheap && len(c.st.Pending) > 0 {
		retryAt = c.pendingRetry.at
		if retryAt.IsZero() {
			retryAt = workflow.Now(ctx).Add(c.in.RoutingRecheck)
		}
	}
	c.pendingRetry.set(ctx, retryAt)
}

func (c *conversation) upsertSearchAttributes(ctx workflow.Context) {
	status, agent, queue := "none", "", ""
	if it := c.st.Interaction; it != nil {
		status = it.Status
		if it.AgentID != 0 {
			agent = strconv.FormatUint(it.AgentID, 10)
		}
		if it.QueueID != 0 {
			queue = strconv.FormatUint(it.QueueID, 10)
		}
	}
	contact := c.in.ContactKey
	if contact == "" {
		contact = c.st.Identity
	}
	err := workflow.UpsertTypedSearchAttributes(ctx,
		AccountIDKey.ValueSet(strconv.FormatUint(c.st.AccountID, 10)),
		ChannelKey.ValueSet(c.st.Channel),
		ContactIdentityKey.ValueSet(contact),
		InteractionStatusKey.ValueSet(status),
		AgentIDKey.ValueSet(agent),
		QueueIDKey.ValueSet(queue),
	)
	if err != nil {
		c.logger.Warn("upsert search attributes", "err", err)
	}
}

// dbCtx is the activity context for database activities: short attempts,
// retried until they succeed (a database outage must not lose a message).
func dbCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         dbRetryPolicy(),
	})
}

// dbRetryPolicy retries database activities until they succeed, except on
// errors a retry cannot fix.
func dbRetryPolicy() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:    200 * time.Millisecond,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		NonRetryableErrorTypes: []string{
			activities.ErrTypeBadInput, activities.ErrTypeNotOpen, activities.ErrTypeNotEligible,
		},
	}
}

// db runs a short database activity, fn a method of *activities.Activities:
// a local activity in cheap runs (one marker in history instead of three
// events and a second workflow task), a regular one before. A local
// activity runs by its registered name (the method's), since fn's receiver
// is nil here.
func (c *conversation) db(ctx workflow.Context, fn, arg any) workflow.Future {
	if c.cheap {
		return executeLocal(localDBCtx(ctx), activityName(fn), arg)
	}
	return execute(dbCtx(ctx), fn, arg)
}

// activityName is the name a method value is registered under: the
// method's name, as the SDK derives it.
func activityName(fn any) string {
	name := strings.TrimSuffix(runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name(), "-fm")
	return name[strings.LastIndex(name, ".")+1:]
}

// localActivityRetryBudget is how long a local database activity is
// retried: longer than any outage worth riding out.
const localActivityRetryBudget = 30 * 24 * time.Hour

// localDBCtx is dbCtx for local activities.
func localDBCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		// Without it the SDK gives up after StartToCloseTimeout: a database
		// outage longer than 30 s would fail the write (found by the
		// db-cut fault case). Regular activities have no such bound.
		ScheduleToCloseTimeout: localActivityRetryBudget,
		RetryPolicy:            dbRetryPolicy(),
	})
}

// deadline is a durable timer that is replaced only when its time changes.
type deadline struct {
	at     time.Time
	fut    workflow.Future
	cancel workflow.CancelFunc
	fired  bool
}

func (d *deadline) set(ctx workflow.Context, at time.Time) {
	if at.Equal(d.at) && (d.fut != nil || at.IsZero()) && !d.fired {
		return
	}
	if d.cancel != nil && !d.fired {
		d.cancel()
	}
	d.at, d.fut, d.cancel, d.fired = at, nil, nil, false
	if at.IsZero() {
		return
	}
	wait := at.Sub(workflow.Now(ctx))
	if wait < time.Millisecond {
		wait = time.Millisecond
	}
	tctx, cancel := workflow.WithCancel(ctx)
	d.fut, d.cancel = workflow.NewTimer(tctx, wait), cancel
}

// addTo adds the timer to a selector; fn runs when it fires.
func (d *deadline) addTo(ctx workflow.Context, sel workflow.Selector, fn func()) {
	if d.fut == nil {
		return
	}
	fut := d.fut
	sel.AddFuture(fut, func(f workflow.Future) {
		if f != d.fut {
			return // a replaced timer's cancellation
		}
		d.fired = true
		d.at = time.Time{}
		d.fut = nil
		if f.Get(ctx, nil) == nil {
			fn()
		}
	})
}

// drain receives everything currently buffered on a signal channel.
func drain[T any](ctx workflow.Context, ch workflow.ReceiveChannel) []T {
	var out []T
	for {
		var v T
		if !ch.ReceiveAsync(&v) {
			return out
		}
		out = append(out, v)
	}
}
