package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/internal/freeport"
	"github.com/xcally-connector/connector/models"
)

// TestDemo runs what `connector dev --demo` prints: the emulator's customer
// says hello, Sinch-style signed callbacks reach the webhook the connector
// set up itself, and the interaction is assigned to the demo agent. A
// restart on the same data reuses the demo account and the emulator's
// persisted app (key rotated, webhook found right): the second hello joins
// the still-open interaction. A third start without --demo still serves
// the account: the emulator kept its app, key and webhook.
func TestDemo(t *testing.T) {
	cfg := devConfig(t, models.SQLite)
	cfg.TemporalDBPath = t.TempDir() + "/temporal.db"
	// Fixed addresses across the restarts, as dev's defaults are: the
	// account's baseUrl and the webhook's target stay valid.
	for _, addr := range []*string{&cfg.HTTPAddr, &cfg.EmulatorAddr} {
		port, err := freeport.Pick("127.0.0.1")
		require.NoError(t, err)
		*addr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	var demo *app.Demo
	for round := 1; round <= 3; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		d, err := app.StartDev(ctx, cfg, cfg.NewLogger(os.Stderr))
		require.NoError(t, err)
		if round < 3 {
			demo, err = d.SetupDemo(ctx)
			require.NoError(t, err, "round %d", round)
			if round == 1 {
				assert.Equal(t, 1, demo.WebhookChanges, "the first start creates the demo app's webhook")
			} else {
				assert.Zero(t, demo.WebhookChanges, "a restart finds the persisted webhook right")
			}
			// The printed agent token is the demo agent's (new, or rotated
			// on a restart): the console's sign-in checks it with whoami.
			req, _ := http.NewRequest(http.MethodGet, d.APIURL()+"/api/whoami", nil)
			req.Header.Set("Authorization", "Bearer "+demo.AgentToken)
			r, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			var who api.Whoami
			require.NoError(t, json.NewDecoder(r.Body).Decode(&who))
			_ = r.Body.Close()
			assert.Equal(t, api.Whoami{AgentID: demo.AgentID, Name: "Demo Agent"}, who, "round %d", round)
		}
		// The account's key works against the emulator's app: what Sinch
		// says about it is read live.
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/whatsapp/accounts/%d/sinch", d.APIURL(), demo.AccountID), nil)
		req.Header.Set("Authorization", "Bearer "+cfg.AdminToken)
		r, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var view api.SinchSetupResponse
		require.NoError(t, json.NewDecoder(r.Body).Decode(&view))
		_ = r.Body.Close()
		require.Equal(t, http.StatusOK, r.StatusCode, "round %d", round)
		require.Len(t, view.Webhooks, 1, "round %d", round)
		assert.Equal(t, "matches", view.Webhooks[0].Secret, "round %d", round)
		assert.Empty(t, view.Webhooks[0].MissingTriggers, "round %d", round)

		body, _ := json.Marshal(map[string]string{"from": app.DemoCustomer, "text": fmt.Sprintf("Hello %d", round)})
		resp, err := http.Post(fmt.Sprintf("%s/emulator/apps/%s/inbound", d.EmulatorURL, demo.AppID), "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode)

		require.Eventually(t, func() bool {
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/interactions?accountId=%d&status=assigned", d.APIURL(), demo.AccountID), nil)
			req.Header.Set("Authorization", "Bearer "+cfg.AdminToken)
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			defer func() { _ = r.Body.Close() }()
			var list api.InteractionList
			if json.NewDecoder(r.Body).Decode(&list) != nil || len(list.Items) != 1 {
				return false
			}
			it := list.Items[0]
			if it.AgentID == nil || *it.AgentID != demo.AgentID || it.Contact.Identity != app.DemoCustomer {
				return false
			}
			var n int64
			require.NoError(t, d.DB.Model(&models.Message{}).Where("interaction_id = ?", it.ID).Count(&n).Error)
			return n == int64(round)
		}, 30*time.Second, 100*time.Millisecond, "round %d: the demo interaction is assigned to the demo agent", round)

		var accounts int64
		require.NoError(t, d.DB.Model(&models.Account{}).Count(&accounts).Error)
		assert.EqualValues(t, 1, accounts, "round %d: the demo account is reused", round)
		d.Stop()
		cancel()
	}
}
