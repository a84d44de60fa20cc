package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

// devConfig is the dev configuration on free ports in a temporary data dir,
// with the app database on engine.
func devConfig(t *testing.T, engine models.Engine) *config.Config {
	t.Helper()
	dir := t.TempDir()
	vars := map[string]string{
		"DATA_DIR":         dir,
		"TEMPORAL_ADDRESS": "127.0.0.1:0",
		"TEMPORAL_UI_ADDR": "127.0.0.1:0",
		"EMULATOR_ADDR":    "127.0.0.1:0",
		"HTTP_ADDR":        "127.0.0.1:0",
		"SHUTDOWN_TIMEOUT": "5s",
		"LOG_LEVEL":        "warn",
		// The disk-space guard is tested on its own (testDiskGuard).
		"MEDIA_MIN_FREE_BYTES": "1M",
	}
	if engine == models.Postgres {
		vars["DATABASE_URL"] = testdb.PostgresDSN(t)
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	require.NoError(t, err)
	require.NoError(t, cfg.Validate(config.RoleDev))
	return cfg
}

func getJSON(t *testing.T, url, token string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(body, out), string(body))
	}
	return resp.StatusCode
}

// TestDevStackEndToEnd runs the real embedded engine, worker and API: ready,
// a workflow round trip through the worker to the database, then Temporal
// stops and /readyz names it.
func TestDevStackEndToEnd(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			cfg := devConfig(t, engine)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			d, err := app.StartDev(ctx, cfg, cfg.NewLogger(os.Stderr))
			require.NoError(t, err)
			defer d.Stop()

			var h api.HealthResponse
			require.Equal(t, http.StatusOK, getJSON(t, d.APIURL()+"/readyz", "", &h))
			assert.Equal(t, "ok", h.Status)

			var diag api.DiagnosticsResponse
			require.Equal(t, http.StatusOK, getJSON(t, d.APIURL()+"/api/diagnostics", cfg.AdminToken, &diag))
			assert.Equal(t, string(engine), diag.Engine, "the worker reached the configured database")
			assert.Equal(t, models.LatestMigration(), diag.SchemaVersion)
			assert.NotEmpty(t, diag.WorkerIdentity)
			if engine == models.SQLite {
				saveHistory(t, d, diag.WorkflowID, "diagnostics.json")
			}

			var apiErr api.ErrorBody
			assert.Equal(t, http.StatusUnauthorized, getJSON(t, d.APIURL()+"/api/diagnostics", "", &apiErr))

			resp, err := http.Get(d.Temporal.UIURL())
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, "Temporal Web UI")

			d.Temporal.Stop()
			h = api.HealthResponse{}
			require.Equal(t, http.StatusServiceUnavailable, getJSON(t, d.APIURL()+"/readyz", "", &h))
			assert.Equal(t, []string{"temporal"}, h.Failing, "readyz names Temporal and only Temporal")
			assert.Equal(t, "ok", h.Checks["database"])
		})
	}
}

// saveHistory writes a workflow's history to workflows/testdata for the
// replay test when UPDATE_REPLAY_HISTORIES=1 (run after a change that is
// meant to alter the command sequence, together with a GetVersion gate).
func saveHistory(t *testing.T, d *app.Dev, workflowID, file string) {
	t.Helper()
	if os.Getenv("UPDATE_REPLAY_HISTORIES") != "1" {
		return
	}
	iter := d.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	// Stored in clear: the replay test has no codec key, and clear
	// payloads replay under the codec too.
	codec, err := d.PIICodec()
	require.NoError(t, err)
	require.NoError(t, proxy.VisitPayloads(context.Background(), hist, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return codec.Decode(p)
		},
	}))
	raw, err := protojson.Marshal(hist)
	require.NoError(t, err)
	// protojson varies its spacing on purpose; re-indent for stable files.
	var buf bytes.Buffer
	require.NoError(t, json.Indent(&buf, raw, "", "  "))
	b := buf.Bytes()
	require.NoError(t, os.WriteFile(filepath.Join("..", "workflows", "testdata", file), b, 0o644))
}
