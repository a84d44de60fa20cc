package app

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/models"
)

// The sampled series each process exports beside what it records
// (docs/operating.md, Dashboards and alerts): the API and the worker both
// mount MEDIA_DIR; the API answers for the accounts it shows, the worker for
// the task queue it polls. The dev stack, one process, exports all three.

// watchMediaDisk exports the free space of the media store.
func watchMediaDisk(m *metrics.Metrics, store *media.FS) error {
	if err := m.WatchMediaDisk(store.Free); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// watchPolicyStreaks exports each account's policy-failure streak, the
// figure GET /api/whatsapp/accounts/{id} shows as policyFailureStreak.
func watchPolicyStreaks(m *metrics.Metrics, db *gorm.DB) error {
	err := m.WatchPolicyStreaks(func(ctx context.Context) (map[uint64]int, error) {
		var rows []struct {
			ID                  uint64
			PolicyFailureStreak int
		}
		if err := db.WithContext(ctx).Model(&models.Account{}).Select("id", "policy_failure_streak").Find(&rows).Error; err != nil {
			return nil, err
		}
		out := make(map[uint64]int, len(rows))
		for _, r := range rows {
			out[r.ID] = r.PolicyFailureStreak
		}
		return out, nil
	})
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// errNoStats is a DescribeTaskQueue answer without the statistics asked
// for (a server older than report_stats).
var errNoStats = errors.New("the Temporal server reports no task queue statistics")

// watchBacklog exports the backlog of TEMPORAL_TASK_QUEUE's workflow and
// activity tasks, as the server's matching service estimates it.
func watchBacklog(m *metrics.Metrics, c client.Client, cfg *config.Config) error {
	types := []struct {
		name string
		typ  enumspb.TaskQueueType
	}{{"workflow", enumspb.TASK_QUEUE_TYPE_WORKFLOW}, {"activity", enumspb.TASK_QUEUE_TYPE_ACTIVITY}}
	err := m.WatchBacklog(cfg.TemporalTaskQueue, func(ctx context.Context) ([]metrics.Backlog, error) {
		out := make([]metrics.Backlog, 0, len(types))
		for _, t := range types {
			resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
				Namespace:     cfg.TemporalNamespace,
				TaskQueue:     &taskqueuepb.TaskQueue{Name: cfg.TemporalTaskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
				TaskQueueType: t.typ, ReportStats: true,
			})
			if err != nil {
				return nil, err
			}
			st := resp.GetStats()
			if st == nil {
				return nil, errNoStats
			}
			out = append(out, metrics.Backlog{Type: t.name, Count: st.GetApproximateBacklogCount(), Age: st.GetApproximateBacklogAge().AsDuration()})
		}
		return out, nil
	})
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
