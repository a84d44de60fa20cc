package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/deploy/observability"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch/emulator"
	"github.com/xcally-connector/connector/workflows"
)

// TestDashboardAndAlertsReadExportedSeries drives the dev stack (one
// registry: the API's and the worker's series on one /metrics) through a
// customer message, a reply delivered and read after a 429, a reply
// refused by Meta's policy, a customer's file refused and a retention run, then checks that every series and label the
// alert rules and the dashboard of deploy/observability read is exported,
// but for observability.NotExported. A metric or label renamed in the code
// and not in those files fails here. SQLite only: the series do not depend
// on the database engine.
func TestDashboardAndAlertsReadExportedSeries(t *testing.T) {
	queries, err := observability.Queries("../deploy/observability")
	require.NoError(t, err)
	uses, err := observability.Uses(queries)
	require.NoError(t, err)
	require.NotEmpty(t, uses)

	s := newReplyStack(t, models.SQLite, nil)
	bob := s.agents["bob"]
	it := s.hello("393330000101")
	// Two 429s: the local send, then the regular SendOutbound activity,
	// whose retry goes through the task queue. Activities dispatched
	// eagerly with their workflow task (the server's default) record no
	// schedule-to-start latency; a retried one does.
	require.NoError(t, s.em.AddFault(appID, emulator.Fault{HTTPStatus: http.StatusTooManyRequests, RetryAfterSeconds: 1, Times: 2}))
	var ok, refused api.MessageResponse
	require.Equal(t, http.StatusAccepted, s.reply(it, bob.Token, map[string]string{"text": "delivered"}, &ok))
	s.waitStatus(it.ID, ok.ID, "read")
	require.NoError(t, s.em.AddFault(appID, emulator.Fault{ReasonCode: "RECIPIENT_NOT_OPTED_IN", Times: 1}))
	require.Equal(t, http.StatusAccepted, s.reply(it, bob.Token, map[string]string{"text": "refused"}, &refused))
	s.waitStatus(it.ID, refused.ID, "failed")
	// A file on a loopback address other than the emulator's is refused
	// by the fetch address policy: a media failure.
	_, err = s.em.SendInbound(appID, emulator.Inbound{From: "393330000101", MediaURL: s.dev.APIURL() + "/healthz"})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.dev.Client.ScheduleClient().GetHandle(ctx, workflows.RetentionScheduleID).Trigger(ctx, client.ScheduleTriggerOptions{}))

	// The retention run and some SDK series (schedule-to-start, slots)
	// arrive asynchronously: scrape until nothing is missing.
	var out string
	var missing []string
	assert.Eventually(t, func() bool {
		var code int
		code, out = scrapeMetrics(t, s.dev.APIURL(), "")
		if code != http.StatusOK {
			return false
		}
		exported, err := observability.Exported(strings.NewReader(out))
		require.NoError(t, err)
		missing = observability.Missing(uses, exported)
		return len(missing) == 0
	}, 30*time.Second, 250*time.Millisecond, "every series the rules and the dashboard read is exported")
	for _, m := range missing {
		t.Error(m)
	}

	// The sampled gauges carry this stack's facts.
	account := fmt.Sprint(s.account)
	assert.Equal(t, 1.0, seriesValue(out, `connector_account_policy_failure_streak{account_id="`+account+`"}`), "one policy failure since the last delivery")
	assert.Equal(t, 1.0, seriesValue(out, `connector_sends_total{error_class="policy",status="failed"}`))
	assert.GreaterOrEqual(t, seriesValue(out, `connector_task_queue_backlog{task_queue="`+s.cfg.TemporalTaskQueue+`",type="workflow"}`), 0.0)
	assert.GreaterOrEqual(t, seriesValue(out, `connector_task_queue_backlog{task_queue="`+s.cfg.TemporalTaskQueue+`",type="activity"}`), 0.0)
	assert.Positive(t, seriesValue(out, "connector_media_free_bytes"))
	assert.Equal(t, float64(1<<20), seriesValue(out, "connector_media_min_free_bytes"), "MEDIA_MIN_FREE_BYTES=1M")
	assert.InDelta(t, float64(time.Now().Unix()), seriesValue(out, "connector_retention_last_success_timestamp_seconds"), 60)
	assert.Equal(t, 1.0, seriesValue(out, `connector_media_failures_total{direction="in",reason="refused"}`))
}
