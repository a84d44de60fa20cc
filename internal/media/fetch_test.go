package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"code.dny.dev/ssrf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// server is an httptest server on 127.0.0.1 that counts its requests.
type server struct {
	*httptest.Server
	hits atomic.Int32
	addr netip.AddrPort
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	s.addr = netip.MustParseAddrPort(s.Listener.Addr().String())
	require.True(t, s.addr.Addr().IsLoopback())
	return s
}

// serveSample serves an emulator sample with a given Content-Type.
func serveSample(t *testing.T, name, contentType string) http.HandlerFunc {
	data := sample(t, name)
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(data)
	}
}

func newFetcher(t *testing.T, o FetcherOptions) *Fetcher {
	t.Helper()
	f, err := NewFetcher(o)
	require.NoError(t, err)
	return f
}

func capAll(n int64) func(Type) int64 { return func(Type) int64 { return n } }

// fetchErr asserts err is a *FetchError and returns it.
func fetchErr(t *testing.T, err error) *FetchError {
	t.Helper()
	var fe *FetchError
	require.True(t, errors.As(err, &fe), "want *FetchError, got %T %v", err, err)
	return fe
}

func TestFetchAllowedLoopback(t *testing.T) {
	var ua atomic.Value
	data := sample(t, "sample.jpg")
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(data)
	})
	store := newTestFS(t)
	f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}, UserAgent: "test-agent"})

	obj, typ, err := f.Fetch(context.Background(), srv.URL+"/media/photo.jpg?sig=abc", store, capAll(MiB))
	require.NoError(t, err)
	assert.Equal(t, "jpg", typ.Format)
	assert.Equal(t, sum(data), obj.Key)
	assert.Equal(t, int64(len(data)), obj.Size)
	assert.Equal(t, "test-agent", ua.Load())
	r, size, err := store.Open(obj.Key)
	require.NoError(t, err)
	defer r.Close()
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	assert.Equal(t, int64(len(data)), size)
}

func TestFetchTypeComesFromContent(t *testing.T) {
	// An EXE served as image/jpeg under a .jpg URL is an EXE.
	srv := newServer(t, serveSample(t, "sample.exe", "image/jpeg"))
	f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}})
	var seen Type
	_, typ, err := f.Fetch(context.Background(), srv.URL+"/photo.jpg", newTestFS(t), func(t Type) int64 { seen = t; return MiB })
	require.NoError(t, err)
	assert.Equal(t, "exe", typ.Format)
	assert.Equal(t, typ, seen, "capFor is given the sniffed type")
}

func TestFetchLoopbackRefusedWhenNotAllowed(t *testing.T) {
	srv := newServer(t, serveSample(t, "sample.jpg", "image/jpeg"))
	other := netip.AddrPortFrom(srv.addr.Addr(), srv.addr.Port()+1)
	for name, o := range map[string]FetcherOptions{
		"no allow list":      {},
		"another port there": {AllowLoopback: []netip.AddrPort{other}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFetcher(t, o)
			_, _, err := f.Fetch(context.Background(), srv.URL+"/x", newTestFS(t), capAll(MiB))
			fe := fetchErr(t, err)
			assert.True(t, fe.Permanent)
			assert.ErrorIs(t, err, ssrf.ErrProhibitedIP)
			assert.Contains(t, fe.Reason, "loopback address (127.0.0.1): refused")
		})
	}
	assert.Zero(t, srv.hits.Load(), "the server was never reached")
}

func TestFetchLocalhostRefused(t *testing.T) {
	srv := newServer(t, serveSample(t, "sample.jpg", "image/jpeg"))
	f := newFetcher(t, FetcherOptions{})
	_, _, err := f.Fetch(context.Background(), fmt.Sprintf("http://localhost:%d/x", srv.addr.Port()), newTestFS(t), capAll(MiB))
	fe := fetchErr(t, err)
	assert.True(t, fe.Permanent)
	assert.ErrorIs(t, err, ssrf.ErrProhibitedIP)
	assert.Contains(t, fe.Reason, "loopback address")
	assert.Zero(t, srv.hits.Load())
}

