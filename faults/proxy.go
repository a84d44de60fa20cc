package faults

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/xcally-connector/connector/internal/freeport"
)

// Proxy forwards TCP connections from a loopback port to an upstream
// address (Postgres) and can cut them: Cut closes every forwarded
// connection and stops listening, so new connections are refused, as when
// the database host goes away; Restore listens again on the same port.
type Proxy struct {
	upstream string
	addr     string

	mu     sync.Mutex
	ln     net.Listener // nil while cut
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// listenTrials bounds the picks when another process binds the picked port
// first.
const listenTrials = 3

// dialUpstreamTimeout bounds the proxy's own dial to the upstream.
const dialUpstreamTimeout = 5 * time.Second

// NewProxy listens on a free loopback port and forwards to upstream. The
// port is outside the ephemeral range (freeport), so no outgoing connection
// takes it while the proxy is cut and Restore can bind it again.
func NewProxy(upstream string) (*Proxy, error) {
	var ln net.Listener
	var err error
	for range listenTrials {
		var port int
		if port, err = freeport.Pick("127.0.0.1"); err != nil {
			break
		}
		if ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("proxy: listen: %w", err)
	}
	p := &Proxy{upstream: upstream, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's host:port; it stays the same across Cut and Restore.
func (p *Proxy) Addr() string { return p.addr }

// Cut closes the listener and every open connection (both sides). Until
// Restore, connecting to Addr is refused.
func (p *Proxy) Cut() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	for c := range conns {
		_ = c.Close()
	}
}

// Restore listens on Addr again. It fails if another process took the port
// meanwhile, or after Close.
func (p *Proxy) Restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("proxy: closed")
	}
	if p.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("proxy: listen again on %s: %w", p.addr, err)
	}
	p.serveLocked(ln)
	return nil
}

// Close cuts the proxy for good and waits for its goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serveLocked(ln)
}

func (p *Proxy) serveLocked(ln net.Listener) {
	p.ln = ln
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Cut or Close
			}
			p.wg.Go(func() { p.forward(ln, c) })
		}
	})
}

// forward pipes one client connection to a new upstream connection until
// either side ends or the proxy is cut.
func (p *Proxy) forward(ln net.Listener, client net.Conn) {
	up, err := net.DialTimeout("tcp", p.upstream, dialUpstreamTimeout)
	if err != nil {
		_ = client.Close()
		return
	}
	p.mu.Lock()
	if p.ln != ln {
		// Cut while this connection was being set up.
		p.mu.Unlock()
		_ = client.Close()
		_ = up.Close()
		return
	}
	p.conns[client], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, client)
	go pipe(client, up)
	<-done
	// One direction ended: end the other one too.
	_ = client.Close()
	_ = up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, up)
	p.mu.Unlock()
}
