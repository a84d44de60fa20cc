package sinch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
)

const (
	testKeyID     = "key-id-1"
	testKeySecret = "s3cret-key-value"
)

// testClock is a settable clock for TokenCache.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// authServer is a fake token endpoint issuing token-1, token-2, ...
type authServer struct {
	*httptest.Server
	requests  atomic.Int32
	expiresIn atomic.Int32
	// fail, when set, answers instead of issuing a token.
	fail atomic.Pointer[http.HandlerFunc]
}

func newAuthServer(t *testing.T) *authServer {
	t.Helper()
	a := &authServer{}
	a.expiresIn.Store(3600)
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

func (a *authServer) serve(w http.ResponseWriter, r *http.Request) {
	n := a.requests.Add(1)
	if f := a.fail.Load(); f != nil {
		(*f)(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(sinch.TokenResponse{
		AccessToken: fmt.Sprintf("token-%d", n), TokenType: "Bearer", ExpiresIn: int(a.expiresIn.Load()),
	})
}

func (a *authServer) failWith(h http.HandlerFunc) { a.fail.Store(&h) }

func (a *authServer) tokenURL() string { return a.URL + "/oauth2/token" }

func TestTokenFetchRequest(t *testing.T) {
	type seen struct {
		method, path, contentType, user, pass, grant string
		basic                                        bool
	}
	requests := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got seen
		got.method, got.path, got.contentType = r.Method, r.URL.Path, r.Header.Get("Content-Type")
		got.user, got.pass, got.basic = r.BasicAuth()
		assert.NoError(t, r.ParseForm())
		got.grant = r.PostForm.Get("grant_type")
		requests <- got
		_, _ = w.Write([]byte(`{"access_token":"abc","token_type":"Bearer","expires_in":3600,"scope":""}`))
	}))
	defer srv.Close()

	tc := sinch.NewTokenCache(srv.Client(), nil)
	token, err := tc.Token(context.Background(), srv.URL+"/oauth2/token", testKeyID, testKeySecret)
	require.NoError(t, err)
	assert.Equal(t, "abc", token)
	got := <-requests
	assert.Equal(t, http.MethodPost, got.method)
	assert.Equal(t, "/oauth2/token", got.path)
	assert.Equal(t, "application/x-www-form-urlencoded", got.contentType)
	assert.True(t, got.basic, "HTTP Basic auth")
	assert.Equal(t, testKeyID, got.user)
	assert.Equal(t, testKeySecret, got.pass)
	assert.Equal(t, "client_credentials", got.grant)
}

func TestTokenCachedPerKey(t *testing.T) {
	auth := newAuthServer(t)
	tc := sinch.NewTokenCache(nil, nil)
	ctx := context.Background()

	t1, err := tc.Token(ctx, auth.tokenURL(), testKeyID, testKeySecret)
	require.NoError(t, err)
	t2, err := tc.Token(ctx, auth.tokenURL(), testKeyID, testKeySecret)
	require.NoError(t, err)
	assert.Equal(t, t1, t2)
	assert.EqualValues(t, 1, auth.requests.Load())

	other, err := tc.Token(ctx, auth.tokenURL(), "key-id-2", "other-secret")
	require.NoError(t, err)
	assert.NotEqual(t, t1, other, "another key id gets its own token")
	assert.EqualValues(t, 2, auth.requests.Load())
}