func TestFetchNonPublicAddressesRefused(t *testing.T) {
	// Unroutable ports and addresses: only the policy can answer quickly
	// with ErrProhibitedIP; a real dial would time out or be refused.
	f := newFetcher(t, FetcherOptions{Timeout: 3 * time.Second})
	cases := []struct{ url, reason string }{
		{"http://10.0.0.1:9/x", "private address (10.0.0.1)"},
		{"http://172.16.5.4/x", "private address (172.16.5.4)"},
		{"http://192.168.1.1/x", "private address (192.168.1.1)"},
		{"http://169.254.169.254/latest/meta-data/", "link-local address (169.254.169.254"},
		{"http://100.64.0.1:9/x", "non-public address (100.64.0.1)"},
		{"http://0.0.0.0:9/x", "non-public address (0.0.0.0)"},
		{"http://127.1.2.3:9/x", "loopback address (127.1.2.3)"},
		{"http://[::1]:9/x", "loopback address (::1)"},
		{"http://[fc00::1]:9/x", "private address (fc00::1)"},
		{"http://[fe80::1]:9/x", "link-local address (fe80::1"},
		{"http://[::ffff:10.0.0.1]:9/x", "10.0.0.1"},
		{"http://[::ffff:169.254.169.254]/x", "169.254.169.254"},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			_, _, err := f.Fetch(context.Background(), c.url, newTestFS(t), capAll(MiB))
			fe := fetchErr(t, err)
			assert.True(t, fe.Permanent)
			assert.ErrorIs(t, err, ssrf.ErrProhibitedIP)
			assert.Contains(t, fe.Reason, c.reason)
			assert.True(t, strings.HasSuffix(fe.Reason, ": refused"), fe.Reason)
		})
	}
}

func TestFetchPublicPortPolicy(t *testing.T) {
	// A public address on a port other than 80 and 443 is refused before
	// any connection (192.88.99.x aside, 1.1.1.1 is public).
	f := newFetcher(t, FetcherOptions{Timeout: 3 * time.Second})
	_, _, err := f.Fetch(context.Background(), "http://1.1.1.1:8085/x", newTestFS(t), capAll(MiB))
	fe := fetchErr(t, err)
	assert.True(t, fe.Permanent)
	assert.ErrorIs(t, err, ssrf.ErrProhibitedPort)
	assert.Contains(t, fe.Reason, "port 8085")
}

func TestFetchRedirectsToNonPublicRefused(t *testing.T) {
	target := newServer(t, serveSample(t, "sample.jpg", "image/jpeg"))
	for name, loc := range map[string]string{
		"another loopback port": target.URL + "/x",
		"metadata service":      "http://169.254.169.254/latest/meta-data/",
		"localhost":             fmt.Sprintf("http://localhost:%d/x", target.addr.Port()),
	} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, loc, http.StatusFound)
			})
			f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}, Timeout: 3 * time.Second})
			_, _, err := f.Fetch(context.Background(), srv.URL+"/start", newTestFS(t), capAll(MiB))
			fe := fetchErr(t, err)
			assert.True(t, fe.Permanent)
			assert.ErrorIs(t, err, ssrf.ErrProhibitedIP)
			assert.Equal(t, int32(1), srv.hits.Load())
		})
	}
	assert.Zero(t, target.hits.Load(), "the redirect target was never reached")
}

func TestFetchRedirectToOtherScheme(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}})
	_, _, err := f.Fetch(context.Background(), srv.URL, newTestFS(t), capAll(MiB))
	fe := fetchErr(t, err)
	assert.True(t, fe.Permanent)
	assert.Contains(t, fe.Reason, `"file"`)
}

// redirector redirects /r/N to /r/N-1 and serves a JPG at /r/0.
func redirector(t *testing.T) *server {
	data := sample(t, "sample.jpg")
	return newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
		if err != nil || n <= 0 {
			_, _ = w.Write(data)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusFound)
	})
}

func TestFetchRedirectLimit(t *testing.T) {
	srv := redirector(t)
	f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}})

	_, typ, err := f.Fetch(context.Background(), srv.URL+"/r/3", newTestFS(t), capAll(MiB))
	require.NoError(t, err, "3 redirects are followed by default")
	assert.Equal(t, "jpg", typ.Format)

	srv.hits.Store(0)
	_, _, err = f.Fetch(context.Background(), srv.URL+"/r/4", newTestFS(t), capAll(MiB))
	fe := fetchErr(t, err)
	assert.True(t, fe.Permanent)
	assert.Contains(t, fe.Reason, "redirects more than 3 times")
	assert.Equal(t, int32(4), srv.hits.Load(), "the first request and 3 redirects")

	none := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}, MaxRedirects: -1})
	_, _, err = none.Fetch(context.Background(), srv.URL+"/r/1", newTestFS(t), capAll(MiB))
	assert.True(t, fetchErr(t, err).Permanent)
	_, _, err = none.Fetch(context.Background(), srv.URL+"/r/0", newTestFS(t), capAll(MiB))
	assert.NoError(t, err)
}

