package app_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/models"
)

// TestDevSSEWokenByNotifyOnPostgres: the dev stack on Postgres wires the
// LISTEN/NOTIFY listener into its API, so an event stored by the worker's
// side of the process reaches the stream well before the 5 s safety poll.
func TestDevSSEWokenByNotifyOnPostgres(t *testing.T) {
	cfg := devConfig(t, models.Postgres)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := app.StartDev(ctx, cfg, cfg.NewLogger(os.Stderr))
	require.NoError(t, err)
	defer d.Stop()
	ag := models.Agent{Name: "ann", TokenHash: fmt.Sprintf("%064d", 1)}
	require.NoError(t, d.DB.Create(&ag).Error)

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/agents/%d/events", d.APIURL(), ag.ID), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+cfg.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	require.Contains(t, <-lines, "stream of agent")

	for i := range 5 {
		// The stream polls every 5 s: five deliveries under 1 s each are
		// not the poll's luck (1 in 3000).
		start := time.Now()
		require.NoError(t, d.DB.Create(&models.AgentEvent{AgentID: ag.ID, Type: "message.inbound", Data: "{}", DedupKey: fmt.Sprintf("dev-sse-%d", i)}).Error)
		deadline := time.After(time.Second)
	read:
		for {
			select {
			case l := <-lines:
				if strings.HasPrefix(l, "event: message.inbound") {
					t.Logf("delivered in %s", time.Since(start))
					break read
				}
			case <-deadline:
				t.Fatalf("event %d not delivered within 1s", i)
			}
		}
	}
}
