package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
)

// Defaults of the outbound settings of ConversationInput.
const (
	DefaultReplyWindow   = 24 * time.Hour
	DefaultMaxResends    = 3
	DefaultResendBackoff = 15 * time.Second
	DefaultSendTimeout   = 10 * time.Minute
	DefaultSplitLength   = 1000
	// maxOutbox bounds the replies the state remembers while they wait for
	// their delivery outcome; the oldest accepted ones are dropped first
	// (their reports still update the database, only a late network-class
	// failure of one of them is no longer resent).
	maxOutbox = 200
)

// MaxReplyLength is the longest reply text, WhatsApp's text limit.
const MaxReplyLength = 4096

// Phases of an outbound message in the workflow.
const (
	phaseQueued  = "queued"  // waiting for the sender (first send or resend)
	phaseSending = "sending" // SendOutbound is running
	phaseSent    = "sent"    // Sinch accepted it; waiting for the outcome
)

// OutboundState is a reply the conversation still looks after: until it
// is delivered, read or failed.
type OutboundState struct {
	MessageID uint64
	Text      string
	// Attempt is the number of the latest send (0 before the first).
	Attempt int
	Phase   string
	// NotBefore delays a resend (backoff after a network-class failure).
	NotBefore time.Time
}

// replyCommand is a reply handed from the update handler to the main loop.
type replyCommand struct {
	req ReplyRequest
	ref string
}

// validateReply is the reply update's validator: it refuses what can never
// be sent, before anything is written to history.
func (c *conversation) validateReply(ctx workflow.Context, req ReplyRequest) error {
	if err := c.validateOpen(req.InteractionID); err != nil {
		return err
	}
	// Who may reply is checked by the main loop (runReply), not here: the
	// database shows an assignment before the loop has applied the routing
	// result, so a prompt agent would be refused.
	text := strings.TrimSpace(req.Text)
	switch n := utf8.RuneCountInString(req.Text); {
	case text == "" && req.Attachment == nil:
		return errors.New("text is empty")
	case n > MaxReplyLength:
		return fmt.Errorf("text is %d characters, over WhatsApp's limit of %d", n, MaxReplyLength)
	}
	last := c.st.LastInboundAt
	if last.IsZero() {
		last = c.st.Interaction.LastMessageAt
	}
	if !last.IsZero() && workflow.Now(ctx).Sub(last) > c.in.ReplyWindow {
		return fmt.Errorf("%s: the customer's last message was at %s, more than %s ago; outside WhatsApp's customer service window only approved templates can be sent, and the connector sends none: wait for the customer to write again",
			ErrOutsideWindow, last.UTC().Format(time.RFC3339), c.in.ReplyWindow)
	}
	return nil
}

// ErrOutsideWindow starts the refusal of a reply outside the 24 h window.
const ErrOutsideWindow = "outside the customer service window"

// runReply stores a reply and queues it for the sender.
func (c *conversation) runReply(ctx workflow.Context, cmd replyCommand) (ReplyResult, error) {
	it := c.st.Interaction
	if it == nil || it.ID != cmd.req.InteractionID {
		return ReplyResult{}, temporal.NewApplicationError(fmt.Sprintf("interaction %d is not open", cmd.req.InteractionID), activities.ErrTypeNotOpen)
	}
	if cmd.req.AgentID != 0 && it.AgentID != cmd.req.AgentID {
		return ReplyResult{}, temporal.NewApplicationError(
			fmt.Sprintf("interaction %d is not assigned to agent %d", it.ID, cmd.req.AgentID), activities.ErrTypeNotAssigned)
	}
	if cmd.req.AgentID != 0 && cmd.req.AgentID == it.AgentID {
		it.ReturnAt, it.ReturnQueueID = time.Time{}, 0 // replying accepts a transfer
	}
	cheap := c.cheapReplies(ctx)
	in := activities.CreateOutboundInput{
		AccountID: c.st.AccountID, InteractionID: it.ID, ContactID: c.st.ContactID,
		AgentID: cmd.req.AgentID, Text: cmd.req.Text, ClientRef: cmd.ref, Attachment: cmd.req.Attachment,
	}
	if cheap {
		in.Outstanding = c.outstanding()
	}
	var a *activities.Activities
	var res activities.CreateOutboundResult
	if err := c.db(ctx, a.CreateOutbound, in).Get(ctx, &res); err != nil {
		return ReplyResult{}, err
	}
	for _, id := range res.Settled {
		// Delivered, read or failed: the API applied the reports.
		c.dropOutbound(id)
	}
	// A stored reply is queued when this update created it or, in cheap
	// runs, when it was never sent and the outbox does not hold it: the
	// update's first workflow task stored it and was lost with its worker
	// (the local send runs in that task), and the update came again.
	unsent := func(id uint64, status string) bool {
		return cheap && status == string(models.StatusPending) && c.outbound(id) == nil
	}
	if res.Created || unsent(res.MessageID, res.Status) {
		first := cmd.req.Text
		if cmd.req.Attachment != nil {
			first = ""
		}
		c.enqueue(ctx, OutboundState{MessageID: res.MessageID, Text: first, Phase: phaseQueued})
	}
	if res.TextMessageID != 0 && c.outbound(res.TextMessageID) == nil && (res.Created || unsent(res.TextMessageID, res.TextStatus)) {
		c.enqueue(ctx, OutboundState{MessageID: res.TextMessageID, Text: cmd.req.Text, Phase: phaseQueued})
	}
	it.LastMessageAt = workflow.Now(ctx)
	return ReplyResult{MessageID: res.MessageID, Status: res.Status, TextMessageID: res.TextMessageID}, nil
}

