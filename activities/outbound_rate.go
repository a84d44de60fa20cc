package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/internal/sleep"
	"github.com/xcally-connector/connector/models"
)

// DefaultSendRate is Sinch's default drain rate of an app's outbound queue
// (20 messages per second, Sinch's Conversation API reference), used for
// accounts without their own sendRatePerSecond.
const DefaultSendRate = 20.0

// defaultMaxRateWait is how long a send waits in the activity for its rate
// slot; a longer queue is waited out by a retry (NextRetryDelay), so a
// burst never holds an activity slot for long.
const defaultMaxRateWait = 5 * time.Second

// rateWindowGuard widens the second over which an app's rate is spread:
// sends spaced exactly 1/rate apart put rate+1 of them in some one-second
// window as soon as one arrives a millisecond late (measured: 11 calls
// within 998 ms at 10/s across two workers). Spacing them (1 s + 50 ms)/rate
// apart keeps every one-second window at the rate unless a send is delayed
// by more than 50 ms between its slot and Sinch, at 95 % of the nominal
// throughput.
const rateWindowGuard = 50 * time.Millisecond

// reserveSendSlot waits for the account's app to have send capacity. The
// schedule lives in one database row per app (send_rate_slots) that every
// worker updates under a row lock: each send takes the slot NextAt and
// pushes it 1/rate later, so N workers together never exceed the rate. A
// slot further away than the wait bound is not taken: the activity is
// retried when the queue ahead of it has drained.
func (a *Activities) reserveSendSlot(ctx context.Context, acc models.Account) error {
	rate := acc.SendRatePerSecond
	if rate <= 0 {
		rate = a.defaultSendRate()
	}
	interval := time.Duration(float64(time.Second+rateWindowGuard) / rate)
	maxWait := a.MaxRateWait
	if maxWait <= 0 {
		maxWait = defaultMaxRateWait
	}
	var start time.Time
	var tooFar time.Duration
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.SendRateSlot{AppID: acc.AppID, NextAt: time.Unix(0, 0).UTC()}).Error; err != nil {
			return err
		}
		var slot models.SendRateSlot
		if err := forUpdate(tx).Model(&models.SendRateSlot{}).Where("app_id = ?", acc.AppID).Take(&slot).Error; err != nil {
			return err
		}
		now := time.Now().UTC()
		start = slot.NextAt
		if start.Before(now) {
			start = now
		}
		if wait := start.Sub(now); wait > maxWait {
			tooFar = wait - maxWait
			return nil
		}
		return tx.Model(&models.SendRateSlot{}).Where("app_id = ?", acc.AppID).
			Updates(map[string]any{"next_at": start.Add(interval), "updated_at": now}).Error
	})
	if err != nil {
		return fmt.Errorf("reserve send slot of app %s: %w", acc.AppID, err)
	}
	if tooFar > 0 {
		return temporal.NewApplicationErrorWithOptions(
			fmt.Sprintf("app %s send queue is %s long at %.1f/s: waiting", acc.AppID, (tooFar+maxWait).Round(time.Millisecond), rate),
			ErrTypeSinchRetryable, temporal.ApplicationErrorOptions{NextRetryDelay: tooFar})
	}
	if !sleep.For(ctx, time.Until(start)) {
		return ctx.Err()
	}
	return nil
}

func (a *Activities) defaultSendRate() float64 {
	if a.DefaultSendRate > 0 {
		return a.DefaultSendRate
	}
	return DefaultSendRate
}
