package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want host:port, got %q", s)
	}
	if host == "" {
		return fmt.Errorf("want host:port with a host, got %q", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("invalid port in %q", s)
	}
	return nil
}

func checkListenAddr(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want [host]:port, got %q", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("invalid port in %q", s)
	}
	return nil
}

// parseSize reads a byte size: a number with an optional K, M or G suffix
// (powers of 1024).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	u := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(s), "IB"), "B"))
	switch {
	case strings.HasSuffix(u, "K"):
		mult, u = 1<<10, strings.TrimSuffix(u, "K")
	case strings.HasSuffix(u, "M"):
		mult, u = 1<<20, strings.TrimSuffix(u, "M")
	case strings.HasSuffix(u, "G"):
		mult, u = 1<<30, strings.TrimSuffix(u, "G")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(u), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive size such as 1M or 524288, got %q", s)
	}
	return n * mult, nil
}

// parseRateLimit reads a token bucket as "N/duration" (N events at once,
// refilled at N per duration), or off (0, 0).
func parseRateLimit(raw string) (int, time.Duration, error) {
	if raw == "off" || raw == "0" {
		return 0, 0, nil
	}
	n, per, ok := strings.Cut(raw, "/")
	burst, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || burst < 1 || burst > 100000 {
		return 0, 0, fmt.Errorf("want N/duration such as 20/1m (N from 1 to 100000), or off, got %q", raw)
	}
	every, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || every < time.Second || every > 24*time.Hour {
		return 0, 0, fmt.Errorf("want N/duration with a duration from 1s to 24h such as 20/1m, or off, got %q", raw)
	}
	return burst, every, nil
}

// parsePrefixes reads comma-separated IP addresses and CIDR networks
// (an address is its own /32 or /128).
func parsePrefixes(raw string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q: want an IP address or a CIDR network such as 10.0.0.0/8", item)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// parseOffDuration reads a duration of at least min, or off (0).
func parseOffDuration(raw string, min time.Duration) (time.Duration, error) {
	if raw == "off" || raw == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < min {
		return 0, fmt.Errorf("want a duration of at least %s (such as 720h), or off, got %q", min, raw)
	}
	return d, nil
}

// parseLoopbackList parses a comma-separated list of loopback ip:port
// addresses (e.g. 127.0.0.1:8090); any other address is refused: the
// allowance exists for the Sinch emulator, never for private networks.
func parseLoopbackList(raw string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		ap, err := netip.ParseAddrPort(item)
		if err != nil {
			return nil, fmt.Errorf("want loopback ip:port addresses such as 127.0.0.1:8090, got %q", item)
		}
		if !ap.Addr().IsLoopback() {
			return nil, fmt.Errorf("%s is not a loopback address: only the Sinch emulator on this machine may be exempt from the media fetch address policy", item)
		}
		out = append(out, ap)
	}
	return out, nil
}