func (c *conversation) enqueue(ctx workflow.Context, o OutboundState) {
	c.st.Outbox = append(c.st.Outbox, o)
	c.startSender(ctx)
	if over := len(c.st.Outbox) - maxOutbox; over > 0 {
		kept := c.st.Outbox[:0]
		for _, x := range c.st.Outbox {
			if over > 0 && x.Phase == phaseSent {
				over--
				continue
			}
			kept = append(kept, x)
		}
		c.st.Outbox = kept
	}
}

// cheapReplyChange names the workflow.GetVersion change that makes a
// reply with its delivery reports cost 7 history events instead of 27
// (decisions §22): a text's first send runs as a local activity in the
// workflow task of its update, and the reports that need no decision are
// applied by the API without a signal, so CreateOutbound prunes the outbox
// of the replies they settled.
const cheapReplyChange = "cheap-reply"

// cheapReplies reports whether the run sends as cheapReplyChange says.
// It is asked by the first reply or send of a run, so a run that never
// replies records no marker and a run started before the change takes it
// with its next reply; runs older than cheapInboundChange never do.
func (c *conversation) cheapReplies(ctx workflow.Context) bool {
	if !c.cheap {
		return false
	}
	if !c.replyVersionKnown {
		c.replyVersion = workflow.GetVersion(ctx, cheapReplyChange, workflow.DefaultVersion, 1)
		c.replyVersionKnown = true
	}
	return c.replyVersion >= 1
}

// outstanding lists the replies sent and waiting for their outcome.
func (c *conversation) outstanding() []uint64 {
	var ids []uint64
	for _, o := range c.st.Outbox {
		if o.Phase == phaseSent {
			ids = append(ids, o.MessageID)
		}
	}
	return ids
}

// outbound returns the outbox entry of a message, or nil.
func (c *conversation) outbound(id uint64) *OutboundState {
	for i := range c.st.Outbox {
		if c.st.Outbox[i].MessageID == id {
			return &c.st.Outbox[i]
		}
	}
	return nil
}

func (c *conversation) dropOutbound(id uint64) {
	for i := range c.st.Outbox {
		if c.st.Outbox[i].MessageID == id {
			c.st.Outbox = append(c.st.Outbox[:i], c.st.Outbox[i+1:]...)
			return
		}
	}
}

// nextSend is the oldest queued message whose backoff has passed, and the
// earliest backoff end of those still waiting.
func (c *conversation) nextSend(now time.Time) (*OutboundState, time.Time) {
	var wake time.Time
	for i := range c.st.Outbox {
		o := &c.st.Outbox[i]
		if o.Phase != phaseQueued {
			continue
		}
		if !o.NotBefore.After(now) {
			return o, time.Time{}
		}
		if wake.IsZero() || o.NotBefore.Before(wake) {
			wake = o.NotBefore
		}
	}
	return nil, wake
}

// sending reports whether a send activity is running.
func (c *conversation) sending() bool { return c.inFlight > 0 }

// pendingSends reports whether a reply still has to be sent.
func (c *conversation) pendingSends() bool {
	for _, o := range c.st.Outbox {
		if o.Phase != phaseSent {
			return true
		}
	}
	return false
}

// startSender starts the sender coroutine once. Cheap runs start it with
// the first reply (a coroutine per cached conversation costs memory);
// older runs started it with the run.
func (c *conversation) startSender(ctx workflow.Context) {
	if c.senderStarted {
		return
	}
	c.senderStarted = true
	workflow.Go(ctx, c.sendLoop)
}

