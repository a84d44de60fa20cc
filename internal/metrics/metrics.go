// Package metrics owns the connector's Prometheus registry: the Temporal
// SDK's metrics (through the SDK's OpenTelemetry contrib and the
// OpenTelemetry Prometheus exporter), HTTP request metrics and the business
// counters of the webhook, sends, routing, media and migrations, the last
// retention run, and the sampled gauges of sampled.go (free disk, policy
// streaks, task queue backlog).
//
// Every recording method is safe on a nil *Metrics, so code and tests that
// do not care about metrics leave the field unset. Label values are bounded:
// account and queue ids (admin-configured), channels, triggers, statuses and
// error classes; never phone numbers, identities, message ids or free text.
package metrics

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Namespace prefixes the connector's own series (the SDK's are temporal_).
const Namespace = "connector"

// Bounded stand-ins for label values that are unknown or absent.
const (
	// Unmatched is the route of a request no registered route matched.
	Unmatched = "unmatched"
	// None is the error class of a successful send and the queue of an
	// interaction assigned outside any queue.
	None = "none"
)

// Metrics is the registry and every series the connector records.
type Metrics struct {
	// Registry holds the connector's, the SDK's and the Go runtime's series.
	Registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	temporal client.MetricsHandler

	httpRequests  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
	webhooks      *prometheus.CounterVec
	messagesIn    *prometheus.CounterVec
	messagesOut   *prometheus.CounterVec
	sends         *prometheus.CounterVec
	queueWait     *prometheus.HistogramVec
	mediaBytes    *prometheus.CounterVec
	mediaFailures *prometheus.CounterVec
	migrations    *prometheus.CounterVec
	retention     *prometheus.GaugeVec
}

// latencyBuckets (seconds) suit HTTP handlers and Temporal's task and
// activity latencies alike, from a millisecond to a long poll.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// queueBuckets (seconds) go from an instant assignment to a day in queue.
var queueBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600}

// New builds a registry with every series and the SDK's metrics handler.
func New() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	// The exporter adds unit suffixes (_seconds) and _total to counters;
	// scope labels and target_info would only repeat "temporal-sdk-go".
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, err
	}
	// The SDK's timers are histograms in seconds: OpenTelemetry's default
	// buckets (0 to 10000) are meant for milliseconds.
	seconds := sdkmetric.NewView(
		sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: latencyBuckets}},
	)
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithView(seconds))
	m := &Metrics{
		Registry: reg,
		provider: provider,
		temporal: temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
			Meter:                provider.Meter("temporal-sdk-go"),
			UseMonotonicCounters: true,
			// A metrics failure must never take a worker down.
			OnError: func(error) {},
		}),
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		reg.MustRegister(c)
		return c
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
		reg.MustRegister(h)
		return h
	}
	m.httpRequests = counter("http_requests_total", "HTTP requests served, by method, route template and status code.", "method", "route", "code")
	m.httpDuration = histogram("http_request_duration_seconds", "Latency of HTTP requests, by method, route template and status code.", latencyBuckets, "method", "route", "code")
	m.webhooks = counter("webhooks_total", "Sinch callbacks received, by trigger and outcome (accepted, ignored, duplicate, bad_signature, unknown_account, decode_error, app_mismatch, unavailable, error).", "trigger", "outcome")
	m.messagesIn = counter("messages_received_total", "Contact messages accepted by the webhook, by account and channel.", "account_id", "channel")
	m.messagesOut = counter("messages_sent_total", "Outbound messages accepted by Sinch, by account and channel.", "account_id", "channel")
	m.sends = counter("sends_total", "Outbound messages reaching a status (accepted, delivered, read, failed), by error class (none unless failed); each message counts once per status.", "status", "error_class")
	m.queueWait = histogram("queue_wait_seconds", "Time from an interaction's opening to its assignment to an agent out of a queue, by queue.", queueBuckets, "queue_id")
	m.mediaBytes = counter("media_bytes_total", "Attachment bytes: in = customers' files fetched and stored, out = agents' files sent through Sinch.", "direction")
	m.mediaFailures = counter("media_failures_total", "Attachment failures, by direction and reason (in: disk_low, refused, transient, cancelled; out: deleted).", "direction", "reason")
	m.migrations = counter("migrations_total", "Account migrations entering a state, by state.", "state")
	// No labels, yet a vector: the series appears with the first success,
	// so a process that never ran retention does not claim it ran in 1970.
	m.retention = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "retention_last_success_timestamp_seconds",
		Help: "Unix time of the last retention run (RetentionWorkflow's Prune) that this process completed."}, nil)
	reg.MustRegister(m.retention)
	return m, nil
}

