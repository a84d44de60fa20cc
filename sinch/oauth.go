package sinch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	// tokenFetchTimeout bounds one token request. The request runs detached
	// from its callers' contexts (they share it), so it needs its own limit.
	tokenFetchTimeout = 30 * time.Second
	// maxRefreshMargin is how long before expiry a token is refreshed at
	// most; short-lived tokens are refreshed at 90% of their lifetime.
	maxRefreshMargin = 60 * time.Second
	// defaultTokenLifetime applies when the auth URL omits expires_in; it
	// is Sinch's documented lifetime. An earlier expiry is still handled by
	// the client's refresh on an "expired" 401.
	defaultTokenLifetime = time.Hour
	// maxBodySize bounds every response body read from Sinch.
	maxBodySize = 1 << 20
)

// TokenCache fetches OAuth2 access tokens with the client-credentials grant
// and caches them per (auth URL, key id) until shortly before they expire.
// At most one token request per key is in flight; concurrent callers wait
// for it. Build one per process and share it between all clients. It is
// safe for concurrent use.
type TokenCache struct {
	httpClient *http.Client
	now        func() time.Time

	mu      sync.Mutex
	entries map[tokenKey]*tokenEntry
}

// tokenKey identifies the credentials a token belongs to. The secret's
// fingerprint is part of it, so a changed (or wrong) key secret never reuses
// a token obtained with another one.
type tokenKey struct{ authURL, keyID, secretSum string }

func secretSum(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:8])
}

// tokenEntry is the cached token of one key and its refresh in flight.
type tokenEntry struct {
	token     string
	expiry    time.Time
	refreshAt time.Time
	inflight  *tokenFetch
}

// tokenFetch is one token request; done closes when token/err are set.
type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
}

// NewTokenCache builds a cache that sends token requests with httpClient
// (http.DefaultClient when nil) and reads the time from now (time.Now when
// nil; tests inject a clock).
func NewTokenCache(httpClient *http.Client, now func() time.Time) *TokenCache {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	if now == nil {
		now = time.Now
	}
	return &TokenCache{httpClient: httpClient, now: now, entries: make(map[tokenKey]*tokenEntry)}
}

// Token returns an access token for the key, from the cache while it is
// fresh, else from the auth URL. A failed request is not cached: the next
// call tries again. If a refresh fails while the cached token has not yet
// expired, that token is returned. Errors are *APIError with Op "token", or
// ctx.Err() when ctx ends first.
func (c *TokenCache) Token(ctx context.Context, authURL, keyID, keySecret string) (string, error) {
	key := tokenKey{authURL, keyID, secretSum(keySecret)}
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		e = &tokenEntry{}
		c.entries[key] = e
	}
	if e.token != "" && c.now().Before(e.refreshAt) {
		token := e.token
		c.mu.Unlock()
		return token, nil
	}
	f := e.inflight
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		e.inflight = f
		// Detached so that one caller giving up does not fail the others.
		go c.refresh(context.WithoutCancel(ctx), key, keySecret, e, f)
	}
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Invalidate drops the cached token of the key if it is still token, so a
// token refreshed meanwhile by another caller is kept.
func (c *TokenCache) Invalidate(authURL, keyID, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if k.authURL == authURL && k.keyID == keyID && e.token == token {
			e.token = ""
		}
	}
}

// refresh runs one token request for e and publishes its outcome to f.
func (c *TokenCache) refresh(ctx context.Context, key tokenKey, keySecret string, e *tokenEntry, f *tokenFetch) {
	ctx, cancel := context.WithTimeout(ctx, tokenFetchTimeout)
	defer cancel()
	// Lifetimes count from before the request: the token may be older
	// than the answer by the time it arrives.
	start := c.now()
	resp, err := c.fetch(ctx, key, keySecret)

	c.mu.Lock()
	defer c.mu.Unlock()
	e.inflight = nil
	switch {
	case err == nil:
		lifetime := time.Duration(resp.ExpiresIn) * time.Second
		if lifetime <= 0 {
			lifetime = defaultTokenLifetime
		}
		e.token = resp.AccessToken
		e.expiry = start.Add(lifetime)
		e.refreshAt = e.expiry.Add(-min(maxRefreshMargin, lifetime/10))
		f.token = e.token
	case e.token != "" && c.now().Before(e.expiry):
		f.token = e.token
	default:
		f.err = err
	}
	close(f.done)
}

// fetch sends the client-credentials request.
func (c *TokenCache) fetch(ctx context.Context, key tokenKey, keySecret string) (TokenResponse, error) {
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, key.authURL, strings.NewReader(form))
	if err != nil {
		return TokenResponse{}, &APIError{Op: OpToken, Class: ErrorClassPermanent, Message: "bad auth URL", Err: err}
	}
	req.SetBasicAuth(key.keyID, keySecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")

	res, err := c.httpClient.Do(req)
	if err != nil {
		return TokenResponse{}, networkError(OpToken, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBodySize))
	if err != nil {
		return TokenResponse{}, networkError(OpToken, err)
	}

	switch {
	case res.StatusCode == http.StatusUnauthorized:
		// Sinch's body adds nothing an operator can act on; the message
		// names the key id and never the secret.
		return TokenResponse{}, &APIError{
			Op: OpToken, HTTPStatus: res.StatusCode, Status: grpcStatusOf(res.StatusCode), Class: ErrorClassPermanent,
			Message: fmt.Sprintf("the auth URL rejected key id %q: the key id or key secret is wrong", key.keyID),
		}
	case res.StatusCode < 200 || res.StatusCode > 299:
		return TokenResponse{}, responseError(OpToken, res.StatusCode, res.Header, body, c.now())
	}
	var tr TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		// A broken answer from a healthy-looking server: most likely a
		// proxy or a wrong auth URL, but a later try costs nothing.
		return TokenResponse{}, &APIError{
			Op: OpToken, HTTPStatus: res.StatusCode, Class: ErrorClassRetryable,
			Message: "the auth URL answered without an access_token (is AuthURL the token endpoint?)",
		}
	}
	return tr, nil
}
