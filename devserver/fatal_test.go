package devserver

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/server/common/log/tag"
)

func TestEngineFatalPanicsOnlyWhileStarting(t *testing.T) {
	var buf bytes.Buffer
	a := &slogAdapter{log: slog.New(slog.NewTextHandler(&buf, nil)), min: slog.LevelInfo}

	a.starting.Store(true)
	assert.PanicsWithValue(t, "Failed to start gRPC listener address=127.0.0.1:1", func() {
		a.Fatal("Failed to start gRPC listener", tag.Address("127.0.0.1:1"))
	})
	assert.Contains(t, buf.String(), "level=ERROR")

	a.starting.Store(false)
	buf.Reset()
	assert.NotPanics(t, func() { a.Fatal("membership lost") })
	assert.Contains(t, buf.String(), "membership lost", "after start-up a fatal is logged and the process stays up")
}

// A service that cannot bind its port makes start fail with an error (Start
// then retries on new ports) instead of crashing the process from the
// engine's goroutine with a nil listener.
func TestStartTurnsATakenServicePortIntoAnError(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = held.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	s, err := start(ctx, Options{Namespace: "test-ns", Logger: slog.New(slog.DiscardHandler), Retention: time.Hour},
		"127.0.0.1", held.Addr().(*net.TCPAddr).Port)
	require.Error(t, err)
	assert.Nil(t, s)
	assert.Contains(t, err.Error(), "engine start-up panicked")
	assert.Contains(t, err.Error(), "Failed to start gRPC listener")
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
}
