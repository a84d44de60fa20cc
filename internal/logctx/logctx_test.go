package logctx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func jsonLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m)
	}
	return out
}

func TestHandlerLevelsAndForcedDebug(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), slog.LevelInfo))

	log.Debug("hidden at info")
	log.Info("shown")
	log.DebugContext(ForceDebug(context.Background()), "forced by context")
	Debug(log).Debug("forced by logger")
	Debug(log).With("account_id", 9).Debug("forced survives With")

	var msgs []string
	for _, l := range jsonLines(t, &buf) {
		msgs = append(msgs, l["msg"].(string))
	}
	assert.Equal(t, []string{"shown", "forced by context", "forced by logger", "forced survives With"}, msgs)
}

func TestWrapKeepsInnerLevel(t *testing.T) {
	var buf bytes.Buffer
	log := Wrap(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	log.Info("hidden")
	Debug(log).Debug("forced")
	lines := jsonLines(t, &buf)
	require.Len(t, lines, 1)
	assert.Equal(t, "forced", lines[0]["msg"])
	assert.Same(t, log, Wrap(log), "a wrapped logger is not wrapped twice")
}

func TestContextFields(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil), slog.LevelInfo))
	ctx := With(context.Background(), slog.String("request_id", "r-1"))
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	Add(child, slog.String("workflow_id", "conversation/1/x"), slog.Uint64("account_id", 3))
	Add(context.Background(), slog.String("ignored", "no fields")) // no fields: nothing happens

	log.InfoContext(ctx, "request done", "request_id", "explicit")
	log.Info("no context")
	log.With("workflow_id", "from-with").InfoContext(ctx, "logger attrs win")
	lines := jsonLines(t, &buf)
	require.Len(t, lines, 3)
	assert.Equal(t, 1, strings.Count(strings.Split(buf.String(), "\n")[2], "workflow_id"), "no key twice on a line")
	assert.Equal(t, "from-with", lines[2]["workflow_id"])
	assert.Equal(t, "r-1", lines[2]["request_id"])
	assert.Equal(t, "explicit", lines[0]["request_id"], "the record's own attribute wins")
	assert.Equal(t, "conversation/1/x", lines[0]["workflow_id"])
	assert.Equal(t, 3.0, lines[0]["account_id"])
	assert.NotContains(t, lines[1], "request_id")
	assert.Contains(t, buf.String(), `"request_id":"explicit"`)
	assert.Equal(t, 1, strings.Count(strings.Split(buf.String(), "\n")[0], "request_id"))
}

func TestRedactHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("X-Sinch-Webhook-Signature", "c2lnbmF0dXJl")
	h.Set("X-Sinch-Webhook-Signature-Nonce", "nonce-1")
	h.Set("Authorization", "Bearer admin-token")
	h.Set("X-Api-Key", "k")
	h.Set("Cookie", "session=abc")
	h.Set("Content-Type", "application/json")
	out := RedactHeaders(h)
	assert.Equal(t, Redacted, out["X-Sinch-Webhook-Signature"])
	assert.Equal(t, Redacted, out["X-Sinch-Webhook-Signature-Nonce"])
	assert.Equal(t, Redacted, out["Authorization"])
	assert.Equal(t, Redacted, out["X-Api-Key"])
	assert.Equal(t, Redacted, out["Cookie"])
	assert.Equal(t, "application/json", out["Content-Type"])
}

func TestRedactJSON(t *testing.T) {
	body := `{"app_id":"APP1","key_id":"kid","secret":"s1","webhook_secret":"s2","access_token":"t",
	  "message":{"contact_message":{"media_message":{"url":"https://cdn.example/f.jpg?X-Amz-Signature=abc&token=zz"}},
	  "channel_identity":{"identity":"46700000001"}},"list":[{"clientSecret":"s3"},{"password":"p"}],"n":3}`
	out := RedactJSON([]byte(body))
	for _, secret := range []string{"s1", "s2", `"t"`, "X-Amz-Signature", "zz", "s3", `"p"`} {
		assert.NotContains(t, out, secret)
	}
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &m))
	assert.Equal(t, "APP1", m["app_id"])
	assert.Equal(t, "kid", m["key_id"])
	assert.Equal(t, Redacted, m["secret"])
	assert.Equal(t, 3.0, m["n"])
	assert.Contains(t, out, `"https://cdn.example/f.jpg?[REDACTED]"`)
	assert.Contains(t, out, "46700000001", "debug logs keep the contact: Motion's troubleshooting (set debug, check the logs) needs it")

	assert.Equal(t, "[not JSON: 7 bytes]", RedactJSON([]byte("secret!")))
}
