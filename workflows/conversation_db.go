package workflows

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
)

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

// activityName is the name a method value is registered under: the
// method's name, as the SDK derives it.
func activityName(fn any) string {
	name := strings.TrimSuffix(runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name(), "-fm")
	return name[strings.LastIndex(name, ".")+1:]
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