// sendLoop is the conversation's sender coroutine: it sends queued replies
// one at a time, oldest first, so the customer receives them in order. It
// parks while c.pauseSends is set (continue-as-new).
func (c *conversation) sendLoop(ctx workflow.Context) {
	for {
		var next *OutboundState
		var wake time.Time
		if !c.pauseSends {
			next, wake = c.nextSend(workflow.Now(ctx))
		}
		if next != nil {
			c.sendOne(ctx, next.MessageID)
			continue
		}
		// Wake up when a message becomes ready or the earliest backoff
		// changes (a new resend was queued), which needs a new timer.
		changed := func() bool {
			if c.pauseSends {
				return false
			}
			n, w := c.nextSend(workflow.Now(ctx))
			return n != nil || !w.Equal(wake)
		}
		if wake.IsZero() {
			_ = workflow.Await(ctx, changed)
		} else {
			_, _ = workflow.AwaitWithTimeout(ctx, wake.Sub(workflow.Now(ctx)), changed)
		}
	}
}

// sendOne runs one send attempt of a queued message.
func (c *conversation) sendOne(ctx workflow.Context, id uint64) {
	o := c.outbound(id)
	o.Attempt++
	o.Phase = phaseSending
	attempt := o.Attempt
	var a *activities.Activities
	var res activities.SendOutboundResult
	in := activities.SendOutboundInput{
		WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, AccountID: c.st.AccountID, MessageID: id, Attempt: attempt,
	}
	c.inFlight++
	var err error
	if o.Text != "" && c.cheapReplies(ctx) {
		err = c.sendLocal(ctx, in, &res)
	} else {
		// A file (Text is empty) may take long to hand over: it is always
		// sent by the regular activity.
		err = execute(c.sendCtx(ctx), a.SendOutbound, in).Get(ctx, &res)
	}
	c.inFlight--
	o = c.outbound(id)
	if o == nil || o.Attempt != attempt || o.Phase != phaseSending {
		// A delivery report decided while the send ran (a failure that
		// overtook the result): that decision stands.
		return
	}
	if err == nil {
		o.Phase = phaseSent
		return
	}
	f, ok := activities.FailureOf(err)
	if !ok {
		var timeout *temporal.TimeoutError
		if errors.As(err, &timeout) {
			f = activities.Failure{Code: "SEND_TIMED_OUT", Class: models.ErrorClassNetwork, Description: err.Error(),
				Message: fmt.Sprintf("SEND_TIMED_OUT: Sinch did not accept the message within %s (rate limited or unavailable); try again later", c.in.SendTimeout)}
		} else {
			f = activities.Failure{Code: "SEND_FAILED", Class: models.ErrorClassSupport, Description: err.Error(),
				Message: "SEND_FAILED: the message could not be sent: contact support with these details: " + err.Error()}
		}
	}
	c.fail(ctx, id, f, attempt)
}