func TestFetchStatusClassification(t *testing.T) {
	cases := []struct {
		code      int
		permanent bool
		reason    string
	}{
		{http.StatusNotFound, true, "answered 404 Not Found: the file is gone (media URLs expire)"},
		{http.StatusGone, true, "answered 410 Gone"},
		{http.StatusForbidden, true, "answered 403 Forbidden"},
		{http.StatusUnauthorized, true, "answered 401 Unauthorized"},
		{http.StatusBadRequest, true, "answered 400 Bad Request"},
		{http.StatusRequestTimeout, false, "answered 408"},
		{http.StatusTooManyRequests, false, "answered 429"},
		{http.StatusInternalServerError, false, "answered 500"},
		{http.StatusServiceUnavailable, false, "answered 503 Service Unavailable: will retry"},
		{http.StatusNotModified, true, "answered 304"},
	}
	for _, c := range cases {
		t.Run(strconv.Itoa(c.code), func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(c.code)
			})
			store := newTestFS(t)
			f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}})
			_, _, err := f.Fetch(context.Background(), srv.URL+"/file", store, capAll(MiB))
			fe := fetchErr(t, err)
			assert.Equal(t, c.permanent, fe.Permanent)
			assert.Contains(t, fe.Reason, c.reason)
			if c.permanent {
				assert.Zero(t, fe.RetryAfter)
			} else {
				assert.Equal(t, 7*time.Second, fe.RetryAfter)
			}
			assert.Empty(t, files(t, store.Dir()))
		})
	}
}

func TestFetchSizeCap(t *testing.T) {
	data := sample(t, "sample.pdf")
	require.Greater(t, len(data), 100)
	for name, h := range map[string]http.HandlerFunc{
		"with Content-Length": serveSample(t, "sample.pdf", "application/pdf"),
		"chunked": func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(data[:50])
			w.(http.Flusher).Flush()
			_, _ = w.Write(data[50:])
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, h)
			store := newTestFS(t)
			f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}})
			_, _, err := f.Fetch(context.Background(), srv.URL, store, capAll(100))
			fe := fetchErr(t, err)
			assert.True(t, fe.Permanent)
			assert.Contains(t, fe.Reason, "larger than the 100 bytes accepted for PDF files")
			assert.Empty(t, files(t, store.Dir()))

			_, _, err = f.Fetch(context.Background(), srv.URL, store, capAll(int64(len(data))))
			assert.NoError(t, err, "exactly at the cap")
		})
	}
}

func TestFetchTypeRefusedByCap(t *testing.T) {
	srv := newServer(t, serveSample(t, "sample.exe", "application/octet-stream"))
	f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}})
	store := newTestFS(t)
	_, _, err := f.Fetch(context.Background(), srv.URL, store, func(t Type) int64 {
		if t.Format == "exe" {
			return 0
		}
		return MiB
	})
	fe := fetchErr(t, err)
	assert.True(t, fe.Permanent)
	assert.Contains(t, fe.Reason, "EXE file")
	assert.Empty(t, files(t, store.Dir()))
}

func TestFetchDiskLow(t *testing.T) {
	srv := newServer(t, serveSample(t, "sample.png", "image/png"))
	store := newTestFS(t)
	store.SetMinFree(1 << 62)
	f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}})
	_, _, err := f.Fetch(context.Background(), srv.URL, store, capAll(MiB))
	fe := fetchErr(t, err)
	assert.False(t, fe.Permanent)
	var low *DiskLowError
	require.True(t, errors.As(err, &low), "errors.As finds *DiskLowError in %v", err)
	assert.Equal(t, store.Dir(), low.Dir)
	assert.Contains(t, err.Error(), "disk space low on the connector")
}

func TestFetchBadURLs(t *testing.T) {
	f := newFetcher(t, FetcherOptions{})
	for _, u := range []string{
		"ftp://example.com/file.jpg",
		"file:///etc/passwd",
		"gopher://example.com/",
		"javascript:alert(1)",
		"http://[::1",
		"http:///nohost",
		"/relative/path",
		"",
		"http://exa mple.com/",
	} {
		t.Run(u, func(t *testing.T) {
			_, _, err := f.Fetch(context.Background(), u, newTestFS(t), capAll(MiB))
			fe := fetchErr(t, err)
			assert.True(t, fe.Permanent)
			assert.NotEmpty(t, fe.Reason)
		})
	}
}

