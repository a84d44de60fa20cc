package diagnostics

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/xcally-connector/connector/models"
)

func TestWorse(t *testing.T) {
	for _, tc := range []struct{ a, b, want string }{
		{CheckPass, CheckSkip, CheckPass},
		{CheckSkip, CheckPass, CheckSkip},
		{CheckPass, CheckWarn, CheckWarn},
		{CheckWarn, CheckPass, CheckWarn},
		{CheckWarn, CheckFail, CheckFail},
		{CheckFail, CheckWarn, CheckFail},
	} {
		assert.Equal(t, tc.want, worse(tc.a, tc.b), "%s, %s", tc.a, tc.b)
	}
}

func TestTamper(t *testing.T) {
	assert.Equal(t, "xyA", tamper("xyz"))
	assert.Equal(t, "xyB", tamper("xyA"))
}

func TestErrorCode(t *testing.T) {
	assert.Equal(t, "not_found", errorCode([]byte(`{"error":{"code":"not_found","message":"no such media file"}}`)))
	assert.Empty(t, errorCode([]byte(`not json`)))
	assert.Empty(t, errorCode([]byte(`{"probe":"media"}`)))
}

// TestWebhookHealthDue: a verified callback is written at most every
// webhookHealthEvery per account.
func TestWebhookHealthDue(t *testing.T) {
	var h WebhookHealth
	now := time.Now()
	assert.True(t, h.due(1, now))
	assert.False(t, h.due(1, now.Add(time.Second)))
	assert.True(t, h.due(2, now.Add(time.Second)), "per account")
	assert.True(t, h.due(1, now.Add(webhookHealthEvery)))
	h.lastWrite.Delete(uint64(1)) // as RecordRefused does
	assert.True(t, h.due(1, now.Add(webhookHealthEvery+time.Second)))
}

// TestRunChecks: a check that panics or outlives CheckTimeout fails with
// the reason; the others keep their outcome and order.
func TestRunChecks(t *testing.T) {
	r := NewRunner(Options{CheckTimeout: 100 * time.Millisecond})
	d := &run{r: r, acc: models.Account{ID: 7}, deps: Deps{}}
	d.deps.Log = discardLogger()
	out := r.runChecks(context.Background(), d, []check{
		{"ok", func(context.Context, *run) checkResult { return pass("fine") }, "retry"},
		{"boom", func(context.Context, *run) checkResult { panic("kaput") }, "retry"},
		{"slow", func(ctx context.Context, _ *run) checkResult { <-ctx.Done(); return pass("late") }, "look at the slow thing"},
	})
	assert.Len(t, out, 3)
	assert.Equal(t, DiagnosticCheck{Name: "ok", Status: CheckPass, Message: "fine", DurationMs: out[0].DurationMs}, out[0])
	assert.Equal(t, CheckFail, out[1].Status)
	assert.Contains(t, out[1].Message, "the check crashed: kaput")
	assert.NotEmpty(t, out[1].Fix)
	assert.Equal(t, CheckFail, out[2].Status)
	assert.Equal(t, "timed out after 100ms", out[2].Message)
	assert.Equal(t, "look at the slow thing (the limit is DIAGNOSTICS_CHECK_TIMEOUT)", out[2].Fix)
}

func TestSignatureFix(t *testing.T) {
	assert.Contains(t, signatureFix("signature_invalid"), "differs")
	assert.Equal(t, fixWebhookSecret, signatureFix("something_new"))
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