// fail records a final failure and forgets the message.
func (c *conversation) fail(ctx workflow.Context, id uint64, f activities.Failure, attempts int) {
	c.dropOutbound(id)
	var a *activities.Activities
	err := c.db(ctx, a.RecordOutboundFailure, activities.RecordOutboundFailureInput{
		MessageID: id, Failure: f, Attempts: attempts,
	}).Get(ctx, nil)
	if err != nil {
		c.logger.Warn("record outbound failure", "message", id, "err", err)
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

// onOutboundFailed decides what a FAILED report of the current attempt
// does: resend (network class, bounded), split (MESSAGE_SPLIT_REQUIRED) or
// fail visibly.
func (c *conversation) onOutboundFailed(ctx workflow.Context, res activities.ApplyDeliveryResult) {
	f := *res.Failure
	o := c.outbound(res.MessageID)
	attempts := res.Attempt
	if o != nil {
		if o.Phase == phaseQueued || res.Attempt < o.Attempt {
			// Already decided (a resend is queued), or a report of an
			// earlier attempt.
			return
		}
		attempts = o.Attempt
	}
	switch {
	case o != nil && f.Class == models.ErrorClassNetwork && o.Attempt <= c.in.MaxResends:
		backoff := c.in.ResendBackoff << (o.Attempt - 1)
		o.Phase, o.NotBefore = phaseQueued, workflow.Now(ctx).Add(backoff)
		c.logger.Info("resending after a network failure", "message", o.MessageID, "code", f.Code, "attempt", o.Attempt, "backoff", backoff)
	case o != nil && f.Code == activities.ReasonSplitRequired:
		c.split(ctx, *o, f)
	default:
		c.fail(ctx, res.MessageID, f, attempts)
	}
}

// split resends a text as parts at word boundaries, queued in order right
// where the original was.
func (c *conversation) split(ctx workflow.Context, o OutboundState, f activities.Failure) {
	limit := c.in.SplitLength
	if n := utf8.RuneCountInString(o.Text); n <= limit {
		limit = (n + 1) / 2
	}
	parts := SplitText(o.Text, limit)
	if len(parts) < 2 {
		c.fail(ctx, o.MessageID, f, o.Attempt)
		return
	}
	var a *activities.Activities
	var res activities.SplitOutboundResult
	if err := c.db(ctx, a.SplitOutbound, activities.SplitOutboundInput{MessageID: o.MessageID, Parts: parts}).Get(ctx, &res); err != nil {
		c.logger.Warn("split outbound", "message", o.MessageID, "err", err)
		c.fail(ctx, o.MessageID, f, o.Attempt)
		return
	}
	at := 0
	for i := range c.st.Outbox {
		if c.st.Outbox[i].MessageID == o.MessageID {
			at = i
		}
	}
	queued := make([]OutboundState, len(res.PartIDs))
	for i, id := range res.PartIDs {
		queued[i] = OutboundState{MessageID: id, Text: parts[i], Phase: phaseQueued}
	}
	rest := append(queued, c.st.Outbox[at+1:]...)
	c.st.Outbox = append(c.st.Outbox[:at], rest...)
}

// sendNonRetryable are the send errors no retry can change.
var sendNonRetryable = []string{
	activities.ErrTypeBadInput, activities.ErrTypeSinchNetwork, activities.ErrTypeMetaPolicy,
	activities.ErrTypeSinchConfig, activities.ErrTypeSupport, activities.ErrTypeMediaUnsupported,
}

// sendCtx is the activity context of a send: 429, 5xx and network errors
// are retried with backoff (after Sinch's Retry-After) for SendTimeout,
// classified refusals are not.
func (c *conversation) sendCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    45 * time.Second,
		ScheduleToCloseTimeout: c.in.SendTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			NonRetryableErrorTypes: sendNonRetryable,
		},
	})
}

// localSendTimeout bounds the local first try of a send. It stays under
// the SDK's workflow task heartbeat (at 80 % of the 10 s task timeout a
// task still waiting on a local activity is completed and a new one
// started: three more events), so the reply update is answered within it
// even when Sinch does not answer.
const localSendTimeout = 6 * time.Second

// sendLocal runs a send's first try as a local activity, in the workflow
// task that queued it: the reply's update, its record and its send cost
// one task (a marker instead of an activity's three events and a second
// task). A try that ends without a classified answer (429, 5xx, the rate
// slot too far, no answer in localSendTimeout) goes on as the regular
// activity, after Sinch's Retry-After when it gave one; that activity
// finds a lost outcome by the attempt's mark, as any retry does, so the
// hand-over never sends twice.
func (c *conversation) sendLocal(ctx workflow.Context, in activities.SendOutboundInput, res *activities.SendOutboundResult) error {
	var a *activities.Activities
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    localSendTimeout,
		ScheduleToCloseTimeout: localSendTimeout,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	err := executeLocal(lctx, activityName(a.SendOutbound), in).Get(ctx, res)
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		if appErr.NonRetryable() || slices.Contains(sendNonRetryable, appErr.Type()) {
			return err
		}
		if d := appErr.NextRetryDelay(); d > 0 {
			_ = workflow.Sleep(ctx, d)
		}
	}
	c.logger.Info("send goes on as a regular activity", "message", in.MessageID, "attempt", in.Attempt, "err", err)
	return execute(c.sendCtx(ctx), a.SendOutbound, in).Get(ctx, res)
}

// SplitText cuts text into parts of at most limit characters, at word
// boundaries where there is one (a longer word is cut), trimming the
// spaces at the cuts.
func SplitText(text string, limit int) []string {
	if limit < 1 {
		limit = 1
	}
	var parts []string
	rest := []rune(strings.TrimSpace(text))
	for len(rest) > limit {
		cut := limit
		for i := limit; i > 0; i-- {
			if unicode.IsSpace(rest[i]) {
				cut = i
				break
			}
		}
		parts = append(parts, strings.TrimSpace(string(rest[:cut])))
		rest = []rune(strings.TrimSpace(string(rest[cut:])))
	}
	if len(rest) > 0 {
		parts = append(parts, string(rest))
	}
	return parts
}
