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
	"github.com/xcally-connector/connector/models"
)

// TestDemo runs what `connector dev --demo` prints: the emulator's customer
// says hello, Sinch-style signed callbacks reach the webhook, and the
// interaction is assigned to the demo agent. A restart on the same data
// reuses the demo account and still works (secrets rotated): the second
// hello joins the still-open interaction.
func TestDemo(t *testing.T) {
	cfg := devConfig(t, models.SQLite)
	cfg.TemporalDBPath = t.TempDir() + "/temporal.db"
	for round := 1; round <= 2; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		d, err := app.StartDev(ctx, cfg, cfg.NewLogger(os.Stderr))
		require.NoError(t, err)
		demo, err := d.SetupDemo(ctx)
		require.NoError(t, err, "round %d", round)

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
