package sleep

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFor(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	assert.True(t, For(ctx, 0), "no delay, live context")
	assert.True(t, For(ctx, time.Millisecond), "the delay passes")

	cancel()
	assert.False(t, For(ctx, 0), "no delay, ended context")
	assert.False(t, For(ctx, time.Hour), "an ended context cuts the delay short")
}
