package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func scrape(t *testing.T, h http.Handler, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return rec.Code, string(body)
}

func TestRecordingAndExposition(t *testing.T) {
	m, err := New()
	require.NoError(t, err)

	m.HTTPRequest("POST", "/api/whatsapp/accounts/:id/notify", 200, 30*time.Millisecond)
	m.Webhook("MESSAGE_INBOUND", WebhookAccepted)
	m.Webhook("", WebhookUnknownAccount)
	m.MessageIn(7, "WHATSAPP")
	m.MessageIn(7, "WHATSAPP")
	m.MessageOut(7, "WHATSAPP")
	m.Send("accepted", "")
	m.Send("failed", "policy")
	m.QueueWait(3, 90*time.Second)
	m.QueueWait(0, -time.Second)
	m.MediaBytes("in", 1234)
	m.MediaBytes("in", 0)
	m.MediaFailure("in", "disk_low")
	m.Migration("completed")

	assert.Equal(t, 2.0, testutil.ToFloat64(m.messagesIn.WithLabelValues("7", "WHATSAPP")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.webhooks.WithLabelValues("UNKNOWN", "unknown_account")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.sends.WithLabelValues("accepted", "none")))
	assert.Equal(t, 1234.0, testutil.ToFloat64(m.mediaBytes.WithLabelValues("in")))

	code, out := scrape(t, m.Handler(""), "")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`connector_http_requests_total{code="200",method="POST",route="/api/whatsapp/accounts/:id/notify"} 1`,
		`connector_http_request_duration_seconds_bucket{code="200",method="POST",route="/api/whatsapp/accounts/:id/notify",le="0.05"} 1`,
		`connector_webhooks_total{outcome="accepted",trigger="MESSAGE_INBOUND"} 1`,
		`connector_messages_received_total{account_id="7",channel="WHATSAPP"} 2`,
		`connector_messages_sent_total{account_id="7",channel="WHATSAPP"} 1`,
		`connector_sends_total{error_class="policy",status="failed"} 1`,
		`connector_queue_wait_seconds_bucket{queue_id="3",le="120"} 1`,
		`connector_queue_wait_seconds_bucket{queue_id="3",le="60"} 0`,
		`connector_queue_wait_seconds_sum{queue_id="none"} 0`,
		`connector_media_bytes_total{direction="in"} 1234`,
		`connector_media_failures_total{direction="in",reason="disk_low"} 1`,
		`connector_migrations_total{state="completed"} 1`,
		`go_goroutines `,
	} {
		assert.Contains(t, out, want)
	}
}

// The SDK's timers come out in seconds with a _seconds suffix, its counters
// with _total, and its histograms with second-scale buckets.
func TestTemporalSeriesNaming(t *testing.T) {
	m, err := New()
	require.NoError(t, err)
	h := m.TemporalHandler().WithTags(map[string]string{"activity_type": "SendOutbound", "namespace": "default"})
	h.Timer("temporal_activity_execution_latency").Record(40 * time.Millisecond)
	h.Counter("temporal_request").Inc(2)
	h.Gauge("temporal_num_pollers").Update(3)

	_, out := scrape(t, m.Handler(""), "")
	assert.Contains(t, out, `temporal_activity_execution_latency_seconds_bucket{activity_type="SendOutbound",namespace="default",le="0.05"} 1`)
	assert.Contains(t, out, `temporal_request_total{activity_type="SendOutbound",namespace="default"} 2`)
	assert.Contains(t, out, `temporal_num_pollers{activity_type="SendOutbound",namespace="default"} 3`)
	assert.NotContains(t, out, "otel_scope_name")
	assert.NotContains(t, out, "target_info")
}

func TestMetricsToken(t *testing.T) {
	m, err := New()
	require.NoError(t, err)
	h := m.Handler("s3cret-metrics-token")
	code, body := scrape(t, h, "")
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Contains(t, body, "METRICS_TOKEN")
	code, _ = scrape(t, h, "wrong")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, body = scrape(t, h, "s3cret-metrics-token")
	assert.Equal(t, http.StatusOK, code)
	assert.True(t, strings.Contains(body, "go_goroutines"))
}

func TestNilMetricsIsSafe(t *testing.T) {
	var m *Metrics
	assert.NotPanics(t, func() {
		m.HTTPRequest("GET", "/", 200, time.Millisecond)
		m.Webhook("X", WebhookAccepted)
		m.MessageIn(1, "WHATSAPP")
		m.MessageOut(1, "WHATSAPP")
		m.Send("accepted", "")
		m.QueueWait(1, time.Second)
		m.MediaBytes("in", 1)
		m.MediaFailure("in", "refused")
		m.Migration("running")
		m.RetentionRun(time.Now())
		assert.NoError(t, m.WatchMediaDisk(nil))
		assert.NoError(t, m.WatchPolicyStreaks(nil))
		assert.NoError(t, m.WatchBacklog("q", nil))
		assert.Nil(t, m.TemporalHandler())
		assert.NoError(t, m.Shutdown(t.Context()))
	})
}

// The sampled gauges are read at each scrape; a failed read leaves its
// series out; the retention gauge appears with the first run.
func TestSampledGaugesAndRetention(t *testing.T) {
	m, err := New()
	require.NoError(t, err)
	_, out := scrape(t, m.Handler(""), "")
	assert.NotContains(t, out, "connector_retention_last_success_timestamp_seconds ")

	diskErr := errors.New("statfs failed")
	var failDisk bool
	require.NoError(t, m.WatchMediaDisk(func() (uint64, uint64, error) {
		if failDisk {
			return 0, 0, diskErr
		}
		return 3 << 30, 512 << 20, nil
	}))
	streaks := map[uint64]int{7: 3, 9: 0}
	require.NoError(t, m.WatchPolicyStreaks(func(context.Context) (map[uint64]int, error) { return streaks, nil }))
	require.NoError(t, m.WatchBacklog("whatsapp-connector", func(ctx context.Context) ([]Backlog, error) {
		_, ok := ctx.Deadline()
		assert.True(t, ok, "a read is bounded")
		return []Backlog{{Type: "workflow", Count: 4, Age: 1500 * time.Millisecond}, {Type: "activity"}}, nil
	}))
	assert.Error(t, m.WatchMediaDisk(func() (uint64, uint64, error) { return 0, 0, nil }), "one watcher per series")
	m.RetentionRun(time.Unix(1764633600, 500_000_000))

	_, out = scrape(t, m.Handler(""), "")
	for _, want := range []string{
		"connector_media_free_bytes 3.221225472e+09",
		"connector_media_min_free_bytes 5.36870912e+08",
		`connector_account_policy_failure_streak{account_id="7"} 3`,
		`connector_account_policy_failure_streak{account_id="9"} 0`,
		`connector_task_queue_backlog{task_queue="whatsapp-connector",type="workflow"} 4`,
		`connector_task_queue_backlog_age_seconds{task_queue="whatsapp-connector",type="workflow"} 1.5`,
		`connector_task_queue_backlog{task_queue="whatsapp-connector",type="activity"} 0`,
		"connector_retention_last_success_timestamp_seconds 1.7646336005e+09",
	} {
		assert.Contains(t, out, want)
	}

	failDisk, streaks[7] = true, 0
	code, out := scrape(t, m.Handler(""), "")
	assert.Equal(t, http.StatusOK, code, "a failed read does not fail the scrape")
	assert.NotContains(t, out, "connector_media_free_bytes ")
	assert.Contains(t, out, `connector_account_policy_failure_streak{account_id="7"} 0`)
}
