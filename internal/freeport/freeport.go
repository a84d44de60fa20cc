// Package freeport picks a TCP port that is free now and that the kernel will
// not hand to someone else before the caller binds it.
//
// Asking the kernel for port 0 and closing the listener is racy: the port
// goes back to the ephemeral range, and on a busy machine (parallel test
// packages opening thousands of loopback connections) an outgoing
// connection's local port or another listen(0) takes it before the caller
// binds it again. The embedded Temporal engine binds its services' ports
// itself from a config, so it cannot be handed an open listener; a port
// outside the ephemeral range is never handed out automatically, which
// leaves only another process binding that exact port on purpose.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// rangeFile holds the kernel's ephemeral port range ("32768\t60999").
const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// lowest is the first port considered: registered ports below it are often
// taken by well-known services on developer machines.
const lowest = 10000

// trials bounds the random probing before falling back to the kernel's pick.
const trials = 64

// Pick returns a port free on host, outside the ephemeral range when the
// machine leaves room for one, else the kernel's pick.
func Pick(host string) (int, error) {
	return pick(host, candidates(ephemeralRange()))
}

// pick probes random ports of spans, then falls back to the kernel's pick.
func pick(host string, spans [][2]int) (int, error) {
	for _, span := range spans {
		for range trials / 2 {
			port := span[0] + rand.IntN(span[1]-span[0]+1)
			if Check(host, port) == nil {
				return port, nil
			}
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("freeport: no free port on %s: %w", host, err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// candidates are the spans of non-privileged ports outside [lo, hi].
func candidates(lo, hi int) [][2]int {
	var out [][2]int
	if lo-1 >= lowest {
		out = append(out, [2]int{lowest, lo - 1})
	}
	if hi+1 <= 65535 && hi >= lowest {
		out = append(out, [2]int{hi + 1, 65535})
	}
	return out
}

// ephemeralRange reads the kernel's range; without it (not Linux) the IANA
// range 49152–65535, which BSDs, macOS and Windows use.
func ephemeralRange() (int, int) {
	if b, err := os.ReadFile(rangeFile); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && lo <= hi {
				return lo, hi
			}
		}
	}
	return 49152, 65535
}

// Check tells whether port can be bound on host now: nil, or the bind's
// error (address already in use, permission denied).
func Check(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}
