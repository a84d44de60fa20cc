package api

import (
	"container/list"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// maxAuthFailureClients bounds the clients whose failures are remembered
// (a few hundred bytes each); past it the client that failed least
// recently is forgotten first.
const maxAuthFailureClients = 10000

// errWrongToken marks the 403 of a bearer token that is not the one a route
// wants (an agent's token on an admin route): a guess, counted as an
// authentication failure like a 401.
var errWrongToken = errors.New("wrong bearer token")

// authFailures is a token bucket per client of authentication failures
// (AUTH_FAILURE_LIMIT): each failure takes a token, burst tokens at most,
// refilled at burst per every. A client whose bucket is empty is refused
// before its request is authenticated. Buckets live in an LRU list by last
// failure; one not used for every is full again (as good as none) and is
// dropped.
type authFailures struct {
	burst int
	every time.Duration
	limit rate.Limit
	max   int
	now   func() time.Time

	mu        sync.Mutex
	clients   map[string]*list.Element // of *failingClient
	lru       list.List                // most recent failure first
	lastSweep time.Time
}

type failingClient struct {
	key      string
	bucket   *rate.Limiter
	lastFail time.Time
}

// newAuthFailures returns the limiter of burst failures per every, or nil
// (no limit) when burst is 0.
func newAuthFailures(burst int, every time.Duration, now func() time.Time) *authFailures {
	if burst <= 0 {
		return nil
	}
	if every <= 0 {
		every = time.Minute
	}
	return &authFailures{
		burst: burst, every: every, limit: rate.Limit(float64(burst) / every.Seconds()),
		max: maxAuthFailureClients, now: now, clients: map[string]*list.Element{},
	}
}

// refused reports whether key has no failure left, and when it has one
// again.
func (a *authFailures) refused(key string) (retryAfter time.Duration, refused bool) {
	a.mu.Lock()
	el, ok := a.clients[key]
	var lim *rate.Limiter
	if ok {
		lim = el.Value.(*failingClient).bucket
	}
	a.mu.Unlock()
	if !ok {
		return 0, false
	}
	tokens := lim.TokensAt(a.now())
	if tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - tokens) / float64(lim.Limit()) * float64(time.Second)), true
}

// fail takes a token from key's bucket and reports whether that emptied
// it.
func (a *authFailures) fail(key string) (emptied bool) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweep(now)
	el, ok := a.clients[key]
	if ok {
		a.lru.MoveToFront(el)
	} else {
		if a.lru.Len() >= a.max {
			oldest := a.lru.Back()
			delete(a.clients, oldest.Value.(*failingClient).key)
			a.lru.Remove(oldest)
		}
		el = a.lru.PushFront(&failingClient{key: key, bucket: rate.NewLimiter(a.limit, a.burst)})
		a.clients[key] = el
	}
	fc := el.Value.(*failingClient)
	fc.lastFail = now
	return fc.bucket.AllowN(now, 1) && fc.bucket.TokensAt(now) < 1
}

// sweep drops the clients whose bucket has refilled, at most once per
// every. The caller holds a.mu.
func (a *authFailures) sweep(now time.Time) {
	if now.Sub(a.lastSweep) < a.every {
		return
	}
	a.lastSweep = now
	for el := a.lru.Back(); el != nil; {
		fc := el.Value.(*failingClient)
		if now.Sub(fc.lastFail) < a.every {
			return
		}
		prev := el.Prev()
		delete(a.clients, fc.key)
		a.lru.Remove(el)
		el = prev
	}
}

// len is the number of clients remembered.
func (a *authFailures) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lru.Len()
}

// limitAuthFailures is the middleware of AUTH_FAILURE_LIMIT. A request
// from a client whose bucket is empty, to a route that needs
// authentication, is answered 429 with Retry-After before any handler (and
// so any database access) runs; otherwise an answer that is a 401, or the
// 403 of a wrong token, takes a token. Successful requests take none.
func (s *Server) limitAuthFailures() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			a := s.authFailures
			if a == nil || !s.needsAuth(c) {
				return next(c)
			}
			key := authFailureKey(c)
			if wait, refused := a.refused(key); refused {
				// Logged by the request log only: a client past the
				// limit must not flood the logs.
				secs := max(1, int64(math.Ceil(wait.Seconds())))
				c.Response().Header().Set("Retry-After", strconv.FormatInt(secs, 10))
				return &Error{Status: http.StatusTooManyRequests, Code: "too_many_auth_failures",
					Message: fmt.Sprintf("too many authentication failures from this address: retry in %d s", secs)}
			}
			err := next(c)
			if authFailed(c, err) && a.fail(key) {
				s.log.WarnContext(c.Request().Context(), "authentication failures over the limit: the client's requests are refused for a while",
					"client", key, "limit", fmt.Sprintf("%d/%s", a.burst, a.every), "path", c.Path(), "request_id", requestID(c))
			}
			return err
		}
	}
}

// authFailed reports whether the request's answer is an authentication
// failure: a 401 (returned, or written by the handler itself as /metrics
// does), or the 403 of a wrong token.
func authFailed(c echo.Context, err error) bool {
	if err == nil {
		return c.Response().Committed && c.Response().Status == http.StatusUnauthorized
	}
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr.Status == http.StatusUnauthorized || errors.Is(err, errWrongToken)
	}
	var he *echo.HTTPError
	return errors.As(err, &he) && he.Code == http.StatusUnauthorized
}

// needsAuth reports whether the request's route authenticates its caller:
// every registered route but the public ones. Unknown paths (404) are not
// limited.
func (s *Server) needsAuth(c echo.Context) bool {
	p := c.Path()
	if !s.routes[p] {
		return false
	}
	return !s.publicRoutes[c.Request().Method+" "+p]
}

// authFailureKey is the bucket of a request: its client IP (c.RealIP, see
// TRUSTED_PROXIES), an IPv6 client by its /64 (what one host or customer
// is usually given). The webhook's failures count per client and account:
// Sinch posts every account's callbacks from the same addresses, and one
// account with a wrong webhook secret must not block the callbacks of the
// others.
func authFailureKey(c echo.Context) string {
	key := c.RealIP()
	if ip, err := netip.ParseAddr(key); err == nil {
		ip = ip.Unmap()
		if ip.Is6() {
			key = netip.PrefixFrom(ip, 64).Masked().String()
		} else {
			key = ip.String()
		}
	}
	if c.Path() == webhookRoute {
		key += " account " + c.Param("id")
	}
	return key
}
