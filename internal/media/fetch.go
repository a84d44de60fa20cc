package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// FetcherOptions configures a Fetcher; the zero value is usable.
type FetcherOptions struct {
	// Timeout bounds the whole download, redirects included; default 2 min.
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed; default (0) 3,
	// negative follows none.
	MaxRedirects int
	// AllowLoopback lists exact loopback ip:port addresses (e.g. the Sinch
	// emulator's 127.0.0.1:8085) exempt from the address policy;
	// non-loopback entries are refused by NewFetcher.
	AllowLoopback []netip.AddrPort
	// UserAgent is sent with every request; default DefaultUserAgent.
	UserAgent string
}

// Fetcher defaults.
const (
	DefaultFetchTimeout = 2 * time.Minute
	DefaultMaxRedirects = 3
	DefaultUserAgent    = "xcally-connector-media/1"
	dialTimeout         = 10 * time.Second
	tlsTimeout          = 10 * time.Second
	headerTimeout       = 30 * time.Second
)

// Fetcher downloads customers' media URLs (from Sinch callbacks) without
// letting them reach the connector's own network: every address it
// connects to, redirects and every DNS answer included, is checked when the
// connection is dialled, so neither DNS rebinding nor a redirect to a
// private address gets through. Only public unicast addresses on ports 80
// and 443 pass (code.dny.dev/ssrf's defaults: private, loopback,
// link-local, CGNAT, IPv6 ULA and IPv4-mapped addresses are refused), plus
// the exact AllowLoopback addresses. It never uses a proxy from the
// environment. It is safe for concurrent use.
type Fetcher struct {
	client       *http.Client
	guard        *ssrf.Guardian
	allow        map[netip.AddrPort]bool
	timeout      time.Duration
	maxRedirects int
	userAgent    string
}

// NewFetcher builds a Fetcher; it refuses AllowLoopback entries that are
// not loopback addresses with a port.
func NewFetcher(o FetcherOptions) (*Fetcher, error) {
	f := &Fetcher{
		guard:        ssrf.New(),
		allow:        make(map[netip.AddrPort]bool, len(o.AllowLoopback)),
		timeout:      o.Timeout,
		maxRedirects: o.MaxRedirects,
		userAgent:    o.UserAgent,
	}
	if f.timeout <= 0 {
		f.timeout = DefaultFetchTimeout
	}
	switch {
	case f.maxRedirects == 0:
		f.maxRedirects = DefaultMaxRedirects
	case f.maxRedirects < 0:
		f.maxRedirects = 0
	}
	if f.userAgent == "" {
		f.userAgent = DefaultUserAgent
	}
	for _, ap := range o.AllowLoopback {
		ap = unmap(ap)
		if !ap.IsValid() || ap.Port() == 0 || !ap.Addr().IsLoopback() {
			return nil, fmt.Errorf("media: AllowLoopback entry %s is not a loopback ip:port", ap)
		}
		f.allow[ap] = true
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second, Control: f.control}
	f.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // never HTTP(S)_PROXY: the proxy would dial, unchecked
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   tlsTimeout,
			ResponseHeaderTimeout: headerTimeout,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          16,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: f.checkRedirect,
	}
	return f, nil
}

// unmap turns an IPv4-mapped IPv6 address into IPv4, for the allow list.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// policyError: the address the dialer was about to connect to is refused.
type policyError struct {
	addr netip.AddrPort
	err  error
}

func (e *policyError) Error() string { return "refused by the media address policy: " + e.err.Error() }
func (e *policyError) Unwrap() error { return e.err }

