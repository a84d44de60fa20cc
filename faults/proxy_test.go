package faults

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer answers every line with itself.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, line string) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	_, err := io.WriteString(c, line+"\n")
	require.NoError(t, err)
	got, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, line+"\n", got)
}

func TestProxyCutAndRestore(t *testing.T) {
	p, err := NewProxy(echoServer(t))
	require.NoError(t, err)
	t.Cleanup(p.Close)

	open, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer func() { _ = open.Close() }()
	roundTrip(t, open, "before the cut")

	p.Cut()
	require.NoError(t, open.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = open.Read(make([]byte, 1))
	require.Error(t, err, "an open connection is closed by the cut")
	var netErr net.Error
	assert.False(t, errors.As(err, &netErr) && netErr.Timeout(), "closed, not timed out: %v", err)
	_, err = net.DialTimeout("tcp", p.Addr(), time.Second)
	assert.Error(t, err, "new connections are refused while cut")

	require.NoError(t, p.Restore())
	again, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err, "the same address accepts again")
	defer func() { _ = again.Close() }()
	roundTrip(t, again, "after the restore")

	p.Close()
	_, err = net.DialTimeout("tcp", p.Addr(), time.Second)
	assert.Error(t, err, "closed for good")
	assert.Error(t, p.Restore())
}