// TemporalHandler is the SDK metrics handler of client.Options; nil gives
// the SDK's no-op handler.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	if m == nil {
		return nil
	}
	return m.temporal
}

// Handler serves the registry in the Prometheus text format. A non-empty
// token requires `Authorization: Bearer <token>`.
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
	if token == "" {
		return h
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), want) != 1 {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthorized","message":"/metrics needs Authorization: Bearer <METRICS_TOKEN>"}}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Shutdown flushes and stops the SDK's meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error {
	if m == nil {
		return nil
	}
	return m.provider.Shutdown(ctx)
}

// HTTPRequest records one served request; route is the route template
// (Unmatched when none matched).
func (m *Metrics) HTTPRequest(method, route string, code int, took time.Duration) {
	if m == nil {
		return
	}
	c := strconv.Itoa(code)
	m.httpRequests.WithLabelValues(method, route, c).Inc()
	m.httpDuration.WithLabelValues(method, route, c).Observe(took.Seconds())
}

// Webhook outcomes.
const (
	WebhookAccepted       = "accepted"
	WebhookIgnored        = "ignored"
	WebhookDuplicate      = "duplicate"
	WebhookBadSignature   = "bad_signature"
	WebhookUnknownAccount = "unknown_account"
	WebhookDecodeError    = "decode_error"
	WebhookAppMismatch    = "app_mismatch"
	WebhookUnavailable    = "unavailable"
	WebhookError          = "error"
)

// Webhook records one callback; trigger is Sinch's (a bounded set) or
// "UNKNOWN" when the callback was refused before it was decoded.
func (m *Metrics) Webhook(trigger, outcome string) {
	if m == nil {
		return
	}
	if trigger == "" {
		trigger = "UNKNOWN"
	}
	m.webhooks.WithLabelValues(trigger, outcome).Inc()
}

// MessageIn records a contact message accepted for an account.
func (m *Metrics) MessageIn(accountID uint64, channel string) {
	if m == nil {
		return
	}
	m.messagesIn.WithLabelValues(strconv.FormatUint(accountID, 10), channel).Inc()
}

// MessageOut records an outbound message Sinch accepted.
func (m *Metrics) MessageOut(accountID uint64, channel string) {
	if m == nil {
		return
	}
	m.messagesOut.WithLabelValues(strconv.FormatUint(accountID, 10), channel).Inc()
}

// Send records an outbound message reaching status; errorClass is the
// failure class of a failed one ("" for the others).
func (m *Metrics) Send(status, errorClass string) {
	if m == nil {
		return
	}
	if errorClass == "" {
		errorClass = None
	}
	m.sends.WithLabelValues(status, errorClass).Inc()
}

// QueueWait records how long an interaction waited for an agent; queueID 0
// is an assignment outside any queue.
func (m *Metrics) QueueWait(queueID uint64, wait time.Duration) {
	if m == nil {
		return
	}
	q := None
	if queueID != 0 {
		q = strconv.FormatUint(queueID, 10)
	}
	m.queueWait.WithLabelValues(q).Observe(max(wait, 0).Seconds())
}

// MediaBytes adds n attachment bytes in direction "in" or "out".
func (m *Metrics) MediaBytes(direction string, n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.mediaBytes.WithLabelValues(direction).Add(float64(n))
}

// MediaFailure records an attachment failure with a bounded reason.
func (m *Metrics) MediaFailure(direction, reason string) {
	if m == nil {
		return
	}
	m.mediaFailures.WithLabelValues(direction, reason).Inc()
}

// Migration records a migration entering state.
func (m *Metrics) Migration(state string) {
	if m == nil {
		return
	}
	m.migrations.WithLabelValues(state).Inc()
}

// RetentionRun records a retention run that completed at.
func (m *Metrics) RetentionRun(at time.Time) {
	if m == nil {
		return
	}
	m.retention.WithLabelValues().Set(float64(at.UnixNano()) / 1e9)
}
