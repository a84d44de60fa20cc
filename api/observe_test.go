package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/logctx"
	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/workflows"
)

// logSink collects the JSON log lines of one test server.
type logSink struct {
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) { return l.buf.Write(p) }

func (l *logSink) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m)
	}
	return out
}

type observeEnv struct {
	e       *echo.Echo
	m       *metrics.Metrics
	logs    *logSink
	quiet   models.Account
	verbose models.Account
	// sigs are the signatures sent.
	sigs []string
}

const metricsToken = "metrics-token-0123456789"

// newObserveEnv serves two accounts with a webhook secret, one of them with
// its debug flag on, logging JSON at info level like production.
func newObserveEnv(t *testing.T) *observeEnv {
	t.Helper()
	db := testdb.Open(t, models.SQLite)
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	env := &observeEnv{logs: &logSink{}}
	for i, acc := range []*models.Account{&env.quiet, &env.verbose} {
		*acc = models.Account{Name: fmt.Sprint("Acme ", i), Key: fmt.Sprint("acme-", i), PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
			Region: models.RegionEU, ProjectID: "p", AppID: "01HAPP", KeyID: "k", Phone: "+390212345678", Channels: "WHATSAPP", Debug: i == 1}
		require.NoError(t, db.Create(acc).Error)
		acc.WebhookSecretEnc, err = box.Seal(fixtureSecret, secretbox.AccountAAD(acc.ID, "webhook_secret"))
		require.NoError(t, err)
		require.NoError(t, db.Save(acc).Error)
	}
	env.m, err = metrics.New()
	require.NoError(t, err)
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}), slog.LevelInfo))
	env.e = api.New(api.Deps{DB: db, Temporal: &recordingTemporal{}, Secrets: box, AdminToken: adminToken, TaskQueue: "q", Logger: log,
		Conversations: workflows.ConversationSettings{InactivityTimeout: time.Hour, RoutingRecheck: time.Second},
		Metrics:       env.m, MetricsToken: metricsToken})
	return env
}

func (o *observeEnv) post(t *testing.T, accountID uint64, body []byte, nonce string, mutate func(http.Header)) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/api/whatsapp/accounts/%d/notify", accountID), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer should-never-be-logged")
	sinch.SetSignatureHeaders(req.Header, fixtureSecret, body, nonce, time.Now())
	if mutate != nil {
		mutate(req.Header)
	}
	o.sigs = append(o.sigs, req.Header.Get(sinch.HeaderSignature))
	rec := httptest.NewRecorder()
	o.e.ServeHTTP(rec, req)
	return rec.Code
}