// reason is the admin's sentence for the refusal.
func (e *policyError) reason() string {
	ip := e.addr.Addr()
	switch {
	case errors.Is(e.err, ssrf.ErrProhibitedPort):
		return fmt.Sprintf("the media URL uses port %d, and public hosts are fetched only on ports 80 and 443: refused", e.addr.Port())
	case errors.Is(e.err, ssrf.ErrProhibitedNetwork), errors.Is(e.err, ssrf.ErrInvalidHostPort):
		return "the media URL needs a connection other than TCP to an IP address: refused"
	case ip.Is4In6():
		return fmt.Sprintf("the media URL resolves to an IPv4-mapped IPv6 address (%s): refused", ip)
	case ip.IsLoopback():
		return fmt.Sprintf("the media URL resolves to a loopback address (%s): refused", ip)
	case ip.IsPrivate():
		return fmt.Sprintf("the media URL resolves to a private address (%s): refused", ip)
	case ip.IsLinkLocalUnicast():
		return fmt.Sprintf("the media URL resolves to a link-local address (%s, where cloud metadata services live): refused", ip)
	}
	return fmt.Sprintf("the media URL resolves to a non-public address (%s): refused", ip)
}

// control is the dialer's last word on each address, after DNS: the exact
// AllowLoopback entries pass, then the address must be public, then the
// network and port must be allowed (the address first, so the refusal
// names the more telling cause).
func (f *Fetcher) control(network, address string, c syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &policyError{err: fmt.Errorf("%w: %s", ssrf.ErrInvalidHostPort, address)}
	}
	if f.allow[unmap(ap)] {
		return nil
	}
	if err := f.guard.SafeAddr(ap.Addr()); err != nil {
		return &policyError{addr: ap, err: err}
	}
	if err := f.guard.Safe(network, address, c); err != nil {
		return &policyError{addr: ap, err: err}
	}
	return nil
}

// redirectError: a redirect the Fetcher does not follow.
type redirectError struct{ reason string }

func (e *redirectError) Error() string { return e.reason }

// checkRedirect bounds the redirects and keeps them on http(s); where they
// lead is checked by the dialer like any other address.
func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > f.maxRedirects {
		return &redirectError{fmt.Sprintf("the media URL redirects more than %d times: refused", f.maxRedirects)}
	}
	if s := strings.ToLower(req.URL.Scheme); s != "http" && s != "https" {
		return &redirectError{fmt.Sprintf("the media URL redirects to a %q URL, and only http and https are fetched: refused", req.URL.Scheme)}
	}
	return nil
}

// FetchError classifies a failed fetch.
type FetchError struct {
	// URL is the media URL redacted to scheme://host/path (no query, no
	// user info): media URLs often carry their credentials in the query.
	URL string
	// Permanent is true when retrying cannot help.
	Permanent bool
	// Reason is a short sentence for an admin.
	Reason string
	// RetryAfter is the delay the server asked for (429, 503), 0 if none.
	RetryAfter time.Duration
	// Err is the underlying error, if any.
	Err error
}

