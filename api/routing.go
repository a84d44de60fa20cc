package api

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/workflows"
)

// maxNudges bounds how many waiting conversations one change wakes; the
// others find the agent at their next periodic routing check.
const maxNudges = 500

// routingChanged is called after a change that can make an agent eligible
// for waiting interactions (presence, an enabled account, queue links, a
// closed or transferred interaction). It signals the workflows of queued
// interactions to route again now. Failures are logged, not returned: the
// change itself is already committed and every waiting workflow re-checks
// periodically anyway.
func (s *Server) routingChanged() {
	// One nudge run at a time, in the background: a change during a run
	// schedules exactly one more run, so bursts of changes coalesce and the
	// request that made the change never waits for Temporal.
	if s.nudge.pending.Add(1) > 1 {
		return
	}
	go func() {
		for {
			s.nudgeQueued()
			if s.nudge.pending.Add(-1) == 0 {
				return
			}
			s.nudge.pending.Store(1)
		}
	}()
}

// nudgeState coalesces routing nudges.
type nudgeState struct {
	pending atomic.Int64
}

func (s *Server) nudgeQueued() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ids []string
	err := s.deps.DB.WithContext(ctx).Model(&models.Interaction{}).
		Where("status = ?", models.InteractionQueued).
		Order("id").Limit(maxNudges).Pluck("workflow_id", &ids).Error
	if err != nil {
		s.log.Warn("list queued interactions to nudge", "err", err)
		return
	}
	for _, id := range ids {
		if err := s.deps.Temporal.SignalWorkflow(ctx, id, "", workflows.RoutingNudgeSignalName, nil); err != nil {
			s.log.Debug("nudge conversation", "workflow_id", id, "err", err)
		}
	}
}