func (o *observeEnv) scrape(t *testing.T) string {
	t.Helper()
	rec := do(o.e, http.MethodGet, "/metrics", "", map[string]string{"Authorization": "Bearer " + metricsToken})
	require.Equal(t, http.StatusOK, rec.Code)
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

// An account whose debug flag is on logs its raw callbacks at debug level,
// even at LOG_LEVEL=info, with every credential redacted; another account
// logs no body at all.
func TestAccountDebugLogsTheRedactedCallback(t *testing.T) {
	o := newObserveEnv(t)
	require.Equal(t, http.StatusOK, o.post(t, o.quiet.ID, waText("01HQUIET", "393330000001", "CONVERSATION"), "nonce-quiet", nil))
	require.Equal(t, http.StatusOK, o.post(t, o.verbose.ID, waText("01HLOUD", "393330000002", "CONVERSATION"), "nonce-loud", nil))

	raw := o.logs.buf.String()
	var debugLines []map[string]any
	for _, l := range o.logs.lines(t) {
		if l["level"] == "DEBUG" {
			debugLines = append(debugLines, l)
			assert.EqualValues(t, o.verbose.ID, l["account_id"], "only the debug account logs at debug: %v", l)
		}
	}
	require.NotEmpty(t, debugLines)
	first := debugLines[0]
	assert.Equal(t, "sinch callback (account debug on)", first["msg"])
	assert.Contains(t, first["body"], "01HLOUD", "the raw callback is logged")
	assert.NotEmpty(t, first["request_id"])
	headers, ok := first["headers"].(map[string]any)
	require.True(t, ok, "headers logged as an object: %v", first["headers"])
	assert.Equal(t, logctx.Redacted, headers[http.CanonicalHeaderKey(sinch.HeaderSignature)])
	assert.Equal(t, logctx.Redacted, headers["Authorization"])

	assert.NotContains(t, raw, "01HQUIET", "an account without debug logs no callback body")
	assert.NotContains(t, raw, "should-never-be-logged")
	assert.NotContains(t, raw, fixtureSecret)
	require.Len(t, o.sigs, 2)
	for _, sig := range o.sigs {
		require.NotEmpty(t, sig)
		assert.NotContains(t, raw, sig, "no signature in the logs")
	}
}

// Every JSON request line carries its request id, and account routes their
// account id.
func TestRequestLogLinesCarryIDs(t *testing.T) {
	o := newObserveEnv(t)
	require.Equal(t, http.StatusOK, o.post(t, o.quiet.ID, waText("01HM1", "393330000001", "CONVERSATION"), "n-1", nil))
	var found bool
	for _, l := range o.logs.lines(t) {
		if l["msg"] != "http request" {
			continue
		}
		found = true
		assert.NotEmpty(t, l["request_id"])
		assert.EqualValues(t, o.quiet.ID, l["account_id"])
		assert.Equal(t, 1, strings.Count(o.logs.buf.String(), `"request_id"`), "request_id once per line")
	}
	assert.True(t, found, "a request line was logged:\n%s", o.logs.buf.String())
}

func TestWebhookAndHTTPMetrics(t *testing.T) {
	o := newObserveEnv(t)
	body := waText("01HM1", "393330000001", "CONVERSATION")
	require.Equal(t, http.StatusOK, o.post(t, o.quiet.ID, body, "n-1", nil))
	require.Equal(t, http.StatusUnauthorized, o.post(t, o.quiet.ID, body, "n-1", nil), "replayed nonce")
	require.Equal(t, http.StatusUnauthorized, o.post(t, o.quiet.ID, body, "n-2", func(h http.Header) { h.Set(sinch.HeaderNonce, "n-3") }))
	require.Equal(t, http.StatusNotFound, o.post(t, 999, body, "n-4", nil))
	require.Equal(t, http.StatusBadRequest, o.post(t, o.quiet.ID, []byte(`{"app_id":"01HAPP","message":{}}`), "n-5", nil))
	require.Equal(t, http.StatusOK, o.post(t, o.quiet.ID, []byte(`{"app_id":"01HAPP","conversation_start_notification":{}}`), "n-6", nil))
	require.Equal(t, http.StatusNotFound, do(o.e, http.MethodGet, "/no/such/path/393330000001", "", nil).Code)

	rec := do(o.e, http.MethodGet, "/metrics", "", nil)
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "METRICS_TOKEN is required when set")

	out := o.scrape(t)
	for _, want := range []string{
		`connector_webhooks_total{outcome="accepted",trigger="MESSAGE_INBOUND"} 1`,
		`connector_webhooks_total{outcome="duplicate",trigger="UNKNOWN"} 1`,
		`connector_webhooks_total{outcome="bad_signature",trigger="UNKNOWN"} 1`,
		`connector_webhooks_total{outcome="unknown_account",trigger="UNKNOWN"} 1`,
		`connector_webhooks_total{outcome="decode_error",trigger="MESSAGE_INBOUND"} 1`,
		`connector_webhooks_total{outcome="ignored",trigger="CONVERSATION_START"} 1`,
		fmt.Sprintf(`connector_messages_received_total{account_id="%d",channel="WHATSAPP"} 1`, o.quiet.ID),
		`connector_http_requests_total{code="200",method="POST",route="/api/whatsapp/accounts/:id/notify"} 2`,
		`connector_http_requests_total{code="401",method="POST",route="/api/whatsapp/accounts/:id/notify"} 2`,
		`connector_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`connector_http_requests_total{code="401",method="GET",route="/metrics"} 1`,
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "393330000001", "no phone number in the metrics")
	assert.NotContains(t, out, "/no/such/path")
}
