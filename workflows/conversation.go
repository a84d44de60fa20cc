package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/log"
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
	// replyVersion caches the run's cheapReplyChange version once a reply
	// or a send asked for it (replyVersionKnown).
	replyVersion      workflow.Version
	replyVersionKnown bool
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
