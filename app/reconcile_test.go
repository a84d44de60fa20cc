package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
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

// TestReconcileRecoversGivenUpCallbacks: the connector is unreachable,
// Sinch (the emulator, without retries) gives 50 inbound callbacks up;
// a reconciliation stores exactly those 50, and a second one stores none.
func TestReconcileRecoversGivenUpCallbacks(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			s, start := givenUp(t, engine, 50)

			var e api.ErrorBody
			assert.Equal(t, http.StatusBadRequest, s.call(http.MethodPost, fmt.Sprintf("/api/whatsapp/accounts/%d/reconcile", s.account), s.cfg.AdminToken, map[string]any{}, &e))
			assert.Equal(t, "invalid_range", e.Error.Code)
			assert.Equal(t, http.StatusBadRequest, s.call(http.MethodPost, fmt.Sprintf("/api/whatsapp/accounts/%d/reconcile", s.account), s.cfg.AdminToken,
				map[string]any{"from": time.Now(), "to": time.Now().Add(-time.Hour)}, &e))
			assert.Equal(t, http.StatusNotFound, s.call(http.MethodPost, "/api/whatsapp/accounts/99999/reconcile", s.cfg.AdminToken, map[string]any{"from": start}, &e))
			assert.Equal(t, http.StatusForbidden, s.call(http.MethodPost, fmt.Sprintf("/api/whatsapp/accounts/%d/reconcile", s.account), s.agents["bob"].Token, map[string]any{"from": start}, &e))

			run := func() api.ReconcileResponse {
				var started api.ReconcileResponse
				s.admin(http.MethodPost, fmt.Sprintf("/api/whatsapp/accounts/%d/reconcile", s.account), map[string]any{"from": start}, &started, http.StatusAccepted)
				assert.Equal(t, "running", started.Status)
				var got api.ReconcileResponse
				require.Eventually(t, func() bool {
					s.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d/reconcile/%s", s.account, started.ID), nil, &got, http.StatusOK)
					return got.Status != "running"
				}, 30*time.Second, 50*time.Millisecond)
				require.Equal(t, "completed", got.Status, got.Error)
				got.WorkflowID = started.WorkflowID
				return got
			}
			first := run()
			require.NotNil(t, first.Result)
			assert.Equal(t, 50, first.Result.Listed)
			assert.Equal(t, 50, first.Result.Missing)
			require.Eventually(t, func() bool { return countRows(t, s.dev, &models.Message{}) == 50 }, 30*time.Second, 50*time.Millisecond, "all 50 stored")
			assert.Len(t, s.interactions(""), 10, "one interaction per contact")
			received := fmt.Sprintf(`connector_messages_received_total{account_id="%d",channel="WHATSAPP"}`, s.account)
			_, out := scrapeMetrics(t, s.dev.APIURL(), "")
			assert.EqualValues(t, 50, seriesValue(out, received), "recovered messages count as received")

			second := run()
			assert.Equal(t, 50, second.Result.Listed)
			assert.Equal(t, 0, second.Result.Missing, "nothing is handed over twice")
			time.Sleep(300 * time.Millisecond)
			assert.EqualValues(t, 50, countRows(t, s.dev, &models.Message{}), "none stored twice")
			_, out = scrapeMetrics(t, s.dev.APIURL(), "")
			assert.EqualValues(t, 50, seriesValue(out, received), "none counted twice")
			if engine == models.SQLite {
				saveHistory(t, s.dev, first.WorkflowID, "reconcile.json")
			}
		})
	}
}

// givenUp starts a stack whose Sinch app (an emulator without retries)
// posts its callbacks where nothing listens, and makes n customer messages
// from 10 contacts whose callbacks are given up. It returns the stack and
// a time before the first message.
func givenUp(t *testing.T, engine models.Engine, n int) (*stack, time.Time) {
	t.Helper()
	s := newStack(t, engine, "round_robin", "bob")
	em := emulator.New(emulator.Options{RetrySchedule: []time.Duration{}})
	emURL, err := em.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = em.Close() })
	require.NoError(t, em.CreateApp(emulator.App{AppID: appID, ProjectID: "proj-1", Region: "eu", ProcessingMode: "CONVERSATION",
		WebhookURL: "http://127.0.0.1:1/api/whatsapp/accounts/1/notify", WebhookSecret: webhookSecret, KeyID: "key-1", KeySecret: "ks-1"}))
	s.admin(http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", s.account), map[string]any{
		"baseUrl": emURL, "authUrl": emURL + "/oauth2/token"}, nil, http.StatusOK)
	start := time.Now().Add(-time.Minute)
	for i := 0; i < n; i++ {
		_, err := em.SendInbound(appID, emulator.Inbound{From: fmt.Sprintf("39335000%04d", i%10), Text: fmt.Sprintf("lost %02d", i)})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return len(em.CallbackAttempts(appID)) >= n }, 20*time.Second, 20*time.Millisecond, "every callback was tried once and given up")
	require.EqualValues(t, 0, countRows(t, s.dev, &models.Message{}))
	return s, start
}

// TestOutageAtStartUpIsReconciled: the webhook's heartbeat is an hour old
// (no API served callbacks meanwhile): at start-up every account is
// reconciled over the gap, once per gap.
func TestOutageAtStartUpIsReconciled(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			s, _ := givenUp(t, engine, 20)
			ctx := context.Background()
			log := s.cfg.NewLogger(os.Stderr)
			var hb models.Heartbeat
			require.NoError(t, s.dev.DB.Take(&hb, "name = ?", "webhook").Error, "the running stack beats")
			assert.WithinDuration(t, time.Now(), hb.SeenAt, time.Minute)
			since, n, err := app.RecoverOutage(ctx, s.dev.DB, s.dev.Client, s.cfg, log)
			require.NoError(t, err)
			assert.Zero(t, n, "no outage while the heartbeat is fresh")
			assert.True(t, since.IsZero())

			down := time.Now().Add(-time.Hour).UTC()
			require.NoError(t, s.dev.DB.Model(&models.Heartbeat{}).Where("name = ?", "webhook").Update("seen_at", down).Error)
			since, n, err = app.RecoverOutage(ctx, s.dev.DB, s.dev.Client, s.cfg, log)
			require.NoError(t, err)
			assert.Equal(t, 1, n, "one reconciliation per account")
			assert.WithinDuration(t, down, since, time.Millisecond)
			require.Eventually(t, func() bool { return countRows(t, s.dev, &models.Message{}) == 20 }, 30*time.Second, 50*time.Millisecond, "the gap's messages are stored")
			_, n, err = app.RecoverOutage(ctx, s.dev.DB, s.dev.Client, s.cfg, log)
			require.NoError(t, err)
			assert.Zero(t, n, "a replica starting later does not reconcile the same gap again")
			time.Sleep(300 * time.Millisecond)
			assert.EqualValues(t, 20, countRows(t, s.dev, &models.Message{}))
		})
	}
}
