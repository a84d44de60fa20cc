package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
)

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

// inactivityTimeout is the interaction's: the account's when it has one.
func (c *conversation) inactivityTimeout(it *InteractionState) time.Duration {
	if it.Settings != nil && it.Settings.InactivityTimeout > 0 {
		return it.Settings.InactivityTimeout
	}
	return c.in.InactivityTimeout
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
