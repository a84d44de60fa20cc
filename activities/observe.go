package activities

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/internal/logctx"
	"github.com/xcally-connector/connector/models"
)

// accountDebugTTL is how long an account's debug flag is cached: turning
// it on reaches the worker's logs within that time.
const accountDebugTTL = 15 * time.Second

// debugFlags remembers accounts' debug flags (debugKey → debugFlag), per
// database so that several stacks in one process (tests) do not mix.
var debugFlags sync.Map

type debugKey struct {
	db *gorm.DB
	id uint64
}

type debugFlag struct {
	on bool
	at time.Time
}

// log is an activity's logger: workflow_id, run_id, activity_type and
// attempt from the activity context, and account_id when the account is
// known (0: not). An account whose debug flag is on logs at debug level,
// whatever LOG_LEVEL says; the others stay at LOG_LEVEL.
func (a *Activities) log(ctx context.Context, accountID uint64) *slog.Logger {
	l := logctx.Wrap(a.logger())
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		l = l.With(slog.String("workflow_id", info.WorkflowExecution.ID), slog.String("run_id", info.WorkflowExecution.RunID),
			slog.String("activity_type", info.ActivityType.Name), slog.Int("attempt", int(info.Attempt)))
	}
	if accountID != 0 {
		l = l.With(slog.Uint64("account_id", accountID))
		if a.accountDebug(ctx, accountID) {
			l = logctx.Debug(l)
		}
	}
	return l
}

// logger is the worker's logger (discarding when none was given).
func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// accountDebug reads (and caches) the debug flag of an account; a lookup
// failure counts as off: logging never fails an activity.
func (a *Activities) accountDebug(ctx context.Context, id uint64) bool {
	if a.DB == nil {
		return false
	}
	key := debugKey{a.DB, id}
	if v, ok := debugFlags.Load(key); ok && time.Since(v.(debugFlag).at) < accountDebugTTL {
		return v.(debugFlag).on
	}
	var flags []bool
	if err := a.DB.WithContext(ctx).Unscoped().Model(&models.Account{}).Where("id = ?", id).Pluck("debug", &flags).Error; err != nil {
		return false
	}
	on := len(flags) == 1 && flags[0]
	debugFlags.Store(key, debugFlag{on: on, at: time.Now()})
	return on
}