func TestFetchTransientFailures(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		srv := newServer(t, serveSample(t, "sample.jpg", "image/jpeg"))
		addr, url := srv.addr, srv.URL
		srv.Close()
		f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{addr}})
		_, _, err := f.Fetch(context.Background(), url, newTestFS(t), capAll(MiB))
		fe := fetchErr(t, err)
		assert.False(t, fe.Permanent)
		assert.Contains(t, fe.Reason, "could not be reached")
	})

	stall := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		_, _ = w.Write([]byte{0xFF, 0xD8, 0xFF, 0xE0})
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	t.Run("own timeout", func(t *testing.T) {
		srv := newServer(t, stall)
		f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}, Timeout: 200 * time.Millisecond})
		store := newTestFS(t)
		_, _, err := f.Fetch(context.Background(), srv.URL, store, capAll(MiB))
		fe := fetchErr(t, err)
		assert.False(t, fe.Permanent)
		assert.Contains(t, fe.Reason, "did not finish in time")
		assert.Empty(t, files(t, store.Dir()))
	})
	t.Run("caller's deadline", func(t *testing.T) {
		srv := newServer(t, stall)
		f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, _, err := f.Fetch(ctx, srv.URL, newTestFS(t), capAll(MiB))
		fe := fetchErr(t, err)
		assert.False(t, fe.Permanent)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("cancelled", func(t *testing.T) {
		srv := newServer(t, stall)
		f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _, err := f.Fetch(ctx, srv.URL, newTestFS(t), capAll(MiB))
		assert.False(t, fetchErr(t, err).Permanent)
	})
}

func TestFetchErrorRedactsURL(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{srv.addr}})
	raw := fmt.Sprintf("http://user:hunter2@127.0.0.1:%d/media/x.jpg?token=SECRET#frag", srv.addr.Port())
	_, _, err := f.Fetch(context.Background(), raw, newTestFS(t), capAll(MiB))
	fe := fetchErr(t, err)
	assert.Equal(t, fmt.Sprintf("http://127.0.0.1:%d/media/x.jpg", srv.addr.Port()), fe.URL)
	for _, secret := range []string{"SECRET", "hunter2", "user", "frag"} {
		assert.NotContains(t, err.Error(), secret)
	}

	// Refusals that wrap a *url.Error do not leak the query either.
	_, _, err = newFetcher(t, FetcherOptions{}).Fetch(context.Background(), "http://10.0.0.1:9/x?token=SECRET", newTestFS(t), capAll(MiB))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "SECRET")
	_, _, err = f.Fetch(context.Background(), "http://[::1?token=SECRET", newTestFS(t), capAll(MiB))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "SECRET")
}

func TestNewFetcherOptions(t *testing.T) {
	for _, ap := range []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.1:80"),
		netip.MustParseAddrPort("8.8.8.8:443"),
		netip.MustParseAddrPort("[2001:4860::8888]:443"),
		netip.MustParseAddrPort("127.0.0.1:0"),
		{},
	} {
		_, err := NewFetcher(FetcherOptions{AllowLoopback: []netip.AddrPort{ap}})
		assert.Error(t, err, "%s", ap)
	}
	f := newFetcher(t, FetcherOptions{AllowLoopback: []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:8085"),
		netip.MustParseAddrPort("[::1]:8085"),
		netip.MustParseAddrPort("[::ffff:127.0.0.1]:8086"),
	}})
	assert.True(t, f.allow[netip.MustParseAddrPort("127.0.0.1:8086")], "IPv4-mapped entries are unmapped")
	assert.Equal(t, DefaultFetchTimeout, f.timeout)
	assert.Equal(t, DefaultMaxRedirects, f.maxRedirects)
	assert.Equal(t, DefaultUserAgent, f.userAgent)
	tr, ok := f.client.Transport.(*http.Transport)
	require.True(t, ok)
	assert.Nil(t, tr.Proxy, "never a proxy from the environment")
	assert.NotZero(t, tr.TLSHandshakeTimeout)
	assert.NotZero(t, tr.ResponseHeaderTimeout)
}