// Error is "media fetch <redacted URL>: <Reason>[: <Err>]".
func (e *FetchError) Error() string {
	s := "media fetch " + e.URL + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap gives Err, so errors.As finds, e.g., the store's *DiskLowError.
func (e *FetchError) Unwrap() error { return e.Err }

// Fetch downloads rawURL into store: the first SniffLen bytes decide the
// type (Detect), capFor(type) the size cap (0 or less refuses the type);
// it returns the stored object and its type.
//
// Failures are *FetchError. Permanent: a bad scheme or URL, an address the
// policy refuses, too many redirects, a 4xx answer other than 408 and 429,
// a type refused by capFor, a file over the cap. Transient: dial, DNS and
// TLS failures, timeouts (Fetch's own or ctx's), 5xx, 408 and 429, a low
// disk (errors.As finds the store's *DiskLowError).
func (f *Fetcher) Fetch(ctx context.Context, rawURL string, store Store, capFor func(Type) int64) (Object, Type, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Object{}, Type{}, &FetchError{URL: redactRaw(rawURL), Permanent: true, Reason: "the media URL is not a valid URL", Err: unwrapURL(err)}
	}
	fail := func(permanent bool, reason string, err error) (Object, Type, error) {
		return Object{}, Type{}, &FetchError{URL: redact(u), Permanent: permanent, Reason: reason, Err: unwrapURL(err)}
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return fail(true, fmt.Sprintf("the media URL's scheme %q is not fetched (http and https only)", u.Scheme), nil)
	}
	if u.Hostname() == "" {
		return fail(true, "the media URL has no host", nil)
	}

	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fail(true, "the media URL is not a valid URL", err)
	}
	req.Header.Set("User-Agent", f.userAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		permanent, reason := f.classify(ctx, err)
		return fail(permanent, reason, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		permanent, reason := statusReason(resp.StatusCode)
		e := &FetchError{URL: redact(u), Permanent: permanent, Reason: reason}
		if !permanent {
			e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return Object{}, Type{}, e
	}

	head := make([]byte, SniffLen)
	n, err := io.ReadFull(resp.Body, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		permanent, reason := f.classify(ctx, err)
		return fail(permanent, reason, err)
	}
	head = head[:n]
	t := Detect(head)
	limit := capFor(t)
	if limit <= 0 {
		return fail(true, fmt.Sprintf("the media file is a %s file, a type the connector does not accept: refused", t.Label), nil)
	}
	if resp.ContentLength > limit {
		return fail(true, tooLargeReason(t, limit), nil)
	}
	obj, err := store.Put(ctx, io.MultiReader(bytes.NewReader(head), resp.Body), limit)
	if err != nil {
		var tooLarge *TooLargeError
		var low *DiskLowError
		switch {
		case errors.As(err, &tooLarge):
			return fail(true, tooLargeReason(t, limit), err)
		case errors.As(err, &low):
			return fail(false, "disk space low on the connector: the media file is not stored until space is freed (will retry)", err)
		}
		permanent, reason := f.classify(ctx, err)
		return fail(permanent, reason, err)
	}
	return obj, t, nil
}

// classify names a failure of the request or of reading its body.
func (f *Fetcher) classify(ctx context.Context, err error) (permanent bool, reason string) {
	var policy *policyError
	var redirect *redirectError
	var dns *net.DNSError
	switch {
	case errors.As(err, &policy):
		return true, policy.reason()
	case errors.As(err, &redirect):
		return true, redirect.reason
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return false, fmt.Sprintf("the media download did not finish in time (at most %s): will retry", f.timeout)
	case ctx.Err() != nil:
		return false, "the media download was cancelled"
	case errors.As(err, &dns):
		return false, fmt.Sprintf("the media host %q could not be resolved: will retry", dns.Name)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, "the media server did not answer in time: will retry"
	}
	return false, "the media server could not be reached or the download broke off: will retry"
}

// statusReason classifies a non-2xx answer.
func statusReason(code int) (permanent bool, reason string) {
	status := fmt.Sprintf("%d %s", code, http.StatusText(code))
	switch {
	case code == http.StatusNotFound, code == http.StatusGone:
		return true, "the media server answered " + status + ": the file is gone (media URLs expire)"
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return true, "the media server answered " + status + ": access refused (the media URL may have expired)"
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return false, "the media server answered " + status + ": will retry"
	case code >= 500:
		return false, "the media server answered " + status + ": will retry"
	case code >= 300 && code < 400:
		return true, "the media server answered " + status + " without a usable redirect: refused"
	}
	return true, "the media server answered " + status + ": refused"
}

// tooLargeReason is the sentence for a file over its cap.
func tooLargeReason(t Type, limit int64) string {
	return fmt.Sprintf("the media file is larger than the %s accepted for %s files: refused", FormatSize(limit), t.Label)
}

// retryAfter parses a Retry-After header (seconds or an HTTP date); 0 when
// absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(min(s, 24*3600)) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return min(at.Sub(now), 24*time.Hour)
	}
	return 0
}

// unwrapURL drops *url.Error's wrapping, whose text repeats the full URL,
// query and all.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redact is u without user info, query or fragment.
func redact(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}

// redactRaw cuts an unparsable URL at its query or fragment and drops what
// looks like user info, for error messages.
func redactRaw(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if at := strings.IndexByte(rest, '@'); at >= 0 && !strings.Contains(rest[:at], "/") {
			raw = raw[:i+3] + rest[at+1:]
		}
	}
	return truncateUTF8(strings.ToValidUTF8(raw, ""), 200)
}
