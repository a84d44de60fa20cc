package freeport

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPickIsOutsideTheEphemeralRangeAndBindable(t *testing.T) {
	lo, hi := ephemeralRange()
	seen := map[int]bool{}
	for range 20 {
		port, err := Pick("127.0.0.1")
		require.NoError(t, err)
		if len(candidates(lo, hi)) > 0 {
			assert.Falsef(t, port >= lo && port <= hi, "port %d is inside the ephemeral range %d-%d", port, lo, hi)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		require.NoError(t, err, "the picked port must be bindable")
		require.NoError(t, l.Close())
		seen[port] = true
	}
	assert.Greater(t, len(seen), 10, "picks are spread over the range, not one port")
}

func TestPickSkipsTakenPorts(t *testing.T) {
	// A span of one port, held: every probe fails, so the pick falls back
	// to the kernel's port, never the held one.
	port, err := Pick("127.0.0.1")
	require.NoError(t, err)
	held, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	require.NoError(t, err)
	defer func() { _ = held.Close() }()
	assert.Error(t, Check("127.0.0.1", port))

	got, err := pick("127.0.0.1", [][2]int{{port, port}})
	require.NoError(t, err)
	assert.NotEqual(t, port, got)
	assert.NoError(t, Check("127.0.0.1", got))

	require.NoError(t, held.Close())
	got, err = pick("127.0.0.1", [][2]int{{port, port}})
	require.NoError(t, err)
	assert.Equal(t, port, got, "once free, the span's only port is the pick")
}

func TestCandidates(t *testing.T) {
	assert.Equal(t, [][2]int{{10000, 32767}, {61000, 65535}}, candidates(32768, 60999))
	assert.Equal(t, [][2]int{{10000, 49151}}, candidates(49152, 65535))
	assert.Empty(t, candidates(1024, 65535), "the whole range is ephemeral: fall back to the kernel")
}
