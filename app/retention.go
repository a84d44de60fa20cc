package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/workflows"
)

// nonceMargin is kept beyond WEBHOOK_TIMESTAMP_TOLERANCE: it covers the 5
// minutes a Sinch clock may run ahead and clock differences between the
// API hosts and the Temporal server that dates the retention run.
const nonceMargin = time.Hour

// retentionInput is the retention workflow's input from the configuration.
func retentionInput(cfg *config.Config) workflows.RetentionInput {
	return workflows.RetentionInput{
		AgentEvents: cfg.RetentionAgentEvents, AccountEvents: cfg.RetentionAccountEvents,
		Nonces: cfg.WebhookTolerance + nonceMargin, Media: cfg.RetentionMedia,
	}
}

// EnsureRetentionSchedule makes the Temporal schedule RetentionScheduleID
// match the configuration: created when missing, its spec, action and
// policies replaced when it exists (so every worker start applies today's
// RETENTION_* values; a pause set by an operator is kept), deleted when
// RETENTION_EVERY is off. Overlapping runs are skipped and at most one
// missed run is caught up after an outage.
func EnsureRetentionSchedule(ctx context.Context, c client.Client, cfg *config.Config) error {
	sc := c.ScheduleClient()
	h := sc.GetHandle(ctx, workflows.RetentionScheduleID)
	if cfg.RetentionEvery <= 0 {
		err := h.Delete(ctx)
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			return fmt.Errorf("delete schedule %s: %w", workflows.RetentionScheduleID, err)
		}
		return nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: cfg.RetentionEvery}}}
	action := &client.ScheduleWorkflowAction{
		ID: workflows.RetentionScheduleID, Workflow: workflows.RetentionWorkflowName,
		Args: []any{retentionInput(cfg)}, TaskQueue: cfg.TemporalTaskQueue,
		// Bounded by the activity's own retries; this only stops a run
		// that cannot finish from holding back every later one.
		WorkflowExecutionTimeout: 6 * time.Hour,
	}
	catchup := max(cfg.RetentionEvery, time.Minute)
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID: workflows.RetentionScheduleID, Spec: spec, Action: action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: catchup,
		Note: "prunes agent_events, account_events and webhook_nonces, expires media files (RETENTION_*)",
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", workflows.RetentionScheduleID, err)
	}
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		s := in.Description.Schedule
		s.Spec, s.Action = &spec, action
		s.Policy = &client.SchedulePolicies{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: catchup}
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", workflows.RetentionScheduleID, err)
	}
	return nil
}

// ensureRetention runs EnsureRetentionSchedule at a worker's start. A
// failure is logged, not fatal: the worker's real work does not depend on
// it, and the next start tries again.
func ensureRetention(c client.Client, cfg *config.Config, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := EnsureRetentionSchedule(ctx, c, cfg); err != nil {
		log.Error("retention schedule not set up: old events are not pruned until a worker start succeeds", "err", err)
		return
	}
	if cfg.RetentionEvery <= 0 {
		log.Info("retention off (RETENTION_EVERY=off): schedule deleted, nothing is pruned")
		return
	}
	log.Info("retention schedule ready", "schedule_id", workflows.RetentionScheduleID, "every", cfg.RetentionEvery,
		"agent_events", cfg.RetentionAgentEvents, "account_events", cfg.RetentionAccountEvents, "media", cfg.RetentionMedia)
}
