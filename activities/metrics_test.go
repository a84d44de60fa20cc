package activities_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/models/testdb"
)

func scrapeText(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler("").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

// A send and a failure count once each, however often the activity runs.
func TestSendMetricsCountOnce(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			w := newOutWorld(t, engine)
			m, err := metrics.New()
			require.NoError(t, err)
			w.acts.Metrics = m

			sent, _ := w.reply("Hello from Ann")
			_, err = w.send(sent, 1)
			require.NoError(t, err)
			_, err = w.send(sent, 1)
			require.NoError(t, err, "a repeated send adopts the first")

			failed, _ := w.reply("refused")
			in := activities.RecordOutboundFailureInput{MessageID: failed.ID, Failure: activities.ClassifyReason("RECIPIENT_NOT_OPTED_IN", "", ""), Attempts: 1}
			require.NoError(t, w.acts.RecordOutboundFailure(context.Background(), in))
			require.NoError(t, w.acts.RecordOutboundFailure(context.Background(), in))

			out := scrapeText(t, m)
			assert.Contains(t, out, fmt.Sprintf(`connector_messages_sent_total{account_id="%d",channel="WHATSAPP"} 1`, w.acc.ID))
			assert.Contains(t, out, `connector_sends_total{error_class="none",status="accepted"} 1`)
			assert.Contains(t, out, `connector_sends_total{error_class="policy",status="failed"} 1`)
		})
	}
}
