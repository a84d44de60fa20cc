package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// sampleTimeout bounds one read of a sampled series, so a slow database or
// Temporal server delays a scrape by at most this (Prometheus's default
// scrape timeout is 10 s).
const sampleTimeout = 3 * time.Second

// sampled is a collector whose values are read when Prometheus scrapes. A
// read that fails leaves its series out of that scrape: an alert then sees
// them absent, never a stale value.
type sampled struct {
	descs   []*prometheus.Desc
	collect func(ctx context.Context, ch chan<- prometheus.Metric)
}

func (s sampled) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range s.descs {
		ch <- d
	}
}

func (s sampled) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), sampleTimeout)
	defer cancel()
	s.collect(ctx, ch)
}

// gauge sends one gauge sample of d.
func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

// WatchMediaDisk exports connector_media_free_bytes (the space left to the
// connector on MEDIA_DIR's file system) and connector_media_min_free_bytes
// (MEDIA_MIN_FREE_BYTES, below which attachments are refused; 0 when the
// guard is off), read from free at every scrape.
func (m *Metrics) WatchMediaDisk(free func() (free, min uint64, err error)) error {
	if m == nil {
		return nil
	}
	freeDesc := desc("media_free_bytes", "Bytes free to the connector on the file system of MEDIA_DIR.")
	minDesc := desc("media_min_free_bytes", "MEDIA_MIN_FREE_BYTES: below it attachments are refused (0: the guard is off).")
	return m.Registry.Register(sampled{descs: []*prometheus.Desc{freeDesc, minDesc}, collect: func(_ context.Context, ch chan<- prometheus.Metric) {
		f, low, err := free()
		if err != nil {
			return
		}
		gauge(ch, freeDesc, float64(f))
		gauge(ch, minDesc, float64(low))
	}})
}

// WatchPolicyStreaks exports connector_account_policy_failure_streak by
// account: the consecutive outbound failures with a Meta policy code (the
// run behind the account warning "may be blocked by Meta"), read from read
// at every scrape.
func (m *Metrics) WatchPolicyStreaks(read func(context.Context) (map[uint64]int, error)) error {
	if m == nil {
		return nil
	}
	d := desc("account_policy_failure_streak", "Consecutive outbound failures with a Meta policy code, by account (reset by a delivered or read message).", "account_id")
	return m.Registry.Register(sampled{descs: []*prometheus.Desc{d}, collect: func(ctx context.Context, ch chan<- prometheus.Metric) {
		streaks, err := read(ctx)
		if err != nil {
			return
		}
		for id, n := range streaks {
			gauge(ch, d, float64(n), strconv.FormatUint(id, 10))
		}
	}})
}

// Backlog is one task queue type's backlog as Temporal's matching service
// estimates it (DescribeTaskQueue with report_stats).
type Backlog struct {
	// Type is workflow or activity.
	Type  string
	Count int64
	// Age is how long the oldest task has waited.
	Age time.Duration
}

// WatchBacklog exports connector_task_queue_backlog and
// connector_task_queue_backlog_age_seconds of taskQueue by type, read from
// read at every scrape.
func (m *Metrics) WatchBacklog(taskQueue string, read func(context.Context) ([]Backlog, error)) error {
	if m == nil {
		return nil
	}
	count := desc("task_queue_backlog", "Tasks waiting in the Temporal task queue for a worker, by type (workflow, activity), as the server estimates them.", "task_queue", "type")
	age := desc("task_queue_backlog_age_seconds", "How long the oldest task of the Temporal task queue has waited, by type.", "task_queue", "type")
	return m.Registry.Register(sampled{descs: []*prometheus.Desc{count, age}, collect: func(ctx context.Context, ch chan<- prometheus.Metric) {
		backlogs, err := read(ctx)
		if err != nil {
			return
		}
		for _, b := range backlogs {
			gauge(ch, count, float64(b.Count), taskQueue, b.Type)
			gauge(ch, age, b.Age.Seconds(), taskQueue, b.Type)
		}
	}})
}
