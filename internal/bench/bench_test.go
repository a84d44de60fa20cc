package bench

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The short versions of both benches, as CI runs them: they check what the
// benches count (every interaction assigned, every message stored, every
// reply accepted, history events per message), never how fast.

func TestInboundBenchShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	ctx := context.Background()
	// 12 conversations at 6 webhooks/s: one conversation's follow-ups are
	// two seconds apart, not a burst.
	opts := InboundOptions{Messages: 12, FollowUps: 3, Agents: 3, Timeout: 2 * time.Minute, Rate: 6, Concurrency: 2, HistorySample: 12}
	res, err := RunInbound(ctx, opts, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Len(t, res.Ack, 12)
	assert.Len(t, res.Assignment, 12, "every interaction assigned")
	assert.Len(t, res.FollowUpAck, 36)
	assert.Equal(t, 12, res.Sampled)
	assert.LessOrEqual(t, res.EventsPerFollowUp, 4.0, "history events per message into an open conversation")
	assert.Greater(t, res.EventsPerFollowUp, 0.0)
	require.Len(t, res.Engine, 2, "the engine baseline runs before and after")
	for _, e := range res.Engine {
		assert.Equal(t, 12, e.Workflows)
		assert.Positive(t, e.Completed)
	}
	var out bytes.Buffer
	res.Print(&out, opts, "sqlite")
	assert.Contains(t, out.String(), "history events per message into an open conversation")
	assert.Contains(t, out.String(), "ratio to the engine")
	s := res.Summary(opts, "sqlite")
	assert.Equal(t, res.EventsPerFollowUp, s.EventsPerMessage)
	assert.Positive(t, s.AssignmentRatio)
	assert.Positive(t, s.FollowUpRatio)
}

func TestOutboundBenchShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	opts := OutboundOptions{Conversations: 3, Replies: 4, Timeout: 2 * time.Minute}
	res, err := RunOutbound(context.Background(), opts, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Len(t, res.API, 12)
	assert.Len(t, res.Accepted, 12, "every reply accepted by the emulator")
}
