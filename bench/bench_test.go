package bench

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/models/testdb"
)

// The short versions of both benches, as CI runs them: they check what the
// benches count (every interaction assigned, every message stored, every
// reply accepted, history events per message and per reply), never how
// fast.

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

// TestInboundBenchWorkerProcess runs the bench on the production shape, as
// `connector bench inbound -database-url … -temporal-database-url …` does:
// the engine on Postgres, the worker its own `connector worker` process,
// which must get the stack's whole configuration (payload keys included)
// to work the conversations the bench starts.
func TestInboundBenchWorkerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the connector and starts the whole stack")
	}
	dsn := testdb.PostgresDSN(t) // a schema of its own, dropped at the end
	bin := filepath.Join(t.TempDir(), "connector")
	build := exec.Command("go", "build", "-o", bin, "github.com/xcally-connector/connector/cmd/connector")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build the connector: %s", out)

	opts := InboundOptions{Messages: 6, FollowUps: 2, Agents: 2, Timeout: 2 * time.Minute, Rate: 6, Concurrency: 2,
		HistorySample: 6, DatabaseURL: dsn, WorkerBinary: bin, TemporalDatabaseURL: testdb.TemporalDatabaseURL(t)}
	res, err := RunInbound(context.Background(), opts, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.True(t, res.WorkerProcess)
	assert.Len(t, res.Assignment, 6, "the worker process assigned every interaction")
	assert.Len(t, res.FollowUpAck, 12)
	assert.Equal(t, 6, res.Sampled)
	assert.Positive(t, res.MemoryBefore.RSS, "the worker process's memory")
	assert.Positive(t, res.MemoryOpen.RSS)
	var printed bytes.Buffer
	res.Print(&printed, opts, "postgres")
	assert.Contains(t, printed.String(), "engine on Postgres, worker in its own process")
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
	assert.Equal(t, 3, res.Histories)
	assert.LessOrEqual(t, res.EventsPerReply, 10.0, "history events per reply, with its queued, delivered and read reports")
	assert.Greater(t, res.EventsPerReply, 0.0)
	var out bytes.Buffer
	res.Print(&out, opts, "sqlite")
	assert.Contains(t, out.String(), "history events per reply (with its delivery reports)")
	assert.Equal(t, res.EventsPerReply, res.Summary(opts, "sqlite").EventsPerReply)
}
