package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The limiter remembers at most max clients (the least recently failing is
// forgotten first) and forgets those whose bucket has refilled.
func TestAuthFailuresMemoryIsBounded(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := newAuthFailures(2, time.Minute, func() time.Time { return now })
	a.max = 3

	a.fail("k1")
	assert.True(t, a.fail("k1"), "the second failure empties a bucket of 2")
	wait, refused := a.refused("k1")
	require.True(t, refused)
	assert.Equal(t, 30*time.Second, wait, "2 a minute: one back in 30 s")

	now = now.Add(10 * time.Second)
	wait, refused = a.refused("k1")
	require.True(t, refused)
	assert.Equal(t, 20*time.Second, wait)

	for i := 2; i <= 4; i++ {
		a.fail(fmt.Sprint("k", i))
	}
	assert.Equal(t, 3, a.len())
	_, refused = a.refused("k1")
	assert.False(t, refused, "the least recently failing client was forgotten at the cap")

	now = now.Add(time.Minute)
	a.fail("k5")
	assert.Equal(t, 1, a.len(), "clients whose bucket refilled are dropped")

	assert.Nil(t, newAuthFailures(0, time.Minute, time.Now), "burst 0: no limit")
}
