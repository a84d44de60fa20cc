package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// lockedBuffer collects the stack's log output from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines are the JSON log lines (the engine's own text lines are skipped).
func (b *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

const e2eMetricsToken = "e2e-metrics-token-0123456789"

// seriesValue is the value of the series named exactly by series (name and
// labels as the text format prints them), or -1 when absent.
func seriesValue(out, series string) float64 {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

func scrapeMetrics(t *testing.T, base, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestMetricsAndLogsAfterTraffic runs a conversation through the dev stack
// (signed callbacks from the Sinch emulator, an agent's reply delivered and
// read) and checks what an operator sees: the business, HTTP and SDK series
// on /metrics with no phone number, and JSON logs carrying request,
// account and workflow ids, with the debug account's raw callbacks
// redacted.
func TestMetricsAndLogsAfterTraffic(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) { testMetricsAndLogs(t, engine) })
	}
}

func testMetricsAndLogs(t *testing.T, engine models.Engine) {
	cfg := devConfig(t, engine)
	cfg.LogLevel, cfg.LogFormat = 0, "json" // info
	cfg.MetricsToken = e2eMetricsToken
	logs := &lockedBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := app.StartDev(ctx, cfg, cfg.NewLogger(logs))
	require.NoError(t, err)
	t.Cleanup(d.Stop)
	s := &replyStack{stack: &stack{t: t, cfg: cfg, dev: d, agents: map[string]agentCreds{}}, em: d.Emulator}

	var acc struct{ ID uint64 }
	s.admin(http.MethodPost, "/api/whatsapp/accounts", map[string]any{
		"name": "Acme Support", "key": "acme", "publicUrl": "https://motion.example.com", "region": "eu",
		"projectId": "proj-1", "appId": appID, "keyId": "key-1", "keySecret": "ks-1-secret",
		"webhookSecret": webhookSecret, "phone": "+390212345678", "channels": []string{"WHATSAPP"},
		"baseUrl": d.EmulatorURL, "authUrl": d.EmulatorURL + "/oauth2/token", "debug": true,
	}, &acc, http.StatusCreated)
	s.account = acc.ID
	var q struct{ ID uint64 }
	s.admin(http.MethodPost, "/api/queues", map[string]any{"name": "support", "strategy": "round_robin"}, &q, http.StatusCreated)
	s.queue = q.ID
	s.admin(http.MethodPut, fmt.Sprintf("/api/queues/%d/accounts/%d", q.ID, acc.ID), nil, nil, http.StatusNoContent)
	var bob agentCreds
	s.admin(http.MethodPost, "/api/agents", map[string]any{"name": "bob", "capacity": 5}, &bob, http.StatusCreated)
	s.admin(http.MethodPut, fmt.Sprintf("/api/queues/%d/agents/%d", q.ID, bob.ID), nil, nil, http.StatusNoContent)
	s.admin(http.MethodPut, fmt.Sprintf("/api/agents/%d/permissions/%d", bob.ID, acc.ID), nil, nil, http.StatusNoContent)
	require.Equal(t, http.StatusNoContent, s.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", bob.ID, acc.ID), bob.Token, nil, nil))
	require.Equal(t, http.StatusOK, s.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/presence", bob.ID), bob.Token, map[string]string{"status": "available"}, nil))
	require.NoError(t, s.em.CreateApp(emulator.App{AppID: appID, ProjectID: "proj-1", Region: "eu", ProcessingMode: "CONVERSATION",
		WebhookURL: s.url(fmt.Sprintf("/api/whatsapp/accounts/%d/notify", acc.ID)), WebhookSecret: webhookSecret,
		KeyID: "key-1", KeySecret: "ks-1-secret"}))

	const customer = "393339876543"
	it := s.hello(customer)
	var msg api.MessageResponse
	require.Equal(t, http.StatusAccepted, s.reply(it, bob.Token, map[string]string{"text": "Hi, this is Bob"}, &msg))
	s.waitStatus(it.ID, msg.ID, "read")

	code, _ := scrapeMetrics(t, d.APIURL(), "")
	assert.Equal(t, http.StatusUnauthorized, code, "METRICS_TOKEN protects /metrics")
	var out string
	// The SDK reports some series (poll and task latencies) asynchronously.
	require.Eventually(t, func() bool {
		code, out = scrapeMetrics(t, d.APIURL(), e2eMetricsToken)
		return code == http.StatusOK && strings.Contains(out, `temporal_local_activity_execution_latency_seconds_count{activity_type="SendOutbound"`)
	}, 10*time.Second, 200*time.Millisecond, "SDK activity latencies are exported")

	account := strconv.FormatUint(acc.ID, 10)
	assert.Equal(t, 1.0, seriesValue(out, `connector_webhooks_total{outcome="accepted",trigger="MESSAGE_INBOUND"}`))
	assert.GreaterOrEqual(t, seriesValue(out, `connector_webhooks_total{outcome="accepted",trigger="MESSAGE_DELIVERY"}`), 2.0, "delivered and read reports")
	assert.Equal(t, 1.0, seriesValue(out, `connector_messages_received_total{account_id="`+account+`",channel="WHATSAPP"}`))
	assert.Equal(t, 1.0, seriesValue(out, `connector_messages_sent_total{account_id="`+account+`",channel="WHATSAPP"}`))
	assert.Equal(t, 1.0, seriesValue(out, `connector_sends_total{error_class="none",status="accepted"}`))
	assert.Equal(t, 1.0, seriesValue(out, `connector_sends_total{error_class="none",status="delivered"}`))
	assert.Equal(t, 1.0, seriesValue(out, `connector_sends_total{error_class="none",status="read"}`))
	assert.Equal(t, -1.0, seriesValue(out, `connector_sends_total{error_class="none",status="failed"}`))
	assert.Equal(t, 1.0, seriesValue(out, fmt.Sprintf(`connector_queue_wait_seconds_count{queue_id="%d"}`, q.ID)))
	assert.Equal(t, 1.0, seriesValue(out, `connector_http_requests_total{code="202",method="POST",route="/api/interactions/:id/messages"}`))
	assert.Equal(t, 1.0, seriesValue(out, `connector_http_requests_total{code="201",method="POST",route="/api/whatsapp/accounts"}`))
	assert.GreaterOrEqual(t, seriesValue(out, `connector_http_requests_total{code="200",method="POST",route="/api/whatsapp/accounts/:id/notify"}`), 3.0)
	assert.Contains(t, out, `connector_http_request_duration_seconds_bucket{code="200",method="GET",route="/api/interactions/:id",le="+Inf"}`)
	assert.Contains(t, out, `connector_http_requests_total{code="401",method="GET",route="/metrics"} 1`)
	for _, series := range []string{
		"temporal_workflow_task_execution_latency_seconds_bucket{",
		"temporal_workflow_task_schedule_to_start_latency_seconds_bucket{",
		`temporal_local_activity_execution_latency_seconds_bucket{activity_type="SendOutbound"`, // a text's first send is local (decisions §22)
		"temporal_request_total{",
		"temporal_long_request_total{",
		"temporal_num_pollers{",
		"temporal_worker_task_slots_available{",
	} {
		assert.True(t, strings.Contains(out, series), "SDK series %s exported", series)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "temporal_") {
			names[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
		}
	}
	if t.Failed() {
		t.Logf("SDK series: %v", names)
	}
	for _, phone := range []string{customer, "390212345678", "+39"} {
		assert.NotContains(t, out, phone, "no phone number in /metrics")
	}

	// Logs: JSON lines with ids; the debug account's activities and raw
	// callbacks logged at LOG_LEVEL=info, redacted.
	raw := logs.String()
	for _, secret := range []string{webhookSecret, "ks-1-secret", cfg.AdminToken, bob.Token, e2eMetricsToken} {
		assert.NotContains(t, raw, secret, "no secret or token in the logs")
	}
	var notify, send, callback, ingest bool
	for _, l := range logs.lines(t) {
		switch {
		case l["msg"] == "http request" && l["path"] == fmt.Sprintf("/api/whatsapp/accounts/%d/notify", acc.ID) && l["workflow_id"] == it.WorkflowID:
			notify = true
			assert.NotEmpty(t, l["request_id"])
			assert.EqualValues(t, acc.ID, l["account_id"])
		case l["msg"] == "sending to Sinch":
			send = true
			assert.Equal(t, "DEBUG", l["level"])
			assert.Equal(t, it.WorkflowID, l["workflow_id"])
			assert.NotEmpty(t, l["run_id"])
			assert.Equal(t, "SendOutbound", l["activity_type"])
			assert.EqualValues(t, acc.ID, l["account_id"])
		case l["msg"] == "inbound ingested":
			ingest = true
			assert.Equal(t, "IngestInbound", l["activity_type"])
		case l["msg"] == "sinch callback (account debug on)":
			callback = true
			assert.NotEmpty(t, l["request_id"])
			headers, _ := l["headers"].(map[string]any)
			assert.Equal(t, "[REDACTED]", headers["X-Sinch-Webhook-Signature"])
		}
	}
	assert.True(t, notify, "a webhook request line names its account and workflow")
	assert.True(t, send, "the debug account's SendOutbound logs at debug level")
	assert.True(t, ingest, "the debug account's inbound is logged")
	assert.True(t, callback, "the debug account's raw callbacks are logged")
}