func TestTokenRefreshBeforeExpiry(t *testing.T) {
	for _, tc := range []struct {
		name      string
		expiresIn int32
		margin    time.Duration // min(60s, 10% of the lifetime)
	}{
		{"one hour", 3600, 60 * time.Second},
		{"short lived", 100, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := newAuthServer(t)
			auth.expiresIn.Store(tc.expiresIn)
			clock := newTestClock()
			cache := sinch.NewTokenCache(nil, clock.Now)
			ctx := context.Background()
			lifetime := time.Duration(tc.expiresIn) * time.Second

			first, err := cache.Token(ctx, auth.tokenURL(), testKeyID, testKeySecret)
			require.NoError(t, err)
			clock.Advance(lifetime - tc.margin - time.Second)
			again, err := cache.Token(ctx, auth.tokenURL(), testKeyID, testKeySecret)
			require.NoError(t, err)
			assert.Equal(t, first, again, "still fresh")
			assert.EqualValues(t, 1, auth.requests.Load())

			clock.Advance(2 * time.Second)
			refreshed, err := cache.Token(ctx, auth.tokenURL(), testKeyID, testKeySecret)
			require.NoError(t, err)
			assert.NotEqual(t, first, refreshed, "refreshed inside the margin, before expiry")
			assert.EqualValues(t, 2, auth.requests.Load())
		})
	}
}

// TestTokenSingleFlight: 50 concurrent callers of a cold cache share one
// token request.
func TestTokenSingleFlight(t *testing.T) {
	release := make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		<-release
		_, _ = fmt.Fprintf(w, `{"access_token":"token-%d","expires_in":3600}`, n)
	}))
	defer srv.Close()
	cache := sinch.NewTokenCache(nil, nil)

	const callers = 50
	var started, done sync.WaitGroup
	tokens := make([]string, callers)
	errs := make([]error, callers)
	started.Add(callers)
	done.Add(callers)
	for i := range callers {
		go func() {
			defer done.Done()
			started.Done()
			tokens[i], errs[i] = cache.Token(context.Background(), srv.URL, testKeyID, testKeySecret)
		}()
	}
	started.Wait()
	require.Eventually(t, func() bool { return requests.Load() >= 1 }, 5*time.Second, time.Millisecond)
	// Give the other callers time to queue behind the request in flight;
	// with no single flight each of them would send its own.
	time.Sleep(50 * time.Millisecond)
	close(release)
	done.Wait()

	assert.EqualValues(t, 1, requests.Load())
	for i := range callers {
		require.NoError(t, errs[i])
		assert.Equal(t, "token-1", tokens[i])
	}
}

func TestTokenFailureNotCached(t *testing.T) {
	auth := newAuthServer(t)
	auth.failWith(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	cache := sinch.NewTokenCache(nil, nil)
	ctx := context.Background()

	_, err := cache.Token(ctx, auth.tokenURL(), testKeyID, testKeySecret)
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, sinch.OpToken, apiErr.Op)
	assert.Equal(t, http.StatusServiceUnavailable, apiErr.HTTPStatus)
	assert.True(t, apiErr.Retryable())

	auth.fail.Store(nil)
	token, err := cache.Token(ctx, auth.tokenURL(), testKeyID, testKeySecret)
	require.NoError(t, err)
	assert.Equal(t, "token-2", token)
	assert.EqualValues(t, 2, auth.requests.Load())
}

func TestTokenWrongCredentials(t *testing.T) {
	auth := newAuthServer(t)
	auth.failWith(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad client"}`))
	})
	_, err := sinch.NewTokenCache(nil, nil).Token(context.Background(), auth.tokenURL(), testKeyID, testKeySecret)

	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, sinch.ErrorClassPermanent, apiErr.Class)
	assert.False(t, apiErr.Retryable())
	assert.Equal(t, http.StatusUnauthorized, apiErr.HTTPStatus)
	assert.Equal(t, sinch.OpToken, apiErr.Op)
	assert.Contains(t, err.Error(), "key id or key secret is wrong")
	assert.Contains(t, err.Error(), testKeyID)
	assert.NotContains(t, err.Error(), testKeySecret)
}

func TestTokenErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		class   sinch.ErrorClass
		message string
	}{
		{"oauth2 shape", http.StatusBadRequest, `{"error":"unsupported_grant_type","error_description":"grant type not supported"}`,
			sinch.ErrorClassPermanent, "unsupported_grant_type: grant type not supported"},
		{"forbidden", http.StatusForbidden, `{"type":"https://developers.sinch.com/docs/errors/forbidden","title":"Forbidden","detail":"key disabled","status":403}`,
			sinch.ErrorClassPermanent, "Forbidden: key disabled"},
		{"rate limited", http.StatusTooManyRequests, ``, sinch.ErrorClassRateLimited, "Too Many Requests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := newAuthServer(t)
			auth.failWith(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			_, err := sinch.NewTokenCache(nil, nil).Token(context.Background(), auth.tokenURL(), testKeyID, testKeySecret)
			apiErr, ok := sinch.AsAPIError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, tc.class, apiErr.Class)
			assert.Equal(t, tc.message, apiErr.Message)
			assert.Equal(t, tc.status, apiErr.HTTPStatus)
		})
	}
}

func TestTokenAnswerWithoutAccessToken(t *testing.T) {
	auth := newAuthServer(t)
	auth.failWith(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`<html>login</html>`))
	})
	_, err := sinch.NewTokenCache(nil, nil).Token(context.Background(), auth.tokenURL(), testKeyID, testKeySecret)
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Contains(t, apiErr.Message, "access_token")
}

func TestTokenInvalidate(t *testing.T) {
	auth := newAuthServer(t)
	cache := sinch.NewTokenCache(nil, nil)
	ctx := context.Background()
	first, err := cache.Token(ctx, auth.tokenURL(), testKeyID, testKeySecret)
	require.NoError(t, err)

	cache.Invalidate(auth.tokenURL(), testKeyID, "some-older-token")
	kept, err := cache.Token(ctx, auth.tokenURL(), testKeyID, testKeySecret)
	require.NoError(t, err)
	assert.Equal(t, first, kept, "a stale token does not drop the current one")
	assert.EqualValues(t, 1, auth.requests.Load())

	cache.Invalidate(auth.tokenURL(), testKeyID, first)
	fresh, err := cache.Token(ctx, auth.tokenURL(), testKeyID, testKeySecret)
	require.NoError(t, err)
	assert.NotEqual(t, first, fresh)
	assert.EqualValues(t, 2, auth.requests.Load())
}

// A failed refresh inside the margin falls back to the still-valid token;
// once it has expired the failure is returned.
func TestTokenRefreshFailureKeepsValidToken(t *testing.T) {
	auth := newAuthServer(t)
	clock := newTestClock()
	cache := sinch.NewTokenCache(nil, clock.Now)
	ctx := context.Background()
	first, err := cache.Token(ctx, auth.tokenURL(), testKeyID, testKeySecret)
	require.NoError(t, err)

	auth.failWith(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	clock.Advance(time.Hour - 30*time.Second) // inside the refresh margin, not expired
	token, err := cache.Token(ctx, auth.tokenURL(), testKeyID, testKeySecret)
	require.NoError(t, err)
	assert.Equal(t, first, token)
	assert.EqualValues(t, 2, auth.requests.Load(), "a refresh was attempted")

	clock.Advance(time.Minute) // now expired
	_, err = cache.Token(ctx, auth.tokenURL(), testKeyID, testKeySecret)
	require.Error(t, err)
	assert.EqualValues(t, 3, auth.requests.Load())
}

func TestTokenCallerContextEnds(t *testing.T) {
	release := make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		<-release
		_, _ = w.Write([]byte(`{"access_token":"shared","expires_in":3600}`))
	}))
	defer srv.Close()
	cache := sinch.NewTokenCache(nil, nil)

	// The first caller starts the request, then gives up.
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := cache.Token(ctx, srv.URL, testKeyID, testKeySecret)
		gaveUp <- err
	}()
	require.Eventually(t, func() bool { return requests.Load() == 1 }, 5*time.Second, time.Millisecond)
	waited := make(chan string, 1)
	go func() {
		token, _ := cache.Token(context.Background(), srv.URL, testKeyID, testKeySecret)
		waited <- token
	}()
	cancel()
	assert.Equal(t, context.Canceled, <-gaveUp, "the caller's own ctx error, as-is")
	close(release)
	assert.Equal(t, "shared", <-waited, "the request outlives the caller that started it")
	assert.EqualValues(t, 1, requests.Load())
}
