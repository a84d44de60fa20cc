package faults

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// tcpBalancer spreads TCP connections over upstreams round robin and skips
// one that refuses them, as a Kubernetes Service or a cloud load balancer
// in front of Temporal's frontends does. A connection broken by a dead
// upstream stays broken; the client's redial lands on a live one.
type tcpBalancer struct {
	ln        net.Listener
	upstreams []string
	next      atomic.Uint64
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     map[net.Conn]struct{}
}

func newTCPBalancer(upstreams ...string) (*tcpBalancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &tcpBalancer{ln: ln, upstreams: upstreams, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.serve()
	return b, nil
}

func (b *tcpBalancer) Addr() string { return b.ln.Addr().String() }

func (b *tcpBalancer) serve() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.forward(c)
		}()
	}
}

func (b *tcpBalancer) forward(client net.Conn) {
	start := b.next.Add(1)
	var up net.Conn
	for k := range b.upstreams {
		addr := b.upstreams[(int(start)+k)%len(b.upstreams)]
		var err error
		if up, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
			break
		}
	}
	if up == nil {
		_ = client.Close()
		return
	}
	b.track(client, up)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(up, client)
	go pipe(client, up)
	<-done
	<-done
	b.untrack(client, up)
}

func (b *tcpBalancer) track(cs ...net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range cs {
		b.conns[c] = struct{}{}
	}
}

func (b *tcpBalancer) untrack(cs ...net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range cs {
		delete(b.conns, c)
	}
}

// Close stops accepting and ends every connection.
func (b *tcpBalancer) Close() {
	_ = b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// httpBalancer spreads HTTP requests over the API processes round robin,
// as the load balancer in front of several `connector api` replicas does.
// A request an API refuses (no connection, 5xx) is tried on the next one,
// the way Sinch retries a callback that failed; answers are counted per
// API.
type httpBalancer struct {
	srv      *http.Server
	ln       net.Listener
	backends []string // base URLs
	hc       *http.Client
	next     atomic.Uint64
	mu       sync.Mutex
	answered []int // 2xx answers per backend
	failed   []int // refused, dropped or 5xx per backend
}

func newHTTPBalancer() (*httpBalancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &httpBalancer{ln: ln, hc: &http.Client{Timeout: requestBound, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// URL is the balancer's base URL (the APIs' PUBLIC_URL).
func (b *httpBalancer) URL() string { return "http://" + b.ln.Addr().String() }

// setBackends sets the APIs' base URLs, once they listen.
func (b *httpBalancer) setBackends(urls ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends = urls
	b.answered = make([]int, len(urls))
	b.failed = make([]int, len(urls))
}

func (b *httpBalancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	backends := b.backends
	b.mu.Unlock()
	if len(backends) == 0 {
		http.Error(w, "no API yet", http.StatusServiceUnavailable)
		return
	}
	start := int(b.next.Add(1))
	var last *http.Response
	var lastBody []byte
	for k := range backends {
		i := (start + k) % len(backends)
		req, err := http.NewRequestWithContext(r.Context(), r.Method, backends[i]+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := b.hc.Do(req)
		if err != nil {
			b.count(i, false)
			continue
		}
		respBody, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode >= 500 {
			b.count(i, false)
			last, lastBody = resp, respBody
			continue
		}
		b.count(i, resp.StatusCode < 300)
		copyResponse(w, resp, respBody)
		return
	}
	if last != nil {
		copyResponse(w, last, lastBody)
		return
	}
	http.Error(w, "no API answered", http.StatusBadGateway)
}

func (b *httpBalancer) count(i int, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.answered[i]++
	} else {
		b.failed[i]++
	}
}

// counts are the 2xx answers and the failures of each API so far.
func (b *httpBalancer) counts() (answered, failed []int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.answered...), append([]int(nil), b.failed...)
}

func (b *httpBalancer) Close() { _ = b.srv.Close() }

func copyResponse(w http.ResponseWriter, resp *http.Response, body []byte) {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}
